"""The grid's reading of the order-update stream (a convenience: REST stays the source of truth).

- Every update of one of the bot's orders on its symbol: a fill goes to ``on_fill`` (PnL book, events); a final
  state is remembered (the most recent :data:`FINAL_SEEN_MAX`), so an order that filled before anyone waited for it,
  or that a lagging REST read still shows open, is known final; a task waiting for that order is woken.
- :meth:`OrderFeed.wait`: wait (on the bot's clock) until the stream says an order is final, or the time is up; the
  latest state the stream reported.
- The stream is restarted whenever it ends or fails, after :data:`~bot_runtime.strategies.update_stream.RESTART_BACKOFF` seconds (1 s first, longer while
  it keeps ending; an update resets it); what it missed meanwhile the grid reads over REST (the cover invariant).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import Exchange, Fill, Order, OrderStatus, OrderUpdate
from bot_runtime.strategies.grid.orders import freshest
from bot_runtime.strategies.update_stream import consume, stop_consumer

FINAL_SEEN_MAX = 256


class _Waiter:
    """Wakes a task waiting for one order when the stream reports a change of it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.latest: Order | None = None


class OrderFeed:
    def __init__(
        self,
        exchange: Exchange,
        clock: Clock,
        *,
        name: str,
        relevant: Callable[[Order], bool],
        on_fill: Callable[[Fill, bool], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.exchange = exchange
        self.clock = clock
        self.name = name
        self.relevant = relevant
        self.on_fill = on_fill
        self.on_error = on_error
        self.final_seen: OrderedDict[str, Order] = OrderedDict()  # recent final states, oldest first out
        self.restarts = 0
        self._waiters: dict[str, _Waiter] = {}
        self._task: asyncio.Task[None] | None = None
        self._stream: AsyncIterator[OrderUpdate] | None = None
        self._closing = asyncio.Event()

    def final(self, order_id: str) -> Order | None:
        """The final state the stream reported for ``order_id`` (None: none seen)."""
        return self.final_seen.get(order_id)

    async def wait(self, order: Order, seconds: float, stopping: asyncio.Event) -> Order | None:
        """Wait up to ``seconds`` until the stream reports ``order`` final (or ``stopping`` is set); the latest state
        the stream reported (None: nothing)."""
        waiter = self._waiters.setdefault(order.order_id, _Waiter())
        waiter.latest = freshest(waiter.latest, self.final(order.order_id))  # filled during placement?
        deadline = self.clock.monotonic() + seconds
        try:
            while True:
                latest = waiter.latest
                if latest is not None and latest.status.is_final:
                    break
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0 or stopping.is_set():
                    break
                waiter.event.clear()
                await self.clock.wait_any((waiter.event, stopping), remaining)
        finally:
            self._waiters.pop(order.order_id, None)
        return freshest(waiter.latest, self.final(order.order_id))

    # the consumer ---------------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is not None:
            return
        self._closing.clear()
        self._task = asyncio.create_task(self._consume(), name=f"{self.name}-updates")

    async def _consume(self) -> None:
        def opened(stream: AsyncIterator[OrderUpdate]) -> None:
            self._stream = stream

        def reopened() -> None:
            self.restarts += 1

        await consume(
            self.exchange.order_updates,
            self.apply,
            clock=self.clock,
            closing=self._closing,
            name=self.name,
            on_error=self.on_error,
            on_open=opened,
            on_reopen=reopened,
        )

    def apply(self, update: OrderUpdate) -> None:
        order = update.order
        if not self.relevant(order):
            return
        if update.fill is not None:
            self.on_fill(update.fill, order.status is not OrderStatus.FILLED)
        if order.status.is_final:
            self.final_seen[order.order_id] = order
            while len(self.final_seen) > FINAL_SEEN_MAX:
                self.final_seen.popitem(last=False)
        waiter = self._waiters.get(order.order_id)
        if waiter is not None:
            waiter.latest = freshest(waiter.latest, order)
            waiter.event.set()

    async def stop(self) -> None:
        """Stop consuming (after letting it drain what was already queued, e.g. the fills of a closePositions exit)."""
        task, stream = self._task, self._stream
        self._closing.set()
        self._task = self._stream = None
        if task is None:
            return
        await stop_consumer(task, stream)
