"""The perp-dex-tools grid algorithm (SPEC §3 ``grid``), re-built on the exchange contract: the loop that composes
the grid's parts.

The parts: :mod:`.core` (the shared state, the venue reads, sends and the order risk check), :mod:`.cover` (the
cover invariant, covering fills, re-covering, unknown outcomes, entries found later), :mod:`.opening` (open and
monitor one entry), :mod:`.stops` (risk halts and ``onStop``); :mod:`.rules` holds the original's arithmetic.

Each loop iteration (every :attr:`~.core.GridCore.loop_interval` seconds):

1. Read the top of book (checked by :class:`~.quotes.QuoteGuard`: a bad one waits, see :mod:`.quotes`), look up
   orders whose outcome is unknown (:mod:`.orders`, :meth:`~.cover.Cover.resolve_unknown`), then the bot's open
   orders and the position (in that order: a take-profit filling between the two reads shows as too much cover, never
   as too little), and adopt resting entries nobody watches. The *close orders* are the resting orders on the close
   side.
2. **The cover invariant** (:meth:`~.cover.Cover.covered`): the resting close size (plus take-profits whose outcome is
   still unknown) covers the position in the grid's direction within the venue's minimum size; until it does nothing
   new opens (see :mod:`.cover`).
3. ``stopPrice`` reached on two good quotes in a row (buy: ask >= stop; sell: bid <= stop) → graceful stop (phase
   Stopped with the reason); ``pausePrice`` reached → no new opens, look again in 5 s.
4. Cooldown by how full the close-order book is (count / maxOrders): >= 2/3 → 2 x waitTime, >= 1/3 → waitTime,
   >= 1/6 → waitTime/2, else waitTime/4, measured since the last open; open at once when the count dropped (a
   take-profit filled); never while count >= maxOrders. A restart with resting close orders starts the cooldown.
5. ``gridStep`` spacing (buy): open only when lowest close / (ask x (1 + tp)) > 1 + gridStep/100 (sell mirrored
   with the highest close and bid x (1 - tp)); always when there is no close order; -100 disables.
6. Open and monitor one entry (:mod:`.opening`): post-only, re-priced on rejection, its fill covered by a
   take-profit (:meth:`~.cover.Cover.cover_fill`).

No order outcome is assumed (:mod:`.orders`); nothing new opens while an entry's outcome is unknown. The update stream
(:mod:`.feed`) is restarted when it ends. Every wait uses the strategy's clock.

Risk (:mod:`.stops`): a timer task runs :meth:`RiskManager.check_periodic`; after a breach the loop only applies the
breach's action (again when it escalates) until stopped.

State is rebuilt from the exchange on start (never from a local file): resting close orders (recognised by their
client ids, see :class:`~bot_runtime.strategies.base.ClientIds`) and the position; a stale open order of a previous
run is cancelled. Then the position is *re-covered* (:meth:`~.cover.Cover.recover_position`). A restart therefore
continues the same grid without doubling close orders and without leaving a fill uncovered.

Stops (:meth:`GridStrategy.shutdown`, :mod:`.stops`): ``cancelEntries`` cancels the bot's entry orders only (their
filled part gets its take-profit) and keeps the take-profits resting; it is also what a *restart* does whatever
``onStop`` says. ``cancelOrders`` cancels every order of the bot, ``closePositions`` then exits reduce-only, ``leave``
does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, OnStop
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    ExchangeError,
    Quote,
    retry_delay,
)
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import ClientIds, StrategyEvents, StrategyPhase, StrategySnapshot
from bot_runtime.strategies.grid import rules
from bot_runtime.strategies.grid.core import ZERO, GridCore
from bot_runtime.strategies.grid.cover import Cover
from bot_runtime.strategies.grid.opening import Opener
from bot_runtime.strategies.grid.quotes import BadQuote
from bot_runtime.strategies.grid.stops import Stops

log = logging.getLogger(__name__)

ORDER_CAP_QUANTITIES = 3  # the built-in per-order cap, in grid quantities (a recovery piece may carry up to 2)


class GridStrategy(GridCore):
    """The grid loop over its parts: :class:`~.cover.Cover`, :class:`~.opening.Opener`, :class:`~.stops.Stops`."""

    def __init__(
        self,
        config: BotConfig,
        exchange: Exchange,
        risk: RiskManager,
        events: StrategyEvents | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, exchange, risk, events, clock=clock)
        self.cover = Cover(self)
        self.opener = Opener(self, self.cover)
        self.stops = Stops(self, self.cover)
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
            uncovered=self.cover.uncovered_size if self.cover.uncovered_since is not None else None,
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
        risk_task = asyncio.create_task(self.stops.risk_timer(stopping), name=f"{self.config.name}-risk")
        try:
            while not stopping.is_set():
                try:
                    if self.risk.halted:
                        await self.stops.halted(stopping)
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
        await self.stops.shutdown(on_stop)

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
        start_price = (await self.first_quote(stopping)).mid
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
        await self.refresh_account()
        if self.balance_state is not None:
            self.risk.observe_equity(self.balance_state.equity)

    async def _recover(self) -> None:
        orders = await self.retry(lambda: self.exchange.open_orders(self.symbol))
        for order in orders:
            if self.client_ids.role_of(order.client_order_id) == ClientIds.OPEN:
                # an entry left resting by a previous run: cancel it; what of it filled is re-covered below
                log.info("recovering stale open order %s", order.order_id)
                await self.cancel_and_read(order)
        await self.cover.recover_position("start")
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

    # -----------------------------------------------------------------------------------------------------------------
    # the loop

    async def _iteration(self, stopping: asyncio.Event) -> bool:
        """One pass of the grid loop; True when the strategy stopped itself (stopPrice)."""
        quote = await self.read_quote()
        await self.cover.resolve_unknown(stopping, self.opener.monitor_open)
        await self.refresh_orders()
        await self.refresh_position()
        if await self.cover.adopt_entries(stopping, self.opener.monitor_open):
            return False  # an entry nobody watched was handled: read everything again
        if quote is not None and self.quotes.confirmed(self._stop_price_reached):  # uncovered or not: onStop decides
            self.phase = StrategyPhase.STOPPED
            self.reason = f"stopPrice {self.grid.stop_price} reached (bid {quote.bid} / ask {quote.ask})"
            log.warning("%s: %s", self.config.name, self.reason)
            return True
        if not await self.cover.covered(stopping):
            return False
        if quote is None:
            self.not_opening("BadQuote", f"waiting for a good quote ({self.quote_problem}): no new opens")
            await self.clock.wait_event(stopping, self.loop_interval)
            return False
        if self._pause_price_reached(quote):
            self.not_opening("PausePrice", f"pausePrice {self.grid.pause_price} reached: no new opens")
            await self.clock.wait_event(stopping, self.pause_sleep)
            return False
        if any(not u.request.reduce_only for u in self.unresolved.values()):
            ids = ", ".join(cid for cid, u in self.unresolved.items() if not u.request.reduce_only)
            self.not_opening(
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
        await self.opener.open_and_monitor(stopping)
        return False

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

    @property
    def uncovered_since(self) -> float | None:
        """Since when (monotonic) part of the position has had no take-profit (None: covered); see :mod:`.cover`."""
        return self.cover.uncovered_since


def create_strategy(
    config: BotConfig,
    exchange: Exchange,
    risk: RiskManager,
    events: StrategyEvents | None = None,
    clock: Clock | None = None,
) -> GridStrategy:
    return GridStrategy(config, exchange, risk, events, clock=clock)
