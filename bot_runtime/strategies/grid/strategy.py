"""The perp-dex-tools grid algorithm (SPEC §3 ``grid``), re-built on the exchange contract.

Each loop iteration (every :attr:`GridStrategy.loop_interval` seconds):

1. Read the top of book (checked by :class:`~.quotes.QuoteGuard`: a bad one waits, see :mod:`.quotes`), look up
   orders whose outcome is unknown (:mod:`.orders`), then the bot's open orders and the position (in that order: a
   take-profit filling between the two reads shows as too much cover, never as too little). The *close orders* are
   the resting orders on the close side.
2. **The cover invariant**: the resting close size (plus take-profits whose outcome is still unknown) covers the
   position in the grid's direction within the venue's minimum size. A gap of at least the minimum size seen on two
   loops in a row (one loop of grace for a read lagging the other) is re-covered at once by
   :meth:`GridStrategy.recover_position`, retried with backoff (Retry-After honoured) while it fails; until it is
   covered nothing new opens and ``uncovered``/``reason`` say why (status.uncoveredFill → the operator's Degraded
   condition). Close orders exceeding the position (or a position on the wrong side) are re-checked a few times and
   only then reported as a ``positionMismatch`` risk breach.
3. ``stopPrice`` reached on two good quotes in a row (buy: ask >= stop; sell: bid <= stop) → graceful stop (phase
   Stopped with the reason); ``pausePrice`` reached → no new opens, look again in 5 s.
4. Cooldown by how full the close-order book is (count / maxOrders): >= 2/3 → 2 x waitTime, >= 1/3 → waitTime,
   >= 1/6 → waitTime/2, else waitTime/4, measured since the last open; open at once when the count dropped (a
   take-profit filled); never while count >= maxOrders. A restart with resting close orders starts the cooldown.
5. ``gridStep`` spacing (buy): open only when lowest close / (ask x (1 + tp)) > 1 + gridStep/100 (sell mirrored
   with the highest close and bid x (1 - tp)); always when there is no close order; -100 disables.
6. Open post-only at ask - tick (buy) / bid + tick (sell), re-priced on post-only rejection up to 15 times with a
   growing pause; wait up to 10 s for the fill. Filled → close order at fill x (1 ± takeProfit/100) (at the best
   maker price when that would cross), reduce-only, opposite side, for the fill plus any remainder below the minimum
   size left by earlier fills (boostMode: reduce-only market close at once; a part it leaves is re-closed by the
   invariant). Not filled → while it rests and the market has not moved away, poll every 5 s; then cancel, wait
   until the venue says the cancel is final, and close whatever part filled.

No order outcome is assumed (:mod:`.orders`): a placement without an answer is looked up by its client id
(``submit_order`` with a lookup window, then again by the loop with backoff); an entry found later is adopted (its fill
covered), and nothing new opens meanwhile. A final state from the update stream is never overridden by a staler REST
read. Resting entries of the bot that nobody watches (landed late, cancel not yet effective) are adopted by the loop.
The update stream is restarted when it ends. Every wait uses the strategy's clock.

Risk: every order goes through :meth:`RiskManager.check_order`; a timer task runs :meth:`RiskManager.check_periodic`.
After a breach the strategy stops opening for good (phase RiskHalted) and cancels (pause) or exits reduce-only
(closeAll / closeWorst); it keeps checking so an emergency can still escalate a pause into an exit.

State is rebuilt from the exchange on start (never from a local file): resting close orders (recognised by their
client ids, see :class:`~bot_runtime.strategies.base.ClientIds`) and the position; a stale open order of a previous
run is cancelled. Then the position is *re-covered*: the part of it (in the grid's direction) that no resting close
order covers, when at least the minimum size, gets close orders at average entry x (1 ± takeProfit/100), or at the
best maker price on the close side (bid for a buy close, ask for a sell close) when that would cross, split into
``quantity``-sized orders within ``maxOrders`` (the last one takes the rest). A restart therefore continues the same
grid without doubling close orders and without leaving a fill uncovered.

Stops (:meth:`GridStrategy.shutdown`): ``cancelEntries`` cancels the bot's entry orders only (their filled part gets
its take-profit) and keeps the take-profits resting; it is also what a *restart* does whatever ``onStop`` says.
``cancelOrders`` cancels every order of the bot, ``closePositions`` then exits reduce-only, ``leave`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, GridConfig, OnStop
from bot_runtime.exchanges.base import (
    AuthenticationError,
    Balance,
    CredentialsError,
    DuplicateClientOrderId,
    Exchange,
    ExchangeError,
    Fill,
    InsufficientMargin,
    MalformedResponse,
    Market,
    Order,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    OrderType,
    Position,
    PostOnlyWouldCross,
    Quote,
    Side,
    TimeInForce,
    retry_delay,
)
from bot_runtime.risk import RiskAction, RiskBreach, RiskManager
from bot_runtime.strategies.base import (
    ClientIds,
    Strategy,
    StrategyEvents,
    StrategyPhase,
    StrategySnapshot,
    halt_cancel,
)
from bot_runtime.strategies.grid import rules
from bot_runtime.strategies.grid.blocks import OpeningBlock
from bot_runtime.strategies.grid.feed import OrderFeed
from bot_runtime.strategies.grid.orders import Unresolved, freshest
from bot_runtime.strategies.grid.quotes import BadQuote, QuoteGuard
from bot_runtime.strategies.pnl import FillBook

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)


ORDER_CAP_QUANTITIES = 3  # the built-in per-order cap, in grid quantities (a recovery piece may carry up to 2)
LOOKUP_WINDOW_S = 10.0  # how long submit_order keeps looking a lost order up before sending it again
FIRST_QUOTE_MAX_WAIT_S = 5.0  # the longest wait between reads while the first good quote is awaited
CANCEL_CONFIRM = (0.5, 1.0, 2.0, 4.0, 8.0)  # reads until a cancel is final; the monitor then keeps polling


class GridStrategy(Strategy):
    # the original's timings
    mismatch_rechecks = 3
    mismatch_recheck_delay = 2.0
    post_only_retries = 15
    fill_wait = 10.0
    poll_interval = 5.0
    pause_sleep = 5.0
    # ours
    loop_interval = 1.0
    risk_interval = 5.0
    error_backoff = (1.0, 2.0, 5.0, 10.0, 30.0)
    cover_backoff = (1.0, 2.0, 5.0, 10.0, 30.0)  # retrying a take-profit that failed to place
    post_only_backoff = (0.25, 0.5, 1.0, 2.0)  # between post-only re-prices of one entry

    def __init__(
        self,
        config: BotConfig,
        exchange: Exchange,
        risk: RiskManager,
        events: StrategyEvents | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, risk, events, clock=clock)
        if config.grid is None or not config.ticker:
            raise ValueError("a grid strategy needs spec.grid and spec.ticker")
        self.grid: GridConfig = config.grid
        self.exchange = exchange
        self.symbol = config.ticker
        self.open_side = self.grid.direction
        self.close_side = self.open_side.opposite
        self.market: Market | None = None
        self.quantity = self.grid.quantity
        # state, all rebuilt from the exchange on start
        self.close_orders: list[Order] = []
        self.entry_orders: list[Order] = []  # the bot's resting opening orders (maxPositionUsd counts them)
        self.open_order_count = 0
        self.position_state: Position | None = None
        self.balance_state: Balance | None = None
        self.quote: Quote | None = None
        self.last_close_count: int | None = None
        self.last_open_time: float | None = None
        self.quotes = QuoteGuard()
        self.phase = StrategyPhase.STARTING
        self.reason: str | None = None
        self.opens = 0
        self.closes_placed = 0
        self.fills_seen = 0
        self.book = FillBook()  # realized PnL net of fees of this process's fills (seeded with the venue's position)
        self.recovered_size = ZERO  # re-covered by this process (close orders placed for an uncovered position)
        # the cover invariant: a position part without take-profit (no new opens until it is covered, retried)
        self.uncovered_since: float | None = None
        self.uncovered_size = ZERO
        self._gap_loops = 0  # loops in a row that saw a gap (the first is the grace)
        self._cover_attempts = 0
        self._cover_retry_at = 0.0
        self._cover_error: ExchangeError | None = None
        # placements whose outcome is unknown, by client id (looked up until found or given up)
        self.unresolved: dict[str, Unresolved] = {}
        self._watched: set[str] = set()  # entries being monitored (by order id): others resting are adopted
        self.quote_problem: str | None = None  # why the last quote read was refused (None: it was good)
        self.blocked = OpeningBlock(self.clock, self.symbol, exchange.name)  # why nothing opens (entriesBlocked)
        self.feed = OrderFeed(
            exchange,
            self.clock,
            name=config.name,
            relevant=lambda o: o.symbol == self.symbol and self.client_ids.is_ours(o.client_order_id),
            on_fill=self._on_fill,
            on_error=self.report_error,
        )
        self._applied_action: RiskAction | None = None
        self._reported_breach: RiskBreach | None = None
        self._errors_in_row = 0

    # -----------------------------------------------------------------------------------------------------------------
    # contract

    def snapshot(self) -> StrategySnapshot:
        pos = self.position_state
        return StrategySnapshot(
            phase=self.phase,
            reason=self.reason,
            symbol=self.symbol,
            position=pos.size if pos else ZERO,
            avg_entry_price=pos.avg_entry_price if pos else None,
            mark_price=pos.mark_price if pos else (self.quote.mid if self.quote else None),
            realized_pnl=self.book.realized_net,
            unrealized_pnl=pos.unrealized_pnl if pos else ZERO,
            funding_pnl=pos.funding_pnl if pos else ZERO,
            fees_paid=self.book.fees,
            equity=self.balance_state.equity if self.balance_state else None,
            open_orders=self.open_order_count,
            close_orders=len(self.close_orders),
            uncovered=self.uncovered_size if self.uncovered_since is not None else None,
            entries_blocked=self.blocked.reported(),
            last_error=self.last_error,
            risk_breach=self.risk.breach,
            updated_at=self.clock.now(),
        )

    async def run(self, stopping: asyncio.Event) -> None:
        self.phase = StrategyPhase.STARTING
        try:
            await self._start(stopping)
        except BadQuote:
            if not stopping.is_set():
                raise
            self.phase = StrategyPhase.STOPPING  # stopped while waiting for a good quote: nothing was ordered
            return
        if self.risk.halted:
            self.phase = StrategyPhase.RISK_HALTED
        else:
            self.phase = StrategyPhase.RUNNING
        risk_task = asyncio.create_task(self._risk_timer(stopping), name=f"{self.config.name}-risk")
        try:
            while not stopping.is_set():
                try:
                    if self.risk.halted:
                        await self._halted(stopping)
                        continue
                    if await self._iteration(stopping):
                        return  # stopPrice: the strategy ended itself
                    self._errors_in_row = 0
                except (CredentialsError, AuthenticationError):
                    raise
                except ExchangeError as exc:
                    self.report_error(exc)
                    delay = retry_delay(exc, self.error_backoff[min(self._errors_in_row, len(self.error_backoff) - 1)])
                    self._errors_in_row += 1
                    log.warning("%s: %s; retrying in %.0fs", self.config.name, exc, delay)
                    await self.clock.wait_event(stopping, delay)
            if self.phase is not StrategyPhase.RISK_HALTED:
                self.phase = StrategyPhase.STOPPING
        finally:
            risk_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await risk_task

    async def shutdown(self, on_stop: OnStop) -> None:
        stopped_by_price = self.phase is StrategyPhase.STOPPED
        self.phase = StrategyPhase.STOPPING
        try:
            if self.market is None:
                self.market = await self.exchange.market(self.symbol)
            if on_stop is OnStop.CANCEL_ENTRIES:
                await self.cancel_entries()
            elif on_stop is OnStop.CANCEL_ORDERS:
                await self.cancel_bot_orders(self.exchange, self.symbol)
            elif on_stop is OnStop.CLOSE_POSITIONS:
                await self.cancel_bot_orders(self.exchange, self.symbol)
                await self.close_position(self.exchange, self.symbol)
            with contextlib.suppress(ExchangeError):
                await self._refresh_account()
                await self._refresh_orders()
        finally:
            await self.stop_updates()
            self.phase = StrategyPhase.STOPPED
            if not stopped_by_price and self.reason is None:
                self.reason = f"stopped ({on_stop.value})"

    # -----------------------------------------------------------------------------------------------------------------
    # start-up: rebuild from the exchange

    async def _start(self, stopping: asyncio.Event) -> None:
        self.market = await self.retry(lambda: self.exchange.market(self.symbol))
        quantity = self.market.round_size(self.grid.quantity)
        if quantity < self.market.min_size or quantity <= 0:
            raise ExchangeError(
                f"{self.exchange.name}: grid quantity {self.grid.quantity} is below the minimum size"
                f" {self.market.min_size} of {self.symbol}",
                exchange=self.exchange.name,
            )
        if quantity != self.grid.quantity:
            log.warning("grid quantity %s rounded to the size step: %s", self.grid.quantity, quantity)
        self.quantity = quantity
        start_price = (await self._first_quote(stopping)).mid
        # money guards on by default: without spec.risk.maxPositionUsd the position may not exceed what a full grid
        # holds plus its entry; one order never more than ORDER_CAP_QUANTITIES quantities (sizes valued at this price)
        self.risk.derive_caps(
            position_usd=quantity * (self.grid.max_orders + 1) * start_price,
            order_usd=ORDER_CAP_QUANTITIES * quantity * start_price,
            at_price=start_price,
        )
        position = await self.retry(lambda: self.exchange.position(self.symbol))
        self.book.seed(position.size, position.avg_entry_price)  # the cost basis of what this process closes
        self.feed.start()
        await self._recover()
        await self._refresh_account()
        if self.balance_state is not None:
            self.risk.observe_equity(self.balance_state.equity)

    async def _recover(self) -> None:
        orders = await self.retry(lambda: self.exchange.open_orders(self.symbol))
        for order in orders:
            if self.client_ids.role_of(order.client_order_id) == ClientIds.OPEN:
                # an entry left resting by a previous run: cancel it; what of it filled is re-covered below
                log.info("recovering stale open order %s", order.order_id)
                await self._cancel_and_read(order)
        await self.recover_position("start")
        self.last_close_count = len(self.close_orders)
        if self.close_orders:
            self.last_open_time = self.clock.monotonic()  # the original: a restart honours the cooldown
        log.info(
            "%s %s: rebuilt from %s: %d close order(s) resting, %d open order(s)",
            self.config.name,
            self.symbol,
            self.exchange.name,
            len(self.close_orders),
            self.open_order_count,
        )

    async def cancel_entries(self) -> int:
        """Cancel the bot's entry orders on the market (take-profits stay), then give what of them filled its
        take-profit. Returns how many entries were cancelled."""
        orders = await self.retry(lambda: self.exchange.open_orders(self.symbol))
        entries = [o for o in orders if self.client_ids.role_of(o.client_order_id) == ClientIds.OPEN]
        for order in entries:
            await self._cancel_and_read(order)
        if entries:
            await self.recover_position("entry cancelled")
        return len(entries)

    def uncovered(self) -> Decimal:
        """The size of the position (in the grid's direction) that no resting close order covers (from the last
        refresh; negative when the close orders exceed it)."""
        size = self.position_state.size if self.position_state else ZERO
        held = size if self.open_side is Side.BUY else -size
        return held - sum((o.remaining for o in self.close_orders), ZERO)

    def pending_cover(self) -> Decimal:
        """The size of take-profits sent whose outcome is still unknown (they may rest already)."""
        return sum(
            (u.request.size for u in self.unresolved.values() if u.request.reduce_only),
            ZERO,
        )

    def gap(self) -> Decimal:
        """What the cover invariant looks at: uncovered size less the take-profits still being looked up."""
        return self.uncovered() - self.pending_cover()

    async def recover_position(self, why: str) -> Decimal:
        """Re-cover the position: close orders for the uncovered size (at least the minimum size) at avg entry x
        (1 ± tp/100), or at the best maker price on the close side when that would cross, in ``quantity``-sized
        orders within ``maxOrders`` (boostMode: one reduce-only market close). Returns the size placed (0 when
        covered)."""
        assert self.market is not None
        await self._refresh_orders()  # orders before the position: a fill between the reads shows as over-covered
        await self._refresh_position()
        uncovered = self.market.round_size(self.gap())
        if uncovered < self.market.min_size or uncovered <= 0:
            return ZERO
        position = self.position_state
        assert position is not None
        quote = await self._refresh_quote()
        if self.grid.boost_mode:
            placed_order = await self._place_close(uncovered, None)
            placed = uncovered if placed_order is not None else ZERO
            price = quote.mid
            sizes = [uncovered]
        else:
            price = self._maker_close_price(self.close_price(position.avg_entry_price or quote.mid), quote)
            sizes = self._split(uncovered, room=self.grid.max_orders - len(self.close_orders))
            placed = ZERO
            for size in sizes:
                order = await self._send_close(size, price)
                if order is None:
                    break
                placed += size
        log.warning(
            "re-covered an uncovered position",
            extra={
                "why": why,
                "symbol": self.symbol,
                "position": str(position.size),
                "uncovered": str(uncovered),
                "placed": str(placed),
                "orders": len(sizes),
                "price": str(price),
            },
        )
        if placed > 0:
            self.recovered_size += placed
            self.report_recovery(self.symbol, placed, len(sizes), price, why)
        return placed

    def _split(self, size: Decimal, *, room: int) -> list[Decimal]:
        assert self.market is not None
        return rules.split(size, self.quantity, room=room, min_size=self.market.min_size)

    # -----------------------------------------------------------------------------------------------------------------
    # the loop

    async def _iteration(self, stopping: asyncio.Event) -> bool:
        """One pass of the grid loop; True when the strategy stopped itself (stopPrice)."""
        quote = await self._read_quote()
        await self._resolve_unknown(stopping)
        await self._refresh_orders()
        await self._refresh_position()
        if await self._adopt_entries(stopping):
            return False  # an entry nobody watched was handled: read everything again
        if quote is not None and self.quotes.confirmed(self._stop_price_reached):  # uncovered or not: onStop decides
            self.phase = StrategyPhase.STOPPED
            self.reason = f"stopPrice {self.grid.stop_price} reached (bid {quote.bid} / ask {quote.ask})"
            log.warning("%s: %s", self.config.name, self.reason)
            return True
        if not await self._covered(stopping):
            return False
        if quote is None:
            self._not_opening("BadQuote", f"waiting for a good quote ({self.quote_problem}): no new opens")
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        if self._pause_price_reached(quote):
            self._not_opening("PausePrice", f"pausePrice {self.grid.pause_price} reached: no new opens")
            await self.clock.wait_event(stopping, self.pause_sleep)
            return False
        if any(not u.request.reduce_only for u in self.unresolved.values()):
            ids = ", ".join(cid for cid, u in self.unresolved.items() if not u.request.reduce_only)
            self._not_opening(
                "OrderOutcomeUnknown", f"entry {ids}: outcome unknown, looking it up by client id: no new opens"
            )
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        self.reason = None
        self.blocked.clear()
        if not self._cooldown_over():
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        if not self._grid_step_ok(quote):
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        await self._open_and_monitor(stopping)
        return False

    async def _covered(self, stopping: asyncio.Event) -> bool:
        """The cover invariant (see the module docstring): True when the position is covered within the minimum
        size (opening may go on); else it re-covers (after one loop of grace), waits a loop and returns False."""
        assert self.market is not None
        over = -self.market.round_size(self.uncovered())  # resting closes only (a pending one may have filled)
        wrong_side = self._held() < 0 and self.market.round_size(-self._held()) >= self.market.min_size
        if (over >= self.market.min_size or wrong_side) and await self._mismatch_confirmed(stopping):
            return False
        gap = self.market.round_size(self.gap())
        if gap < self.market.min_size:
            if self.uncovered_since is not None:
                log.info(
                    "position covered again", extra={"after_s": round(self.clock.monotonic() - self.uncovered_since, 1)}
                )
            self.uncovered_since = None
            self.uncovered_size = ZERO
            self._gap_loops = 0
            return True
        now = self.clock.monotonic()
        self._gap_loops += 1
        if self.uncovered_since is None and self._gap_loops < 2:
            self.reason = f"{gap} of the position has no take-profit: reading again before re-covering"
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        if self.uncovered_since is None:
            self.uncovered_since = now
            self._cover_attempts = 0
            self._cover_retry_at = now
        self.uncovered_size = gap
        if now >= self._cover_retry_at:
            self._cover_error = None
            try:
                await self.recover_position("uncovered")
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self._cover_error = exc
                self.report_error(exc)
            covered = self.market.round_size(self.gap()) < self.market.min_size
            if covered:
                log.info("position covered again", extra={"after_s": round(now - self.uncovered_since, 1)})
                self.uncovered_since = None
                self.uncovered_size = ZERO
                self._gap_loops = 0
                self.reason = None
                self.blocked.clear()
                return True
            self._cover_attempts += 1
            delay = self.cover_backoff[min(self._cover_attempts, len(self.cover_backoff) - 1)]
            if self._cover_error is not None:
                delay = retry_delay(self._cover_error, delay)
            self._cover_retry_at = self.clock.monotonic() + delay  # from the end of this try (it may have waited)
        self._not_opening(
            "UncoveredFill",
            f"a fill of {self.uncovered_size} has no take-profit since {now - self.uncovered_since:.0f}s:"
            " no new opens until it is placed (retrying)",
        )
        await self.clock.wait_event(stopping, self.loop_interval)
        return False

    def _not_opening(self, reason: str, message: str) -> None:
        """Opening pauses: ``reason`` (CamelCase, status.entriesBlocked) and ``message`` (the snapshot's reason)."""
        self.reason = message
        self.blocked.set(reason, message)

    def _held(self) -> Decimal:
        size = self.position_state.size if self.position_state else ZERO
        return size if self.open_side is Side.BUY else -size

    def _stop_price_reached(self, quote: Quote) -> bool:
        return rules.level_reached(self.grid.stop_price, self.open_side, quote)

    def _pause_price_reached(self, quote: Quote) -> bool:
        return rules.level_reached(self.grid.pause_price, self.open_side, quote)

    def cooldown_seconds(self, count: int) -> float | None:
        """The original's dynamic cooldown for ``count`` resting close orders; None = never (grid full)."""
        return rules.cooldown_seconds(count, self.grid.max_orders, self.grid.wait_time)

    def _cooldown_over(self) -> bool:
        count = len(self.close_orders)
        last, self.last_close_count = self.last_close_count, count
        if last is not None and count < last and count < self.grid.max_orders:
            return True  # a take-profit filled: open again at once
        cooldown = self.cooldown_seconds(count)
        if cooldown is None:
            return False
        if self.last_open_time is None:
            return True
        return self.clock.monotonic() - self.last_open_time >= cooldown

    def _grid_step_ok(self, quote: Quote) -> bool:
        return rules.grid_step_ok(self.grid, [o.price for o in self.close_orders if o.price is not None], quote)

    # -----------------------------------------------------------------------------------------------------------------
    # unknown outcomes and orders nobody watches

    def _track_unknown(self, request: OrderRequest, exc: ExchangeError) -> None:
        now = self.clock.monotonic()
        self.report_error(exc)
        self.unresolved[request.client_order_id] = Unresolved(request, since=now, next_lookup=now)
        log.warning(
            "order outcome unknown: looking it up by client id",
            extra={"client_order_id": request.client_order_id, "size": str(request.size), "error": str(exc)},
        )

    async def _resolve_unknown(self, stopping: asyncio.Event) -> None:
        """Look up (by client id, with backoff) the orders whose outcome is unknown: an entry found is adopted
        (monitored until final, its fill covered); a take-profit found rests or filled (the invariant sees it)."""
        now = self.clock.monotonic()
        for client_id, pending in list(self.unresolved.items()):
            if now < pending.next_lookup:
                continue
            try:
                found = await self._lookup(client_id)
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.report_error(exc)
                found = None
            if found is None:
                if pending.expired(now):
                    log.warning(
                        "order never found by its client id: taken as not placed", extra={"client_order_id": client_id}
                    )
                    del self.unresolved[client_id]
                else:
                    pending.backoff(now)
                continue
            del self.unresolved[client_id]
            log.info(
                "order of unknown outcome found", extra={"client_order_id": client_id, "status": found.status.value}
            )
            if not pending.request.reduce_only:
                self.opens += 1
                await self._monitor_open(found, stopping, adopted=True)

    async def _lookup(self, client_id: str) -> Order | None:
        return await self.retry(lambda: self.exchange.find_order_by_client_id(self.symbol, client_id))

    async def _adopt_entries(self, stopping: asyncio.Event) -> bool:
        """A resting entry of the bot that nobody monitors (it landed late, or its cancel is not effective yet) is
        monitored here until final and its fill covered. True when one was."""
        strays = [o for o in self.entry_orders if o.order_id not in self._watched and self.is_ours(o)]
        for order in strays:
            log.info("adopting a resting entry nobody watched", extra={"order_id": order.order_id})
            await self._monitor_open(order, stopping, adopted=True)
        return bool(strays)

    # -----------------------------------------------------------------------------------------------------------------
    # opening

    def _open_price(self, quote: Quote) -> Decimal:
        assert self.market is not None
        return rules.open_price(self.market, self.open_side, quote)

    async def _open_and_monitor(self, stopping: asyncio.Event) -> None:
        await self._refresh_account()  # the risk check needs the current position and equity
        order: Order | None = None
        for attempt in range(1, self.post_only_retries + 1):
            if attempt > 1:
                pause = self.post_only_backoff[min(attempt - 2, len(self.post_only_backoff) - 1)]
                if await self.clock.wait_event(stopping, pause):
                    return
                quote = await self._read_quote()
                if quote is None:
                    return  # a bad quote: the loop waits for a good one
            else:
                quote = self.quote
            assert quote is not None
            price = self._open_price(quote)
            request = OrderRequest(
                symbol=self.symbol,
                side=self.open_side,
                size=self.quantity,
                price=price,
                time_in_force=TimeInForce.POST_ONLY,
                client_order_id=self.client_ids.new(ClientIds.OPEN),
            )
            if not await self._risk_allows(request, price):
                return
            try:
                order = await self._send(request)
                break
            except PostOnlyWouldCross:
                log.debug(
                    "post-only open at %s would cross; re-pricing (%d/%d)", price, attempt, self.post_only_retries
                )
                continue
            except (OrderOutcomeUnknown, DuplicateClientOrderId) as exc:
                self._track_unknown(request, exc)
                self.last_open_time = self.clock.monotonic()
                return
            except InsufficientMargin as exc:
                self.report_error(exc)
                self.last_open_time = self.clock.monotonic()  # wait a cooldown before trying again
                return
            except OrderRejected as exc:
                self.report_error(exc)
                self.last_open_time = self.clock.monotonic()
                return
        if order is None:
            log.warning("open order rejected as post-only %d times in a row; next cycle", self.post_only_retries)
            self.last_open_time = self.clock.monotonic()
            return
        self.opens += 1
        await self._monitor_open(order, stopping)

    async def _monitor_open(self, order: Order, stopping: asyncio.Event, *, adopted: bool = False) -> None:
        """Wait for an entry to fill; cancel it when the market moved away (final only when the venue says so);
        cover what filled."""
        symbol, order_id = order.symbol, order.order_id
        self._watched.add(order_id)
        try:
            order = await self._await_order(order, self.fill_wait, stopping)
            cancelled = False
            while not order.status.is_final:
                if stopping.is_set() or self.risk.halted:
                    return  # leave it: shutdown / the risk action cancels it, the invariant covers any filled part
                if not cancelled:
                    quote = await self._read_quote()
                    assert order.price is not None
                    if quote is not None:
                        new_price = self._open_price(quote)
                        better = new_price <= order.price if self.open_side is Side.BUY else new_price >= order.price
                        if not better:
                            order = await self._cancel_and_read(order)
                            cancelled = True
                            continue
                order = await self._await_order(order, self.poll_interval, stopping)
                if cancelled and not order.status.is_final:
                    with contextlib.suppress(OrderNotFound):
                        await self.retry(lambda: self.exchange.cancel_order(symbol, order_id))
        finally:
            self._watched.discard(order_id)
        if order.filled_size > 0:
            # the cooldown counts from the last fill (an entry cancelled unfilled is followed by the next at once);
            # boost mode: the next entry follows the market close at once
            self.last_open_time = None if self.grid.boost_mode else self.clock.monotonic()
            await self._cover_fill(order.filled_size, order.avg_fill_price or order.price, adopted=adopted)

    async def _cover_fill(self, size: Decimal, price: Decimal | None, *, adopted: bool = False) -> None:
        """The take-profit of a fill, for the fill plus any remainder below the minimum size that earlier fills left
        uncovered (read from the venue); an entry ``adopted`` late gets no more than the venue shows uncovered (the
        invariant may have covered its fill already). When it cannot be placed, the cover invariant retries it with
        backoff (and nothing new opens meanwhile)."""
        assert self.market is not None
        with contextlib.suppress(ExchangeError):
            await self._refresh_orders()
            await self._refresh_position()
        gap = max(self.market.round_size(self.gap()), ZERO)
        if gap < size:
            # adopted: part of it may be covered already; ours: the position read lags the fill (the fill is known)
            total = gap if adopted else size
        elif gap - size < self.market.min_size:
            total = gap  # the fill and the remainders below the minimum size that earlier fills left
        else:
            total = size  # more is uncovered: the invariant re-covers the rest
        try:
            placed = await self._place_close(total, price)
        except (CredentialsError, AuthenticationError):
            raise
        except ExchangeError as exc:
            self.report_error(exc)
            self._cover_error = exc
            placed = None
        if placed is None and self.market.round_size(total) >= self.market.min_size:
            now = self.clock.monotonic()
            if self.uncovered_since is None:
                self.uncovered_since = now
                self._cover_attempts = 0
            self.uncovered_size = self.market.round_size(total)
            delay = self.cover_backoff[0]
            if self._cover_error is not None:
                delay = retry_delay(self._cover_error, delay)
            self._cover_retry_at = now + delay
            log.warning("take-profit not placed: fill uncovered, no new opens until it is", extra={"size": str(total)})

    async def _cancel_and_read(self, order: Order) -> Order:
        """Cancel one order and return its state once the venue says it is final (it may have filled meanwhile);
        after :data:`CANCEL_CONFIRM` reads without that, its latest non-final state (the caller keeps watching)."""
        with contextlib.suppress(OrderNotFound):
            await self.retry(lambda: self.exchange.cancel_order(order.symbol, order.order_id))
        latest: Order | None = order
        for wait in CANCEL_CONFIRM:
            read = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
            latest = freshest(freshest(latest, self.feed.final(order.order_id)), read)
            if latest is not None and latest.status.is_final:
                return latest
            await self.clock.sleep(wait)
        if latest is None:
            raise ExchangeError(f"{self.exchange.name}: order {order.order_id} vanished", exchange=self.exchange.name)
        log.warning("cancel not final yet: still watching", extra={"order_id": order.order_id})
        return latest

    async def _await_order(self, order: Order, seconds: float, stopping: asyncio.Event) -> Order:
        """Wait up to ``seconds`` until the order is final (woken by the update stream), then read it over REST; a
        final state the stream reported is never replaced by a staler read."""
        if order.status.is_final:
            return order
        known = freshest(order, await self.feed.wait(order, seconds, stopping))
        if known is not None and known.status.is_final:
            return known
        fresh = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
        return freshest(known, fresh) or order

    # -----------------------------------------------------------------------------------------------------------------
    # closing

    def close_price(self, fill_price: Decimal) -> Decimal:
        assert self.market is not None
        return rules.close_price(self.market, self.grid.take_profit, self.close_side, fill_price)

    def _maker_close_price(self, price: Decimal, quote: Quote | None) -> Decimal:
        return rules.maker_close_price(self.close_side, price, quote)

    async def _place_close(self, size: Decimal, fill_price: Decimal | None) -> Order | None:
        assert self.market is not None
        size = self.market.round_size(size)
        if size < self.market.min_size or size <= 0:
            log.info("uncovered %s is below the minimum size: carried into the next take-profit", size)
            return None
        if self.grid.boost_mode:
            request = OrderRequest(
                symbol=self.symbol,
                side=self.close_side,
                size=size,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                client_order_id=self.client_ids.new(ClientIds.CLOSE),
            )
            price = (self.quote.bid if self.close_side is Side.SELL else self.quote.ask) if self.quote else ZERO
            return await self._submit_close(request, price)
        if fill_price is None:
            raise ExchangeError("filled order without a price", exchange=self.exchange.name)
        return await self._send_close(size, self._maker_close_price(self.close_price(fill_price), self.quote))

    async def _send_close(self, size: Decimal, price: Decimal) -> Order | None:
        """A reduce-only limit close (take-profit) of ``size`` at ``price``."""
        request = OrderRequest(
            symbol=self.symbol,
            side=self.close_side,
            size=size,
            price=price,
            reduce_only=True,
            client_order_id=self.client_ids.new(ClientIds.CLOSE),
        )
        return await self._submit_close(request, price)

    async def _submit_close(self, request: OrderRequest, price: Decimal) -> Order | None:
        """Send a close; None when it was not placed (refused, or its outcome unknown: then it is looked up, and
        counts as covering its size until resolved)."""
        await self._risk_allows(request, price)  # reduce-only: always allowed, checked for the record
        try:
            order = await self._send(request)
        except (OrderOutcomeUnknown, DuplicateClientOrderId) as exc:
            self._track_unknown(request, exc)
            return None
        except OrderRejected as exc:
            self.report_error(exc)
            self._cover_error = exc
            return None
        self.closes_placed += 1
        if not order.status.is_final:
            self.close_orders.append(order)
        return order

    async def _send(self, request: OrderRequest) -> Order:
        """Place one order (waits on the strategy's clock): a lost reply is looked up by client id for
        :data:`LOOKUP_WINDOW_S` before a resend."""
        return await self.send_order(self.exchange, request, lookup_window=LOOKUP_WINDOW_S, sleep=self.clock.sleep)

    # -----------------------------------------------------------------------------------------------------------------
    # risk

    async def _risk_allows(self, request: OrderRequest, price: Decimal) -> bool:
        breach = self.risk.check_order(
            request,
            price=price,
            position=self.position_state,
            open_orders=self.open_order_count,
            balance=self.balance_state,
            positions=[self.position_state] if self.position_state else [],
            pending=sum((o.remaining for o in self.entry_orders if o.side is request.side), ZERO),
        )
        if breach is None:
            return True
        self._on_breach(breach)
        return False

    def _on_breach(self, breach: RiskBreach) -> None:
        if breach is not self._reported_breach:  # each breach is reported once, however often it is hit
            self._reported_breach = breach
            self.report_breach(breach)
        self.phase = StrategyPhase.RISK_HALTED
        self.reason = breach.message

    async def _risk_timer(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.clock.wait_event(stopping, self.risk_interval)
            if stopping.is_set():
                return
            try:
                await self._refresh_account()
                assert self.balance_state is not None
                positions = [self.position_state] if self.position_state and self.position_state.size else []
                breach = self.risk.check_periodic(self.balance_state, positions, self.open_order_count)
                if breach is not None:
                    self._on_breach(breach)
            except (CredentialsError, AuthenticationError) as exc:
                self.report_error(exc)
            except ExchangeError as exc:
                self.report_error(exc)

    async def _halted(self, stopping: asyncio.Event) -> None:
        """Apply the breach's action once (again when it escalates), then wait for the stop."""
        breach = self.risk.breach
        assert breach is not None
        self.phase = StrategyPhase.RISK_HALTED
        self.reason = breach.message
        self.blocked.clear()  # the halt says why (phase RiskHalted, status.riskHalt)
        if self._applied_action is None or breach.action.rank > self._applied_action.rank:
            await self._apply(breach)
            self._applied_action = breach.action
        await self.clock.wait_event(stopping, self.risk_interval)

    async def _apply(self, breach: RiskBreach) -> None:
        """closeAll / closeWorst: cancel the bot's orders and exit reduce-only. pause: no new orders; the entries are
        cancelled, and the take-profits too unless ``onStop`` keeps them (``cancelEntries``, the default, or
        ``leave``): a paused position keeps its exits (issue 18: a pause used to cancel every take-profit). A
        restart under a recorded pause halt does the same (:func:`halt_cancel`)."""
        log.warning("%s: applying risk action %s (%s)", self.config.name, breach.action, breach.limit)
        closing = breach.action is RiskAction.CLOSE_ALL or (
            breach.action is RiskAction.CLOSE_WORST and (not breach.symbols or self.symbol in breach.symbols)
        )
        if not closing and halt_cancel(breach.action, self.config.on_stop) is OnStop.CANCEL_ENTRIES:
            await self.cancel_entries()
        else:
            await self.cancel_bot_orders(self.exchange, self.symbol)
        if closing:
            await self.close_position(self.exchange, self.symbol)
        await self._refresh_orders()
        await self._refresh_account()

    async def _mismatch_confirmed(self, stopping: asyncio.Event) -> bool:
        """Close orders exceeding the position (or a position on the wrong side), re-checked before it trips a
        ``positionMismatch`` breach (venues report a transient 0 position). True when it tripped."""
        assert self.market is not None
        tolerance = self.market.min_size - self.market.size_step
        position, total = ZERO, ZERO
        for attempt in range(self.mismatch_rechecks + 1):
            if attempt:
                if await self.clock.wait_event(stopping, self.mismatch_recheck_delay):
                    return True
                await self._refresh_orders()
                await self._refresh_position()
            position = self.position_state.size if self.position_state else ZERO
            total = sum((o.remaining for o in self.close_orders), ZERO)
            over = -self.market.round_size(self.uncovered())
            wrong_side = self._held() < 0 and self.market.round_size(-self._held()) >= self.market.min_size
            if over < self.market.min_size and not wrong_side:
                return False
            log.warning(
                "position %s vs close orders %s (check %d/%d)", position, total, attempt + 1, self.mismatch_rechecks + 1
            )
        breach = self.risk.position_mismatch(position, total, tolerance)
        if breach is not None:
            self._on_breach(breach)
        return True

    # -----------------------------------------------------------------------------------------------------------------
    # exchange state

    async def _refresh_quote(self) -> Quote:
        """The top of book, checked before use (:class:`~.quotes.QuoteGuard`): a bad one raises :class:`BadQuote`,
        which makes the caller wait: never an order on it, never a crash. A quote the venue client could not read
        (:class:`MalformedResponse`, after the read's retries) is a bad quote too."""
        try:
            quote = await self.retry(lambda: self.exchange.best_bid_ask(self.symbol), what=f"{self.symbol} quote")
            self.quote = self.quotes.check(quote, self.clock.now())
        except (BadQuote, MalformedResponse) as exc:
            self.quote_problem = str(exc)
            raise BadQuote(f"{self.exchange.name} {exc}", exchange=self.exchange.name) from None
        self.quote_problem = None
        return self.quote

    async def _read_quote(self) -> Quote | None:
        """:meth:`_refresh_quote`, None on a bad quote (reported; ``quote_problem`` says why)."""
        try:
            return await self._refresh_quote()
        except BadQuote as exc:
            self.report_error(exc)
            return None

    async def _first_quote(self, stopping: asyncio.Event) -> Quote:
        """A good quote before anything else (the start price of the derived caps), waiting out bad ones."""
        delay = self.error_backoff[0]
        while True:
            try:
                return await self._refresh_quote()
            except BadQuote as exc:
                self.report_error(exc)
                if await self.clock.wait_event(stopping, delay):
                    raise
                delay = min(delay * 2, FIRST_QUOTE_MAX_WAIT_S)

    def _is_close_order(self, order: Order) -> bool:
        if order.side is not self.close_side:
            return False
        return self.client_ids.role_of(order.client_order_id) == ClientIds.CLOSE

    async def _refresh_orders(self) -> None:
        orders = [o for o in await self.retry(lambda: self.exchange.open_orders(self.symbol)) if self.is_ours(o)]
        # an order the stream already reported final is not resting, whatever a lagging REST list says
        orders = [o for o in orders if self.feed.final(o.order_id) is None]
        self.open_order_count = len(orders)
        self.close_orders = [o for o in orders if self._is_close_order(o)]
        self.entry_orders = [o for o in orders if o.side is self.open_side and not o.reduce_only]
        for order in orders:  # a take-profit of unknown outcome found resting: resolved
            self.unresolved.pop(order.client_order_id or "", None)

    async def _refresh_position(self) -> None:
        self.position_state = await self.retry(lambda: self.exchange.position(self.symbol))

    async def _refresh_account(self) -> None:
        await self._refresh_position()
        self.balance_state = await self.retry(self.exchange.balance)

    # order-update stream (:mod:`.feed`) ------------------------------------------------------------------------------
    def _on_fill(self, fill: Fill, partial: bool) -> None:
        self.fills_seen += 1
        self.book.apply(fill)
        self.report_fill(fill, partial=partial)
        if not partial and self.client_ids.role_of(fill.client_order_id) == ClientIds.CLOSE:
            log.info("take-profit filled: %s @ %s", fill.side, fill.price)

    @property
    def stream_restarts(self) -> int:
        return self.feed.restarts

    async def stop_updates(self) -> None:
        """Stop consuming the order-update stream (``shutdown`` does it; also for a caller abandoning the strategy)."""
        await self.feed.stop()


def create_strategy(
    config: BotConfig,
    exchange: Exchange,
    risk: RiskManager,
    events: StrategyEvents | None = None,
    clock: Clock | None = None,
) -> GridStrategy:
    return GridStrategy(config, exchange, risk, events, clock=clock)
