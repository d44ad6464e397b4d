"""The persistent risk halt (Kubernetes only): read from the bot's own TradingBot at start, recorded on a breach.

A breach sets phase RiskHalted, the strategy applies ``onBreach``, and the bot records ``status.riskHalt`` = {limit,
message, action, at, generation}: ``generation`` is the TradingBot's ``metadata.generation`` at the moment of the halt
(read from the API; the one seen at start if that read fails). A process that starts while ``riskHalt.generation`` is
the current generation stays halted: phase RiskHalted, no opening order, ``lastError`` says why and how to clear it.
It cancels the bot's own resting orders once as the halt did (``strategies.base.halt_cancel``: a pause keeps the
take-profits when onStop keeps them), so this only restores the state the halt had reached, e.g. after a crash in the
middle of it; a closeAll halt also finishes its exit to flat, see below, and it does not apply onStop when it stops (it trades nothing; the process that halted applied it). Clearing
= changing the spec (a new generation: raise the limit, or set ``paused: true`` then ``false``): the next start writes
``riskHalt: null`` and trades on; the risk baselines stay (a loss beyond a limit that was not raised trips again). A
restart, a pod deletion or ``kubectl rollout restart`` change no generation and keep the halt. Outside Kubernetes
there is no record (and no :class:`RiskHaltKeeper`): a halt lasts as long as the process.

The start-up read fails closed: the TradingBot is read (retried until it answers) before the process connects, and
without the answer it does not trade. The same read brings ``status.legs`` and ``status.riskBaselines`` of the
previous process back (the risk limits keep measuring from the same equity: :mod:`bot_runtime.risk`).

A recorded ``closeAll`` halt whose exit did not finish (the process died in the middle of it) is resumed by the next
start: cancel, then the reduce-only exit to flat; a ``pause`` or ``closeWorst`` halt only cancels.
The keeper writes :class:`~.reporting.HaltState`; :mod:`.reporting` puts it in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from bot_runtime.kube import resource_path
from bot_runtime.logs import SecretRedactor
from bot_runtime.process.events import ProcessEvents
from bot_runtime.process.lease import KubeTarget
from bot_runtime.process.lifecycle import Spawn
from bot_runtime.process.reporting import PnlCarry, Reporting
from bot_runtime.risk import RiskBaselines, RiskBreach
from bot_runtime.status import (
    GROUP_VERSION,
    RiskHaltCheck,
    RiskHaltRecord,
    legs_on_start,
    risk_halt_on_start,
)

log = logging.getLogger("perpdex.bot")


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


class RiskHaltKeeper:
    """Reads ``status.riskHalt`` (and ``status.legs``) at start, decides whether a recorded halt holds, and records a
    breach of this process in :class:`~.reporting.HaltState`."""

    def __init__(
        self,
        target: KubeTarget,
        *,
        kube: Callable[[], Any],
        reporting: Reporting,
        events: ProcessEvents,
        redactor: SecretRedactor,
        stopping: asyncio.Event,
        spawn: Spawn,
    ) -> None:
        self.target = target
        self.kube = kube  # () -> bot_runtime.kube.KubeClient
        self.reporting = reporting
        self.halt = reporting.halt
        self.events = events
        self.redactor = redactor
        self.stopping = stopping
        self.spawn = spawn
        self.start_generation: int | None = None  # the TradingBot's metadata.generation read at start
        self._breach: RiskBreach | None = None
        self._generation: int | None = None
        self._generation_read: asyncio.Task[None] | None = None

    async def _get_tradingbot(self) -> dict[str, Any]:
        path = resource_path(GROUP_VERSION, "tradingbots", self.target.namespace, self.target.name)
        obj: dict[str, Any] = await self.kube().get(path)
        return obj

    # at start --------------------------------------------------------------------------------------------------------
    async def read_at_start(self) -> RiskHaltCheck | None:
        """GET the bot's own TradingBot, retrying until it answers; None when stopped first. Fails closed: without
        the answer the bot does not trade."""
        delay = 1.0
        failed = False
        while not self.stopping.is_set():
            try:
                obj = await self._get_tradingbot()
                check = risk_halt_on_start(obj)
                self.reporting.previous_legs = legs_on_start(obj)
                self.reporting.carried = PnlCarry.from_status(obj.get("status") or {})
                self.reporting.previous_baselines = RiskBaselines.from_status(
                    (obj.get("status") or {}).get("riskBaselines")
                )
            except Exception as exc:  # API down, RBAC, a malformed object: retry, never trade blind
                failed = True
                text = self.redactor.redact(f"{type(exc).__name__}: {exc}")[:500]
                self.events.last_error = f"cannot read the TradingBot to check for a recorded risk halt: {text}"
                log.warning("cannot read the TradingBot; retrying", extra={"error": text, "retry_in_s": delay})
                self.reporting.publish()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 30.0)
                continue
            if failed:
                self.events.last_error = None
            return check
        return None

    def apply(self, check: RiskHaltCheck) -> None:
        """Take over ``status.riskHalt``: a halt of this generation holds (phase RiskHalted at once, even while the
        venue cannot be reached yet); a stale one is cleared (``riskHalt: null``)."""
        self.start_generation = check.generation
        self.halt.checked = True
        if check.holds:
            assert check.record is not None
            self.halt.record = check.record
            self.halt.held = True
            self.halt.notice = halt_notice(check.record, self.target, restarted=True)
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
                "the spec changed since the recorded risk halt: clearing it and trading on (same risk baselines)",
                extra={"halt_generation": previous, "generation": check.generation},
            )
        # write the record back (RiskHalted at once, even while the venue cannot be reached yet), or riskHalt: null
        # over a stale record
        if self.halt.held:
            self.reporting.set_phase("RiskHalted", self.halt.notice)
        else:
            self.reporting.publish()

    # while trading ---------------------------------------------------------------------------------------------------
    def record(self, breach: RiskBreach) -> None:
        """A breach (or an escalation) while trading: record it in status.riskHalt."""
        if not self.halt.checked:
            return  # the record is not ours to write before it was read
        self._breach = breach
        if self._generation is None:  # the first breach fixes the generation; an escalation keeps it
            assert self.start_generation is not None
            self._generation = self.start_generation
            self._generation_read = self.spawn(self._read_halt_generation(), "risk-halt-generation")
        self._set_record()
        if self.reporting.phase == "Running":
            self.reporting.set_phase("RiskHalted", breach.message)
        else:
            self.reporting.publish()

    def _set_record(self) -> None:
        assert self._breach is not None and self._generation is not None
        breach = self._breach
        self.halt.record = RiskHaltRecord(
            limit=str(breach.limit),
            message=self.redactor.redact(breach.message),
            action=str(breach.action),
            at=breach.at,
            generation=self._generation,
        )
        self.halt.notice = halt_notice(self.halt.record, self.target, restarted=False)

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
            if generation != self._generation:
                self._generation = generation
                self._set_record()
                self.reporting.publish()
            return

    # at the end ------------------------------------------------------------------------------------------------------
    @property
    def generation_pending(self) -> bool:
        """The halt's generation is still being read (the final status should carry it)."""
        return self._generation_read is not None and not self._generation_read.done()

    async def generation_read(self, within: float) -> None:
        """Wait up to ``within`` seconds for the generation read (it keeps running after a timeout)."""
        if self._generation_read is not None:
            await asyncio.wait_for(asyncio.shield(self._generation_read), within)
