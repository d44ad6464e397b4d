"""The paper venue: the whole :class:`~bot_runtime.exchanges.base.Exchange` contract on a simulated market.

Simulation, advanced on the injected clock (lazily on every call, and by a ticker task every ``step`` so the
streams move on their own):

- each market's mid price follows its :mod:`~bot_runtime.exchanges.paper.prices` path, one move per step;
  top of book: ``spreadTicks`` ticks around the mid (bid rounded down to the tick);
- a post-only order that would cross is rejected with :class:`PostOnlyWouldCross`; a crossing GTC/IOC limit or a
  market order takes liquidity at once at the touch (taker fee); a non-crossing IOC expires;
- resting limit orders fill at their price (maker fee) when the step's traded range goes through them (a buy when
  the mid trades below it, a sell above), in price-time priority, up to ``volumePerStepUsd`` per side per step,
  so big orders fill in parts;
- reduce-only orders can only reduce: rejected when there is nothing to reduce, trimmed to the position at fill
  time (the rest is cancelled);
- margin: initial margin = notional / ``leverage``; an order whose added exposure needs more than the available
  margin (equity - used margin - margin reserved by resting orders) is rejected with :class:`InsufficientMargin`;
- funding at every interval boundary on the position notional at mark (longs pay when the rate is positive);
- balance = starting balance + realized PnL + funding - fees; equity adds unrealized PnL at mark.

No liquidation engine: a paper account can go below maintenance margin (the risk manager's limits act first).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.exchanges.base import (
    ZERO,
    Balance,
    CancelReason,
    Exchange,
    ExchangeError,
    Fill,
    InsufficientMargin,
    Liquidity,
    Market,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PostOnlyWouldCross,
    Quote,
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.paper.accounting import Account
from bot_runtime.exchanges.paper.funding import FundingModel
from bot_runtime.exchanges.paper.markets import build_markets, build_paths
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import PricePath
from bot_runtime.exchanges.paper.streams import Hub, Subscription
from bot_runtime.exchanges.symbols import venue_family

log = logging.getLogger(__name__)

DEFAULT_CLOCK: Clock = SystemClock()


class PaperExchange(Exchange):
    def __init__(
        self,
        name: str = "paper",
        options: Mapping[str, Any] | PaperOptions | None = None,
        *,
        clock: Clock | None = None,
        price_paths: Mapping[str, PricePath] | None = None,
    ) -> None:
        if venue_family(name) != "paper":
            raise ValueError(f"a paper venue's name is 'paper' or 'paper-<suffix>', not {name!r}")
        self.name = name
        self.options = options if isinstance(options, PaperOptions) else PaperOptions.parse(name, options or {})
        self.clock = clock or self.options.clock or DEFAULT_CLOCK
        self._markets = build_markets(self.options)
        self._paths = build_paths(self.options, self.clock)
        for symbol, path in (price_paths or {}).items():
            if symbol not in self._markets:
                raise ValueError(f"{name}: no market {symbol!r} for a scripted price path")
            self._paths[symbol] = path
        self.funding = FundingModel.for_venue(name, self.options)
        self.account = Account(self.options.config.starting_balance_usd, self.options.config.leverage)
        now = self.clock.time()
        self._k = {symbol: path.index_at(now) for symbol, path in self._paths.items()}
        self._funding_period = self.funding.period(now)
        self._orders: dict[str, Order] = {}
        self._open: dict[str, list[str]] = {symbol: [] for symbol in self._markets}
        self._by_client_id: dict[str, str] = {}
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self.fills: list[Fill] = []
        self.funding_payments: list[tuple[datetime, str, Decimal]] = []
        self._updates: Hub[OrderUpdate] = Hub()
        self._quotes: dict[str, Hub[Quote]] = {symbol: Hub() for symbol in self._markets}
        self._connected = False
        self._ticker: asyncio.Task[None] | None = None

    # lifecycle ------------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        self._sync()
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"{self.name}-ticker")

    async def close(self) -> None:
        self._connected = False
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._updates.end_all()
        for hub in self._quotes.values():
            hub.end_all()

    async def _tick_loop(self) -> None:
        while self._connected:
            await self.clock.sleep(self.options.step)
            try:
                self._sync()
            except Exception:  # the ticker must survive a bug report
                log.exception("%s: simulation step failed", self.name)

    def _require(self) -> None:
        if not self._connected:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)

    def _market(self, symbol: str) -> Market:
        try:
            return self._markets[symbol]
        except KeyError:
            raise ExchangeError(f"{self.name}: no perpetual market for {symbol!r}", exchange=self.name) from None

    # simulation -----------------------------------------------------------------------------------------------------
    def _sync(self) -> None:
        """Advance the simulation to the clock's now: price steps, fills, funding boundaries in time order."""
        now = self.clock.time()
        moved: set[str] = set()
        while (boundary := self.funding.boundary(self._funding_period)) <= now:
            moved |= self._advance_prices(boundary)
            self._pay_funding(boundary, self._funding_period)
            self._funding_period += 1
        moved |= self._advance_prices(now)
        for symbol in moved:
            if len(self._quotes[symbol]):
                self._quotes[symbol].publish(self._quote(symbol))

    def _advance_prices(self, t: float) -> set[str]:
        moved: set[str] = set()
        for symbol, path in self._paths.items():
            target = path.index_at(t)
            while self._k[symbol] < target:
                self._k[symbol] += 1
                self._match(symbol, self._k[symbol])
                moved.add(symbol)
        return moved

    def _mid(self, symbol: str, k: int | None = None) -> Decimal:
        return self._paths[symbol].price(self._k[symbol] if k is None else k)

    def _quote_at(self, symbol: str, k: int | None = None) -> tuple[Decimal, Decimal]:
        market = self._markets[symbol]
        spread = market.tick_size * self.options.spread_ticks
        bid = market.round_price(self._mid(symbol, k) - spread / 2)
        bid = max(bid, market.tick_size)
        return bid, bid + spread

    def _quote(self, symbol: str) -> Quote:
        bid, ask = self._quote_at(symbol)
        k = self._k[symbol]
        size = self.options.config.volume_per_step_usd / self._mid(symbol)
        return Quote(
            symbol=symbol,
            bid=bid,
            ask=ask,
            bid_size=self._markets[symbol].round_size(size),
            ask_size=self._markets[symbol].round_size(size),
            timestamp=self._time_of(symbol, k),
        )

    def _mark(self, symbol: str) -> Decimal:
        bid, ask = self._quote_at(symbol)
        return (bid + ask) / 2

    def _marks(self) -> dict[str, Decimal]:
        return {symbol: self._mark(symbol) for symbol in self._markets}

    def _time_of(self, symbol: str, k: int) -> datetime:
        return datetime.fromtimestamp(max(self._paths[symbol].time_of(k), 0.0), UTC)

    def _match(self, symbol: str, k: int) -> None:
        """Fill resting orders the step's traded range went through."""
        ids = self._open[symbol]
        if not ids:
            return
        previous, current = self._mid(symbol, max(k - 1, 0)), self._mid(symbol, k)
        low, high = min(previous, current), max(previous, current)
        when = self._time_of(symbol, k)
        budget = {
            Side.BUY: self.options.config.volume_per_step_usd / current,
            Side.SELL: self.options.config.volume_per_step_usd / current,
        }
        orders = [self._orders[i] for i in ids]
        buys = sorted(
            (o for o in orders if o.side is Side.BUY and o.price is not None and o.price > low),
            key=lambda o: -(o.price or ZERO),
        )
        sells = sorted(
            (o for o in orders if o.side is Side.SELL and o.price is not None and o.price < high),
            key=lambda o: o.price or ZERO,
        )
        market = self._markets[symbol]
        for order in [*buys, *sells]:
            available = market.round_size(budget[order.side])
            if available <= 0:
                continue
            size = min(order.remaining, available)
            assert order.price is not None
            filled = self._fill(order.order_id, size, order.price, Liquidity.MAKER, when)
            budget[order.side] -= filled

    def _fill(self, order_id: str, size: Decimal, price: Decimal, liquidity: Liquidity, when: datetime) -> Decimal:
        """Book a fill of up to ``size``; returns the size actually filled (reduce-only may trim it)."""
        order = self._orders[order_id]
        book = self.account.book(order.symbol)
        if order.reduce_only:
            reducible = abs(book.size) if book.size != 0 and (book.size > 0) != (order.side is Side.BUY) else ZERO
            size = min(size, reducible)
            if size <= 0:
                self._finish(order_id, OrderStatus.CANCELED, CancelReason.REDUCE_ONLY_VIOLATION, when)
                return ZERO
        rate = self.options.config.maker_fee if liquidity is Liquidity.MAKER else self.options.config.taker_fee
        fee = size * price * rate
        book.apply_fill(order.side, size, price, fee)
        filled = order.filled_size + size
        avg = (
            price
            if order.avg_fill_price is None
            else (order.avg_fill_price * order.filled_size + price * size) / filled
        )
        status = OrderStatus.FILLED if filled >= order.size else OrderStatus.PARTIALLY_FILLED
        order = order.model_copy(
            update={"filled_size": filled, "avg_fill_price": avg, "status": status, "updated_at": when}
        )
        self._orders[order_id] = order
        if status.is_final:
            self._unrest(order)
        fill = Fill(
            trade_id=f"{self.name}-t{next(self._trade_seq)}",
            order_id=order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            liquidity=liquidity,
            timestamp=when,
        )
        self.fills.append(fill)
        self._updates.publish(OrderUpdate(order=order, fill=fill))
        return size

    def _finish(self, order_id: str, status: OrderStatus, reason: CancelReason | None, when: datetime) -> Order:
        order = self._orders[order_id].model_copy(
            update={"status": status, "cancel_reason": reason, "updated_at": when}
        )
        self._orders[order_id] = order
        self._unrest(order)
        self._updates.publish(OrderUpdate(order=order))
        return order

    def _unrest(self, order: Order) -> None:
        ids = self._open[order.symbol]
        if order.order_id in ids:
            ids.remove(order.order_id)

    def _pay_funding(self, boundary: float, period: int) -> None:
        when = datetime.fromtimestamp(boundary, UTC)
        for symbol, book in self.account.books.items():
            if book.size == 0:
                continue
            mark = self._mark(symbol)
            payment = book.apply_funding(mark, self.funding.rate(symbol, period))
            self.funding_payments.append((when, symbol, payment))

    # margin ---------------------------------------------------------------------------------------------------------
    def _reserved_margin(self) -> Decimal:
        """Margin held by resting orders that would add exposure."""
        reserved = ZERO
        for ids in self._open.values():
            for order_id in ids:
                order = self._orders[order_id]
                if not order.reduce_only and order.price is not None:
                    reserved += order.remaining * order.price / self.account.leverage
        return reserved

    def _available(self, marks: dict[str, Decimal]) -> Decimal:
        return self.account.equity(marks) - self.account.margin_used(marks) - self._reserved_margin()

    # market data ----------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    async def best_bid_ask(self, symbol: str) -> Quote:
        self._require()
        self._market(symbol)
        self._sync()
        return self._quote(symbol)

    def price_stream(self, symbol: str) -> Subscription[Quote]:
        self._market(symbol)
        return self._quotes[symbol].subscribe(latest_only=True)

    # orders ---------------------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> Order:
        self._require()
        market = self._market(request.symbol)
        self._sync()
        if request.client_order_id in self._by_client_id:
            raise OrderRejected(f"duplicate client order id {request.client_order_id}", exchange=self.name)
        if request.size < market.min_size or market.round_size(request.size) != request.size:
            raise OrderRejected(
                f"size {request.size} is not a multiple of {market.size_step} >= {market.min_size}", exchange=self.name
            )
        is_market = request.order_type is OrderType.MARKET
        if not is_market:
            if request.price is None:
                raise OrderRejected("a limit order needs a price", exchange=self.name)
            if (request.price / market.tick_size) % 1 != 0:
                raise OrderRejected(
                    f"price {request.price} is not a multiple of {market.tick_size}", exchange=self.name
                )
        elif request.post_only:
            raise OrderRejected("a market order cannot be post-only", exchange=self.name)
        book = self.account.book(request.symbol)
        if request.reduce_only and (book.size == 0 or (book.size > 0) == (request.side is Side.BUY)):
            raise OrderRejected(
                f"reduce-only {request.side} would not reduce position {book.size}",
                reason=CancelReason.REDUCE_ONLY_VIOLATION,
                exchange=self.name,
            )
        bid, ask = self._quote_at(request.symbol)
        touch = ask if request.side is Side.BUY else bid
        crosses = is_market or (
            request.price is not None and (request.price >= ask if request.side is Side.BUY else request.price <= bid)
        )
        if crosses and request.post_only:
            raise PostOnlyWouldCross(
                f"post-only {request.side} at {request.price} would cross the book ({bid} / {ask})", exchange=self.name
            )
        if not request.reduce_only:
            exec_price = touch if crosses else (request.price or touch)
            current = book.size
            added = max(ZERO, abs(current + request.side.sign * request.size) - abs(current))
            required = added * exec_price / self.account.leverage
            if crosses:
                required += request.size * exec_price * self.options.config.taker_fee
            available = self._available(self._marks())
            if required > available:
                raise InsufficientMargin(
                    f"order needs {required:.2f} margin, {max(available, ZERO):.2f} available", exchange=self.name
                )
        now = self.clock.now()
        order_id = f"{self.name}-{next(self._order_seq)}"
        order = Order(
            order_id=order_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            price=request.price,
            size=request.size,
            status=OrderStatus.OPEN,
            reduce_only=request.reduce_only,
            created_at=now,
            updated_at=now,
        )
        self._orders[order_id] = order
        self._by_client_id[request.client_order_id] = order_id
        self._updates.publish(OrderUpdate(order=order))
        if crosses:
            self._fill(order_id, request.size, touch, Liquidity.TAKER, now)
            final = self._orders[order_id]
            if not final.status.is_final:  # a reduce-only trimmed to the position: the rest cannot execute
                self._finish(order_id, OrderStatus.CANCELED, CancelReason.REDUCE_ONLY_VIOLATION, now)
        elif is_market or request.time_in_force is TimeInForce.IOC:
            self._finish(order_id, OrderStatus.EXPIRED, CancelReason.EXPIRED, now)
        else:
            self._open[request.symbol].append(order_id)
        return self._orders[order_id]

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        self._require()
        self._sync()
        order = self._orders.get(order_id)
        if order is None or order.symbol != symbol or order.status.is_final:
            raise OrderNotFound(f"{self.name}: no open order {order_id} on {symbol}", exchange=self.name)
        self._finish(order_id, OrderStatus.CANCELED, CancelReason.USER_CANCELED, self.clock.now())

    async def cancel_all(self, symbol: str | None = None) -> int:
        self._require()
        self._sync()
        count = 0
        for sym in [symbol] if symbol else list(self._open):
            self._market(sym)
            for order_id in list(self._open[sym]):
                self._finish(order_id, OrderStatus.CANCELED, CancelReason.USER_CANCELED, self.clock.now())
                count += 1
        return count

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        self._require()
        self._sync()
        symbols = [symbol] if symbol else list(self._open)
        return [self._orders[i] for sym in symbols for i in self._open.get(sym, [])]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        self._require()
        self._sync()
        order = self._orders.get(order_id)
        return order if order is not None and order.symbol == symbol else None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        self._require()
        self._sync()
        order_id = self._by_client_id.get(client_order_id)
        order = self._orders.get(order_id) if order_id else None
        return order if order is not None and order.symbol == symbol else None

    def order_updates(self) -> Subscription[OrderUpdate]:
        return self._updates.subscribe()

    # account --------------------------------------------------------------------------------------------------------
    def _position(self, symbol: str) -> Position:
        book = self.account.book(symbol)
        mark = self._mark(symbol)
        return Position(
            symbol=symbol,
            size=book.size,
            avg_entry_price=book.avg_entry,
            mark_price=mark,
            unrealized_pnl=book.unrealized(mark),
            realized_pnl=book.realized_pnl,
            funding_pnl=book.funding_pnl,
            margin=abs(book.size) * mark / self.account.leverage,
            leverage=self.account.leverage,
        )

    async def position(self, symbol: str) -> Position:
        self._require()
        self._market(symbol)
        self._sync()
        return self._position(symbol)

    async def positions(self) -> list[Position]:
        self._require()
        self._sync()
        return [self._position(s) for s, b in self.account.books.items() if b.size != 0]

    async def balance(self) -> Balance:
        self._require()
        self._sync()
        marks = self._marks()
        equity = self.account.equity(marks)
        used = self.account.margin_used(marks)
        return Balance(
            asset="USD",
            equity=equity,
            available=equity - used - self._reserved_margin(),
            margin_used=used,
            unrealized_pnl=self.account.unrealized(marks),
        )
