"""One account on one paper venue: orders, matching, positions, margin, fees and funding, as pure state transitions.

The engine holds no clock and does no I/O: every call gets the time and the market it needs (top of book, marks) and
returns the :class:`~bot_runtime.exchanges.base.OrderUpdate` events it caused, in order. Whoever runs it (the paper
exchange service, which stores them in PostgreSQL before answering, or the in-process simulator of the unit tests)
publishes them. The rules:

- a post-only order that would cross the touch is rejected with :class:`PostOnlyWouldCross`; a crossing GTC/IOC limit
  or a market order takes liquidity at once at the touch (taker fee), up to the size shown there; what is left of an
  IOC or market order then expires (never rests), what is left of a GTC limit rests at its price; a non-crossing IOC
  expires at once;
- resting limit orders fill at their own price (maker fee) when the market *trades through* them
  (:meth:`AccountEngine.trade_through`: a buy when the traded low is below its price, a sell when the traded high is
  above), in price-time priority, up to the traded size per side, so big orders fill in parts;
- reduce-only orders can only reduce: rejected when there is nothing to reduce, clipped to the position at fill
  time (the rest is cancelled with ``reduce_only_violation``);
- margin: initial margin = notional / ``leverage``; an order whose added exposure (plus the taker fee when it
  crosses) needs more than the available margin (equity - used margin - margin reserved by resting orders) is
  rejected with :class:`InsufficientMargin`;
- funding (:meth:`AccountEngine.pay_funding`) on the position notional at mark: longs pay when the rate is positive;
- balance = starting balance + realized PnL + funding - fees (:mod:`.accounting`); equity adds unrealized PnL.

No liquidation engine: a paper account can go below maintenance margin (the risk manager's limits act first).
Orders of different accounts never trade with each other: each trades against the venue's market.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from bot_runtime.exchanges.base import (
    ZERO,
    Balance,
    CancelReason,
    DuplicateClientOrderId,
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
    Side,
    TimeInForce,
)
from bot_runtime.paper_exchange.engine.accounting import Account, PositionBook


@dataclass(frozen=True, slots=True)
class TopOfBook:
    """The touch a taker trades at; ``bid_size``/``ask_size`` bound what it can take there (None: unbounded)."""

    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


@dataclass(frozen=True, slots=True)
class FundingPayment:
    symbol: str
    amount: Decimal  # received (+) or paid (-)
    rate: Decimal
    mark: Decimal
    size: Decimal
    paid_at: datetime


@dataclass(slots=True)
class Sequencer:
    """The venue's order and trade numbers (shared by its accounts, so ids are unique on the venue)."""

    venue: str
    last_order: int = 0
    last_trade: int = 0

    def order_id(self) -> str:
        self.last_order += 1
        return f"{self.venue}-{self.last_order}"

    def trade_id(self) -> str:
        self.last_trade += 1
        return f"{self.venue}-t{self.last_trade}"


class AccountEngine:
    def __init__(
        self,
        venue: str,
        markets: Mapping[str, Market],
        *,
        starting_balance: Decimal,
        leverage: Decimal,
        ids: Sequencer,
    ) -> None:
        self.venue = venue
        self.markets = markets
        self.ids = ids
        self.account = Account(starting_balance, leverage)
        self.orders: dict[str, Order] = {}
        self.open: dict[str, list[str]] = {symbol: [] for symbol in markets}
        self.by_client_id: dict[str, str] = {}
        self.fills: list[Fill] = []
        self.funding_payments: list[FundingPayment] = []

    # restoring stored state ---------------------------------------------------------------------------------------
    def restore(self, orders: Iterable[Order], books: Mapping[str, PositionBook]) -> None:
        """Load stored orders (any status, in creation order) and position books (a restart of the service)."""
        for order in orders:
            self.orders[order.order_id] = order
            if order.client_order_id:
                self.by_client_id[order.client_order_id] = order.order_id
            if not order.status.is_final:
                self.open.setdefault(order.symbol, []).append(order.order_id)
        self.account.books.update(books)

    # lookups --------------------------------------------------------------------------------------------------------
    def market(self, symbol: str) -> Market:
        try:
            return self.markets[symbol]
        except KeyError:
            raise OrderRejected(f"{self.venue}: no perpetual market for {symbol!r}", exchange=self.venue) from None

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        symbols = [symbol] if symbol else list(self.open)
        return [self.orders[i] for sym in symbols for i in self.open.get(sym, [])]

    def find_by_client_id(self, client_order_id: str) -> Order | None:
        order_id = self.by_client_id.get(client_order_id)
        return self.orders.get(order_id) if order_id else None

    # orders ---------------------------------------------------------------------------------------------------------
    def place(
        self, request: OrderRequest, touch: TopOfBook, marks: Mapping[str, Decimal], now: datetime
    ) -> list[OrderUpdate]:
        """Validate, accept and (when it crosses) execute one order; raises :class:`OrderRejected` (no state change)."""
        market = self.market(request.symbol)
        if request.client_order_id in self.by_client_id:
            raise DuplicateClientOrderId(f"duplicate client order id {request.client_order_id}", exchange=self.venue)
        if request.size < market.min_size or market.round_size(request.size) != request.size:
            raise OrderRejected(
                f"size {request.size} is not a multiple of {market.size_step} >= {market.min_size}", exchange=self.venue
            )
        is_market = request.order_type is OrderType.MARKET
        if not is_market:
            if request.price is None:
                raise OrderRejected("a limit order needs a price", exchange=self.venue)
            if (request.price / market.tick_size) % 1 != 0:
                raise OrderRejected(
                    f"price {request.price} is not a multiple of {market.tick_size}", exchange=self.venue
                )
        elif request.post_only:
            raise OrderRejected("a market order cannot be post-only", exchange=self.venue)
        book = self.account.book(request.symbol)
        if request.reduce_only and (book.size == 0 or (book.size > 0) == (request.side is Side.BUY)):
            raise OrderRejected(
                f"reduce-only {request.side} would not reduce position {book.size}",
                reason=CancelReason.REDUCE_ONLY_VIOLATION,
                exchange=self.venue,
            )
        price_touch = touch.ask if request.side is Side.BUY else touch.bid
        crosses = is_market or (
            request.price is not None
            and (request.price >= touch.ask if request.side is Side.BUY else request.price <= touch.bid)
        )
        if crosses and request.post_only:
            raise PostOnlyWouldCross(
                f"post-only {request.side} at {request.price} would cross the book ({touch.bid} / {touch.ask})",
                exchange=self.venue,
            )
        taker_fee = market.taker_fee or ZERO
        if not request.reduce_only:
            exec_price = price_touch if crosses else (request.price or price_touch)
            current = book.size
            added = max(ZERO, abs(current + request.side.sign * request.size) - abs(current))
            required = added * exec_price / self.account.leverage
            if crosses:
                required += request.size * exec_price * taker_fee
            available = self.available(marks)
            if required > available:
                raise InsufficientMargin(
                    f"order needs {required:.2f} margin, {max(available, ZERO):.2f} available", exchange=self.venue
                )
        order = Order(
            order_id=self.ids.order_id(),
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
        self.orders[order.order_id] = order
        self.by_client_id[request.client_order_id] = order.order_id
        events = [OrderUpdate(order=order)]
        if crosses:
            shown = touch.ask_size if request.side is Side.BUY else touch.bid_size
            take = request.size if shown is None else min(request.size, market.round_size(shown))
            if take > 0:
                events += self._fill(order.order_id, take, price_touch, Liquidity.TAKER, now)
        left = self.orders[order.order_id]
        if left.status.is_final:
            return events
        if left.reduce_only and left.filled_size > 0 and not self._reduces(left):
            # a reduce-only clipped to the position: the rest cannot execute
            events.append(self._finish(order.order_id, OrderStatus.CANCELED, CancelReason.REDUCE_ONLY_VIOLATION, now))
        elif is_market or request.time_in_force is TimeInForce.IOC:
            events.append(self._finish(order.order_id, OrderStatus.EXPIRED, CancelReason.EXPIRED, now))
        else:
            self.open.setdefault(request.symbol, []).append(order.order_id)
        return events

    def _reduces(self, order: Order) -> bool:
        size = self.account.book(order.symbol).size
        return size != 0 and (size > 0) != (order.side is Side.BUY)

    def cancel(self, symbol: str, order_id: str, now: datetime) -> OrderUpdate:
        order = self.orders.get(order_id)
        if order is None or order.symbol != symbol or order.status.is_final:
            raise OrderNotFound(f"{self.venue}: no open order {order_id} on {symbol}", exchange=self.venue)
        return self._finish(order_id, OrderStatus.CANCELED, CancelReason.USER_CANCELED, now)

    def cancel_all(self, symbol: str | None, now: datetime) -> list[OrderUpdate]:
        if symbol is not None:
            self.market(symbol)
        return [
            self._finish(order_id, OrderStatus.CANCELED, CancelReason.USER_CANCELED, now)
            for sym in ([symbol] if symbol else list(self.open))
            for order_id in list(self.open.get(sym, []))
        ]

    # the market trading ---------------------------------------------------------------------------------------------
    def trade_through(
        self, symbol: str, low: Decimal, high: Decimal, volume: Mapping[Side, Decimal], when: datetime
    ) -> list[OrderUpdate]:
        """The market traded between ``low`` and ``high``: fill resting buys priced above ``low`` and sells priced below
        ``high`` at their own price (maker), best price first then oldest, up to ``volume[side]`` contracts per side."""
        ids = self.open.get(symbol)
        if not ids:
            return []
        orders = [self.orders[i] for i in ids]
        buys = sorted(
            (o for o in orders if o.side is Side.BUY and o.price is not None and o.price > low),
            key=lambda o: -(o.price or ZERO),
        )
        sells = sorted(
            (o for o in orders if o.side is Side.SELL and o.price is not None and o.price < high),
            key=lambda o: o.price or ZERO,
        )
        market = self.markets[symbol]
        budget = dict(volume)
        events: list[OrderUpdate] = []
        for order in [*buys, *sells]:
            available = market.round_size(budget.get(order.side, ZERO))
            if available <= 0:
                continue
            assert order.price is not None
            size = min(order.remaining, available)
            before = self.orders[order.order_id].filled_size
            events += self._fill(order.order_id, size, order.price, Liquidity.MAKER, when)
            budget[order.side] = budget.get(order.side, ZERO) - (self.orders[order.order_id].filled_size - before)
        return events

    def pay_funding(self, symbol: str, mark: Decimal, rate: Decimal, when: datetime) -> FundingPayment | None:
        """One funding interval of ``symbol`` at ``rate`` (longs pay when > 0); None when flat."""
        book = self.account.books.get(symbol)
        if book is None or book.size == 0:
            return None
        size = book.size
        amount = book.apply_funding(mark, rate)
        payment = FundingPayment(symbol=symbol, amount=amount, rate=rate, mark=mark, size=size, paid_at=when)
        self.funding_payments.append(payment)
        return payment

    # internals ------------------------------------------------------------------------------------------------------
    def _fill(
        self, order_id: str, size: Decimal, price: Decimal, liquidity: Liquidity, when: datetime
    ) -> list[OrderUpdate]:
        order = self.orders[order_id]
        book = self.account.book(order.symbol)
        if order.reduce_only:
            reducible = abs(book.size) if book.size != 0 and (book.size > 0) != (order.side is Side.BUY) else ZERO
            size = min(size, reducible)
            if size <= 0:
                return [self._finish(order_id, OrderStatus.CANCELED, CancelReason.REDUCE_ONLY_VIOLATION, when)]
        market = self.markets[order.symbol]
        rate = (market.maker_fee if liquidity is Liquidity.MAKER else market.taker_fee) or ZERO
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
        self.orders[order_id] = order
        if status.is_final:
            self._unrest(order)
        fill = Fill(
            trade_id=self.ids.trade_id(),
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
        return [OrderUpdate(order=order, fill=fill)]

    def _finish(self, order_id: str, status: OrderStatus, reason: CancelReason | None, when: datetime) -> OrderUpdate:
        order = self.orders[order_id].model_copy(update={"status": status, "cancel_reason": reason, "updated_at": when})
        self.orders[order_id] = order
        self._unrest(order)
        return OrderUpdate(order=order)

    def _unrest(self, order: Order) -> None:
        ids = self.open.get(order.symbol, [])
        if order.order_id in ids:
            ids.remove(order.order_id)

    # account --------------------------------------------------------------------------------------------------------
    def reserved_margin(self) -> Decimal:
        """Margin held by resting orders that would add exposure."""
        reserved = ZERO
        for ids in self.open.values():
            for order_id in ids:
                order = self.orders[order_id]
                if not order.reduce_only and order.price is not None:
                    reserved += order.remaining * order.price / self.account.leverage
        return reserved

    def available(self, marks: Mapping[str, Decimal]) -> Decimal:
        m = dict(marks)
        return self.account.equity(m) - self.account.margin_used(m) - self.reserved_margin()

    def position(self, symbol: str, mark: Decimal) -> Position:
        book = self.account.book(symbol)
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
            liquidation_price=self.liquidation_price(book),
        )

    def liquidation_price(self, book: PositionBook) -> Decimal | None:
        """The price at which the account's collateral (cash; other positions left out) would meet this position's
        maintenance margin, half its initial margin (``1 / (2 x leverage)`` of the notional): the price a venue would
        liquidate it at. None when flat or when no positive price gets there. Reported only: paper has no liquidation
        engine."""
        size, entry = book.size, book.avg_entry
        if size == 0 or entry is None:
            return None
        rate = 1 / (2 * self.account.leverage)
        cash = self.account.cash
        if size > 0:  # cash + size x (p - entry) = size x p x rate
            price = (size * entry - cash) / (size * (1 - rate))
        else:  # cash - |size| x (p - entry) = |size| x p x rate
            price = (cash - size * entry) / (-size * (1 + rate))
        return price if price > 0 else None

    def positions(self, marks: Mapping[str, Decimal]) -> list[Position]:
        return [self.position(s, marks[s]) for s, b in self.account.books.items() if b.size != 0]

    def balance(self, marks: Mapping[str, Decimal]) -> Balance:
        m = dict(marks)
        equity = self.account.equity(m)
        used = self.account.margin_used(m)
        return Balance(
            asset="USD",
            equity=equity,
            available=equity - used - self.reserved_margin(),
            margin_used=used,
            unrealized_pnl=self.account.unrealized(m),
        )
