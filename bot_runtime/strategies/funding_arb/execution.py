"""Order execution of the funding-arb strategy: opening a pair, unwinding, trimming and closing legs.

Entry (my call, documented in docs/funding-arb.md): both legs at once, each an IOC limit order at the touch plus a
bounded slippage (buy at ask x (1 + s), sell at bid x (1 - s), ``Tuning.entry_slippage_pct``). IOC rather than
post-only-then-taker: a resting maker leg is exactly the lone-leg window the strategy must keep short, and a taker
fill at a bounded price is what the funding service's fee model (taker fees) assumed when it ranked the pair.

``singleLegTimeout`` is a wall-clock deadline (:mod:`.deadline`) set when the orders go out, and everything of the
entry runs under it: the sends, the following of each order (update stream + reads), the lookups, the cancel of an
order still working and its read-back (the last ``Tuning.final_read_reserve`` seconds are kept for those). A venue
that hangs or answers after ten seconds cannot stretch it.

Unknown means look it up: a send that ends without a clear answer (a timeout, a lost reply, the deadline, and any
rejection: a venue refuses the resend of an order that did land as a duplicate client id) is looked up by client id
and the position read, with retries until the deadline. An order not found counts as absent only once the venue
said so (and the position did not move); a leg whose venue never answered stays unknown. An order found absent may
still land later (a venue's queue behind a timed-out send), so it is never sent again under a new client id: such a
leg is not completed (``loneLeg: complete``) but unwound, and a late landing is a lone leg the reconciliation unwinds.

What filled decides, at the deadline at the latest:

- both legs filled fully → the pair is open;
- one leg filled less (partial, rejected, not filled in time, absent, unknown) → the hedged part is
  ``min(long, short)`` rounded down to the pair's common step; if that is tradable on both venues the pair is kept at
  that size, else it is 0; every leg's excess over the hedged part is unwound AT ONCE (reduce-only, bounded
  slippage). A lone leg never waits for anything.
- a leg whose venue cannot be reached counts as what the venue last showed for sure (flat before the entry), so the
  other leg is unwound: the hedged choice by the last known state. Whatever turns up on that venue later (an order
  that landed late, a fill behind a lost reply) is a lone leg the cycle's reconciliation finds and unwinds: every
  symbol with a non-zero position stays watched.

Voluntary exits (``exitOrders: makerFirst``) first rest a reduce-only post-only order on each leg at its own side of
the book for ``exitMakerTimeout`` (at most half of ``singleLegTimeout``), cancelled and read back
(:meth:`Executor.close_as_maker`); what is left goes as below.

Unwinds, trims and closes (:meth:`Executor.reduce`) are reduce-only IOC limits at the touch less a slippage that
widens after an attempt that filled nothing (``unwind_slippage_pct`` up to ``max_unwind_slippage_pct``); a market
order is the fallback when no quote can be read in time. They aim at a target position read first, so a lost reply
never reduces twice, and they run within ``singleLegTimeout`` too.

A reduce or a top-up (:meth:`Executor.add`) whose order may still land (found absent, or never answered) keeps its
client id for the next order of the same role on that venue and market, in the same call or a later cycle
(``Executor.may_land``): the venue refuses a duplicate, so the first order and the next can never both land. That
next order first looks the kept id up: found, it landed (booked, and nothing more is sent this time: the sizes the
caller computed may predate it; the next cycle reads the venue anew); a ``DuplicateClientOrderId`` says the same.

Anything unexpected after the orders went out (an exception, a cancellation) flattens both venues back to where they
were before the entry, shielded from the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot_runtime.clock import Clock
from bot_runtime.config import LoneLeg
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    CredentialsError,
    DuplicateClientOrderId,
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
from bot_runtime.strategies.funding_arb.deadline import Deadline, DeadlinePassed
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
    price: Decimal | None = None  # per contract, when the fill is known from the position only (no order)
    client_order_id: str | None = None  # of the order behind a fill known from the position only
    # not found and the position unmoved, yet never seen final: the order may still land (a venue's queue behind a
    # timed-out send), so it is never sent again under a new client id (:meth:`Executor._complete`)
    may_land: bool = False

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
        *,
        lone_leg: LoneLeg = LoneLeg.COMPLETE,
    ) -> None:
        self.strategy = strategy
        self.ledger = ledger
        self.tuning = tuning
        self.timeout = single_leg_timeout
        self.watch = watch
        self.lone_leg = lone_leg
        self.last_position: dict[tuple[str, str], Position] = {}  # (venue, symbol) → the last reading of a reduce
        # (venue, symbol, role) → the client id of a reduce or top-up that may still land: the next order of that
        # role there is sent under it (never a second order beside it), see :meth:`settle`
        self.may_land: dict[tuple[str, str, str], str] = {}

    @property
    def clock(self) -> Clock:
        return self.strategy.clock

    # -----------------------------------------------------------------------------------------------------------------
    # one order

    def reserve(self) -> float:
        """Time kept at the end of ``singleLegTimeout`` for cancelling a working order and reading it back."""
        return min(self.tuning.final_read_reserve, self.timeout / 3)

    async def confirm(self, exchange: Exchange, order: Order, deadline: Deadline, reserve: float = 0.0) -> Order:
        """Follow ``order`` (update stream + reads) until it is final or ``deadline`` less ``reserve`` has come. A read
        that fails or hangs is given up at the deadline; it never raises for a venue error."""
        if order.status.is_final:
            return order
        symbol, order_id = order.symbol, order.order_id
        event = self.watch.follow(exchange.name, order_id)
        try:
            while not order.status.is_final:
                remaining = deadline.remaining(reserve)
                if remaining <= 0:
                    break
                event.clear()
                await self.clock.wait_event(event, min(remaining, self.tuning.confirm_poll))
                streamed = self.watch.latest(exchange.name, order.order_id)
                if streamed is not None and streamed.status.is_final:
                    order = streamed
                    break
                try:
                    fresh = await deadline.run(
                        exchange.get_order(symbol, order_id), reserve=reserve, what=f"{exchange.name} order read"
                    )
                except DeadlinePassed:
                    break
                except (CredentialsError, AuthenticationError):
                    raise
                except Exception as exc:  # unreadable this time: the stream or the next read may tell
                    log.info("%s: reading order %s failed (%s)", exchange.name, order_id, exc)
                    continue
                if fresh is not None:
                    order = fresh
        finally:
            self.watch.forget(exchange.name, order_id)
        return order

    async def cancel_and_read(self, exchange: Exchange, order: Order, deadline: Deadline) -> Order:
        """Cancel a working order and return its final state (it may have filled meanwhile), all before
        ``deadline``; the order is returned as last seen when the venue does not answer in time."""
        symbol, order_id = order.symbol, order.order_id
        with contextlib.suppress(OrderNotFound, DeadlinePassed, ExchangeError):
            await deadline.run(exchange.cancel_order(symbol, order_id), what=f"{exchange.name} cancel")
        delay = 0.2
        while not deadline.passed():
            try:
                latest = await deadline.run(exchange.get_order(symbol, order_id), what=f"{exchange.name} order read")
            except (CredentialsError, AuthenticationError):
                raise
            except Exception:  # unreadable this time; the deadline bounds the attempts
                latest = None
            if latest is not None:
                order = latest
                if latest.status.is_final:
                    return latest
            await deadline.sleep(delay)
            delay = min(delay * 2, 2.0)
        return order

    async def look_up(
        self,
        exchange: Exchange,
        request: OrderRequest,
        before: Position | None,
        deadline: Deadline,
        *,
        rejected: bool,
    ) -> Order | LegFill:
        """An order whose send did not say what happened (a timeout, a lost reply, a rejection that may be the venue
        refusing a duplicate client id): look it up by client id, and read the position (against ``before``, the
        position before the order; None: not read), until the venue answers or the deadline comes. Never assumes:
        an order not found counts as absent only once the venue said so (``Tuning.absent_confirmations`` answers;
        one after a rejection) and the position did not move."""
        need = 1 if rejected else self.tuning.absent_confirmations
        absent = 0
        delay = self.tuning.confirm_poll
        last_error: BaseException | None = None
        symbol, client_id = request.symbol, request.client_order_id
        while not deadline.passed():
            try:
                found = await deadline.run(
                    exchange.find_order_by_client_id(symbol, client_id), what=f"{exchange.name} lookup"
                )
                if found is not None:
                    return found
                now = None
                if before is not None:
                    now = await deadline.run(exchange.position(symbol), what=f"{exchange.name} position")
            except (CredentialsError, AuthenticationError):
                raise
            except Exception as exc:  # unreachable this time: look again within the deadline
                last_error = exc
            else:
                moved = (now.size - before.size) * request.side.sign if now is not None and before is not None else ZERO
                if now is not None and before is not None and moved > 0:
                    # not found (a lookup that sees open orders only) but the position says it filled
                    filled = min(moved, request.size)
                    price = _added_at(before, now) or request.price
                    return LegFill(
                        exchange.name, request.size, filled, None, known=True, price=price, client_order_id=client_id
                    )
                absent += 1
                if absent >= need:
                    return LegFill(exchange.name, request.size, ZERO, None, known=True, may_land=True)
            await deadline.sleep(delay)
            delay = min(delay * 2, 5.0)
        return LegFill(exchange.name, request.size, ZERO, None, known=False, error=last_error)

    async def execute(
        self,
        exchange: Exchange,
        request: OrderRequest,
        market: Market,
        pair: Pair | None,
        deadline: Deadline,
        *,
        book: bool = True,
    ) -> Order | None:
        """Send one order, follow it to a final state (cancelling it before ``deadline``), book its fills (unless
        ``book`` is False: the caller books it). An unknown outcome is looked up by client id; None when the order is
        not on the venue (or could not be found): the callers read the position to know what happened."""
        reserve = self.reserve()
        before = None
        try:
            order: Order | LegFill = await deadline.run(
                self.strategy.send_order(exchange, request),
                reserve=reserve,
                what=f"{exchange.name} send",
            )
        except (CredentialsError, AuthenticationError):
            raise
        except OrderRejected as exc:
            if exc.reason is CancelReason.REDUCE_ONLY_VIOLATION:
                raise
            order = await self.look_up(exchange, request, before, deadline, rejected=True)
            if isinstance(order, LegFill):
                raise
        except Exception as exc:
            self.strategy.report_error(exc)
            order = await self.look_up(exchange, request, before, deadline, rejected=False)
        if isinstance(order, LegFill):
            return None
        return await self._follow(exchange, order, market, pair, deadline, book=book)

    async def _follow(
        self, exchange: Exchange, order: Order, market: Market, pair: Pair | None, deadline: Deadline, *, book: bool
    ) -> Order:
        """Follow a placed order to a final state (cancelled and read back before ``deadline``), book its fills."""
        order = await self.confirm(exchange, order, deadline, self.reserve())
        if not order.status.is_final:
            order = await self.cancel_and_read(exchange, order, deadline)
        if book:
            self.ledger.book(exchange.name, order, market, pair)
        return order

    def _client_id(self, exchange: Exchange, market: Market, role: str) -> str:
        """The client id of the next reduce or top-up of ``role`` on ``exchange``'s ``market``: the id of the last
        one when it may still land (the venue then refuses one of the two as a duplicate), else a new one."""
        return self.may_land.get((exchange.name, market.symbol, role)) or self.strategy.client_ids.new(role)

    def _outcome(
        self, exchange: Exchange, request: OrderRequest, role: str, order: Order | None, error: Exception | None
    ) -> None:
        """Keep or drop the client id of a reduce or top-up just sent: an order the venue reported (or refused as a
        duplicate: it landed) is settled; one not found or without an answer may land yet, and its id is kept for the
        next order; another refusal leaves a kept id as it was (an earlier send may still land)."""
        key = (exchange.name, request.symbol, role)
        if order is not None or isinstance(error, DuplicateClientOrderId):
            self.may_land.pop(key, None)
        elif not isinstance(error, OrderRejected):
            self.may_land[key] = request.client_order_id

    async def settle(
        self, exchange: Exchange, market: Market, role: str, pair: Pair | None, deadline: Deadline | None = None
    ) -> bool:
        """Before a reduce or top-up: look up the kept client id of an earlier one that may still land (one lookup).
        Found, it landed: it is followed to its end and booked on ``pair``, the id is dropped, and True says so
        (nothing more is sent this time: the caller's sizes may predate that landing). Not found or unreadable: the id
        stays kept and the next order goes under it."""
        key = (exchange.name, market.symbol, role)
        client_id = self.may_land.get(key)
        if client_id is None:
            return False
        deadline = deadline or Deadline.after(self.clock, self.timeout)
        try:
            found = await deadline.run(
                exchange.find_order_by_client_id(market.symbol, client_id),
                reserve=self.reserve(),
                what=f"{exchange.name} lookup",
            )
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:  # unreadable: the id stays kept, the next order goes under it
            log.info("%s: looking up %s failed (%s)", exchange.name, client_id, exc)
            return False
        if found is None:
            return False
        log.info("%s %s: %s (sent earlier, outcome unknown) landed: %s", exchange.name, market.symbol, client_id, found)
        self.may_land.pop(key, None)
        await self._follow(exchange, found, market, pair, deadline, book=True)
        return True

    # -----------------------------------------------------------------------------------------------------------------
    # reducing positions

    async def _reduce_request(
        self,
        exchange: Exchange,
        market: Market,
        side: Side,
        size: Decimal,
        *,
        role: str,
        slippage: Decimal,
        deadline: Deadline,
    ) -> OrderRequest:
        """A reduce-only IOC limit at the touch less ``slippage`` percent; a market order when no quote can be read
        in time (the documented fallback: an unwind never waits for a quote). Under :meth:`_client_id`."""
        client_id = self._client_id(exchange, market, role)
        try:
            quote = await deadline.run(
                exchange.best_bid_ask(market.symbol), reserve=self.reserve(), what=f"{exchange.name} quote"
            )
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            log.info("%s %s: no quote for a bounded unwind (%s): market order", exchange.name, market.symbol, exc)
            return OrderRequest(
                symbol=market.symbol,
                side=side,
                size=size,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                client_order_id=client_id,
            )
        return bounded_ioc(market, side, size, quote, slippage=slippage, client_id=client_id, reduce_only=True)

    async def _read_size(self, exchange: Exchange, market: Market, side: Side, deadline: Deadline) -> Decimal | None:
        """The position's size on ``side`` (0 when flat or on the other side); None when unreadable in time. The
        reading is kept in ``self.last_position`` (its mark prices what no order reported)."""
        try:
            position = await deadline.run(exchange.position(market.symbol), what=f"{exchange.name} position")
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            self.strategy.report_error(exc)
            return None
        self.last_position[exchange.name, market.symbol] = position
        signed = position.size * side.sign
        return signed if signed > 0 else ZERO

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
        deadline: Deadline | None = None,
    ) -> Decimal:
        """Reduce a position on ``position_side`` by ``size`` contracts with reduce-only bounded-slippage IOC orders,
        within ``singleLegTimeout`` (or ``deadline`` when earlier); returns how much was reduced.

        Idempotent: the position is read first and every attempt aims at the same target (start - ``size``), read
        anew, so an order whose reply was lost is never repeated on top of itself; an order that may still land (not
        found, the position unmoved) is sent again under its own client id, in this call or the next of ``role``
        (:meth:`settle`: found landed by then, nothing is sent and 0 returned). The slippage starts at
        ``Tuning.unwind_slippage_pct`` and doubles after an attempt that filled nothing, up to
        ``Tuning.max_unwind_slippage_pct``."""
        limit = Deadline.after(self.clock, self.timeout).earlier(deadline)
        if await self.settle(exchange, market, role, pair, limit):
            return ZERO
        start = await self._read_size(exchange, market, position_side, limit)
        target = max((start if start is not None else size) - size, ZERO)
        reduced = ZERO
        unreported: list[str] = []  # client ids of attempts whose outcome the venue did not report
        slippage = self.tuning.unwind_slippage_pct
        delay = self.tuning.unwind_backoff
        for _ in range(attempts or self.tuning.unwind_attempts):
            current = await self._read_size(exchange, market, position_side, limit)
            if current is None:
                if start is not None or limit.passed():
                    break  # the venue stopped answering: the next cycle's reconciliation goes on
                current = size - reduced + target
            remaining = round_down(min(current - target, size - reduced), market.size_step)
            if remaining <= 0 or remaining < market.min_size:
                break
            request = await self._reduce_request(
                exchange, market, position_side.opposite, remaining, role=role, slippage=slippage, deadline=limit
            )
            error: Exception | None = None
            try:
                order = await self.execute(exchange, request, market, pair, limit)
            except OrderRejected as exc:
                self._outcome(exchange, request, role, None, exc)
                if exc.reason is CancelReason.REDUCE_ONLY_VIOLATION:
                    log.info("%s %s: nothing left to reduce (%s)", exchange.name, market.symbol, exc)
                    break
                self.strategy.report_error(exc)
                order, error = None, exc
            except (CredentialsError, AuthenticationError) as exc:
                self.strategy.report_error(exc)
                break
            except Exception as exc:  # a client bug: the position read of the next attempt tells what happened
                self.strategy.report_error(exc)
                order, error = None, exc
            self._outcome(exchange, request, role, order, error)
            if order is not None and order.filled_size > 0:
                reduced += order.filled_size
                continue
            if order is None and request.client_order_id not in unreported:
                unreported.append(request.client_order_id)
            if limit.passed():
                break
            slippage = min(slippage * 2, self.tuning.max_unwind_slippage_pct)
            await limit.sleep(delay)
            delay = min(delay * 2, 10.0)
        if start is not None:
            final = await self._read_size(exchange, market, position_side, Deadline.after(self.clock, self.reserve()))
            if final is not None:
                done = max(start - final, ZERO)
                self._book_unreported(
                    exchange, market, position_side.opposite, done - reduced, role=role, pair=pair, behind=unreported
                )
                return done
        return reduced

    def _book_unreported(
        self,
        exchange: Exchange,
        market: Market,
        side: Side,
        size: Decimal,
        *,
        role: str,
        pair: Pair | None,
        behind: list[str],
    ) -> None:
        """The position moved by more than the orders that reported back (a reply lost and not found): the rest is
        booked at the venue's mark, so the pair's realized PnL is not off by a whole trade."""
        if size < market.size_step:
            return
        position = self.last_position.get((exchange.name, market.symbol))
        price = position.mark_price if position is not None else None
        if price is None:
            log.warning(
                "%s %s: %s reduced without a report and no mark to price it", exchange.name, market.symbol, size
            )
            return
        key = self.strategy.client_ids.new(role)
        self.ledger.book_estimate(
            exchange.name, key, side=side, size=size, price=price, market=market, pair=pair, client_ids=tuple(behind)
        )

    def _adding_request(
        self, market: Market, side: Side, size: Decimal, quote: Quote, role: str, *, client_id: str | None = None
    ) -> OrderRequest:
        """An IOC that adds ``size`` on ``side`` at the touch plus the entry slippage (under a new client id unless
        ``client_id`` is given)."""
        slip = self.tuning.entry_slippage_pct
        client_id = client_id or self.strategy.client_ids.new(role)
        return bounded_ioc(market, side, size, quote, slippage=slip, client_id=client_id, reduce_only=False)

    async def add(
        self,
        exchange: Exchange,
        market: Market,
        position_side: Side,
        size: Decimal,
        *,
        pair: Pair,
        allow: Callable[[OrderRequest], bool],
    ) -> Decimal:
        """Add ``size`` contracts to a leg on ``position_side`` (a rebalance of a residual the other venue cannot
        trim): one IOC limit at the touch plus the entry slippage, sent when ``allow`` (the risk check) says so,
        within ``singleLegTimeout``; returns the size filled. Idempotent as :meth:`reduce`: a top-up that may still
        land is sent again under its own client id by the next one (found landed by then, nothing is sent)."""
        deadline = Deadline.after(self.clock, self.timeout)
        if await self.settle(exchange, market, ROLE_REBALANCE, pair, deadline):
            return ZERO
        try:
            quote = await deadline.run(
                exchange.best_bid_ask(market.symbol), reserve=self.reserve(), what=f"{exchange.name} quote"
            )
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            self.strategy.report_error(exc)
            return ZERO
        client_id = self._client_id(exchange, market, ROLE_REBALANCE)
        request = self._adding_request(market, position_side, size, quote, ROLE_REBALANCE, client_id=client_id)
        if not allow(request):
            return ZERO
        try:
            order = await self.execute(exchange, request, market, pair, deadline)
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            self._outcome(exchange, request, ROLE_REBALANCE, None, exc)
            self.strategy.report_error(exc)
            return ZERO
        self._outcome(exchange, request, ROLE_REBALANCE, order, None)
        return order.filled_size if order is not None else ZERO

    async def close_as_maker(self, exchange: Exchange, market: Market, *, pair: Pair, wait: float) -> None:
        """The maker-first part of a voluntary exit: the whole position as one reduce-only post-only limit at the
        position's own side of the book (a sell at the ask, a buy at the bid), followed for ``wait`` seconds, then
        cancelled and read back (:meth:`execute`). Whatever is left, :meth:`flatten` takes by IOC. A post-only the
        venue refuses (it would cross), an unreadable quote or position: nothing done here, the IOC does it all."""
        deadline = Deadline.after(self.clock, wait)
        try:
            position = await deadline.run(exchange.position(market.symbol), what=f"{exchange.name} position")
            size = round_down(abs(position.size), market.size_step)
            if position.size == 0 or size <= 0 or size < market.min_size:
                return
            side = Side.SELL if position.size > 0 else Side.BUY
            quote = await deadline.run(
                exchange.best_bid_ask(market.symbol), reserve=self.reserve(), what=f"{exchange.name} quote"
            )
            request = OrderRequest(
                symbol=market.symbol,
                side=side,
                size=size,
                price=quote.ask if side is Side.SELL else quote.bid,
                time_in_force=TimeInForce.POST_ONLY,
                reduce_only=True,
                client_order_id=self.strategy.client_ids.new(ROLE_EXIT),
            )
            await self.execute(exchange, request, market, pair, deadline)
        except (CredentialsError, AuthenticationError):
            raise
        except OrderRejected as exc:
            log.info("%s %s: maker exit refused (%s): IOC", exchange.name, market.symbol, exc)
        except Exception as exc:
            self.strategy.report_error(exc)

    async def flatten(
        self,
        exchange: Exchange,
        market: Market,
        *,
        pair: Pair | None,
        role: str = ROLE_EXIT,
        deadline: Deadline | None = None,
    ) -> Position | None:
        """Close the whole position of ``market`` on ``exchange`` within ``singleLegTimeout`` (or ``deadline``) and
        verify it by reading it back. Returns the final position (None when it could not be read)."""
        limit = Deadline.after(self.clock, self.timeout).earlier(deadline)
        position: Position | None = None
        for _ in range(self.tuning.unwind_attempts):
            try:
                position = await limit.run(exchange.position(market.symbol), what=f"{exchange.name} position")
            except (CredentialsError, AuthenticationError):
                raise
            except Exception as exc:  # unreadable (down, hanging, or a client bug): the next cycle goes on
                self.strategy.report_error(exc)
                if limit.passed():
                    return position
                await limit.sleep(self.tuning.unwind_backoff)
                continue
            size = round_down(abs(position.size), market.size_step)
            if position.size == 0 or size < market.min_size or size <= 0 or limit.passed():
                return position
            side = Side.BUY if position.size > 0 else Side.SELL
            await self.reduce(exchange, market, side, size, role=role, pair=pair, deadline=limit)
        return position

    # -----------------------------------------------------------------------------------------------------------------
    # opening a pair

    async def open_pair(self, plan: EntryPlan, long_before: Position, short_before: Position) -> EntryResult:
        ids = self.strategy.client_ids
        long_req = plan.long_request(ids.new(ROLE_ENTRY), self.tuning.entry_slippage_pct)
        short_req = plan.short_request(ids.new(ROLE_ENTRY), self.tuning.entry_slippage_pct)
        deadline = Deadline.after(self.clock, self.timeout)
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
            long_fill, short_fill = await asyncio.gather(
                self._leg(plan.long, long_req, long_before, deadline),
                self._leg(plan.short, short_req, short_before, deadline),
            )
            completions: list[tuple[str, Order, Market]] = []
            if self.lone_leg is LoneLeg.COMPLETE:
                await self._complete(plan, long_fill, short_fill, deadline, completions)
            return await self._resolve(plan, long_fill, short_fill, long_before, short_before, completions=completions)
        except BaseException as exc:
            log.exception("entry of %s interrupted: flattening both venues back", plan.symbol)
            await asyncio.shield(self._restore(plan, long_before, short_before))
            if isinstance(exc, Exception):
                self.strategy.report_error(exc)
                fill = LegFill(plan.long.name, long_req.size, ZERO, None, known=False, error=exc)
                return EntryResult(None, fill, fill, f"entry interrupted: {type(exc).__name__}: {exc}", True)
            raise

    async def _leg(self, exchange: Exchange, request: OrderRequest, before: Position, deadline: Deadline) -> LegFill:
        """What one entry leg really filled (contracts, >= 0), established before ``deadline``; never raises for an
        Exception. A send without a clear answer (timeout, lost reply, a rejection: it may be the venue refusing the
        resend of an order that did land) is looked up by client id, never assumed."""
        reserve = self.reserve()
        error: BaseException | None = None
        sent: Order | LegFill | None = None
        try:
            sent = await deadline.run(
                self.strategy.send_order(exchange, request),
                reserve=reserve,
                what=f"{exchange.name} send",
            )
        except Exception as exc:
            error = exc
        try:
            if sent is None:
                sent = await self.look_up(
                    exchange, request, before, deadline, rejected=isinstance(error, OrderRejected)
                )
            if isinstance(sent, LegFill):
                sent.error = sent.error or error
                return sent
            order = await self.confirm(exchange, sent, deadline, reserve)
            if not order.status.is_final:
                order = await self.cancel_and_read(exchange, order, deadline)
            return LegFill(
                exchange.name, request.size, order.filled_size, order, known=order.status.is_final, error=error
            )
        except Exception as exc:
            order_seen = sent if isinstance(sent, Order) else None
            filled = order_seen.filled_size if order_seen is not None else ZERO
            return LegFill(exchange.name, request.size, filled, order_seen, known=False, error=exc)

    async def _complete(
        self,
        plan: EntryPlan,
        long_fill: LegFill,
        short_fill: LegFill,
        deadline: Deadline,
        completions: list[tuple[str, Order, Market]],
    ) -> None:
        """``loneLeg: complete``: the leg that filled less than the other is sent again for the difference (an IOC at
        the touch plus the entry slippage; up to ``Tuning.unwind_attempts`` tries) while the first half of
        ``singleLegTimeout`` lasts, so the unwind that follows a failed completion still ends within the timeout.
        Only when both outcomes are known (a leg whose venue did not answer may have filled: never doubled), not
        for a leg whose order was only found absent (``LegFill.may_land``: it may still land, and a completion under
        a new client id would double it; the unwind and the reconciliation take a late landing), and not after the
        venue refused the leg (a rejection repeats). The orders are added to ``completions`` (booked by :meth:`_resolve` on the pair) and to the leg's fill."""
        if not (long_fill.known and short_fill.known):
            return
        cutoff = Deadline(self.clock, deadline.at - self.timeout / 2)
        lm, sm = plan.long_market, plan.short_market
        for _ in range(self.tuning.unwind_attempts):
            long_base, short_base = lm.to_base_size(long_fill.filled), sm.to_base_size(short_fill.filled)
            if long_base == short_base or cutoff.passed(self.reserve()):
                return
            if long_base < short_base:
                fill, exchange, market, side, missing = long_fill, plan.long, lm, Side.BUY, short_base - long_base
            else:
                fill, exchange, market, side, missing = short_fill, plan.short, sm, Side.SELL, long_base - short_base
            size = contracts(market, missing)
            if size <= 0 or size < market.min_size or isinstance(fill.error, OrderRejected):
                return  # a refusal (margin, a closed market, ...) would only repeat: unwind instead
            if fill.may_land:
                return  # the first order may land yet: a second one could double the leg, unwind instead
            try:
                quote = await cutoff.run(
                    exchange.best_bid_ask(market.symbol), reserve=self.reserve(), what=f"{exchange.name} quote"
                )
            except (CredentialsError, AuthenticationError):
                raise
            except Exception as exc:
                self.strategy.report_error(exc)
                return
            request = self._adding_request(market, side, size, quote, ROLE_ENTRY)
            log.info("completing %s: %s %s %s more (loneLeg complete)", plan.symbol, exchange.name, side, size)
            try:
                order = await self.execute(exchange, request, market, None, cutoff, book=False)
            except (CredentialsError, AuthenticationError):
                raise
            except OrderRejected as exc:  # refused and not on the venue (looked up): the unwind follows
                fill.error = exc
                return
            except Exception as exc:
                self.strategy.report_error(exc)
                fill.known = False  # whatever it did, the reconciliation and the unwind below follow the venue
                return
            if order is None:
                fill.known = False
                return
            if order.filled_size > 0:
                completions.append((exchange.name, order, market))
                fill.filled += order.filled_size

    async def _resolve(
        self,
        plan: EntryPlan,
        long_fill: LegFill,
        short_fill: LegFill,
        long_before: Position,
        short_before: Position,
        *,
        completions: Sequence[tuple[str, Order, Market]] = (),
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
        for fill, market, side in ((long_fill, lm, Side.BUY), (short_fill, sm, Side.SELL)):
            if fill.order is not None:
                self.ledger.book(fill.exchange, fill.order, market, pair)
            elif fill.filled > 0 and fill.price is not None:  # known from the position: booked all the same
                self.ledger.book_estimate(
                    fill.exchange,
                    self.strategy.client_ids.new(ROLE_ENTRY),
                    side=side,
                    size=fill.filled,
                    price=fill.price,
                    market=market,
                    pair=pair,
                    client_ids=(fill.client_order_id,) if fill.client_order_id else (),
                )
        for name, order, market in completions:
            self.ledger.book(name, order, market, pair)
        excess_long = contracts(lm, long_base - keep)
        excess_short = contracts(sm, short_base - keep)
        full = long_fill.filled >= long_fill.requested and short_fill.filled >= short_fill.requested
        if full and excess_long == 0 and excess_short == 0:
            how = "both legs filled" + (" (the lone leg completed)" if completions else "")
            return EntryResult(pair, long_fill, short_fill, how, unhedged=False)

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


def bounded_ioc(
    market: Market, side: Side, size: Decimal, quote: Quote, *, slippage: Decimal, client_id: str, reduce_only: bool
) -> OrderRequest:
    """An IOC limit at the touch plus ``slippage`` percent (a buy at ask x (1 + s), a sell at bid x (1 - s)), never
    inside the touch. The tick rounding: outward for a reduce (it must go through), inward for an add (it may not
    pay more than asked)."""
    outward = reduce_only
    if side is Side.BUY:
        rounding = Side.SELL if outward else Side.BUY
        price = max(market.round_price(quote.ask * (1 + slippage / HUNDRED), rounding), quote.ask)
    else:
        rounding = Side.BUY if outward else Side.SELL
        price = min(market.round_price(quote.bid * (1 - slippage / HUNDRED), rounding), quote.bid)
    return OrderRequest(
        symbol=market.symbol,
        side=side,
        size=size,
        price=price,
        time_in_force=TimeInForce.IOC,
        reduce_only=reduce_only,
        client_order_id=client_id,
    )


def _added_at(before: Position, now: Position) -> Decimal | None:
    """The price at which a position grew from ``before`` to ``now`` (same side), from the two average entries."""
    if now.avg_entry_price is None or now.size == 0:
        return None
    if before.size == 0:
        return now.avg_entry_price
    if before.avg_entry_price is None or (before.size > 0) != (now.size > 0) or abs(now.size) <= abs(before.size):
        return None
    added = abs(now.size) - abs(before.size)
    return (abs(now.size) * now.avg_entry_price - abs(before.size) * before.avg_entry_price) / added
