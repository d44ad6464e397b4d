"""The grid's fault rig (issue 18): the funding-arb tests' :class:`FaultyVenue` (the one paper venue with injectable
faults) plus the faults a grid meets, and a grid that checks the cover invariant at every loop boundary.

Faults added here (the base class has lost replies, rejected entries, stalls, stale quotes, ...):

- ``lookup_lag``: a lookup by client id misses an order younger than this many seconds;
- ``accept_duplicates``: a resend with a client id in use is accepted as a second order (some venues do);
- ``fail_entry_sends``: the next N entries time out before they land (nothing placed);
- ``order_read_lag``: ``get_order`` answers the order's state of this many seconds ago (REST behind the stream);
- ``rate_limited_closes`` / ``rate_limited_reads``: the next N take-profits / open-order reads get a 429 with
  ``retry_after``; ``limited_at`` records when;
- ``reject_closes`` with ``close_rejection``: the next N take-profits are refused (post-only cross, margin);
- ``close_fill_fraction``: a reduce-only market close fills only this fraction (the rest expires);
- ``cancel_delay``: a cancel is acknowledged at once and takes effect this many seconds later;
- ``quote_fault``: rewrites every quote while set (zero, outlier, frozen);
- ``malformed_entry_replies`` / ``malformed_reads``: the next N entries land but their answer cannot be read, the
  next N order reads (get_order, open_orders) answer something unreadable (:class:`MalformedResponse`);
- :meth:`GridFaultVenue.end_stream`: the order-update stream ends (as a dropped socket does);
- :meth:`GridFaultVenue.set_min_size`: a minimum order size above the size step (partial fills below it).

:class:`WatchedGrid` checks after every loop iteration, from the venue's own books: |position - resting close size|
< the minimum size, or it was fine one loop earlier (the grace), or the strategy opens nothing and its snapshot says
why (``reason``; ``uncovered`` when a fill lacks its take-profit). No client id is ever on two orders (nothing doubled).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges.base import (
    MalformedResponse,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PostOnlyWouldCross,
    Quote,
    RateLimited,
    Side,
    TransientNetworkError,
)
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.strategies.base import StrategyPhase
from bot_runtime.strategies.grid import GridStrategy
from tests.unit.funding_arb.farb_helpers import FaultyVenue

D = Decimal


class GridFaultVenue(FaultyVenue):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookup_lag = 0.0
        self.accept_duplicates = False
        self.fail_entry_sends = 0
        self.order_read_lag = 0.0
        self.get_order_calls: list[float] = []
        self.rate_limited_closes = 0
        self.rate_limited_reads = 0
        self.retry_after = 5.0
        self.limited_at: list[float] = []
        self.reject_closes = 0
        self.close_rejection: OrderRejected | None = None
        self.close_fill_fraction: Decimal | None = None
        self.cancel_delay = 0.0
        self.quote_fault: Callable[[Quote], Quote] | None = None
        self.malformed_entry_replies = 0
        self.malformed_reads = 0
        self._history: dict[str, list[tuple[float, Order]]] = {}

    # faults ---------------------------------------------------------------------------------------------------------
    def end_stream(self) -> None:
        self._updates.end_all()

    def set_min_size(self, symbol: str, min_size: str) -> None:
        self._markets[symbol] = self._markets[symbol].model_copy(update={"min_size": D(min_size)})

    def _publish(self, events: list[OrderUpdate]) -> None:
        for event in events:
            self._history.setdefault(event.order.order_id, []).append((self.clock.time(), event.order))
        super()._publish(events)

    def _malformed(self) -> MalformedResponse:
        return MalformedResponse(f"{self.name}: order status 'frozen' unknown", exchange=self.name)

    def _read(self) -> None:
        if self.malformed_reads > 0:
            self.malformed_reads -= 1
            raise self._malformed()

    def _limit(self) -> None:
        self.limited_at.append(self.clock.time())
        raise RateLimited(f"{self.name}: too many requests", retry_after=self.retry_after, exchange=self.name)

    async def place_order(self, request: OrderRequest) -> Order:
        if request.reduce_only:
            if self.rate_limited_closes > 0:
                self.rate_limited_closes -= 1
                self._limit()
            if self.reject_closes > 0:
                self.reject_closes -= 1
                raise self.close_rejection or PostOnlyWouldCross(exchange=self.name)
            if self.close_fill_fraction is not None and request.order_type is OrderType.MARKET:
                market = self._markets[request.symbol]
                part = market.round_size(request.size * self.close_fill_fraction)
                order = await PaperExchange.place_order(self, request.model_copy(update={"size": part}))
                final = order.model_copy(update={"size": request.size, "status": OrderStatus.EXPIRED})
                self._orders[order.order_id] = final
                return final
            return await super().place_order(request)
        if self.fail_entry_sends > 0:
            self.fail_entry_sends -= 1
            raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
        if self.malformed_entry_replies > 0 and request.client_order_id not in self.engine.by_client_id:
            self.malformed_entry_replies -= 1
            await PaperExchange.place_order(self, request)
            raise self._malformed()
        if self.accept_duplicates and request.client_order_id in self.engine.by_client_id:
            del self.engine.by_client_id[request.client_order_id]  # the venue forgets it: a second order lands
            return await PaperExchange.place_order(self, request)
        return await super().place_order(request)

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        order = await super().find_order_by_client_id(symbol, client_order_id)
        if order is not None and (self.clock.now() - order.created_at).total_seconds() < self.lookup_lag:
            return None
        return order

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        self.get_order_calls.append(self.clock.time())
        self._read()
        order = await super().get_order(symbol, order_id)
        if order is None or self.order_read_lag <= 0:
            return order
        seen = self._history.get(order_id, [])
        then = [o for t, o in seen if t <= self.clock.time() - self.order_read_lag]
        return then[-1] if then else (seen[0][1] if seen else order)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        if self.rate_limited_reads > 0:
            self.rate_limited_reads -= 1
            self._limit()
        self._read()
        return await super().open_orders(symbol)

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        if self.cancel_delay <= 0:
            await super().cancel_order(symbol, order_id)
            return
        order = self._orders.get(order_id)
        if order is None or order.status.is_final:
            raise OrderNotFound(f"{self.name}: no open order {order_id}", exchange=self.name)
        self.late.append(asyncio.create_task(self._cancel_later(symbol, order_id, self.cancel_delay)))

    async def _cancel_later(self, symbol: str, order_id: str, delay: float) -> None:
        await self.clock.sleep(delay)
        with contextlib.suppress(OrderNotFound):
            await PaperExchange.cancel_order(self, symbol, order_id)

    async def best_bid_ask(self, symbol: str) -> Quote:
        quote = await super().best_bid_ask(symbol)
        return self.quote_fault(quote) if self.quote_fault is not None else quote

    # the venue's own books ------------------------------------------------------------------------------------------
    def truth(self, symbol: str, close_side: Side) -> tuple[Decimal, Decimal]:
        """(position, resting close size of the bot) straight from the engine."""
        position = self.account.book(symbol).size
        closes = sum(
            (o.remaining for o in self.engine.open_orders(symbol) if o.reduce_only and o.side is close_side),
            D(0),
        )
        return position, closes

    def doubled(self) -> list[str]:
        """Client ids carried by more than one order."""
        ids = Counter(o.client_order_id for o in self._orders.values())
        return [cid for cid, n in ids.items() if cid is not None and n > 1]


@dataclass
class Boundary:
    """One loop boundary the watch looked at."""

    at: float
    position: Decimal
    closes: Decimal
    phase: StrategyPhase
    reason: str | None
    uncovered: Decimal | None


@dataclass
class CoverWatch:
    """The checks at every loop boundary (see the module docstring); ``explained`` lists the boundaries past the
    grace where the position was not covered (and the strategy said why)."""

    venue: GridFaultVenue | None = None  # None: the caller reads the venue (:meth:`observe`)
    loops: int = 0
    gap_since: tuple[int, int] | None = None  # (loop, entries accepted) when a gap was first seen
    explained: list[Boundary] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, strategy: GridStrategy) -> None:
        """One boundary, read from the in-process venue's engine."""
        assert self.venue is not None
        position, closes = self.venue.truth(strategy.symbol, strategy.close_side)
        entries = sum(
            1
            for o in self.venue._orders.values()
            if not o.reduce_only and strategy.client_ids.role_of(o.client_order_id) == "o"
        )
        self.observe(strategy, position=position, closes=closes, entries=entries, doubled=self.venue.doubled())

    def observe(
        self, strategy: GridStrategy, *, position: Decimal, closes: Decimal, entries: int, doubled: list[str]
    ) -> None:
        """One boundary: the venue's position, the bot's resting close size, how many entries it has placed, the
        client ids on more than one order."""
        self.loops += 1
        assert strategy.market is not None
        held = position if strategy.open_side is Side.BUY else -position
        snap = strategy.snapshot()
        if doubled:
            self.failures.append(f"loop {self.loops}: an order was doubled: {doubled}")
        if abs(held - closes) < strategy.market.min_size or snap.phase is StrategyPhase.RISK_HALTED:
            self.gap_since = None
            return
        if self.gap_since is None:
            self.gap_since = (self.loops, entries)  # the grace: one loop to read and re-cover
            return
        boundary = Boundary(
            time.time() if self.venue is None else self.venue.clock.time(),
            position,
            closes,
            snap.phase,
            snap.reason,
            snap.uncovered,
        )
        self.explained.append(boundary)
        if entries != self.gap_since[1]:
            self.failures.append(f"loop {self.loops}: an entry opened while {held - closes} was uncovered")
        if not snap.reason:
            self.failures.append(f"loop {self.loops}: {held - closes} uncovered and no reason given: {boundary}")

    def assert_held(self) -> None:
        assert self.failures == [], self.failures


class WatchedGrid(GridStrategy):
    """The grid with :class:`CoverWatch` run after every loop iteration."""

    watch: CoverWatch

    async def _iteration(self, stopping: asyncio.Event) -> bool:
        ended = await super()._iteration(stopping)
        self.watch.check(self)
        return ended
