"""The order-update hub behind ``Exchange.order_updates()``.

Venue streams and REST reconciliation both :meth:`OrderUpdateHub.publish` into it; it drops what a consumer has
already seen (a fill by trade id, an order state identical to the last one published), keeps the latest known state
of every order (so a reconnect can find what changed while the stream was down) and fans updates out to every
consumer. :meth:`OrderUpdateHub.reconcile` is the REST catch-up run after each reconnect: missed fills first (each
with its order's state), then orders that left the open set without a fill (cancelled/expired), then new open orders.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

from bot_runtime.exchanges.base import ExchangeError, Fill, Order, OrderUpdate, utcnow

log = logging.getLogger(__name__)

_CLOSED = object()


class OrderUpdateHub:
    def __init__(self, name: str, *, max_tracked: int = 5000, max_trade_ids: int = 20000) -> None:
        self.name = name
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self._trade_ids: set[str] = set()
        self._trade_order: deque[str] = deque()
        self._max_tracked = max_tracked
        self._max_trade_ids = max_trade_ids
        self._queues: set[asyncio.Queue[OrderUpdate | object]] = set()
        self._changed = asyncio.Condition()
        self.last_fill_time: datetime | None = None
        self.started_at = utcnow()
        self.closed = False

    # publishing ---------------------------------------------------------------------------------------------------
    def track(self, order: Order) -> None:
        """Remember an order we placed (so reconciliation can follow it) without emitting anything."""
        if order.order_id not in self._orders:
            self._remember(order)

    def known_order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def open_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if not o.status.is_final]

    def seen_trade(self, trade_id: str) -> bool:
        return trade_id in self._trade_ids

    async def publish(self, update: OrderUpdate) -> bool:
        """Deliver ``update`` unless it is a duplicate; returns whether it was delivered."""
        fill = update.fill
        if fill is not None:
            if fill.trade_id in self._trade_ids:
                fill = None
            else:
                self._trade_ids.add(fill.trade_id)
                self._trade_order.append(fill.trade_id)
                while len(self._trade_order) > self._max_trade_ids:
                    self._trade_ids.discard(self._trade_order.popleft())
                if self.last_fill_time is None or fill.timestamp > self.last_fill_time:
                    self.last_fill_time = fill.timestamp
        order = update.order
        previous = self._orders.get(order.order_id)
        if previous is not None and order.client_order_id is None and previous.client_order_id is not None:
            order = order.model_copy(update={"client_order_id": previous.client_order_id})
        unchanged = (
            previous is not None
            and previous.status == order.status
            and previous.filled_size == order.filled_size
            and previous.price == order.price
        )
        if previous is not None and previous.status.is_final and not order.status.is_final:
            order = previous  # a late "open" after we saw it final: keep the final state
            unchanged = True
        self._remember(order)
        if fill is None and unchanged:
            return False
        delivered = OrderUpdate(order=order, fill=fill)
        for queue in list(self._queues):
            queue.put_nowait(delivered)
        async with self._changed:
            self._changed.notify_all()
        return True

    def _remember(self, order: Order) -> None:
        self._orders[order.order_id] = order
        self._orders.move_to_end(order.order_id)
        while len(self._orders) > self._max_tracked:
            oldest_id, oldest = next(iter(self._orders.items()))
            if not oldest.status.is_final and len(self._orders) <= 2 * self._max_tracked:
                self._orders.move_to_end(oldest_id)  # keep open orders tracked as long as reasonably possible
                break
            self._orders.pop(oldest_id)

    # consuming ----------------------------------------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[OrderUpdate]:
        queue: asyncio.Queue[OrderUpdate | object] = asyncio.Queue()
        self._queues.add(queue)
        try:
            while True:
                item = await queue.get()
                if item is _CLOSED:
                    return
                assert isinstance(item, OrderUpdate)
                yield item
        finally:
            self._queues.discard(queue)

    async def wait_for(self, order_id: str, predicate: Callable[[Order], bool], within: float) -> Order | None:
        """Wait until the tracked state of ``order_id`` satisfies ``predicate`` (None on timeout)."""

        def check() -> bool:
            order = self._orders.get(order_id)
            return order is not None and predicate(order)

        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(check), within)
        except TimeoutError:
            return None
        return self._orders.get(order_id)

    def close(self) -> None:
        self.closed = True
        for queue in list(self._queues):
            queue.put_nowait(_CLOSED)

    # reconciliation -----------------------------------------------------------------------------------------------
    async def reconcile(
        self,
        *,
        fetch_fills: Callable[[datetime], Awaitable[list[Fill]]],
        fetch_open_orders: Callable[[], Awaitable[list[Order]]],
        fetch_order: Callable[[str, str], Awaitable[Order | None]],
        lookback: timedelta = timedelta(minutes=2),
    ) -> int:
        """Catch up over REST after a reconnect; returns how many updates were delivered."""
        since = (self.last_fill_time or self.started_at) - lookback
        delivered = 0
        fills = sorted(await fetch_fills(since), key=lambda f: f.timestamp)
        refreshed: dict[str, Order | None] = {}
        for fill in fills:
            if fill.trade_id in self._trade_ids:
                continue
            if fill.order_id not in refreshed:
                refreshed[fill.order_id] = await self._safe_fetch(fetch_order, fill.symbol, fill.order_id)
            order = refreshed[fill.order_id] or self._orders.get(fill.order_id)
            if order is None:
                log.warning("%s: missed fill %s of unknown order %s", self.name, fill.trade_id, fill.order_id)
                continue
            delivered += await self.publish(OrderUpdate(order=order, fill=fill))
        open_now = {o.order_id: o for o in await fetch_open_orders()}
        for tracked in list(self.open_orders()):
            if tracked.order_id in open_now or tracked.order_id in refreshed:
                continue
            latest = await self._safe_fetch(fetch_order, tracked.symbol, tracked.order_id)
            if latest is not None:
                delivered += await self.publish(OrderUpdate(order=latest))
        for order in open_now.values():
            delivered += await self.publish(OrderUpdate(order=order))
        if delivered:
            log.info("%s: reconciliation after reconnect delivered %d update(s)", self.name, delivered)
        return delivered

    async def _safe_fetch(
        self, fetch_order: Callable[[str, str], Awaitable[Order | None]], symbol: str, order_id: str
    ) -> Order | None:
        try:
            return await fetch_order(symbol, order_id)
        except ExchangeError as exc:
            log.warning("%s: could not refresh order %s during reconciliation: %s", self.name, order_id, exc)
            return None
