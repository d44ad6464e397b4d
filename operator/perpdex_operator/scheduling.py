"""Coalesced background reconciles triggered by child and pod watch events: a burst of events for one owner becomes
one reconcile (a full one if any event asked for it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

Key = tuple[str, str, str]  # (plural, namespace, name)
Runner = Callable[[Key, bool], Awaitable[None]]


class Coalescer:
    def __init__(self, run: Runner, *, delay: float = 0.2) -> None:
        self._run = run
        self._delay = delay
        self._pending: dict[Key, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def request(self, key: Key, *, full: bool) -> None:
        if key in self._pending:
            self._pending[key] = self._pending[key] or full
            return
        self._pending[key] = full
        task = asyncio.create_task(self._later(key), name=f"reconcile-{'/'.join(key)}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _later(self, key: Key) -> None:
        await asyncio.sleep(self._delay)
        full = self._pending.pop(key, False)
        try:
            await self._run(key, full)
        except asyncio.CancelledError:
            raise
        except Exception:  # the periodic resync retries; one failed background reconcile is not fatal
            log.exception("background reconcile of %s failed", "/".join(key))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._pending.clear()
