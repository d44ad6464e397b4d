"""A wall-clock deadline on the strategy's clock (``singleLegTimeout``): every send, lookup, cancel and read of an entry
or an unwind runs under it, so a venue that hangs or answers after ten seconds cannot stretch a lone leg's life.

:meth:`Deadline.run` awaits a call until the deadline (less a ``reserve`` kept for what must follow, e.g. cancelling
and reading back) and raises :class:`DeadlinePassed` when the deadline comes first; the call is cancelled then, and
its outcome is unknown (an order may have landed): the caller looks it up instead of assuming anything.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import ExchangeError

T = TypeVar("T")


class DeadlinePassed(ExchangeError):
    """A venue call was still running when the deadline came: its outcome is unknown."""


class Deadline:
    def __init__(self, clock: Clock, at: float) -> None:
        self.clock = clock
        self.at = at  # on clock.monotonic()

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.monotonic() + seconds)

    def remaining(self, reserve: float = 0.0) -> float:
        return self.at - reserve - self.clock.monotonic()

    def passed(self, reserve: float = 0.0) -> bool:
        return self.remaining(reserve) <= 0

    def earlier(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other

    async def sleep(self, seconds: float, reserve: float = 0.0) -> None:
        await self.clock.sleep(max(0.0, min(seconds, self.remaining(reserve))))

    async def run(self, call: Awaitable[T], *, reserve: float = 0.0, what: str = "call") -> T:
        """``call``'s result, or :class:`DeadlinePassed` once ``at - reserve`` is reached first (``call`` is
        cancelled; it may still have had its effect on the venue).

        ``call`` runs in the caller's task (as ``asyncio.timeout`` does it, on this clock): a timer task cancels the
        caller when the deadline comes, and the cancellation is turned into :class:`DeadlinePassed` (a cancellation
        from outside stays a cancellation)."""
        remaining = self.remaining(reserve)
        if remaining <= 0:
            if inspect.iscoroutine(call):
                call.close()
            raise DeadlinePassed(f"{what}: no time left before the deadline (singleLegTimeout)")
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Deadline.run needs a running task")
        fired = False

        async def expire() -> None:
            nonlocal fired
            await self.clock.sleep(remaining)
            fired = True
            task.cancel()

        timer = asyncio.ensure_future(expire())
        try:
            return await call
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise DeadlinePassed(f"{what}: no answer before the deadline (singleLegTimeout)") from None
            raise
        finally:
            timer.cancel()
