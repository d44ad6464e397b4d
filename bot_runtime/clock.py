"""An injectable clock, so strategies, the risk manager and the paper exchange run on real time in a pod and on
virtual time in tests (no test sleeps for real seconds).

Everything time-dependent in the engine asks a :class:`Clock` for ``now()`` / ``time()`` and waits with
``await clock.sleep(s)`` or ``await clock.wait_event(event, seconds)`` (never ``asyncio.sleep`` / ``wait_for``
directly), so :class:`VirtualClock` controls every wake-up.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


class Clock(ABC):
    @abstractmethod
    def time(self) -> float:
        """Seconds since the epoch (UTC)."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    @abstractmethod
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for durations)."""

    @abstractmethod
    async def sleep(self, seconds: float) -> None: ...

    async def wait_event(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` pass on this clock; True when the event is set."""
        return await self.wait_any((event,), seconds)

    async def wait_any(self, events: Iterable[asyncio.Event], seconds: float) -> bool:
        """Wait until one of ``events`` is set or ``seconds`` pass on this clock; True when one is set."""
        events = tuple(events)
        if any(e.is_set() for e in events):
            return True
        tasks: list[asyncio.Future[object]] = [asyncio.ensure_future(e.wait()) for e in events]
        tasks.append(asyncio.ensure_future(self.sleep(seconds)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return any(e.is_set() for e in events)


class SystemClock(Clock):
    """Real time (the default in a pod)."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock(Clock):
    """Virtual time for tests: time moves only when the test says so.

    ``await clock.advance(600)`` wakes every sleeper due in the next 600 virtual seconds in order (letting the event
    loop settle between wake-ups), so a strategy task and the paper exchange's ticker run ten minutes of trading in
    milliseconds. ``await clock.drive(coro)`` runs ``coro`` to completion, jumping to each next wake-up whenever
    everything is idle.
    """

    def __init__(self, start: datetime | float | None = None, *, settle_rounds: int = 30) -> None:
        if start is None:
            start = datetime(2026, 1, 1, tzinfo=UTC)
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._settle_rounds = settle_rounds

    def time(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self._now + seconds, next(self._seq), future))
        await future

    @property
    def pending(self) -> int:
        """How many sleepers wait (cancelled ones excluded)."""
        return sum(1 for _, _, fut in self._heap if not fut.done())

    def next_wakeup(self) -> float | None:
        while self._heap and self._heap[0][2].done():
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    async def settle(self) -> None:
        """Let every runnable task run until it waits again."""
        for _ in range(self._settle_rounds):
            await asyncio.sleep(0)

    def _wake_due(self) -> None:
        while self._heap and self._heap[0][0] <= self._now:
            _, _, future = heapq.heappop(self._heap)
            if not future.done():
                future.set_result(None)

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in order of their wake-up time."""
        target = self._now + max(0.0, seconds)
        await self.settle()
        while True:
            wake = self.next_wakeup()
            if wake is None or wake > target:
                break
            self._now = max(self._now, wake)
            self._wake_due()
            await self.settle()
        self._now = target
        self._wake_due()
        await self.settle()

    async def advance_to(self, when: datetime | float) -> None:
        ts = when.timestamp() if isinstance(when, datetime) else when
        await self.advance(ts - self._now)

    async def drive(self, awaitable: Awaitable[T], *, limit: float = 7 * 86400.0) -> T:
        """Run ``awaitable`` to completion on virtual time (at most ``limit`` virtual seconds)."""
        task = asyncio.ensure_future(awaitable)
        deadline = self._now + limit
        await self.settle()
        while not task.done():
            wake = self.next_wakeup()
            if wake is None or wake > deadline:
                await self.settle()
                if task.done():
                    break
                task.cancel()
                raise TimeoutError("VirtualClock.drive: nothing left to wake and the task is still waiting")
            self._now = max(self._now, wake)
            self._wake_due()
            await self.settle()
        return task.result()
