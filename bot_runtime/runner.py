"""``perpdex bot``: one trading bot process.

::

    perpdex bot --config bot.yaml [--metrics-port 8080] [--trade-log PATH]
    perpdex bot --exchange lighter --ticker BTC --quantity 0.01 ...   # the original runbot.py flags

Lifecycle (SPEC §5):

1. Load the config (a TradingBot manifest, the rendered spec of the operator's ConfigMap, or the legacy flags), set
   up redacted structured logging, serve ``/healthz`` ``/readyz`` ``/metrics``.
2. Build the exchange client(s) through the registry: credentials are validated before anything else, and a missing
   one is reported by its env var name, never its value.
3. In Kubernetes (``PERPDEX_BOT_NAME`` and ``PERPDEX_NAMESPACE`` set): wait for the bot's Lease (phase Starting,
   ``/readyz`` 503, no status writes — the holder owns the status), then keep renewing it. Losing it stops opening at
   once and exits 1 (the pod restarts and waits for the lease again); orders are left to the new holder.
   Then read the bot's own TradingBot (retried until it answers: no trading without it) for a recorded risk halt
   (``status.riskHalt``, see below).
4. Connect, build the risk manager and the strategy, trade. A sampler publishes the strategy snapshot to the metrics
   and the status reporter (the TradingBot's ``status``, or ``status`` lines on stdout outside Kubernetes).
5. SIGTERM/SIGINT → stop opening, ``strategy.shutdown(onStop)``, read the venue's open orders and position back,
   write the final status (phase Stopped) and exit 0, everything bounded to the pod's grace period (the operator
   passes it as ``PERPDEX_GRACE_SECONDS``).
   ``paused: true`` → no trading: apply onStop, phase Paused, idle until signalled.

Risk halts survive restarts (Kubernetes only). A breach sets phase RiskHalted, the strategy applies ``onBreach``, and
the bot records ``status.riskHalt`` = {limit, message, action, at, generation}: ``generation`` is the TradingBot's
``metadata.generation`` at the moment of the halt (read from the API; the one seen at start if that read fails).
A process that starts while ``riskHalt.generation`` is the current generation stays halted: phase RiskHalted, no
order at all, ``lastError`` says why and how to clear it. It cancels the bot's own resting orders once (every onBreach
action began with that, so this only restores the state the halt had reached, e.g. after a crash in the middle of
it); it does not re-run a closeAll exit, and it does not apply onStop when it stops (it trades nothing; the process
that halted applied it). Clearing = changing the spec (a new generation: raise the limit, or set ``paused: true``
then ``false``): the next start writes ``riskHalt: null`` and trades with fresh risk baselines. A restart, a pod
deletion or ``kubectl rollout restart`` change no generation and keep the halt. Outside Kubernetes there is no record:
a halt lasts as long as the process, as before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot_runtime.config import BotConfig, ConfigError, OnStop, StrategyKind, load_config
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    ExchangeError,
    Fill,
    OrderRequest,
    with_retries,
)
from bot_runtime.http import Check, HealthServer, LoopMonitor
from bot_runtime.kube import resource_path
from bot_runtime.legacy_flags import add_legacy_arguments, config_from_legacy, legacy_requested
from bot_runtime.logs import SecretRedactor, credential_env_names, setup_logging
from bot_runtime.metrics import CONTENT_TYPE, BotMetrics
from bot_runtime.notify import DailySummary, NotificationDispatcher, NotifyEvent, build_dispatcher
from bot_runtime.risk import RiskBreach, RiskManager
from bot_runtime.status import (
    GROUP_VERSION,
    BotStatus,
    KubeStatusSink,
    LeaseElector,
    Leg,
    LogStatusSink,
    Phase,
    RiskHaltCheck,
    RiskHaltRecord,
    StatusReporter,
    legs_on_start,
    risk_halt_on_start,
)
from bot_runtime.strategies.base import (
    LegSnapshot,
    OrderResult,
    Strategy,
    StrategyPhase,
    StrategySnapshot,
)
from bot_runtime.strategies.registry import build_strategy
from bot_runtime.trade_log import TradeLog, default_path

log = logging.getLogger("perpdex.bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

# The stop sequence must finish inside the pod's terminationGracePeriodSeconds: the operator sets it (by onStop and
# strategy, perpdex_operator.builders.tradingbot.grace_seconds) and passes the same value as ``PERPDEX_GRACE_SECONDS``;
# the table is only the fallback without it (outside Kubernetes). Each step gets at most its cap and never eats the
# reserve of the steps after it.
GRACE_BY_ON_STOP = {OnStop.LEAVE: 20.0, OnStop.CANCEL_ORDERS: 30.0, OnStop.CLOSE_POSITIONS: 90.0}
GRACE_MARGIN_S = 5.0  # kept free for the interpreter to exit
STOP_RUN_S = 10.0  # strategy.run returns after ``stopping`` is set
HALT_GENERATION_WAIT_S = 2.0  # the final status waits this long at most for the halt's generation read
OBSERVE_S = 5.0  # read open orders and position back from the venue
FLUSH_S = 5.0  # final status
NOTIFY_DRAIN_S = 3.0
RELEASE_S = 2.0
PAUSE_ON_STOP_S = 120.0  # onStop of a paused bot (no grace period running)
AFTER_SHUTDOWN_RESERVE_S = 9.0  # observe + flush + release + notifications, at their usual speed

LIVENESS_LAG_S = 30.0  # event-loop stall that fails /healthz
LIVENESS_SAMPLER_S = 60.0  # the sampler must have run this recently


@dataclass
class RunOptions:
    metrics_port: int = 8080
    metrics_host: str = "0.0.0.0"  # noqa: S104 - probes and Prometheus reach the pod IP
    trade_log: Path | None = None
    status_interval: float = 5.0
    sample_interval: float = 1.0
    telegram_api_base: str | None = None
    lark_api_base: str | None = None


class Budget:
    """A deadline for the stop sequence."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.end = time.monotonic() + total_s

    def left(self, *, cap: float, reserve: float = 0.0) -> float:
        """Seconds for the next step: at most ``cap``, leaving ``reserve`` for later steps (at least 0.1)."""
        return max(0.1, min(cap, self.end - time.monotonic() - reserve))


def grace_seconds(on_stop: OnStop, env: Mapping[str, str]) -> float:
    raw = env.get("PERPDEX_GRACE_SECONDS", "").strip()
    try:
        grace = float(raw) if raw else GRACE_BY_ON_STOP[on_stop]
    except ValueError:
        grace = GRACE_BY_ON_STOP[on_stop]
    return max(5.0, grace - GRACE_MARGIN_S)


@dataclass
class KubeTarget:
    """Where the bot lives in Kubernetes (from the env the operator sets)."""

    name: str
    namespace: str
    identity: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KubeTarget | None:
        name, namespace = env.get("PERPDEX_BOT_NAME", "").strip(), env.get("PERPDEX_NAMESPACE", "").strip()
        if not name or not namespace:
            return None
        # the pod name (downward API) is stable across container restarts; outside a pod, pid-qualified so two
        # processes on one host never share an identity (a shared identity would let both "hold" the lease)
        identity = env.get("POD_NAME", "").strip() or f"{socket.gethostname()}-{os.getpid()}"
        return cls(name=name, namespace=namespace, identity=identity)


def halt_notice(record: RiskHaltRecord, target: KubeTarget, *, restarted: bool) -> str:
    """``lastError`` of a halted bot in Kubernetes: why it is halted, and how to clear the halt."""
    what = f"risk limit {record.limit} breached ({record.action}): {record.message}"
    clear = (
        f"change the spec to trade again (raise the limit, or kubectl patch tradingbot {target.name} -n"
        f' {target.namespace} --type=merge -p \'{{"spec":{{"paused":true}}}}\' then false); a restart keeps it'
    )
    if restarted:
        return (
            f"still halted: {what} at {record.at.strftime('%Y-%m-%dT%H:%M:%SZ')} (generation {record.generation});"
            f" no orders; {clear}"
        )
    return f"{what}; recorded in status.riskHalt; {clear}"


# ---------------------------------------------------------------------------------------------------------------------
# the strategy observer


@dataclass
class ProcessEvents:
    """What the process does with the strategy's events: metrics, trade log, notifications, lastError."""

    metrics: BotMetrics
    trade_log: TradeLog
    notifier: NotificationDispatcher
    redactor: SecretRedactor
    last_error: str | None = None
    breach: RiskBreach | None = None
    on_halt: Callable[[RiskBreach], None] | None = None  # the process records the halt (status.riskHalt)
    fills_since_summary: int = 0
    volume_since_summary: Decimal = Decimal(0)
    fees_since_summary: Decimal = Decimal(0)
    _last_error_notified: dict[str, float] = field(default_factory=dict)

    def on_fill(self, fill: Fill) -> None:
        self.metrics.observe_fill(fill)
        self.trade_log.record(fill)
        self.fills_since_summary += 1
        self.volume_since_summary += fill.price * fill.size
        self.fees_since_summary += fill.fee
        self.notifier.notify(
            NotifyEvent.FILL,
            f"fill {fill.side.value.upper()} {fill.size} {fill.symbol} @ {fill.price}",
            f"order {fill.order_id}, fee {fill.fee} ({fill.liquidity.value})",
        )

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        self.metrics.observe_order(str(result), latency_s)
        log.info(
            "order",
            extra={
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": order.side.value,
                "size": str(order.size),
                "price": str(order.price) if order.price is not None else None,
                "type": order.order_type.value,
                "reduce_only": order.reduce_only,
                "result": str(result),
                "latency_ms": round(latency_s * 1000, 1),
            },
        )

    def on_error(self, exc: BaseException) -> None:
        self.metrics.observe_error(exc)
        text = self.redactor.redact(f"{type(exc).__name__}: {exc}")[:1000]
        self.last_error = text
        log.warning("exchange error", extra={"error": text})
        now = time.monotonic()
        key = type(exc).__name__
        # the same kind of error at most once per 10 minutes in the chat (the log has every one)
        if now - self._last_error_notified.get(key, float("-inf")) >= 600:
            self._last_error_notified[key] = now
            self.notifier.notify(NotifyEvent.ERROR, f"error: {key}", text)

    def on_risk(self, breach: RiskBreach) -> None:
        self.breach = breach
        self.metrics.risk_events.labels(str(breach.limit)).inc()
        log.error(
            "risk limit breached",
            extra={"limit": str(breach.limit), "action": str(breach.action), "detail": breach.message},
        )
        self.notifier.notify(
            NotifyEvent.RISK, f"risk halt: {breach.limit} ({breach.action})", self.redactor.redact(breach.message)
        )
        if self.on_halt is not None:
            try:
                self.on_halt(breach)
            except Exception:  # recording the halt must never break the strategy's own reaction to it
                log.exception("recording the risk halt failed")

    def summary(self, snapshot: StrategySnapshot | None) -> str:
        lines = []
        if snapshot is not None:
            lines.append(f"position {snapshot.position} {snapshot.symbol or ''}".rstrip())
            lines.append(
                f"realized PnL {snapshot.realized_pnl}, unrealized {snapshot.unrealized_pnl},"
                f" funding {snapshot.funding_pnl}"
            )
            lines.append(f"open orders {snapshot.open_orders}")
        lines.append(
            f"fills {self.fills_since_summary}, volume {self.volume_since_summary:.2f}, fees {self.fees_since_summary}"
        )
        self.fills_since_summary = 0
        self.volume_since_summary = Decimal(0)
        self.fees_since_summary = Decimal(0)
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------------
# the process


class BotProcess:
    def __init__(
        self,
        config: BotConfig,
        options: RunOptions,
        *,
        redactor: SecretRedactor,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.redactor = redactor
        self.kube_target = KubeTarget.from_env(self.env)
        self.bot_name = self.kube_target.name if self.kube_target else config.name
        self.metrics = BotMetrics(
            bot=self.bot_name,
            strategy=str(config.strategy),
            exchange=config.exchange or ",".join(config.exchanges_used),
            ticker=config.ticker,
        )
        self.notifier = build_dispatcher(
            self.bot_name,
            self.env,
            events=config.notifications.events,
            want_telegram=True if config.notifications.telegram else None,
            want_lark=True if config.notifications.lark else None,
            telegram_api_base=options.telegram_api_base,
            lark_api_base=options.lark_api_base,
            on_result=lambda channel, result: self.metrics.notifications.labels(channel, result).inc(),
        )
        self.events = ProcessEvents(
            metrics=self.metrics,
            trade_log=TradeLog(options.trade_log or default_path(self.bot_name)),
            notifier=self.notifier,
            redactor=redactor,
            on_halt=self._record_halt,
        )
        self.stopping = asyncio.Event()  # set by SIGTERM/SIGINT or a lost lease: stop opening
        self.lease_lost = asyncio.Event()
        self.phase: Phase = "Pending"
        self.reason: str | None = None
        self.exchanges: dict[str, Exchange] = {}
        self.connected = False  # for /readyz: connected and not stopping
        self.was_connected = False  # the venue can be read back after onStop
        self.strategy: Strategy | None = None
        self.snapshot: StrategySnapshot | None = None
        self.last_sample = time.monotonic()
        self.loop_monitor = LoopMonitor()
        self.lease: LeaseElector | None = None
        self.reporter: StatusReporter | None = None
        self._kube: Any = None  # bot_runtime.kube.KubeClient, imported only in Kubernetes
        self._tasks: list[asyncio.Task[Any]] = []
        self.budget: Budget | None = None  # starts with the stop sequence
        # the persistent risk halt (Kubernetes): see the module docstring
        self.start_generation: int | None = None  # the TradingBot's metadata.generation read at start
        self.risk_halt_checked = False  # status.riskHalt was read at start: the process owns the field now
        self.risk_halt: RiskHaltRecord | None = None  # what status.riskHalt says (None: no halt recorded)
        self.halted_at_start = False  # a recorded halt holds: no trading in this process
        self.halt_notice: str | None = None  # heads lastError while halted: why, and how to clear it
        self._halt_breach: RiskBreach | None = None
        self._halt_generation: int | None = None
        self._halt_generation_read: asyncio.Task[None] | None = None
        # status.legs of the previous process (read with status.riskHalt at start); None until read: the field is
        # not written before, so a restart that dies early cannot erase the pairs' history
        self.previous_legs: tuple[Leg, ...] | None = None if self.kube_target is not None else ()
        self.health = HealthServer(
            host=options.metrics_host,
            port=options.metrics_port,
            liveness=self.liveness,
            readiness=self.readiness,
            metrics=self.metrics.render,
            metrics_content_type=CONTENT_TYPE,
        )

    # probes --------------------------------------------------------------------------------------------------------
    def liveness(self) -> Check:
        reasons = []
        stalled = self.loop_monitor.stalled_for()
        if stalled > LIVENESS_LAG_S:
            reasons.append(f"event loop stalled for {stalled:.0f}s")
        since = time.monotonic() - self.last_sample
        if since > LIVENESS_SAMPLER_S:
            reasons.append(f"no heartbeat for {since:.0f}s")
        return Check(not reasons, tuple(reasons), {"phase": self.phase})

    def readiness(self) -> Check:
        reasons = []
        if not self.connected:
            reasons.append("not connected to the exchange")
        if self.kube_target is not None and (self.lease is None or not self.lease.held):
            holder = self.lease.holder if self.lease is not None else None
            reasons.append(f"not holding the lease (holder: {holder})" if holder else "not holding the lease")
        if self.stopping.is_set():
            reasons.append("stopping")
        return Check(not reasons, tuple(reasons), {"phase": self.phase})

    # phase and status ----------------------------------------------------------------------------------------------
    def set_phase(self, phase: Phase, reason: str | None = None) -> None:
        if phase != self.phase:
            log.info("phase", extra={"phase": phase, "previous": self.phase, "reason": reason})
        self.phase = phase
        self.reason = reason
        self.metrics.set_phase(phase)
        self.publish()

    def current_status(self, **override: Any) -> BotStatus:
        snap = self.snapshot
        error = self.events.last_error or (snap.last_error if snap else None)
        if self.halt_notice:
            error = f"{self.halt_notice} | last error: {error}" if error else self.halt_notice
        fields: dict[str, Any] = {
            "phase": self.phase,
            "last_heartbeat": datetime.now(UTC),
            "last_error": error,
            "risk_halt": self.risk_halt,
            "risk_halt_checked": self.risk_halt_checked,
            "legs": self.previous_legs,  # until the strategy reports its own
        }
        if snap is not None:
            fields.update(
                position=snap.position,
                avg_entry_price=snap.avg_entry_price,
                realized_pnl=snap.realized_pnl,
                unrealized_pnl=snap.unrealized_pnl,
                funding_pnl=snap.funding_pnl,
                open_orders=snap.open_orders,
                legs=tuple(Leg.model_validate(leg.model_dump()) for leg in snap.legs),
            )
        fields.update(override)
        if fields.get("last_error"):
            fields["last_error"] = self.redactor.redact(str(fields["last_error"]))
        return BotStatus(**fields)

    def publish(self) -> None:
        if self.reporter is not None:
            self.reporter.publish(self.current_status())

    def sample(self) -> None:
        """Read the strategy's snapshot into the metrics and the status (cheap, no I/O)."""
        self.last_sample = time.monotonic()
        self.metrics.beat()
        if self.strategy is None:
            self.publish()
            return
        try:
            snap = self.strategy.snapshot()
        except Exception as exc:  # a broken snapshot must not stop the sampler
            log.exception("strategy snapshot failed")
            self.events.last_error = f"snapshot: {type(exc).__name__}: {exc}"
            return
        self.snapshot = snap
        self.metrics.set_state(
            symbol=snap.symbol or self.config.ticker or "",
            position=snap.position,
            avg_entry_price=snap.avg_entry_price,
            realized_pnl=snap.realized_pnl,
            unrealized_pnl=snap.unrealized_pnl,
            funding_pnl=snap.funding_pnl,
            open_orders=snap.open_orders,
        )
        if self.phase in {"Running", "RiskHalted"} and not self.halted_at_start:
            hinted: Phase = "RiskHalted" if snap.phase is StrategyPhase.RISK_HALTED else "Running"
            if hinted != self.phase:
                self.set_phase(hinted, snap.reason)
                return
        self.publish()

    async def _sampler(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self.options.sample_interval)

    # building ------------------------------------------------------------------------------------------------------
    def build_exchanges(self) -> None:
        """Create the clients (no network yet); raises CredentialsError naming missing env keys."""
        names = self.config.exchanges_used
        for name in names:
            self.exchanges[name] = registry.create_exchange(name, self.config.venue_options(name), self.env)

    async def connect(self) -> bool:
        """Connect every client, retrying transient failures until stopping; False when stopped first."""
        for name, exchange in self.exchanges.items():
            delay = 1.0
            while True:
                if self.stopping.is_set():
                    return False
                try:
                    await exchange.connect()
                    log.info("connected", extra={"exchange": name})
                    break
                except (CredentialsError, AuthenticationError):
                    raise
                except (ExchangeError, OSError) as exc:
                    self.events.on_error(exc)
                    log.warning("connect failed, retrying", extra={"exchange": name, "retry_in_s": delay})
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stopping.wait(), delay)
                    delay = min(delay * 2, 30.0)
        self.connected = self.was_connected = True
        return True

    def build_strategy(self) -> Strategy:
        exchange: Exchange | dict[str, Exchange]
        if self.config.strategy is StrategyKind.GRID:
            exchange = self.exchanges[self.config.exchange or ""]
        else:
            exchange = dict(self.exchanges)
        return build_strategy(self.config, exchange, RiskManager(self.config.risk), self.events)

    # lifecycle -----------------------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.info("already stopping", extra={"signal": sig.name})
            return
        log.info("signal received: stopping", extra={"signal": sig.name})
        self._start_budget()
        self.stopping.set()

    def _start_budget(self) -> Budget:
        if self.budget is None:
            self.budget = Budget(grace_seconds(self.config.on_stop, self.env))
            log.info("stop budget", extra={"seconds": self.budget.total_s})
        return self.budget

    def _on_lease_lost(self, reason: str) -> None:
        log.error("lease lost: no new orders; exiting so the pod waits for the lease again", extra={"reason": reason})
        self.metrics.lease_held.set(0)
        self.lease_lost.set()
        self.stopping.set()
        if self.reporter is not None:  # the status belongs to the new holder now
            reporter, self.reporter = self.reporter, None
            self._tasks.append(asyncio.create_task(reporter.stop(), name="reporter-stop"))

    async def run(self) -> int:
        self._install_signal_handlers()
        self.loop_monitor.start()
        try:
            await self.health.start()
        except OSError as exc:
            log.error(
                "cannot serve /healthz /readyz /metrics", extra={"port": self.options.metrics_port, "error": str(exc)}
            )
            await self.loop_monitor.stop()
            return EXIT_FAILED
        try:
            return await self._run()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            budget = self._start_budget()
            await self.notifier.close(budget.left(cap=NOTIFY_DRAIN_S, reserve=0.5))
            for exchange in self.exchanges.values():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(exchange.close(), 5)
            if self._kube is not None:
                with contextlib.suppress(Exception):
                    await self._kube.close()
            await self.health.stop()
            await self.loop_monitor.stop()

    async def _run(self) -> int:
        self.phase = "Starting"
        self.metrics.set_phase("Starting")
        self._tasks.append(asyncio.create_task(self._sampler(), name="sampler"))
        log.info(
            "starting",
            extra={
                "bot": self.bot_name,
                "strategy": str(self.config.strategy),
                "exchanges": self.config.exchanges_used,
                "ticker": self.config.ticker,
                "kubernetes": self.kube_target is not None,
            },
        )
        try:
            self.build_exchanges()
        except (CredentialsError, ImportError, ValueError) as exc:
            return await self._fail_before_lease(exc)

        if self.kube_target is not None:
            try:
                acquired = await self._acquire_lease()
            except Exception as exc:  # no usable cluster configuration
                log.error("cannot use the Kubernetes API", extra={"error": self.redactor.redact(repr(exc))[:500]})
                return EXIT_FAILED
            if not acquired:
                log.info("stopped while waiting for the lease")
                return EXIT_OK
        else:
            self.reporter = StatusReporter(LogStatusSink(), min_interval=self.options.status_interval)
            self.reporter.start()
        self.set_phase("Starting")
        await self.notifier.start()

        if self.kube_target is not None:
            check = await self._read_risk_halt()
            if check is None:
                if self.lease_lost.is_set():
                    return EXIT_FAILED
                return await self._finish("Stopped", "stopped before connecting", apply_on_stop=False)
            self._apply_risk_halt_check(check)

        try:
            if not await self.connect():
                if self.halted_at_start:
                    return await self._finish("RiskHalted", self.halt_notice or "risk halt", apply_on_stop=False)
                return await self._finish("Stopped", "stopped before connecting", apply_on_stop=False)
            self.strategy = self.build_strategy()
            self.strategy.remember_legs(
                [LegSnapshot.model_validate(leg.model_dump(exclude_none=True)) for leg in self.previous_legs or ()]
            )
        except (CredentialsError, AuthenticationError) as exc:
            self.events.on_error(exc)
            return await self._finish("Failed", str(exc), apply_on_stop=False, code=EXIT_FAILED)
        except Exception as exc:
            log.exception("start-up failed")
            self.events.on_error(exc)
            return await self._finish("Failed", f"start-up failed: {exc}", apply_on_stop=False, code=EXIT_FAILED)

        if self.halted_at_start:
            return await self._stay_halted()
        if self.config.paused:
            return await self._paused()
        return await self._trade()

    async def _fail_before_lease(self, exc: BaseException) -> int:
        """Credentials/SDK problem found before the lease: log it; write the status only if the lease is free."""
        message = self.redactor.redact(str(exc))
        log.error("cannot start", extra={"error": message})
        self.events.last_error = message
        self.phase = "Failed"
        self.metrics.set_phase("Failed")
        if self.kube_target is None:
            await LogStatusSink().write(self.current_status(), final=True)
            return EXIT_FAILED
        client = self._kube_client()
        lease = LeaseElector(client, self.kube_target.namespace, self.kube_target.name, self.kube_target.identity)
        with contextlib.suppress(Exception):
            if await asyncio.wait_for(lease.try_acquire_or_renew(), 10):
                reporter = StatusReporter(KubeStatusSink(client, self.kube_target.namespace, self.kube_target.name))
                await reporter.flush(self.current_status(), within_s=FLUSH_S)
                await lease.release()
        return EXIT_FAILED

    def _kube_client(self) -> Any:
        if self._kube is None:
            from bot_runtime.kube import KubeClient, KubeConfig

            self._kube = KubeClient(KubeConfig.load(), timeout=10.0, user_agent=f"perpdex-bot/{self.bot_name}")
        return self._kube

    async def _acquire_lease(self) -> bool:
        assert self.kube_target is not None
        target = self.kube_target
        client = self._kube_client()
        self.lease = LeaseElector(client, target.namespace, target.name, target.identity)
        log.info("acquiring the lease", extra={"lease": target.name, "identity": target.identity})
        acquired = await self.lease.acquire(self.stopping)
        if not acquired:
            return False
        self.metrics.lease_held.set(1)
        self._tasks.append(asyncio.create_task(self.lease.keep(self._on_lease_lost), name="lease"))
        self.reporter = StatusReporter(
            KubeStatusSink(client, target.namespace, target.name),
            min_interval=self.options.status_interval,
            on_result=lambda result: self.metrics.status_patches.labels(result).inc(),
        )
        self.reporter.start()
        return True

    # the persistent risk halt ---------------------------------------------------------------------------------------
    def _tradingbot_path(self) -> str:
        assert self.kube_target is not None
        return resource_path(GROUP_VERSION, "tradingbots", self.kube_target.namespace, self.kube_target.name)

    async def _get_tradingbot(self) -> dict[str, Any]:
        obj: dict[str, Any] = await self._kube_client().get(self._tradingbot_path())
        return obj

    async def _read_risk_halt(self) -> RiskHaltCheck | None:
        """GET the bot's own TradingBot, retrying until it answers; None when stopped first. Fails closed: without
        the answer the bot does not trade."""
        delay = 1.0
        failed = False
        while not self.stopping.is_set():
            try:
                obj = await self._get_tradingbot()
                check = risk_halt_on_start(obj)
                self.previous_legs = legs_on_start(obj)
            except Exception as exc:  # API down, RBAC, a malformed object: retry, never trade blind
                failed = True
                text = self.redactor.redact(f"{type(exc).__name__}: {exc}")[:500]
                self.events.last_error = f"cannot read the TradingBot to check for a recorded risk halt: {text}"
                log.warning("cannot read the TradingBot; retrying", extra={"error": text, "retry_in_s": delay})
                self.publish()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            if failed:
                self.events.last_error = None
            return check
        return None

    def _apply_risk_halt_check(self, check: RiskHaltCheck) -> None:
        assert self.kube_target is not None
        self.start_generation = check.generation
        self.risk_halt_checked = True
        if check.holds:
            assert check.record is not None
            self.risk_halt = check.record
            self.halted_at_start = True
            self.halt_notice = halt_notice(check.record, self.kube_target, restarted=True)
            log.error(
                "a recorded risk halt holds: not trading",
                extra={
                    "limit": check.record.limit,
                    "action": check.record.action,
                    "halted_at": check.record.at.isoformat(),
                    "generation": check.generation,
                    "detail": self.redactor.redact(check.record.message),
                },
            )
        elif check.stale:
            previous = check.record.generation if check.record is not None else None
            log.warning(
                "the spec changed since the recorded risk halt: clearing it and trading with fresh risk baselines",
                extra={"halt_generation": previous, "generation": check.generation},
            )
        # write the record back (RiskHalted at once, even while the venue cannot be reached yet), or riskHalt: null
        # over a stale record
        if self.halted_at_start:
            self.set_phase("RiskHalted", self.halt_notice)
        else:
            self.publish()

    def _record_halt(self, breach: RiskBreach) -> None:
        """A breach (or an escalation) while trading: record it in status.riskHalt (Kubernetes only)."""
        if self.kube_target is None or not self.risk_halt_checked:
            return  # outside Kubernetes a halt lasts as long as the process
        self._halt_breach = breach
        if self._halt_generation is None:  # the first breach fixes the generation; an escalation keeps it
            assert self.start_generation is not None
            self._halt_generation = self.start_generation
            self._halt_generation_read = asyncio.create_task(self._read_halt_generation(), name="risk-halt-generation")
            self._tasks.append(self._halt_generation_read)
        self._set_halt_record()
        if self.phase == "Running":
            self.set_phase("RiskHalted", breach.message)
        else:
            self.publish()

    def _set_halt_record(self) -> None:
        assert self.kube_target is not None and self._halt_breach is not None and self._halt_generation is not None
        breach = self._halt_breach
        self.risk_halt = RiskHaltRecord(
            limit=str(breach.limit),
            message=self.redactor.redact(breach.message),
            action=str(breach.action),
            at=breach.at,
            generation=self._halt_generation,
        )
        self.halt_notice = halt_notice(self.risk_halt, self.kube_target, restarted=False)

    async def _read_halt_generation(self) -> None:
        """The TradingBot's generation at the moment of the halt (the one read at start stands in until then, and
        for good when the API cannot be read)."""
        for delay in (0.0, 0.5, 1.0, 2.0, 4.0):
            if delay:
                await asyncio.sleep(delay)
            try:
                obj = await self._get_tradingbot()
                generation = risk_halt_on_start(obj).generation
            except Exception as exc:
                log.warning("cannot read the generation for the risk halt", extra={"error": repr(exc)[:300]})
                continue
            if generation != self._halt_generation:
                self._halt_generation = generation
                self._set_halt_record()
                self.publish()
            return

    async def _stay_halted(self) -> int:
        """A recorded risk halt holds: cancel our resting orders once, report RiskHalted, idle until signalled."""
        assert self.risk_halt is not None
        record = self.risk_halt
        self.set_phase("RiskHalted", self.halt_notice)
        self.notifier.notify(
            NotifyEvent.RISK,
            f"still risk-halted after a restart: {record.limit} ({record.action})",
            self.halt_notice or "",
        )
        await self._shutdown_strategy(
            OnStop.CANCEL_ORDERS, within=PAUSE_ON_STOP_S, done="resting orders cancelled (recorded risk halt)"
        )
        await self._observe_venue(within=OBSERVE_S)
        self.sample()
        await self._idle_until_stopped()
        if self.lease_lost.is_set():
            return EXIT_FAILED
        return await self._finish("RiskHalted", self.halt_notice or "risk halt", apply_on_stop=False)

    async def _paused(self) -> int:
        """``paused: true``: no trading; apply onStop once, report Paused, idle until signalled."""
        assert self.strategy is not None
        on_stop = self.config.on_stop
        log.info("paused: not trading", extra={"on_stop": str(on_stop)})
        await self._shutdown_strategy(on_stop, within=PAUSE_ON_STOP_S)
        await self._observe_venue(within=OBSERVE_S)
        self.set_phase("Paused", "spec.paused is true")
        self.notifier.notify(NotifyEvent.STOP, "paused", f"onStop {on_stop}")
        await self._idle_until_stopped()
        if self.lease_lost.is_set():
            return EXIT_FAILED
        return await self._finish("Paused", "spec.paused is true", apply_on_stop=False)

    async def _trade(self) -> int:
        assert self.strategy is not None
        strategy = self.strategy
        self.set_phase("Running")
        self.notifier.notify(NotifyEvent.START, "started", self._describe())
        daily = DailySummary(self.notifier, lambda: self.events.summary(self.snapshot))
        daily.start()
        run_task = asyncio.create_task(strategy.run(self.stopping), name="strategy")
        stop_task = asyncio.create_task(self.stopping.wait(), name="stopping")
        try:
            await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await daily.stop()
        self.sample()
        was_halted = self.phase == "RiskHalted"
        if not run_task.done():
            # signalled (or lease lost): stop opening, let run return
            self.set_phase("Stopping", "lease lost" if self.lease_lost.is_set() else "signal")
            try:
                budget = self._start_budget()
                await asyncio.wait_for(
                    asyncio.shield(run_task), budget.left(cap=STOP_RUN_S, reserve=AFTER_SHUTDOWN_RESERVE_S + 5)
                )
            except TimeoutError:
                log.warning("strategy did not return in time: cancelling it")
                run_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await run_task
        stop_task.cancel()
        error = run_task.exception() if run_task.done() and not run_task.cancelled() else None
        self.sample()

        if self.lease_lost.is_set():
            # another instance may hold the lease now: leave its orders, write no status, exit for a restart
            await self._shutdown_strategy(OnStop.LEAVE)
            return EXIT_FAILED
        if error is not None:
            log.error("strategy failed", exc_info=error)
            self.events.on_error(error)
            return await self._finish("Failed", f"strategy failed: {error}", code=EXIT_FAILED)
        if not self.stopping.is_set():
            # the strategy ended itself (stopPrice): apply onStop; in Kubernetes stay up (an exit would restart the
            # pod and trade again) until the operator or the user stops it
            reason = (self.snapshot.reason if self.snapshot else None) or "strategy ended"
            log.info("strategy ended by itself", extra={"reason": reason})
            code = await self._finish("Stopped", reason, stay=self.kube_target is not None)
            return code
        if was_halted:  # keep the halt visible on the TradingBot after the pod is gone
            return await self._finish("RiskHalted", (self.snapshot.reason if self.snapshot else None) or "risk halt")
        return await self._finish("Stopped", "signal")

    async def _idle_until_stopped(self) -> None:
        await self.stopping.wait()

    def _describe(self) -> str:
        c = self.config
        if c.strategy is StrategyKind.GRID and c.grid is not None:
            g = c.grid
            return (
                f"grid {c.ticker} on {c.exchange}: {g.direction.value} {g.quantity}, takeProfit {g.take_profit}%,"
                f" maxOrders {g.max_orders}, waitTime {g.wait_time:g}s"
            )
        return f"{c.strategy} on {', '.join(c.exchanges_used)}"

    async def _shutdown_strategy(
        self, on_stop: OnStop, *, within: float | None = None, done: str = "onStop applied"
    ) -> None:
        """Apply ``on_stop`` within ``within`` seconds (default: what the stop budget leaves)."""
        if self.strategy is None:
            return
        if within is None:
            within = self._start_budget().left(cap=600.0, reserve=AFTER_SHUTDOWN_RESERVE_S)
        try:
            await asyncio.wait_for(self.strategy.shutdown(on_stop), within)
            log.info(done, extra={"on_stop": str(on_stop)})
        except TimeoutError:
            self.events.last_error = f"onStop {on_stop} did not finish within {within:.0f}s"
            log.error("onStop timed out", extra={"on_stop": str(on_stop)})
        except Exception as exc:
            log.exception("onStop failed", extra={"on_stop": str(on_stop)})
            self.events.on_error(exc)

    async def _observe_venue(self, *, within: float | None = None) -> dict[str, Any]:
        """Read the bot's market back from the venue after onStop: the truth for the final status and the log."""
        observed: dict[str, Any] = {}
        if self.config.strategy is not StrategyKind.GRID or not self.config.ticker or not self.was_connected:
            return observed
        exchange = self.exchanges.get(self.config.exchange or "")
        if exchange is None:
            return observed
        symbol = self.config.ticker

        async def read() -> None:
            orders = await with_retries(lambda: exchange.open_orders(symbol), attempts=2)
            position = await with_retries(lambda: exchange.position(symbol), attempts=2)
            observed.update(
                open_orders=len(orders),
                position=position.size,
                avg_entry_price=position.avg_entry_price,
                realized_pnl=position.realized_pnl,
                unrealized_pnl=position.unrealized_pnl,
                funding_pnl=position.funding_pnl,
            )

        try:
            if within is None:
                within = self._start_budget().left(cap=OBSERVE_S, reserve=FLUSH_S + RELEASE_S)
            await asyncio.wait_for(read(), within)
        except Exception as exc:  # the snapshot's values are reported instead
            log.warning("could not read the final state from the venue", extra={"error": repr(exc)[:300]})
            return {}
        log.info(
            "venue state",
            extra={"symbol": symbol, **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in observed.items()}},
        )
        return observed

    async def _finish(
        self,
        phase: Phase,
        reason: str,
        *,
        apply_on_stop: bool = True,
        code: int = EXIT_OK,
        stay: bool = False,
    ) -> int:
        """Stop opening, apply onStop, observe the venue, write the final status, release the lease."""
        if not stay:
            self.stopping.set()
            self.connected = False
        if apply_on_stop:
            if self.phase not in {"Stopping", "Failed"}:
                self.set_phase("Stopping", reason)
            await self._shutdown_strategy(self.config.on_stop)
        observed = await self._observe_venue()
        if self._halt_generation_read is not None and not self._halt_generation_read.done():
            with contextlib.suppress(Exception):  # the final record carries the halt's generation when it can
                within = self._start_budget().left(cap=HALT_GENERATION_WAIT_S, reserve=FLUSH_S + RELEASE_S)
                await asyncio.wait_for(asyncio.shield(self._halt_generation_read), within)
        self.sample()
        self.phase = phase
        self.reason = reason
        self.metrics.set_phase(phase)
        if phase == "Failed" and not self.events.last_error:
            self.events.last_error = reason
        final = self.current_status(**observed)
        log.info("stopped", extra={"phase": phase, "reason": reason, "exit_code": code})
        self.notifier.notify(
            NotifyEvent.STOP,
            f"{phase.lower()}: {reason}",
            f"position {final.position}, open orders {final.open_orders}, realized PnL {final.realized_pnl}",
        )
        if stay:
            if self.reporter is not None:
                self.reporter.publish(final)
            self.budget = None  # the grace period starts with the signal that ends the idling
            await self._idle_until_stopped()
            if self.lease_lost.is_set():
                return EXIT_FAILED
            final = self.current_status(**observed)
        if self.reporter is not None:
            within = self._start_budget().left(cap=FLUSH_S, reserve=RELEASE_S + 1)
            landed = await self.reporter.flush(final, within_s=within)
            if not landed:
                log.error("the final status could not be written")
        if self.lease is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lease.release(), self._start_budget().left(cap=RELEASE_S, reserve=1))
            self.metrics.lease_held.set(0)
        return code


# ---------------------------------------------------------------------------------------------------------------------
# command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perpdex bot",
        description="Run one trading bot from a TradingBot manifest / rendered spec, or from runbot.py flags.",
    )
    parser.add_argument("--config", "-c", help="TradingBot manifest or rendered spec (YAML or JSON)")
    parser.add_argument("--metrics-port", type=int, default=8080, help="port of /healthz /readyz /metrics (0 = any)")
    parser.add_argument("--metrics-host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--trade-log", help="CSV trade log path (default: $TMPDIR/perpdex-trades-<bot>.csv)")
    parser.add_argument("--status-interval", type=float, default=5.0, help="seconds between status writes")
    parser.add_argument("--log-level", default=os.environ.get("PERPDEX_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "human"),
        default=os.environ.get("PERPDEX_LOG_FORMAT", "auto"),
        help="auto: JSON lines unless stdout is a terminal",
    )
    parser.add_argument(
        "--telegram-api-base", help="Telegram Bot API base URL (default $TELEGRAM_API_BASE or api.telegram.org)"
    )
    parser.add_argument(
        "--lark-api-base", help="Lark base URL for LARK_TOKEN (default $LARK_API_BASE or open.larksuite.com)"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    add_legacy_arguments(parser)
    return parser


def resolve_config(args: argparse.Namespace) -> BotConfig:
    if args.config and legacy_requested(args):
        raise ConfigError("use either --config or the runbot.py flags (--exchange, --ticker, ...), not both")
    if args.config:
        # credentials are checked against the environment by the registry (the spec only names Secrets)
        return load_config(args.config, require_credentials=False)
    if legacy_requested(args):
        return config_from_legacy(args)
    raise ConfigError("--config FILE is required (or the runbot.py flags: --exchange --ticker --quantity ...)")


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    json_lines = {"json": True, "human": False}.get(args.log_format)
    redactor = setup_logging(level=str(args.log_level).upper(), json_lines=json_lines)
    try:
        config = resolve_config(args)
    except (ConfigError, OSError) as exc:
        log.error("invalid configuration", extra={"error": redactor.redact(str(exc))})
        return EXIT_USAGE
    # a --env-file may have brought credentials into the environment: mask them too
    redactor.add(*(os.environ[name] for name in credential_env_names() if name in os.environ))
    if args.print_config:
        sys.stdout.write(config.model_dump_json(by_alias=True, exclude_none=True) + "\n")
        return EXIT_OK
    options = RunOptions(
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        trade_log=Path(args.trade_log) if args.trade_log else None,
        status_interval=args.status_interval,
        telegram_api_base=args.telegram_api_base,
        lark_api_base=args.lark_api_base,
    )

    async def run() -> int:
        return await BotProcess(config, options, redactor=redactor).run()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # a second Ctrl-C before the handlers were installed
        return EXIT_FAILED
