"""The perp-dex-tools grid algorithm (SPEC §3 ``grid``), re-built on the exchange contract.

Each loop iteration (every :attr:`GridStrategy.loop_interval` seconds):

1. Read the top of book and the bot's open orders; the *close orders* are the resting orders on the close side.
2. Every 60 s: when ``|abs(position) - sum(close sizes)| > 2 x quantity``, re-check it a few times (venues report a
   transient 0 position) and only then report a ``positionMismatch`` risk breach.
3. ``stopPrice`` reached (buy: ask >= stop; sell: bid <= stop) → graceful stop (phase Stopped with the reason);
   ``pausePrice`` reached → no new opens, look again in 5 s.
4. Cooldown by how full the close-order book is (count / maxOrders): >= 2/3 → 2 x waitTime, >= 1/3 → waitTime,
   >= 1/6 → waitTime/2, else waitTime/4, measured since the last open; open at once when the count dropped (a
   take-profit filled); never while count >= maxOrders. A restart with resting close orders starts the cooldown.
5. ``gridStep`` spacing (buy): open only when lowest close / (ask x (1 + tp)) > 1 + gridStep/100 (sell mirrored
   with the highest close and bid x (1 - tp)); always when there is no close order; -100 disables.
6. Open post-only at ask - tick (buy) / bid + tick (sell), re-priced on post-only rejection up to 15 times; wait up to
   10 s for the fill. Filled → close order at fill x (1 ± takeProfit/100), reduce-only, opposite side (boostMode:
   reduce-only market close at once). Not filled → while it rests and the market has not moved away (the new open
   price is not better than ours), poll every 5 s; then cancel and close whatever part filled.

Risk: every order goes through :meth:`RiskManager.check_order`; a timer task runs :meth:`RiskManager.check_periodic`.
After a breach the strategy stops opening for good (phase RiskHalted) and cancels (pause) or exits reduce-only
(closeAll / closeWorst); it keeps checking so an emergency can still escalate a pause into an exit.

State is rebuilt from the exchange on start (never from a local file): resting close orders (recognised by their
client ids, see :class:`~bot_runtime.strategies.base.ClientIds`) and the position; a stale open order of a previous
run is cancelled. Then the position is *re-covered*: the part of it (in the grid's direction) that no resting close
order covers, when above one size step, gets close orders at average entry x (1 ± takeProfit/100), or at the best
maker price on the close side (bid for a buy close, ask for a sell close) when that would cross, split into
``quantity``-sized orders within ``maxOrders`` (the last one takes the rest). A restart therefore continues the same
grid without doubling close orders and without leaving a fill uncovered, whatever the previous process left (a
restart's cancelled entry, a ``cancelOrders`` pause, a kill -9 between a fill and its take-profit).

The mismatch check runs only after that recovery, and a position larger than its close orders in the grid's
direction is re-covered first (the bot's own state, never a breach); only what re-covering cannot explain (a position
on the wrong side, close orders exceeding the position, a cover that keeps failing) trips it.

Stops (:meth:`GridStrategy.shutdown`): ``cancelEntries`` cancels the bot's entry orders only (their filled part gets
its take-profit) and keeps the take-profits resting; it is also what a *restart* does whatever ``onStop`` says.
``cancelOrders`` cancels every order of the bot, ``closePositions`` then exits reduce-only, ``leave`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, GridConfig, OnStop
from bot_runtime.exchanges.base import (
    AuthenticationError,
    Balance,
    CredentialsError,
    Exchange,
    ExchangeError,
    InsufficientMargin,
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
from bot_runtime.risk import RiskAction, RiskBreach, RiskManager
from bot_runtime.strategies.base import (
    ClientIds,
    Strategy,
    StrategyEvents,
    StrategyPhase,
    StrategySnapshot,
)
from bot_runtime.strategies.pnl import FillBook

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)


FINAL_SEEN_MAX = 256
ORDER_CAP_QUANTITIES = 3  # the built-in per-order cap, in grid quantities (a recovery piece may carry up to 2)
QUOTE_MAX_AGE_S = 30.0


class BadQuote(ExchangeError):
    """A top of book not to trade on (crossed, zero, stale): the loop waits for a good one."""

    retryable = True


def quote_problem(quote: Quote, now: datetime) -> str | None:
    """Why ``quote`` must not be used (None: it is fine): 0 < bid < ask, and at most QUOTE_MAX_AGE_S old."""
    if not (ZERO < quote.bid < quote.ask):
        return f"quote not 0 < bid < ask (bid {quote.bid}, ask {quote.ask})"
    age = (now - quote.timestamp).total_seconds()
    if age > QUOTE_MAX_AGE_S:
        return f"quote {age:.0f}s old (more than {QUOTE_MAX_AGE_S:.0f}s)"
    return None


class _Waiter:
    """Wakes a task waiting for one order when the update stream reports a change of it."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.latest: Order | None = None


class GridStrategy(Strategy):
    # the original's timings
    mismatch_interval = 60.0
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
        self.last_mismatch_check: float | None = None
        self.phase = StrategyPhase.STARTING
        self.reason: str | None = None
        self.opens = 0
        self.closes_placed = 0
        self.fills_seen = 0
        self.book = FillBook()  # realized PnL net of fees of this process's fills (seeded with the venue's position)
        self.recovered_size = ZERO  # re-covered by this process (close orders placed for an uncovered position)
        # a fill whose take-profit failed to place: no new opens until it is covered (retried with backoff)
        self.uncovered_since: float | None = None
        self.uncovered_size = ZERO
        self._cover_attempts = 0
        self._cover_retry_at = 0.0
        self._waiters: dict[str, _Waiter] = {}
        # final states the stream reported, recent first out: an order may fill before anyone waits for it
        self._final_seen: OrderedDict[str, Order] = OrderedDict()
        self._updates_task: asyncio.Task[None] | None = None
        self._updates_sub: AsyncIterator[OrderUpdate] | None = None
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
                    delay = self.error_backoff[min(self._errors_in_row, len(self.error_backoff) - 1)]
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
        self._start_updates()
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

    async def recover_position(self, why: str) -> Decimal:
        """Re-cover the position: close orders for the uncovered size (above one size step) at avg entry x
        (1 ± tp/100), or at the best maker price on the close side when that would cross, in ``quantity``-sized
        orders within ``maxOrders``. Returns the size placed (0 when covered)."""
        assert self.market is not None
        await self._refresh_account()
        await self._refresh_orders()
        uncovered = self.market.round_size(self.uncovered())
        if uncovered <= self.market.size_step or uncovered < self.market.min_size:
            return ZERO
        position = self.position_state
        assert position is not None
        quote = await self._refresh_quote()
        entry = position.avg_entry_price or quote.mid
        price = self.close_price(entry)
        if self.close_side is Side.SELL and price <= quote.bid:
            price = quote.ask  # would cross: rest at the best sell (maker) price instead
        elif self.close_side is Side.BUY and price >= quote.ask:
            price = quote.bid
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
        """``size`` in ``quantity``-sized pieces, at most ``max(room, 1)`` of them (the last takes the rest)."""
        pieces: list[Decimal] = []
        left = size
        while left > 0:
            if len(pieces) >= max(room, 1) - 1 or left <= self.quantity:
                pieces.append(left)
                break
            pieces.append(self.quantity)
            left -= self.quantity
        assert self.market is not None
        if len(pieces) > 1 and pieces[-1] < self.market.min_size:  # a rest too small to place rides on the one before
            pieces[-2:] = [pieces[-2] + pieces[-1]]
        return pieces

    # -----------------------------------------------------------------------------------------------------------------
    # the loop

    async def _iteration(self, stopping: asyncio.Event) -> bool:
        """One pass of the grid loop; True when the strategy stopped itself (stopPrice)."""
        quote = await self._refresh_quote()
        await self._refresh_orders()
        if self.uncovered_since is not None and not await self._retry_cover(stopping):
            return False
        now = self.clock.monotonic()
        if self.last_mismatch_check is None or now - self.last_mismatch_check >= self.mismatch_interval:
            self.last_mismatch_check = now
            if await self._mismatch_confirmed(stopping):
                return False
        if self._stop_price_reached(quote):
            self.phase = StrategyPhase.STOPPED
            self.reason = f"stopPrice {self.grid.stop_price} reached (bid {quote.bid} / ask {quote.ask})"
            log.warning("%s: %s", self.config.name, self.reason)
            return True
        if self._pause_price_reached(quote):
            self.reason = f"pausePrice {self.grid.pause_price} reached: no new opens"
            await self.clock.wait_event(stopping, self.pause_sleep)
            return False
        self.reason = None
        if not self._cooldown_over():
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        if not self._grid_step_ok(quote):
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        await self._open_and_monitor(stopping)
        return False

    def _stop_price_reached(self, quote: Quote) -> bool:
        stop = self.grid.stop_price
        if stop is None:
            return False
        return quote.ask >= stop if self.open_side is Side.BUY else quote.bid <= stop

    def _pause_price_reached(self, quote: Quote) -> bool:
        pause = self.grid.pause_price
        if pause is None:
            return False
        return quote.ask >= pause if self.open_side is Side.BUY else quote.bid <= pause

    def cooldown_seconds(self, count: int) -> float | None:
        """The original's dynamic cooldown for ``count`` resting close orders; None = never (grid full)."""
        max_orders = self.grid.max_orders
        if count >= max_orders:
            return None
        wait = self.grid.wait_time
        ratio = Fraction(count, max_orders)
        if ratio >= Fraction(2, 3):
            return 2 * wait
        if ratio >= Fraction(1, 3):
            return wait
        if ratio >= Fraction(1, 6):
            return wait / 2
        return wait / 4

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
        if not self.grid.grid_step_enabled or not self.close_orders:
            return True
        prices = [o.price for o in self.close_orders if o.price is not None]
        if not prices:
            return True
        tp = self.grid.take_profit / HUNDRED
        step = 1 + self.grid.grid_step / HUNDRED
        if self.open_side is Side.BUY:
            new_close = quote.ask * (1 + tp)
            return min(prices) / new_close > step
        new_close = quote.bid * (1 - tp)
        return new_close / max(prices) > step

    # -----------------------------------------------------------------------------------------------------------------
    # opening

    def _open_price(self, quote: Quote) -> Decimal:
        assert self.market is not None
        tick = self.market.tick_size
        if self.open_side is Side.BUY:
            return self.market.round_price(quote.ask - tick, Side.BUY)
        return self.market.round_price(quote.bid + tick, Side.SELL)

    async def _open_and_monitor(self, stopping: asyncio.Event) -> None:
        await self._refresh_account()  # the risk check needs the current position and equity
        order: Order | None = None
        for attempt in range(1, self.post_only_retries + 1):
            quote = await self._refresh_quote() if attempt > 1 else self.quote
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
                order = await self.send_order(self.exchange, request)
                break
            except PostOnlyWouldCross:
                log.debug(
                    "post-only open at %s would cross; re-pricing (%d/%d)", price, attempt, self.post_only_retries
                )
                continue
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

    async def _monitor_open(self, order: Order, stopping: asyncio.Event) -> None:
        order = await self._await_order(order, self.fill_wait, stopping)
        while not order.status.is_final:
            if stopping.is_set() or self.risk.halted:
                return  # leave it: shutdown / the risk action cancels it, a restart covers any filled part
            quote = await self._refresh_quote()
            assert order.price is not None
            new_price = self._open_price(quote)
            still_best = new_price <= order.price if self.open_side is Side.BUY else new_price >= order.price
            if not still_best:
                order = await self._cancel_and_read(order)
                break
            order = await self._await_order(order, self.poll_interval, stopping)
        if order.filled_size > 0:
            # the cooldown counts from the last fill (an entry cancelled unfilled is followed by the next at once);
            # boost mode: the next entry follows the market close at once
            self.last_open_time = None if self.grid.boost_mode else self.clock.monotonic()
            await self._cover_fill(order.filled_size, order.avg_fill_price or order.price)

    async def _cover_fill(self, size: Decimal, price: Decimal | None) -> None:
        """The take-profit of a fill; when it cannot be placed, the fill is uncovered: retried with backoff by the
        loop, and nothing new opens meanwhile."""
        assert self.market is not None
        try:
            placed = await self._place_close(size, price)
        except (CredentialsError, AuthenticationError):
            raise
        except ExchangeError as exc:
            self.report_error(exc)
            placed = None
        if placed is None and self.market.round_size(size) >= self.market.min_size:
            now = self.clock.monotonic()
            if self.uncovered_since is None:
                self.uncovered_since = now
                self._cover_attempts = 0
            self.uncovered_size += size
            self._cover_retry_at = now + self.cover_backoff[0]
            log.warning("take-profit not placed: fill uncovered, no new opens until it is", extra={"size": str(size)})

    async def _retry_cover(self, stopping: asyncio.Event) -> bool:
        """While a fill is uncovered: retry its take-profit (re-covering the position) with backoff. True once
        covered; False while it is not (the caller opens nothing)."""
        assert self.market is not None and self.uncovered_since is not None
        now = self.clock.monotonic()
        if now >= self._cover_retry_at:
            try:
                await self.recover_position("take-profit retry")
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.report_error(exc)
            if self.market.round_size(self.uncovered()) <= self.market.size_step:
                log.info("uncovered fill covered again", extra={"after_s": round(now - self.uncovered_since, 1)})
                self.uncovered_since = None
                self.uncovered_size = ZERO
                self.reason = None
                return True
            self._cover_attempts += 1
            delay = self.cover_backoff[min(self._cover_attempts, len(self.cover_backoff) - 1)]
            self._cover_retry_at = now + delay
        self.reason = (
            f"a fill of {self.uncovered_size} has no take-profit since {now - self.uncovered_since:.0f}s:"
            " no new opens until it is placed (retrying)"
        )
        await self.clock.wait_event(stopping, self.loop_interval)
        return False

    async def _cancel_and_read(self, order: Order) -> Order:
        """Cancel one order and return its final state (it may have filled meanwhile)."""
        with contextlib.suppress(OrderNotFound):
            await self.retry(lambda: self.exchange.cancel_order(order.symbol, order.order_id))
        for _ in range(5):
            latest = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
            if latest is not None and latest.status.is_final:
                return latest
            await self.clock.sleep(0.5)
        latest = await self.exchange.get_order(order.symbol, order.order_id)
        if latest is None:
            raise ExchangeError(f"{self.exchange.name}: order {order.order_id} vanished", exchange=self.exchange.name)
        return latest

    async def _await_order(self, order: Order, seconds: float, stopping: asyncio.Event) -> Order:
        """Wait up to ``seconds`` until the order is final (woken by the update stream), then read it over REST."""
        if order.status.is_final:
            return order
        waiter = self._waiters.setdefault(order.order_id, _Waiter())
        if waiter.latest is None:
            waiter.latest = self._final_seen.get(order.order_id)  # it may have filled during placement
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
        fresh = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
        return fresh if fresh is not None else (waiter.latest or order)

    # -----------------------------------------------------------------------------------------------------------------
    # closing

    def close_price(self, fill_price: Decimal) -> Decimal:
        assert self.market is not None
        tp = self.grid.take_profit / HUNDRED
        if self.close_side is Side.SELL:
            return self.market.round_price(fill_price * (1 + tp), Side.SELL)
        return self.market.round_price(fill_price * (1 - tp), Side.BUY)

    async def _place_close(self, size: Decimal, fill_price: Decimal | None) -> Order | None:
        assert self.market is not None
        size = self.market.round_size(size)
        if size < self.market.min_size or size <= 0:
            log.warning("filled %s is below the minimum size; no close order", size)
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
        return await self._send_close(size, self.close_price(fill_price))

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
        await self._risk_allows(request, price)  # reduce-only: always allowed, checked for the record
        try:
            order = await self.send_order(self.exchange, request)
        except OrderRejected as exc:
            self.report_error(exc)
            return None
        self.closes_placed += 1
        if not order.status.is_final:
            self.close_orders.append(order)
        return order

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
        if self._applied_action is None or breach.action.rank > self._applied_action.rank:
            await self._apply(breach)
            self._applied_action = breach.action
        await self.clock.wait_event(stopping, self.risk_interval)

    async def _apply(self, breach: RiskBreach) -> None:
        log.warning("%s: applying risk action %s (%s)", self.config.name, breach.action, breach.limit)
        await self.cancel_bot_orders(self.exchange, self.symbol)
        if breach.action is RiskAction.CLOSE_ALL or (
            breach.action is RiskAction.CLOSE_WORST and (not breach.symbols or self.symbol in breach.symbols)
        ):
            await self.close_position(self.exchange, self.symbol)
        await self._refresh_orders()
        await self._refresh_account()

    async def _mismatch_confirmed(self, stopping: asyncio.Event) -> bool:
        """The 60 s position/close-order consistency check, re-checked before it trips."""
        tolerance = 2 * self.quantity
        for attempt in range(self.mismatch_rechecks + 1):
            await self._refresh_account()
            await self._refresh_orders()
            if self.uncovered() > 0 and await self.recover_position("mismatch check") > 0:
                continue  # the bot's own uncovered fill, now covered: look again
            position = self.position_state.size if self.position_state else ZERO
            total = sum((o.remaining for o in self.close_orders), ZERO)
            if abs(abs(position) - total) <= tolerance:
                return False
            log.warning(
                "position %s vs close orders %s (check %d/%d)", position, total, attempt + 1, self.mismatch_rechecks + 1
            )
            if attempt < self.mismatch_rechecks and await self.clock.wait_event(stopping, self.mismatch_recheck_delay):
                return True
        breach = self.risk.position_mismatch(position, total, tolerance)
        if breach is not None:
            self._on_breach(breach)
        return True

    # -----------------------------------------------------------------------------------------------------------------
    # exchange state

    async def _refresh_quote(self) -> Quote:
        """The top of book, checked before use (:func:`quote_problem`): a bad one raises :class:`BadQuote` (after
        the retries), which makes the loop wait: never an order on it, never a crash."""
        self.quote = await self.retry(self._checked_quote, what=f"{self.symbol} quote")
        return self.quote

    async def _checked_quote(self) -> Quote:
        quote = await self.exchange.best_bid_ask(self.symbol)
        problem = quote_problem(quote, self.clock.now())
        if problem is not None:
            raise BadQuote(f"{self.exchange.name} {self.symbol}: {problem}", exchange=self.exchange.name)
        return quote

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
                delay = min(delay * 2, self.error_backoff[-1])

    def _is_close_order(self, order: Order) -> bool:
        if order.side is not self.close_side:
            return False
        return self.client_ids.role_of(order.client_order_id) == ClientIds.CLOSE

    async def _refresh_orders(self) -> None:
        orders = [o for o in await self.retry(lambda: self.exchange.open_orders(self.symbol)) if self.is_ours(o)]
        self.open_order_count = len(orders)
        self.close_orders = [o for o in orders if self._is_close_order(o)]
        self.entry_orders = [o for o in orders if o.side is self.open_side and not o.reduce_only]

    async def _refresh_account(self) -> None:
        self.position_state = await self.retry(lambda: self.exchange.position(self.symbol))
        self.balance_state = await self.retry(self.exchange.balance)

    # order-update stream: fills → events, order changes → waiters ------------------------------------------------------
    def _start_updates(self) -> None:
        if self._updates_task is not None:
            return
        stream = self.exchange.order_updates()
        self._updates_sub = stream
        self._updates_task = asyncio.create_task(self._consume(stream), name=f"{self.config.name}-updates")

    async def _consume(self, stream: AsyncIterator[OrderUpdate]) -> None:
        try:
            async for update in stream:
                self._on_update(update)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the stream is a convenience: REST stays the source of truth
            log.exception("%s: order-update stream ended", self.config.name)
            self.report_error(exc)

    def _on_update(self, update: OrderUpdate) -> None:
        order = update.order
        if order.symbol != self.symbol or not self.client_ids.is_ours(order.client_order_id):
            return
        if update.fill is not None:
            self.fills_seen += 1
            self.book.apply(update.fill)
            self.report_fill(update.fill, partial=order.status is not OrderStatus.FILLED)
        if order.status.is_final:
            self._final_seen[order.order_id] = order
            while len(self._final_seen) > FINAL_SEEN_MAX:
                self._final_seen.popitem(last=False)
        waiter = self._waiters.get(order.order_id)
        if waiter is not None:
            waiter.latest = order
            waiter.event.set()
        if order.status is OrderStatus.FILLED and self.client_ids.role_of(order.client_order_id) == ClientIds.CLOSE:
            log.info("take-profit filled: %s %s @ %s", order.side, order.filled_size, order.avg_fill_price)

    async def stop_updates(self) -> None:
        """Stop consuming the order-update stream (``shutdown`` does it; also for a caller abandoning the strategy)."""
        task, stream = self._updates_task, self._updates_sub
        self._updates_task = self._updates_sub = None
        if task is None:
            return
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):
                await closer()
        # let the consumer drain what was already queued (e.g. the fills of a closePositions exit)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=1.0)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_strategy(
    config: BotConfig,
    exchange: Exchange,
    risk: RiskManager,
    events: StrategyEvents | None = None,
    clock: Clock | None = None,
) -> GridStrategy:
    return GridStrategy(config, exchange, risk, events, clock=clock)
