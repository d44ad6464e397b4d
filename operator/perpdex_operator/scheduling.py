"""Coalesced background reconciles triggered by child and pod watch events: a burst of events for one owner becomes
one reconcile (a full one if any event asked for it). A reconcile that fails (an exception, or the runner saying it
did not finish, e.g. a drift repair whose write the API server refused) is retried with growing backoff
(:func:`backoff`) until it succeeds or the object is gone; a request while a retry waits joins that retry (watch
events keep coming while the API server refuses writes, and must not turn the backoff into a storm)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (plural, namespace, name)
Runner = Callable[[Key, bool], Awaitable[bool]]  # True: done; False: retry later
BACKOFF_BASE = 1.0  # seconds before the first retry
BACKOFF_CAP = 60.0


def backoff(attempt: int, *, cap: float = BACKOFF_CAP, base: float = BACKOFF_BASE) -> float:
    """The delay before retry number ``attempt`` (1, 2, ...): ``base * 2**(attempt-1)`` up to ``cap``, less up to a
    fifth at random so that objects failing together do not retry together."""
    delay = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 30))
    return delay * (1 - 0.2 * random.random())  # noqa: S311 - jitter, not security


class Coalescer:
    def __init__(self, run: Runner, *, delay: float = 0.2, max_backoff: float = BACKOFF_CAP) -> None:
        self._run = run
        self._delay = delay
        self._max_backoff = max_backoff
        self._pending: dict[Key, bool] = {}
        self._failures: dict[Key, int] = {}  # consecutive failed runs per key
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def retrying(self) -> int:
        return len(self._failures)

    def request(self, key: Key, *, full: bool) -> None:
        self._schedule(key, full, self._delay)

    def _schedule(self, key: Key, full: bool, delay: float) -> None:
        if key in self._pending:
            self._pending[key] = self._pending[key] or full
            return
        self._pending[key] = full
        task = asyncio.create_task(self._later(key, delay), name=f"reconcile-{'/'.join(key)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: Key, delay: float) -> None:
        await asyncio.sleep(delay)
        full = self._pending.pop(key, False)
        try:
            done = await self._run(key, full)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background reconcile of %s failed", "/".join(key))
            done = False
        if done:
            self._failures.pop(key, None)
            return
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        retry_in = backoff(failures, cap=self._max_backoff)
        log.info("background reconcile of %s retried in %.1fs (failure %d)", "/".join(key), retry_in, failures)
        self._schedule(key, full, retry_in)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pending.clear()
        self._failures.clear()
