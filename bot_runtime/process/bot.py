"""The bot process: the order in which it starts, trades (or pauses, or stays halted) and stops (SPEC §5).

1. Serve ``/healthz`` ``/readyz`` ``/metrics`` (:mod:`.endpoints`) and install the signal handlers (:mod:`.lifecycle`).
2. Build the exchange client(s) through the registry: credentials are validated before anything else, and a missing
   one is reported by its env var name, never its value.
3. In Kubernetes (``PERPDEX_BOT_NAME`` and ``PERPDEX_NAMESPACE`` set): wait for the bot's Lease (phase Starting,
   ``/readyz`` 503, no status writes — the holder owns the status), then keep renewing it (:mod:`.lease`). Losing it
   stops opening at once and exits 1 (the pod restarts and waits for the lease again); orders are left to the new
   holder. Then read the bot's own TradingBot (retried until it answers: no trading without it) for a recorded risk
   halt (:mod:`.risk_halt`).
4. Connect (:mod:`.venues`), build the risk manager and the strategy, run the preflight checks before the first
   order (:mod:`.preflight_gate`: a failing one means phase Failed, no order, no exit, a retry every few minutes),
   trade. A sampler publishes the strategy snapshot
   to the metrics and the status reporter (:mod:`.reporting`: the TradingBot's ``status``, or ``status`` lines on
   stdout outside Kubernetes); the strategy's events go to :class:`~.events.ProcessEvents`.
5. SIGTERM/SIGINT → stop opening; then a *stop* (the TradingBot is paused or being deleted; any signal outside
   Kubernetes) applies ``strategy.shutdown(onStop)``, a *restart* (neither: spec edit, rollout, drain, eviction,
   liveness kill) only ``cancelEntries`` whatever onStop says (:mod:`.stop_kind`); read the venue's open orders and
   position back, write the final status (phase Stopped) and exit 0, everything bounded to the pod's grace period
   (the operator passes it as ``PERPDEX_GRACE_SECONDS``; :mod:`.lifecycle`).
   ``paused: true`` → no trading: apply onStop, phase Paused, idle until signalled.
   A recorded risk halt that holds → cancel the bot's resting orders once, phase RiskHalted, idle until signalled.
   A strategy that ends itself (stopPrice) → apply onStop, phase Stopped; in Kubernetes stay up until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, OnStop, StrategyKind
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import AuthenticationError, CredentialsError, Exchange
from bot_runtime.http import Check
from bot_runtime.logs import SecretRedactor
from bot_runtime.metrics import BotMetrics
from bot_runtime.notify import DailySummary, NotifyEvent, build_dispatcher
from bot_runtime.process import endpoints, venues
from bot_runtime.process.events import ProcessEvents, describe
from bot_runtime.process.fence import SubmissionFence
from bot_runtime.process.lease import KubeTarget, LeaseHolder, write_while_free
from bot_runtime.process.lifecycle import (
    AFTER_SHUTDOWN_RESERVE_S,
    EXIT_FAILED,
    EXIT_OK,
    FLUSH_S,
    HALT_GENERATION_WAIT_S,
    NOTIFY_DRAIN_S,
    OBSERVE_S,
    PAUSE_ON_STOP_S,
    RELEASE_S,
    STOP_RUN_S,
    Budget,
    StopControl,
)
from bot_runtime.process.preflight_gate import PREFLIGHT_RETRY_S, PreflightGate
from bot_runtime.process.reporting import PnlCarry, Reporting
from bot_runtime.process.risk_halt import RiskHaltKeeper
from bot_runtime.process.secret_watch import SECRET_POLL_S, SecretWatch, secret_names
from bot_runtime.process.stop_kind import READ_S, StopKind, read_stop_kind
from bot_runtime.risk import RiskAction, RiskBreach, RiskManager
from bot_runtime.status import BotStatus, Phase, RiskHaltRecord
from bot_runtime.strategies.base import LegSnapshot, Strategy, StrategySnapshot, halt_cancel
from bot_runtime.strategies.registry import build_strategy
from bot_runtime.trade_log import TradeLog, default_path

log = logging.getLogger("perpdex.bot")


@dataclass
class RunOptions:
    metrics_port: int = 8080
    metrics_host: str = "0.0.0.0"  # noqa: S104 - probes and Prometheus reach the pod IP
    trade_log: Path | None = None
    status_interval: float = 5.0
    sample_interval: float = 1.0
    telegram_api_base: str | None = None
    lark_api_base: str | None = None
    preflight_retry_s: float = PREFLIGHT_RETRY_S  # a failed preflight is run again this often
    secret_poll_s: float = SECRET_POLL_S  # meanwhile, the pod's Secrets' versions are read this often


class BotProcess:
    def __init__(
        self,
        config: BotConfig,
        options: RunOptions,
        *,
        redactor: SecretRedactor,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.clock = clock  # the strategy's and the risk manager's (None: real time; tests pass a virtual one)
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
        self.stop = StopControl(config.on_stop, self.env)
        self.stopping = self.stop.stopping  # set by SIGTERM/SIGINT or a lost lease: stop opening
        self.lease_lost = self.stop.lease_lost
        self.exchanges: dict[str, Exchange] = {}
        self.connected = False  # for /readyz: connected and not stopping
        self.was_connected = False  # the venue can be read back after onStop
        self.strategy: Strategy | None = None
        self.strategy_task: asyncio.Task[None] | None = None  # strategy.run while trading
        self.reporting = Reporting(
            metrics=self.metrics,
            events=self.events,
            redactor=redactor,
            strategy=lambda: self.strategy,
            ticker=config.ticker,
            previous_legs=None if self.kube_target is not None else (),
            carried=None if self.kube_target is not None else PnlCarry(),
        )
        self.lease: LeaseHolder | None = None
        self.preflight_gate: PreflightGate | None = None
        self.halt_keeper: RiskHaltKeeper | None = None  # in Kubernetes, once the lease is held
        self._kube: Any = None  # bot_runtime.kube.KubeClient, imported only in Kubernetes
        self._tasks: list[asyncio.Task[Any]] = []
        self.endpoints = endpoints.Endpoints(
            host=options.metrics_host,
            port=options.metrics_port,
            liveness=self.liveness,
            readiness=self.readiness,
            metrics=self.metrics,
        )

    # the state others read ---------------------------------------------------------------------------------------
    @property
    def phase(self) -> Phase:
        return self.reporting.phase

    @property
    def snapshot(self) -> StrategySnapshot | None:
        return self.reporting.snapshot

    @property
    def last_sample(self) -> float:
        return self.reporting.last_sample

    @last_sample.setter
    def last_sample(self, value: float) -> None:
        self.reporting.last_sample = value

    @property
    def risk_halt(self) -> RiskHaltRecord | None:
        return self.reporting.halt.record

    @property
    def halt_notice(self) -> str | None:
        return self.reporting.halt.notice

    @property
    def halted_at_start(self) -> bool:
        return self.reporting.halt.held

    def current_status(self, **override: Any) -> BotStatus:
        return self.reporting.current_status(**override)

    def liveness(self) -> Check:
        return endpoints.liveness(self.endpoints.loop_monitor, last_sample=self.last_sample, phase=self.phase)

    def readiness(self) -> Check:
        return endpoints.readiness(
            connected=self.connected,
            needs_lease=self.kube_target is not None,
            lease=self.lease,
            stopping=self.stopping.is_set(),
            phase=self.phase,
        )

    # building ------------------------------------------------------------------------------------------------------
    def build_exchanges(self) -> None:
        """Create the clients (no network yet); raises CredentialsError naming missing env keys."""
        names = self.config.exchanges_used
        for name in names:
            self.exchanges[name] = registry.create_exchange(name, self.config.venue_options(name), self.env)

    async def connect(self) -> bool:
        """Connect every client, retrying transient failures until stopping; False when stopped first."""
        if not await venues.connect_all(self.exchanges, self.stopping, self.events.on_error):
            return False
        self.connected = self.was_connected = True
        return True

    def build_strategy(self) -> Strategy:
        exchange: Exchange | dict[str, Exchange]
        if self.config.strategy is StrategyKind.GRID:
            exchange = self.exchanges[self.config.exchange or ""]
        else:
            exchange = dict(self.exchanges)
        risk = RiskManager(self.config.risk, self.clock)
        if self.reporting.previous_baselines is not None:  # the limits keep measuring from the previous process's
            risk.restore(self.reporting.previous_baselines)
        strategy = build_strategy(self.config, exchange, risk, self.events, clock=self.clock)
        # every submission is fenced: the lease held with a margin, no new entry while stopping (:mod:`.fence`)
        strategy.fence = SubmissionFence(
            stopping=self.stopping,
            lease_lost=self.lease_lost,
            lease=self.lease,
            needs_lease=self.kube_target is not None,
        )
        return strategy

    # lifecycle -----------------------------------------------------------------------------------------------------
    def _install_signal_handlers(self) -> None:
        self.stop.install_signal_handlers()

    def _on_signal(self, sig: signal.Signals) -> None:
        self.stop.on_signal(sig)

    def _start_budget(self) -> Budget:
        return self.stop.start_budget()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task cancelled when the process ends."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.append(task)
        return task

    def _on_lease_lost(self) -> None:
        self.lease_lost.set()
        self.stopping.set()
        reporter = self.reporting.detach()
        if reporter is not None:  # the status belongs to the new holder now
            self._spawn(reporter.stop(), "reporter-stop")

    def _record_halt(self, breach: RiskBreach) -> None:
        """A breach (or an escalation) while trading: record it in status.riskHalt (Kubernetes only)."""
        if self.halt_keeper is not None:  # outside Kubernetes a halt lasts as long as the process
            self.halt_keeper.record(breach)

    async def run(self) -> int:
        self._install_signal_handlers()
        try:
            await self.endpoints.start()
        except OSError as exc:
            log.error(
                "cannot serve /healthz /readyz /metrics", extra={"port": self.options.metrics_port, "error": str(exc)}
            )
            return EXIT_FAILED
        try:
            return await self._run()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            budget = self._start_budget()
            await self.notifier.close(budget.left(cap=NOTIFY_DRAIN_S, reserve=0.5))
            await venues.close_all(self.exchanges)
            if self._kube is not None:
                with contextlib.suppress(Exception):
                    await self._kube.close()
            await self.endpoints.stop()

    async def _run(self) -> int:
        self.reporting.settle("Starting")
        self._spawn(self.reporting.run_sampler(self.options.sample_interval), "sampler")
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
            self.reporting.report_to_log(min_interval=self.options.status_interval)
        self.reporting.set_phase("Starting")
        await self.notifier.start()

        if self.kube_target is not None:
            self.halt_keeper = RiskHaltKeeper(
                self.kube_target,
                kube=self._kube_client,
                reporting=self.reporting,
                events=self.events,
                redactor=self.redactor,
                stopping=self.stopping,
                spawn=self._spawn,
            )
            check = await self.halt_keeper.read_at_start()
            if check is None:
                if self.lease_lost.is_set():
                    return EXIT_FAILED
                return await self._finish("Stopped", "stopped before connecting", apply_on_stop=False)
            self.halt_keeper.apply(check)

        halted = self.reporting.halt
        try:
            if not await self.connect():
                if halted.held:
                    return await self._finish("RiskHalted", halted.notice or "risk halt", apply_on_stop=False)
                return await self._finish("Stopped", "stopped before connecting", apply_on_stop=False)
            self.strategy = self.build_strategy()
            self.strategy.remember_legs(
                [
                    LegSnapshot.model_validate(leg.model_dump(exclude_none=True))
                    for leg in self.reporting.previous_legs or ()
                ]
            )
        except (CredentialsError, AuthenticationError) as exc:
            self.events.on_error(exc)
            return await self._finish("Failed", str(exc), apply_on_stop=False, code=EXIT_FAILED)
        except Exception as exc:
            log.exception("start-up failed")
            self.events.on_error(exc)
            return await self._finish("Failed", f"start-up failed: {exc}", apply_on_stop=False, code=EXIT_FAILED)

        if halted.held:
            return await self._stay_halted()
        if self.config.paused:
            return await self._paused()
        if not await self._preflight():  # stopped while a check failed: nothing was ordered
            reason = self.preflight_gate.reason if self.preflight_gate else None
            return await self._finish("Failed", reason or "preflight failed", apply_on_stop=False)
        return await self._trade()

    async def _fail_before_lease(self, exc: BaseException) -> int:
        """Credentials/SDK problem found before the lease: log it; write the status only if the lease is free."""
        message = self.redactor.redact(str(exc))
        log.error("cannot start", extra={"error": message})
        self.events.last_error = message
        self.reporting.settle("Failed")
        if self.kube_target is None:
            await self.reporting.write_once_to_log()
            return EXIT_FAILED
        client = self._kube_client()
        target = self.kube_target
        await write_while_free(
            client,
            target,
            lambda: self.reporting.write_once_to_tradingbot(client, target.namespace, target.name, within_s=FLUSH_S),
        )
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
        self.lease = LeaseHolder(client, target, self.metrics)
        if not await self.lease.acquire(self.stopping, on_lost=self._on_lease_lost, spawn=self._spawn):
            return False
        self.reporting.report_to_tradingbot(
            client, target.namespace, target.name, min_interval=self.options.status_interval
        )
        return True

    async def _preflight(self) -> bool:
        """The preflight checks before the first order (:mod:`.preflight_gate`): True once they pass."""
        self.preflight_gate = PreflightGate(
            self.exchanges,
            self.config,
            self.reporting,
            self.redactor,
            self.stopping,
            retry_s=self.options.preflight_retry_s,
            secrets=self._secret_watch(),
            secret_poll_s=self.options.secret_poll_s,
        )
        return await self.preflight_gate.wait_until_passed()

    def _secret_watch(self) -> SecretWatch | None:
        """In Kubernetes, the versions of the Secrets the pod references (a change restarts the container)."""
        names = secret_names(self.env)
        if self.kube_target is None or not names:
            return None
        return SecretWatch(self._kube_client(), self.kube_target.namespace, names)

    # the three ways to run -------------------------------------------------------------------------------------------
    async def _stay_halted(self) -> int:
        """A recorded risk halt holds: cancel our resting orders once, report RiskHalted, idle until signalled."""
        record = self.reporting.halt.record
        assert record is not None
        notice = self.reporting.halt.notice
        self.reporting.set_phase("RiskHalted", notice)
        self.notifier.notify(
            NotifyEvent.RISK, f"still risk-halted after a restart: {record.limit} ({record.action})", notice or ""
        )
        # the halt's own action, again: cancel (a pause keeps the take-profits when onStop keeps them; closeWorst
        # cancels all), or cancel and exit to flat (closeAll: an exit the previous process may not have finished)
        resume_exit = record.action == RiskAction.CLOSE_ALL
        await self._shutdown_strategy(
            OnStop.CLOSE_POSITIONS if resume_exit else halt_cancel(record.action, self.config.on_stop),
            within=PAUSE_ON_STOP_S,
            done="closeAll exit resumed (recorded risk halt)"
            if resume_exit
            else "resting orders cancelled (recorded risk halt)",
        )
        await self._observe_venue(within=OBSERVE_S)
        self.reporting.sample()
        await self.stopping.wait()
        if self.lease_lost.is_set():
            return EXIT_FAILED
        return await self._finish("RiskHalted", self.reporting.halt.notice or "risk halt", apply_on_stop=False)

    async def _paused(self) -> int:
        """``paused: true``: no trading; apply onStop once, report Paused, idle until signalled."""
        assert self.strategy is not None
        on_stop = self.config.on_stop
        log.info("paused: not trading", extra={"on_stop": str(on_stop)})
        await self._shutdown_strategy(on_stop, within=PAUSE_ON_STOP_S)
        await self._observe_venue(within=OBSERVE_S)
        self.reporting.set_phase("Paused", "spec.paused is true")
        self.notifier.notify(NotifyEvent.STOP, "paused", f"onStop {on_stop}")
        await self.stopping.wait()
        if self.lease_lost.is_set():
            return EXIT_FAILED
        return await self._finish("Paused", "spec.paused is true", apply_on_stop=False)

    async def _trade(self) -> int:
        assert self.strategy is not None
        strategy = self.strategy
        self.reporting.set_phase("Running")
        self.notifier.notify(NotifyEvent.START, "started", describe(self.config))
        daily = DailySummary(self.notifier, lambda: self.events.summary(self.snapshot))
        daily.start()
        run_task = self.strategy_task = asyncio.create_task(strategy.run(self.stopping), name="strategy")
        stop_task = asyncio.create_task(self.stopping.wait(), name="stopping")
        try:
            await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await daily.stop()
        self.reporting.sample()
        was_halted = self.phase == "RiskHalted"
        if not run_task.done():
            # signalled (or lease lost): stop opening, let run return
            self.reporting.set_phase("Stopping", "lease lost" if self.lease_lost.is_set() else "signal")
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
        self.reporting.sample()

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
        kind = await self._signal_kind()
        on_stop = self.config.on_stop if kind is StopKind.STOP else OnStop.CANCEL_ENTRIES
        if was_halted:  # keep the halt visible on the TradingBot after the pod is gone
            reason = (self.snapshot.reason if self.snapshot else None) or "risk halt"
            return await self._finish("RiskHalted", reason, on_stop=on_stop)
        if kind is StopKind.RESTART:
            return await self._finish(
                "Stopped",
                "restart: entry order cancelled, take-profits and position kept",
                on_stop=on_stop,
                applied="restart: pending entry cancelled (onStop applies to stops only)",
            )
        return await self._finish("Stopped", "signal")

    async def _signal_kind(self) -> StopKind:
        """A stop (paused, being deleted, or outside Kubernetes) or a restart (:mod:`.stop_kind`)."""
        if self.kube_target is None:
            return StopKind.STOP
        within = self._start_budget().left(cap=READ_S, reserve=AFTER_SHUTDOWN_RESERVE_S + 5)
        return await read_stop_kind(
            self._kube_client(), self.kube_target.namespace, self.kube_target.name, within=within
        )

    # the stop sequence -----------------------------------------------------------------------------------------------
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
        if self.config.strategy is not StrategyKind.GRID or not self.config.ticker or not self.was_connected:
            return {}
        exchange = self.exchanges.get(self.config.exchange or "")
        if exchange is None:
            return {}
        if within is None:
            within = self._start_budget().left(cap=OBSERVE_S, reserve=FLUSH_S + RELEASE_S)
        return await venues.observe(exchange, self.config.ticker, within=within)

    async def _finish(
        self,
        phase: Phase,
        reason: str,
        *,
        apply_on_stop: bool = True,
        on_stop: OnStop | None = None,
        applied: str = "onStop applied",
        code: int = EXIT_OK,
        stay: bool = False,
    ) -> int:
        """Stop opening, apply ``on_stop`` (default onStop), observe the venue, write the final status, release the
        lease."""
        if not stay:
            self.stopping.set()
            self.connected = False
        if apply_on_stop:
            if self.phase not in {"Stopping", "Failed"}:
                self.reporting.set_phase("Stopping", reason)
            await self._shutdown_strategy(self.config.on_stop if on_stop is None else on_stop, done=applied)
        observed = await self._observe_venue()
        if self.halt_keeper is not None and self.halt_keeper.generation_pending:
            with contextlib.suppress(Exception):  # the final record carries the halt's generation when it can
                within = self._start_budget().left(cap=HALT_GENERATION_WAIT_S, reserve=FLUSH_S + RELEASE_S)
                await self.halt_keeper.generation_read(within)
        self.reporting.sample()
        self.reporting.settle(phase, reason)
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
            self.reporting.publish(final)
            self.stop.budget = None  # the grace period starts with the signal that ends the idling
            await self.stopping.wait()
            if self.lease_lost.is_set():
                return EXIT_FAILED
            final = self.current_status(**observed)
        await self.reporting.flush(final, within=lambda: self._start_budget().left(cap=FLUSH_S, reserve=RELEASE_S + 1))
        if self.lease is not None:
            await self.lease.release(self._start_budget().left(cap=RELEASE_S, reserve=1))
        return code
