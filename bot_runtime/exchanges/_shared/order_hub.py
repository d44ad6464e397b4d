"""The order-update hub behind ``Exchange.order_updates()``.

Venue streams, placement results and REST reconciliation all :meth:`OrderUpdateHub.publish` into it. It

* drops what a consumer has already seen: a fill by trade id (bounded memory, :class:`SeenIds`), an order state
  identical to the last one (status, filled size, price), and a late non-final state of an order already final;
* keeps the latest state of every order (by order id and by client order id), so placement can wait for the venue's
  verdict (:meth:`OrderUpdateHub.settle`) and a reconnect can find what changed while the stream was down;
* fans every delivered update out to each consumer of :meth:`OrderUpdateHub.subscribe`. A consumer is registered
  when ``subscribe()`` is *called* (not at its first ``anext``), and the first one ever also receives what was
  published before it (up to ``backlog``), so a strategy that starts iterating a moment late loses nothing;
* :meth:`OrderUpdateHub.reconcile` is the REST catch-up after a reconnect: missed fills first (each with its order's
  state), then orders that left the open set without a fill (cancelled/expired), then the open orders.

Fills time-stamped before the hub started (:attr:`OrderUpdateHub.started_at`, set by :meth:`mark_started` in
``connect``) are history of a previous process: reconciliation never delivers them as new (its look-back would
otherwise report them again after every restart), nor does ``publish(..., drop_history=True)`` (for venues whose
subscription starts with a snapshot of recent trades).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot_runtime.exchanges.base import Exchange, ExchangeError, Fill, Order, OrderStatus, OrderUpdate, utcnow

log = logging.getLogger(__name__)

_CLOSED = object()


class SeenIds:
    """The last ``capacity`` ids; :meth:`add` is False for an id already seen."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._order: deque[str] = deque()
        self._set: set[str] = set()
        self._capacity = capacity

    def add(self, item: str) -> bool:
        if item in self._set:
            return False
        self._set.add(item)
        self._order.append(item)
        if len(self._order) > self._capacity:
            self._set.discard(self._order.popleft())
        return True

    def __contains__(self, item: object) -> bool:
        return item in self._set

    def __len__(self) -> int:
        return len(self._set)


def order_from_fill(fill: Fill) -> Order:
    """The best state we can give a fill of an order we know nothing else about (placed by a previous process)."""
    return Order(
        order_id=fill.order_id,
        client_order_id=fill.client_order_id,
        symbol=fill.symbol,
        side=fill.side,
        price=fill.price,
        size=fill.size,
        filled_size=fill.size,
        avg_fill_price=fill.price,
        status=OrderStatus.FILLED,
        updated_at=fill.timestamp,
    )


class OrderUpdateHub:
    def __init__(self, name: str, *, max_tracked: int = 5000, max_trade_ids: int = 20_000, backlog: int = 10_000):
        self.name = name
        self._orders: OrderedDict[str, Order] = OrderedDict()
        self._by_client: dict[str, str] = {}
        self._trade_ids = SeenIds(max_trade_ids)
        self._max_tracked = max_tracked
        self._queues: list[asyncio.Queue[Any]] = []
        self._backlog: deque[OrderUpdate] = deque(maxlen=backlog)
        self._had_subscriber = False
        self._changed = asyncio.Event()
        self.last_fill_time: datetime | None = None
        self.started_at = utcnow()
        self.closed = False

    def mark_started(self) -> None:
        """Fills before now are history (call it in ``connect``, before the first stream subscription)."""
        self.started_at = utcnow()

    # state ----------------------------------------------------------------------------------------------------------
    def known_order(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def known_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self._by_client.get(client_order_id)
        return self._orders.get(order_id) if order_id is not None else None

    def open_orders(self) -> list[Order]:
        return [o for o in self._orders.values() if not o.status.is_final]

    def seen_trade(self, trade_id: str) -> bool:
        return trade_id in self._trade_ids

    def is_history(self, fill: Fill) -> bool:
        return fill.timestamp < self.started_at

    def order_for_fill(self, fill: Fill) -> Order:
        """The known state of a fill's order, else :func:`order_from_fill`."""
        return self._orders.get(fill.order_id) or order_from_fill(fill)

    def track(self, order: Order) -> None:
        """Follow an order (one we placed, one found open at start) without emitting anything."""
        if order.order_id not in self._orders:
            self._remember(order)

    def remember(self, order: Order) -> bool:
        """Record a state without emitting it; returns whether it changed what was known."""
        merged, changed = self._merge(order)
        self._remember(merged)
        return changed

    def _merge(self, order: Order) -> tuple[Order, bool]:
        previous = self._orders.get(order.order_id)
        if previous is None:
            return order, True
        if order.client_order_id is None and previous.client_order_id is not None:
            order = order.model_copy(update={"client_order_id": previous.client_order_id})
        if previous.status.is_final and not order.status.is_final:
            return previous, False  # a late "open" after the order was seen final: keep the final state
        changed = (previous.status, previous.filled_size, previous.price) != (
            order.status,
            order.filled_size,
            order.price,
        )
        return order, changed

    def _remember(self, order: Order) -> None:
        self._orders[order.order_id] = order
        self._orders.move_to_end(order.order_id)
        if order.client_order_id:
            self._by_client[order.client_order_id] = order.order_id
        while len(self._orders) > self._max_tracked:
            oldest_id, oldest = next(iter(self._orders.items()))
            if not oldest.status.is_final and len(self._orders) <= 2 * self._max_tracked:
                self._orders.move_to_end(oldest_id)  # keep open orders tracked as long as reasonably possible
                break
            self._orders.pop(oldest_id)
            if oldest.client_order_id and self._by_client.get(oldest.client_order_id) == oldest_id:
                del self._by_client[oldest.client_order_id]
        self._changed.set()
        self._changed = asyncio.Event()

    # publishing -----------------------------------------------------------------------------------------------------
    def publish(self, update: OrderUpdate, *, drop_history: bool = False) -> bool:
        """Deliver ``update`` unless everything in it was seen already; returns whether something was delivered.

        A fill seen before - or, with ``drop_history`` (a venue's subscription snapshot, a reconciliation), one of a
        previous process (before :attr:`started_at`) - is removed from the update; the order state still counts."""
        fill = update.fill
        if fill is not None and ((drop_history and self.is_history(fill)) or not self._trade_ids.add(fill.trade_id)):
            fill = None
        if fill is not None and (self.last_fill_time is None or fill.timestamp > self.last_fill_time):
            self.last_fill_time = fill.timestamp
        order, changed = self._merge(update.order)
        self._remember(order)
        if fill is None and not changed:
            return False
        delivered = OrderUpdate(order=order, fill=fill)
        if not self._had_subscriber:
            self._backlog.append(delivered)
        for queue in self._queues:
            queue.put_nowait(delivered)
        return True

    def publish_fill(self, fill: Fill, order: Order | None = None, *, drop_history: bool = False) -> bool:
        """A fill with its order's state (given, known, or :func:`order_from_fill`); with ``drop_history`` a fill of a
        previous process is dropped whole (its order's state too: a snapshot must not resurrect old orders)."""
        if drop_history and self.is_history(fill):
            return False
        update = OrderUpdate(order=order or self.order_for_fill(fill), fill=fill)
        return self.publish(update, drop_history=drop_history)

    # consuming ------------------------------------------------------------------------------------------------------
    def subscribe(self) -> AsyncIterator[OrderUpdate]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        if not self._had_subscriber:
            self._had_subscriber = True
            while self._backlog:
                queue.put_nowait(self._backlog.popleft())
        if self.closed:
            queue.put_nowait(_CLOSED)
        self._queues.append(queue)
        return _Subscription(self, queue)

    def _detach(self, queue: asyncio.Queue[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for queue in self._queues:
            queue.put_nowait(_CLOSED)

    async def wait_changed(self, within: float) -> bool:
        """Wait until any tracked order changes (or ``within`` seconds); True when something changed."""
        try:
            await asyncio.wait_for(self._changed.wait(), within)
        except TimeoutError:
            return False
        return True

    async def settle(
        self,
        poll: Callable[[], Awaitable[Order | None]],
        *,
        order_id: str | None = None,
        client_order_id: str | None = None,
        timeout: float,  # noqa: ASYNC109 - a plain deadline
        interval: float,
    ) -> Order | None:
        """The venue's verdict on a just-placed order: its first state that is not PENDING, from the stream or -
        when the stream said nothing for ``interval`` seconds - from ``poll`` (REST; polled at once when the stream
        has not shown the order yet); the last state seen (or None) after ``timeout``."""
        if order_id is None and client_order_id is None:
            raise ValueError("settle needs an order id or a client order id")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        def known() -> Order | None:
            by_id = self.known_order(order_id) if order_id is not None else None
            return by_id or (self.known_by_client_id(client_order_id) if client_order_id is not None else None)

        async def polled() -> Order | None:
            order = await poll()
            if order is not None:
                self.publish(OrderUpdate(order=order))
            return known() or order

        last = known() or await polled()
        while True:
            if last is not None and last.status is not OrderStatus.PENDING:
                return last
            remaining = deadline - loop.time()
            if remaining <= 0:
                return last
            if not await self.wait_changed(min(interval, remaining)):
                last = await polled() or last
            last = known() or last

    # reconciliation -------------------------------------------------------------------------------------------------
    async def reconcile(
        self,
        *,
        fetch_fills: Callable[[datetime], Awaitable[list[Fill]]],
        fetch_open_orders: Callable[[], Awaitable[list[Order]]],
        fetch_order: Callable[[Order], Awaitable[Order | None]],
        lookback: timedelta = timedelta(minutes=2),
    ) -> int:
        """Catch up over REST after a reconnect; returns how many updates were delivered.

        ``fetch_fills(since)`` lists the account's fills since a time (a look-back before the last fill seen, never
        before :attr:`started_at`: duplicates are dropped), ``fetch_order(tracked)`` the latest state of an order."""
        since = max(self.started_at, (self.last_fill_time or self.started_at) - lookback)
        delivered = 0
        fills = sorted(await fetch_fills(since), key=lambda f: f.timestamp)
        refreshed: dict[str, Order | None] = {}
        for fill in fills:
            if fill.trade_id in self._trade_ids or self.is_history(fill):
                continue
            if fill.order_id not in refreshed:
                tracked = self.order_for_fill(fill)
                refreshed[fill.order_id] = await self._safe_fetch(fetch_order, tracked)
            order = refreshed[fill.order_id] or self.order_for_fill(fill)
            delivered += self.publish(OrderUpdate(order=order, fill=fill), drop_history=True)
        open_now = {o.order_id: o for o in await fetch_open_orders()}
        for tracked in self.open_orders():
            if tracked.order_id in open_now or tracked.order_id in refreshed:
                continue
            latest = await self._safe_fetch(fetch_order, tracked)
            if latest is not None:
                delivered += self.publish(OrderUpdate(order=latest))
        for order in open_now.values():
            delivered += self.publish(OrderUpdate(order=order))
        log.info("%s: reconciled after reconnect: %d update(s), %d open order(s)", self.name, delivered, len(open_now))
        return delivered

    async def _safe_fetch(self, fetch_order: Callable[[Order], Awaitable[Order | None]], order: Order) -> Order | None:
        try:
            return await fetch_order(order)
        except ExchangeError as exc:
            log.warning("%s: could not refresh order %s during reconciliation: %s", self.name, order.order_id, exc)
            return None


def rest_catch_up(
    hub: OrderUpdateHub,
    exchange: Exchange,
    fetch_fills: Callable[[datetime], Awaitable[list[Fill]]],
    fetch_order: Callable[[Order], Awaitable[Order | None]] | None = None,
) -> Callable[[Any], Awaitable[None]]:
    """The ``on_reconnect`` hook of a venue's account stream: :meth:`OrderUpdateHub.reconcile` with the venue's
    fill history, its open orders and (unless ``fetch_order`` says otherwise) ``exchange.get_order``."""

    async def by_id(order: Order) -> Order | None:
        return await exchange.get_order(order.symbol, order.order_id)

    async def catch_up(_socket: Any) -> None:
        await hub.reconcile(
            fetch_fills=fetch_fills, fetch_open_orders=exchange.open_orders, fetch_order=fetch_order or by_id
        )

    return catch_up


class _Subscription(AsyncIterator[OrderUpdate]):
    def __init__(self, hub: OrderUpdateHub, queue: asyncio.Queue[Any]) -> None:
        self._hub = hub
        self._queue = queue
        self._done = False

    def __aiter__(self) -> _Subscription:
        return self

    async def __anext__(self) -> OrderUpdate:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED or self._done:
            await self.aclose()
            raise StopAsyncIteration
        update: OrderUpdate = item
        return update

    async def aclose(self) -> None:
        if self._done:
            return
        self._done = True
        self._hub._detach(self._queue)
        self._queue.put_nowait(_CLOSED)  # wakes a consumer blocked in __anext__ (it then stops at once)
