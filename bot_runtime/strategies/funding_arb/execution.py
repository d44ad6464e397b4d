"""Order execution of the funding-arb strategy: opening a pair, unwinding, trimming and closing legs.

Entry (my call, documented in docs/funding-arb.md): both legs at once, each an IOC limit order at the touch plus a
bounded slippage (buy at ask x (1 + s), sell at bid x (1 - s), ``Tuning.entry_slippage_pct``). IOC rather than
post-only-then-taker: a resting maker leg is exactly the lone-leg window the strategy must keep short, and a taker
fill at a bounded price is what the funding service's fee model (taker fees) assumed when it ranked the pair.

Each leg is then *confirmed*: its order is followed (update stream + REST) until it is final or ``singleLegTimeout``
has passed since the orders went out; an order still working then is cancelled and read back. What filled decides:

- both legs filled fully → the pair is open;
- one leg filled less (partial, rejected, timed out, venue unreachable, an exception) → the hedged part is
  ``min(long, short)`` rounded down to the pair's common step; if that is tradable on both venues the pair is kept at
  that size, else it is 0; every leg's excess over the hedged part is unwound AT ONCE with reduce-only market
  orders. A lone leg never waits for anything.
- a leg whose outcome cannot be established (the venue stopped answering) counts as unfilled: the other leg is
  unwound now, and the cycle's reconciliation keeps reading that venue and unwinds whatever turns out to be there.

Anything unexpected after the orders went out (an exception, a cancellation) flattens both venues back to where they
were before the entry, shielded from the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from decimal import Decimal

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    CredentialsError,
    Exchange,
    ExchangeError,
    Market,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderType,
    Position,
    Quote,
    Side,
    TimeInForce,
)
from bot_runtime.funding_api.models import OpportunityRow
from bot_runtime.strategies.base import Strategy
from bot_runtime.strategies.funding_arb.ledger import Ledger
from bot_runtime.strategies.funding_arb.models import Leg, Pair, Tuning
from bot_runtime.strategies.funding_arb.sizing import LegSizes, contracts, round_down, tradable_base

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)

ROLE_ENTRY = "o"  # ClientIds.OPEN
ROLE_UNWIND = "u"  # excess / lone leg
ROLE_REBALANCE = "b"
ROLE_EXIT = "x"  # ClientIds.EXIT


class LoneLegError(ExchangeError):
    """A leg without its hedge was found or left behind (reported through ``events.on_error``)."""


class OrderWatch:
    """Wakes a confirmer when the update stream reports a change of the order it follows."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], asyncio.Event] = {}
        self._latest: dict[tuple[str, str], Order] = {}

    def follow(self, exchange: str, order_id: str) -> asyncio.Event:
        return self._events.setdefault((exchange, order_id), asyncio.Event())

    def latest(self, exchange: str, order_id: str) -> Order | None:
        return self._latest.get((exchange, order_id))

    def forget(self, exchange: str, order_id: str) -> None:
        self._events.pop((exchange, order_id), None)
        self._latest.pop((exchange, order_id), None)

    def notify(self, exchange: str, order: Order) -> None:
        key = (exchange, order.order_id)
        event = self._events.get(key)
        if event is not None:
            self._latest[key] = order
            event.set()


@dataclass(frozen=True)
class EntryPlan:
    symbol: str
    long: Exchange
    short: Exchange
    long_market: Market
    short_market: Market
    sizes: LegSizes
    long_quote: Quote
    short_quote: Quote
    row: OpportunityRow

    def long_request(self, client_order_id: str, slippage_pct: Decimal) -> OrderRequest:
        price = self.long_market.round_price(self.long_quote.ask * (1 + slippage_pct / HUNDRED), Side.BUY)
        price = max(price, self.long_quote.ask)
        return OrderRequest(
            symbol=self.symbol,
            side=Side.BUY,
            size=self.sizes.long_contracts,
            price=price,
            time_in_force=TimeInForce.IOC,
            client_order_id=client_order_id,
        )

    def short_request(self, client_order_id: str, slippage_pct: Decimal) -> OrderRequest:
        price = self.short_market.round_price(self.short_quote.bid * (1 - slippage_pct / HUNDRED), Side.SELL)
        price = min(price, self.short_quote.bid)
        return OrderRequest(
            symbol=self.symbol,
            side=Side.SELL,
            size=self.sizes.short_contracts,
            price=price,
            time_in_force=TimeInForce.IOC,
            client_order_id=client_order_id,
        )


@dataclass
class LegFill:
    exchange: str
    requested: Decimal  # contracts
    filled: Decimal  # contracts, best knowledge
    order: Order | None
    known: bool  # False: the venue could not tell us (the cycle's reconciliation follows up)
    error: BaseException | None = None

    def describe(self) -> str:
        what = f"{self.exchange}: {self.filled}/{self.requested}"
        if self.error is not None:
            what += f" ({type(self.error).__name__}: {self.error})"
        elif self.order is not None and self.order.cancel_reason is not None:
            what += f" ({self.order.cancel_reason.value})"
        return what + ("" if self.known else " [outcome unknown]")


@dataclass
class EntryResult:
    pair: Pair | None
    long: LegFill
    short: LegFill
    message: str
    unhedged: bool  # some exposure may remain unhedged (the reconciliation follows up)


class Executor:
    def __init__(
        self,
        strategy: Strategy,
        ledger: Ledger,
        tuning: Tuning,
        single_leg_timeout: float,
        watch: OrderWatch,
    ) -> None:
        self.strategy = strategy
        self.ledger = ledger
        self.tuning = tuning
        self.timeout = single_leg_timeout
        self.watch = watch

    @property
    def clock(self) -> Clock:
        return self.strategy.clock

    # -----------------------------------------------------------------------------------------------------------------
    # one order

    async def confirm(self, exchange: Exchange, order: Order, deadline: float) -> Order:
        """Follow ``order`` until it is final or the clock reaches ``deadline``."""
        if order.status.is_final:
            return order
        symbol, order_id = order.symbol, order.order_id
        event = self.watch.follow(exchange.name, order_id)
        try:
            while not order.status.is_final:
                remaining = deadline - self.clock.monotonic()
                if remaining <= 0:
                    break
                event.clear()
                await self.clock.wait_event(event, min(remaining, self.tuning.confirm_poll))
                streamed = self.watch.latest(exchange.name, order.order_id)
                if streamed is not None and streamed.status.is_final:
                    order = streamed
                    break
                fresh = await self.strategy.retry(
                    lambda: exchange.get_order(symbol, order_id), what=f"{exchange.name} order read"
                )
                if fresh is not None:
                    order = fresh
        finally:
            self.watch.forget(exchange.name, order_id)
        return order

    async def cancel_and_read(self, exchange: Exchange, order: Order) -> Order:
        """Cancel a working order and return its final state (it may have filled meanwhile)."""
        symbol, order_id = order.symbol, order.order_id
        with contextlib.suppress(OrderNotFound):
            await self.strategy.retry(lambda: exchange.cancel_order(symbol, order_id), what=f"{exchange.name} cancel")
        for attempt in range(5):
            latest = await self.strategy.retry(lambda: exchange.get_order(symbol, order_id))
            if latest is not None and latest.status.is_final:
                return latest
            if latest is not None:
                order = latest
            await self.clock.sleep(0.2 * (attempt + 1))
        return order

    async def execute(self, exchange: Exchange, request: OrderRequest, market: Market, pair: Pair | None) -> Order:
        """Send one order, follow it to a final state (cancelling it after ``singleLegTimeout``), book its fills."""
        deadline = self.clock.monotonic() + self.timeout
        order = await self.strategy.send_order(exchange, request)
        order = await self.confirm(exchange, order, deadline)
        if not order.status.is_final:
            order = await self.cancel_and_read(exchange, order)
        self.ledger.book(exchange.name, order, market, pair)
        return order

    # -----------------------------------------------------------------------------------------------------------------
    # reducing positions

    async def reduce(
        self,
        exchange: Exchange,
        market: Market,
        position_side: Side,
        size: Decimal,
        *,
        role: str,
        pair: Pair | None,
        attempts: int | None = None,
    ) -> Decimal:
        """Reduce a position on ``position_side`` by ``size`` contracts with reduce-only market orders; returns how much
        was reduced. Stops early when the venue says there is nothing left to reduce."""
        remaining = round_down(size, market.size_step)
        reduced = ZERO
        delay = self.tuning.unwind_backoff
        for _ in range(attempts or self.tuning.unwind_attempts):
            if remaining <= 0 or remaining < market.min_size:
                break
            request = OrderRequest(
                symbol=market.symbol,
                side=position_side.opposite,
                size=remaining,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                client_order_id=self.strategy.client_ids.new(role),
            )
            try:
                order = await self.execute(exchange, request, market, pair)
            except OrderRejected as exc:
                if exc.reason is CancelReason.REDUCE_ONLY_VIOLATION:
                    log.info("%s %s: nothing left to reduce (%s)", exchange.name, market.symbol, exc)
                    break
                self.strategy.report_error(exc)
            except (CredentialsError, AuthenticationError) as exc:
                self.strategy.report_error(exc)
                break
            except Exception as exc:  # down, or a client bug: the order may or may not have landed
                self.strategy.report_error(exc)
            else:
                reduced += order.filled_size
                remaining = round_down(remaining - order.filled_size, market.size_step)
                if order.filled_size > 0:
                    continue
            await self.clock.sleep(delay)
            delay = min(delay * 2, 10.0)
        return reduced

    async def flatten(
        self, exchange: Exchange, market: Market, *, pair: Pair | None, role: str = ROLE_EXIT
    ) -> Position | None:
        """Close the whole position of ``market`` on ``exchange`` and verify it by reading it back. Returns the
        final position (None when it could not be read)."""
        position: Position | None = None
        for _ in range(self.tuning.unwind_attempts):
            try:
                position = await self.strategy.retry(
                    lambda: exchange.position(market.symbol), what=f"{exchange.name} position"
                )
            except (CredentialsError, AuthenticationError):
                raise
            except Exception as exc:  # unreadable (down, or a client bug): try again shortly
                self.strategy.report_error(exc)
                await self.clock.sleep(self.tuning.unwind_backoff)
                continue
            size = round_down(abs(position.size), market.size_step)
            if position.size == 0 or size < market.min_size or size <= 0:
                return position
            side = Side.BUY if position.size > 0 else Side.SELL
            await self.reduce(exchange, market, side, size, role=role, pair=pair, attempts=1)
        return position

    # -----------------------------------------------------------------------------------------------------------------
    # opening a pair

    async def open_pair(self, plan: EntryPlan, long_before: Position, short_before: Position) -> EntryResult:
        ids = self.strategy.client_ids
        long_req = plan.long_request(ids.new(ROLE_ENTRY), self.tuning.entry_slippage_pct)
        short_req = plan.short_request(ids.new(ROLE_ENTRY), self.tuning.entry_slippage_pct)
        deadline = self.clock.monotonic() + self.timeout
        log.info(
            "opening %s: long %s %s @ <= %s, short %s %s @ >= %s",
            plan.symbol,
            plan.long.name,
            long_req.size,
            long_req.price,
            plan.short.name,
            short_req.size,
            short_req.price,
        )
        try:
            sent = await asyncio.gather(
                self.strategy.send_order(plan.long, long_req),
                self.strategy.send_order(plan.short, short_req),
                return_exceptions=True,
            )
            long_fill, short_fill = await asyncio.gather(
                self._settle(plan.long, long_req, sent[0], deadline, long_before),
                self._settle(plan.short, short_req, sent[1], deadline, short_before),
            )
            return await self._resolve(plan, long_fill, short_fill, long_before, short_before)
        except BaseException as exc:
            log.exception("entry of %s interrupted: flattening both venues back", plan.symbol)
            await asyncio.shield(self._restore(plan, long_before, short_before))
            if isinstance(exc, Exception):
                self.strategy.report_error(exc)
                fill = LegFill(plan.long.name, long_req.size, ZERO, None, known=False, error=exc)
                return EntryResult(None, fill, fill, f"entry interrupted: {type(exc).__name__}: {exc}", True)
            raise

    async def _settle(
        self,
        exchange: Exchange,
        request: OrderRequest,
        sent: Order | BaseException,
        deadline: float,
        before: Position,
    ) -> LegFill:
        """What one entry leg really filled (contracts, >= 0); never raises for an Exception."""
        order = sent if isinstance(sent, Order) else None
        error = sent if isinstance(sent, BaseException) else None
        if error is not None and not isinstance(error, Exception):
            raise error
        try:
            if order is None:
                if isinstance(error, OrderRejected):
                    return LegFill(exchange.name, request.size, ZERO, None, known=True, error=error)
                # unknown outcome (timeout, reset, 5xx, a bug): the order may have landed
                order = await self.strategy.retry(
                    lambda: exchange.find_order_by_client_id(request.symbol, request.client_order_id),
                    what=f"{exchange.name} lookup",
                )
                if order is None:  # not among open orders: final or never placed; the position tells
                    now = await self.strategy.retry(lambda: exchange.position(request.symbol))
                    delta = (now.size - before.size) * request.side.sign
                    return LegFill(exchange.name, request.size, max(delta, ZERO), None, known=True, error=error)
            order = await self.confirm(exchange, order, deadline)
            if not order.status.is_final:
                order = await self.cancel_and_read(exchange, order)
            return LegFill(
                exchange.name, request.size, order.filled_size, order, known=order.status.is_final, error=error
            )
        except Exception as exc:
            filled = order.filled_size if order is not None else ZERO
            return LegFill(exchange.name, request.size, filled, order, known=False, error=exc)

    async def _resolve(
        self, plan: EntryPlan, long_fill: LegFill, short_fill: LegFill, long_before: Position, short_before: Position
    ) -> EntryResult:
        """Keep the hedged part, unwind every excess at once."""
        lm, sm = plan.long_market, plan.short_market
        long_base, short_base = lm.to_base_size(long_fill.filled), sm.to_base_size(short_fill.filled)
        keep = tradable_base(min(long_base, short_base), lm, sm, plan.sizes.reference_price)
        now = self.clock.monotonic()
        pair: Pair | None = None
        if keep > 0:
            pair = Pair(
                symbol=plan.symbol,
                long=Leg(plan.long.name, Side.BUY, lm, contracts(lm, keep), long_before.funding_pnl),
                short=Leg(plan.short.name, Side.SELL, sm, contracts(sm, keep), short_before.funding_pnl),
                opened_at=now,
                entry_spread_hourly=plan.row.divergence_hourly,
                entry_net_apr=plan.row.net_apr,
                opened_wall=self.clock.now(),
            )
        for fill, market in ((long_fill, lm), (short_fill, sm)):
            if fill.order is not None:
                self.ledger.book(fill.exchange, fill.order, market, pair)
        excess_long = contracts(lm, long_base - keep)
        excess_short = contracts(sm, short_base - keep)
        full = long_fill.filled >= long_fill.requested and short_fill.filled >= short_fill.requested
        if full and excess_long == 0 and excess_short == 0:
            return EntryResult(pair, long_fill, short_fill, "both legs filled", unhedged=False)

        detail = f"long {long_fill.describe()}, short {short_fill.describe()}"
        jobs = []
        if excess_long > 0:
            jobs.append(self.reduce(plan.long, lm, Side.BUY, excess_long, role=ROLE_UNWIND, pair=pair))
        if excess_short > 0:
            jobs.append(self.reduce(plan.short, sm, Side.SELL, excess_short, role=ROLE_UNWIND, pair=pair))
        reduced = await asyncio.gather(*jobs)
        left_long = excess_long - (reduced.pop(0) if excess_long > 0 else ZERO)
        left_short = excess_short - (reduced.pop(0) if excess_short > 0 else ZERO)
        if pair is not None:  # what the unwind could not remove stays on the leg; the rebalance trims it later
            pair.long.size += max(left_long, ZERO)
            pair.short.size += max(left_short, ZERO)
        unhedged = left_long > 0 or left_short > 0 or not (long_fill.known and short_fill.known)
        if pair is None:
            message = f"entry of {plan.symbol} failed ({detail}): filled part unwound"
        else:
            message = f"entry of {plan.symbol} partly filled ({detail}): kept {keep} hedged, excess unwound"
        if unhedged:
            message += "; some exposure is still unhedged, the reconciliation follows up"
        self.strategy.report_error(LoneLegError(message))
        return EntryResult(pair, long_fill, short_fill, message, unhedged=unhedged)

    async def _restore(self, plan: EntryPlan, long_before: Position, short_before: Position) -> None:
        """After an unexpected failure mid-entry: bring both venues back to their positions before the entry."""

        async def back(exchange: Exchange, market: Market, before: Position) -> None:
            try:
                now = await self.strategy.retry(lambda: exchange.position(plan.symbol))
            except ExchangeError as exc:
                self.strategy.report_error(exc)
                return
            delta = now.size - before.size
            if delta == 0:
                return
            side = Side.BUY if delta > 0 else Side.SELL
            await self.reduce(exchange, market, side, abs(delta), role=ROLE_UNWIND, pair=None)

        await asyncio.gather(
            back(plan.long, plan.long_market, long_before),
            back(plan.short, plan.short_market, short_before),
            return_exceptions=True,
        )
