"""What the bot process reports about itself: its phase, the strategy's sampled snapshot, and the status built from both.

- The phase is the process's (``Pending`` → ``Starting`` → ``Running``/``Paused``/``RiskHalted`` → ``Stopping`` →
  ``Stopped``/``Failed``); :meth:`Reporting.set_phase` logs a change, sets the metric and publishes.
- The sampler (:meth:`Reporting.sample`, every ``sample_interval``) reads the strategy's snapshot (cheap, no I/O) into
  the metrics and the status, beats the heartbeat that ``/healthz`` checks, and follows the strategy's phase hint
  (``Running`` ↔ ``RiskHalted``) unless a recorded halt holds.
- The status (:meth:`Reporting.current_status`): phase, heartbeat, the snapshot's position/PnL/orders/legs/entriesBlocked, and
  ``lastError``: the halt notice first while halted, then the last error, redacted. ``legs`` are the previous
  process's (read at start) until the strategy reports its own. :class:`HaltState` is what it says of the persistent
  risk halt; :mod:`.risk_halt` fills it (Kubernetes only).
- Where it goes: the TradingBot's ``status`` through a rate-limited :class:`~bot_runtime.status.StatusReporter` while
  the process holds the lease, or ``status`` lines on stdout outside Kubernetes. Before the reporter exists (waiting
  for the lease) and after it is detached (lease lost: the status belongs to the new holder) nothing is published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot_runtime.logs import SecretRedactor
from bot_runtime.metrics import BotMetrics
from bot_runtime.process.events import ProcessEvents
from bot_runtime.risk import RiskBaselines
from bot_runtime.status import (
    BotStatus,
    KubeStatusSink,
    Leg,
    LogStatusSink,
    Phase,
    PreflightRecord,
    RiskHaltRecord,
    StatusReporter,
)
from bot_runtime.strategies.base import Strategy, StrategyPhase, StrategySnapshot

log = logging.getLogger("perpdex.bot")


ZERO = Decimal(0)


@dataclass(frozen=True)
class PnlCarry:
    """``status.realizedPnl`` / ``status.feesPaid`` as the previous process left them."""

    realized_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> PnlCarry:
        def number(key: str) -> Decimal:
            try:
                value = Decimal(str(status.get(key) or 0))
            except ArithmeticError:
                log.warning("status.%s is not a number: starting it from 0", key)
                return ZERO
            return value if value.is_finite() else ZERO

        return cls(realized_pnl=number("realizedPnl"), fees_paid=number("feesPaid"))


@dataclass
class HaltState:
    """What the status says of the persistent risk halt (written by :mod:`.risk_halt`, Kubernetes only)."""

    checked: bool = False  # status.riskHalt was read at start: the process owns the field now
    record: RiskHaltRecord | None = None  # what status.riskHalt says (None: no halt recorded)
    held: bool = False  # a recorded halt holds: no trading in this process
    notice: str | None = None  # heads lastError while halted: why, and how to clear it


class Reporting:
    def __init__(
        self,
        *,
        metrics: BotMetrics,
        events: ProcessEvents,
        redactor: SecretRedactor,
        strategy: Callable[[], Strategy | None],
        ticker: str | None,
        previous_legs: tuple[Leg, ...] | None,
        carried: PnlCarry | None = None,
    ) -> None:
        self.metrics = metrics
        self.events = events
        self.redactor = redactor
        self.strategy = strategy
        self.ticker = ticker
        self.phase: Phase = "Pending"
        self.reason: str | None = None
        self.snapshot: StrategySnapshot | None = None
        self.last_sample = time.monotonic()
        self.halt = HaltState()
        # status.legs of the previous process (read with status.riskHalt at start); None until read: the field is
        # not written before, so a restart that dies early cannot erase the pairs' history
        self.previous_legs = previous_legs
        # realizedPnl/feesPaid of the earlier processes (read at start in Kubernetes; zero outside): this process
        # adds its own; None until read, so nothing is written over them before
        self.carried = carried
        self.reporter: StatusReporter | None = None
        self.preflight: PreflightRecord | None = None  # this process's preflight (:mod:`.preflight_gate`)
        # status.riskBaselines of the previous process (read at start in Kubernetes): restored into the risk manager
        # and written back until the strategy's own are known
        self.previous_baselines: RiskBaselines | None = None

    # phase -----------------------------------------------------------------------------------------------------------
    def set_phase(self, phase: Phase, reason: str | None = None) -> None:
        if phase != self.phase:
            log.info("phase", extra={"phase": phase, "previous": self.phase, "reason": reason})
        self.phase = phase
        self.reason = reason
        self.metrics.set_phase(phase)
        self.publish()

    def settle(self, phase: Phase, reason: str | None = None) -> None:
        """Set the phase without publishing (the caller writes the status itself)."""
        self.phase = phase
        self.reason = reason
        self.metrics.set_phase(phase)

    # status ----------------------------------------------------------------------------------------------------------
    def current_status(self, **override: Any) -> BotStatus:
        snap = self.snapshot
        error = self.events.last_error or (snap.last_error if snap else None)
        if self.halt.notice:
            error = f"{self.halt.notice} | last error: {error}" if error else self.halt.notice
        fields: dict[str, Any] = {
            "phase": self.phase,
            "last_heartbeat": datetime.now(UTC),
            "last_error": error,
            "risk_halt": self.halt.record,
            "risk_halt_checked": self.halt.checked,
            "legs": self.previous_legs,  # until the strategy reports its own
            "preflight": self.preflight,
            "risk_baselines": self.previous_baselines,
        }
        if self.carried is not None:
            fields.update(realized_pnl=self.carried.realized_pnl, fees_paid=self.carried.fees_paid)
        strategy = self.strategy()
        if strategy is not None and (baselines := strategy.risk.baselines()) is not None:
            fields["risk_baselines"] = baselines
        if strategy is not None:
            fields["position_cap_usd"] = strategy.risk.position_cap
        if snap is not None:
            if self.carried is not None:
                fields.update(
                    realized_pnl=self.carried.realized_pnl + snap.realized_pnl,
                    fees_paid=self.carried.fees_paid + (snap.fees_paid or ZERO),
                )
            fields.update(
                position=snap.position,
                avg_entry_price=snap.avg_entry_price,
                unrealized_pnl=snap.unrealized_pnl,
                funding_pnl=snap.funding_pnl,
                open_orders=snap.open_orders,
                uncovered=snap.uncovered,
                legs=tuple(Leg.model_validate(leg.model_dump()) for leg in snap.legs),
                entries_blocked=snap.entries_blocked,
            )
        fields.update(override)
        if fields.get("last_error"):
            fields["last_error"] = self.redactor.redact(str(fields["last_error"]))
        return BotStatus(**fields)

    def publish(self, status: BotStatus | None = None) -> None:
        """Hand ``status`` (default: the current one) to the reporter, if there is one."""
        if self.reporter is not None:
            self.reporter.publish(status if status is not None else self.current_status())

    # sampling --------------------------------------------------------------------------------------------------------
    def sample(self) -> None:
        """Read the strategy's snapshot into the metrics and the status (cheap, no I/O)."""
        self.last_sample = time.monotonic()
        self.metrics.beat()
        strategy = self.strategy()
        if strategy is None:
            self.publish()
            return
        try:
            snap = strategy.snapshot()
        except Exception as exc:  # a broken snapshot must not stop the sampler
            log.exception("strategy snapshot failed")
            self.events.last_error = f"snapshot: {type(exc).__name__}: {exc}"
            return
        self.snapshot = snap
        self.metrics.set_state(
            symbol=snap.symbol or self.ticker or "",
            position=snap.position,
            avg_entry_price=snap.avg_entry_price,
            realized_pnl=(self.carried.realized_pnl if self.carried is not None else ZERO) + snap.realized_pnl,
            unrealized_pnl=snap.unrealized_pnl,
            funding_pnl=snap.funding_pnl,
            open_orders=snap.open_orders,
            failed_entry_cost=snap.failed_entry_cost,
        )
        if self.phase in {"Running", "RiskHalted"} and not self.halt.held:
            hinted: Phase = "RiskHalted" if snap.phase is StrategyPhase.RISK_HALTED else "Running"
            if hinted != self.phase:
                self.set_phase(hinted, snap.reason)
                return
        self.publish()

    async def run_sampler(self, interval: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(interval)

    # where the status goes -------------------------------------------------------------------------------------------
    def report_to_log(self, *, min_interval: float) -> None:
        self.reporter = StatusReporter(LogStatusSink(), min_interval=min_interval)
        self.reporter.start()

    def report_to_tradingbot(self, client: Any, namespace: str, name: str, *, min_interval: float) -> None:
        self.reporter = StatusReporter(
            KubeStatusSink(client, namespace, name),
            min_interval=min_interval,
            on_result=lambda result: self.metrics.status_patches.labels(result).inc(),
        )
        self.reporter.start()

    def detach(self) -> StatusReporter | None:
        """Stop publishing (the status belongs to another process now); the caller stops the returned reporter."""
        reporter, self.reporter = self.reporter, None
        return reporter

    async def flush(self, final: BotStatus, *, within: Callable[[], float]) -> None:
        """Write the final status now, retrying for ``within()`` seconds (asked only when there is a reporter)."""
        if self.reporter is None:
            return
        landed = await self.reporter.flush(final, within_s=within())
        if not landed:
            log.error("the final status could not be written")

    async def write_once_to_log(self) -> None:
        await LogStatusSink().write(self.current_status(), final=True)

    async def write_once_to_tradingbot(self, client: Any, namespace: str, name: str, *, within_s: float) -> bool:
        reporter = StatusReporter(KubeStatusSink(client, namespace, name))
        return await reporter.flush(self.current_status(), within_s=within_s)
