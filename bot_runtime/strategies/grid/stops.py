"""How the grid stops (SPEC §3 ``grid``, ``onStop``; the risk manager's actions).

Risk: every order goes through :meth:`RiskManager.check_order` (:mod:`.core`); a timer task
(:meth:`Stops.risk_timer`) runs :meth:`RiskManager.check_periodic`. After a breach the strategy stops opening for
good (phase RiskHalted) and cancels (pause) or exits reduce-only (closeAll / closeWorst); it keeps checking so an
emergency can still escalate a pause into an exit (:meth:`Stops.halted`).

Stops (:meth:`Stops.shutdown`): ``cancelEntries`` cancels the bot's entry orders only (their filled part gets its
take-profit, :meth:`Stops.cancel_entries`) and keeps the take-profits resting; it is also what a *restart* does
whatever ``onStop`` says. ``cancelOrders`` cancels every order of the bot, ``closePositions`` then exits reduce-only,
``leave`` does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot_runtime.config import OnStop
from bot_runtime.exchanges.base import AuthenticationError, CredentialsError, ExchangeError
from bot_runtime.risk import RiskAction, RiskBreach
from bot_runtime.strategies.base import ClientIds, StrategyPhase, halt_cancel
from bot_runtime.strategies.grid.core import GridCore
from bot_runtime.strategies.grid.cover import Cover

log = logging.getLogger(__name__)


class Stops:
    """Risk halts (the breach's action, applied once and again when it escalates) and the shutdown by ``onStop``."""

    def __init__(self, core: GridCore, cover: Cover) -> None:
        self.core = core
        self.cover = cover
        self._applied_action: RiskAction | None = None  # the breach action already applied

    async def shutdown(self, on_stop: OnStop) -> None:
        stopped_by_price = self.core.phase is StrategyPhase.STOPPED
        self.core.phase = StrategyPhase.STOPPING
        try:
            if self.core.market is None:
                self.core.market = await self.core.exchange.market(self.core.symbol)
            if on_stop is OnStop.CANCEL_ENTRIES:
                await self.cancel_entries()
            elif on_stop is OnStop.CANCEL_ORDERS:
                await self.core.cancel_bot_orders(self.core.exchange, self.core.symbol)
            elif on_stop is OnStop.CLOSE_POSITIONS:
                await self.core.cancel_bot_orders(self.core.exchange, self.core.symbol)
                await self.core.close_position(self.core.exchange, self.core.symbol)
            with contextlib.suppress(ExchangeError):
                await self.core.refresh_account()
                await self.core.refresh_orders()
        finally:
            await self.core.stop_updates()
            self.core.phase = StrategyPhase.STOPPED
            if not stopped_by_price and self.core.reason is None:
                self.core.reason = f"stopped ({on_stop.value})"

    async def cancel_entries(self) -> int:
        """Cancel the bot's entry orders on the market (take-profits stay), then give what of them filled its
        take-profit. Returns how many entries were cancelled."""
        orders = await self.core.retry(lambda: self.core.exchange.open_orders(self.core.symbol))
        entries = [o for o in orders if self.core.client_ids.role_of(o.client_order_id) == ClientIds.OPEN]
        for order in entries:
            await self.core.cancel_and_read(order)
        if entries:
            await self.cover.recover_position("entry cancelled")
        return len(entries)

    async def risk_timer(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.core.clock.wait_event(stopping, self.core.risk_interval)
            if stopping.is_set():
                return
            try:
                await self.core.refresh_account()
                assert self.core.balance_state is not None
                positions = (
                    [self.core.position_state] if self.core.position_state and self.core.position_state.size else []
                )
                breach = self.core.risk.check_periodic(self.core.balance_state, positions, self.core.open_order_count)
                if breach is not None:
                    self.core.on_breach(breach)
            except (CredentialsError, AuthenticationError) as exc:
                self.core.report_error(exc)
            except ExchangeError as exc:
                self.core.report_error(exc)

    async def halted(self, stopping: asyncio.Event) -> None:
        """Apply the breach's action once (again when it escalates), then wait for the stop."""
        breach = self.core.risk.breach
        assert breach is not None
        self.core.phase = StrategyPhase.RISK_HALTED
        self.core.reason = breach.message
        self.core.blocked.clear()  # the halt says why (phase RiskHalted, status.riskHalt)
        if self._applied_action is None or breach.action.rank > self._applied_action.rank:
            await self._apply(breach)
            self._applied_action = breach.action
        await self.core.clock.wait_event(stopping, self.core.risk_interval)

    async def _apply(self, breach: RiskBreach) -> None:
        """closeAll / closeWorst: cancel the bot's orders and exit reduce-only. pause: no new orders; the entries are
        cancelled, and the take-profits too unless ``onStop`` keeps them (``cancelEntries``, the default, or
        ``leave``): a paused position keeps its exits (issue 18: a pause used to cancel every take-profit). A
        restart under a recorded pause halt does the same (:func:`halt_cancel`)."""
        log.warning("%s: applying risk action %s (%s)", self.core.config.name, breach.action, breach.limit)
        closing = breach.action is RiskAction.CLOSE_ALL or (
            breach.action is RiskAction.CLOSE_WORST and (not breach.symbols or self.core.symbol in breach.symbols)
        )
        if not closing and halt_cancel(breach.action, self.core.config.on_stop) is OnStop.CANCEL_ENTRIES:
            await self.cancel_entries()
        else:
            await self.core.cancel_bot_orders(self.core.exchange, self.core.symbol)
        if closing:
            await self.core.close_position(self.core.exchange, self.core.symbol)
        await self.core.refresh_orders()
        await self.core.refresh_account()
