"""The fields the operator owns on a CR's ``status`` (``observedGeneration``, ``conditions`` and, while no pod speaks
for itself, ``phase``), derived from the CR, what runs for it, and the last reconcile's outcome. Pure functions.

The bot (or collector) owns the runtime fields: it writes ``phase`` while its process runs, plus position, PnL,
heartbeat and errors. See docs/status-ownership.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot_runtime.config import parse_duration
from perpdex_operator.conditions import (
    DEGRADED,
    ENTRIES_BLOCKED,
    PREFLIGHT,
    PROGRESSING,
    READY,
    RISK_LIMIT_BREACHED,
    Condition,
    Transition,
    merge_conditions,
)
from perpdex_operator.observe import CrashLoop, Observation, parse_time
from perpdex_operator.settings import OperatorSettings

# phases a running bot process writes about itself
BOT_RUNTIME_PHASES = frozenset({"Starting", "Running", "Stopping", "RiskHalted"})
COLLECTOR_RUNTIME_PHASES = frozenset({"Starting", "Running", "Degraded", "Stopping"})
# phases the operator replaces with Pending while the pod should run but does not report (yet): always for these...
_RESTARTABLE = frozenset({"", "Pending", "Paused"})
# ...and for these final words of a previous process once its pod is gone
_LEFT_BEHIND = frozenset({"Stopped", "Failed"})


def _pending(phase: str, speaks: bool, obs: Observation) -> bool:
    if speaks:
        return False
    return phase in _RESTARTABLE or (phase in _LEFT_BEHIND and not obs.pod_present)


class Problem(BaseModel):
    """Why the last reconcile could not make the children match the spec (no secret values, ever)."""

    model_config = ConfigDict(frozen=True)

    reason: str  # InvalidSpec | ChildConflict | ReconcileError
    message: str


class OperatorStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    phase: str | None  # None: leave the phase to the pod
    conditions: tuple[Condition, ...]
    active: bool  # a pod is present, or the process still reports (deletion waits until this clears)


class Heartbeat(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime | None
    stale_after: timedelta

    def fresh(self, now: datetime) -> bool:
        return self.at is not None and now - self.at <= self.stale_after

    def stale(self, now: datetime) -> bool:
        return self.at is not None and now - self.at > self.stale_after

    def describe(self) -> str:
        when = "never" if self.at is None else self.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"last heartbeat {when}, older than {int(self.stale_after.total_seconds())}s"


def _cond(type_: str, status: bool, reason: str, message: str) -> Condition:
    return Condition(type=type_, status="True" if status else "False", reason=reason, message=message)


class Facts(BaseModel):
    """Everything the conditions are derived from, computed once per reconcile."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    what: str  # "bot" | "collector"
    deleting: bool
    paused: bool
    phase: str  # the effective phase (the operator's when it sets one, else the pod's)
    speaks: bool  # the process reported a runtime phase with a fresh heartbeat
    active: bool  # a pod is present or speaks
    stale: bool
    beat: Heartbeat
    crash: CrashLoop | None
    problem: Problem | None
    last_error: str
    obs: Observation
    config_hash: str | None
    uncovered: str | None = None  # bot: status.uncoveredFill (a fill without its take-profit)


def bot_status(
    owner: Mapping[str, Any],
    obs: Observation,
    *,
    now: datetime,
    settings: OperatorSettings,
    config_hash: str | None,
    problem: Problem | None = None,
) -> OperatorStatus:
    spec = owner.get("spec") or {}
    status = owner.get("status") or {}
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    paused = bool(spec.get("paused", False))
    phase = str(status.get("phase") or "")
    beat = Heartbeat(
        at=parse_time(status.get("lastHeartbeat")), stale_after=timedelta(seconds=settings.heartbeat_stale_seconds)
    )
    speaks = beat.fresh(now) and phase in BOT_RUNTIME_PHASES
    active = obs.pod_present or speaks
    crash = _crash(obs, now, settings, phase)

    op_phase: str | None = None
    if deleting:
        pass
    elif crash is not None and crash.backing_off and not paused:
        op_phase = "Failed"
    elif paused:
        op_phase = None if active else "Paused"
    elif _pending(phase, speaks, obs):
        op_phase = "Pending"
    effective = op_phase or phase
    facts = Facts(
        what="bot",
        deleting=deleting,
        paused=paused,
        phase=effective,
        speaks=speaks,
        active=active,
        stale=not paused and not deleting and effective in BOT_RUNTIME_PHASES and beat.stale(now),
        beat=beat,
        crash=crash,
        problem=problem,
        last_error=str(status.get("lastError") or ""),
        obs=obs,
        config_hash=config_hash,
        uncovered=str(status["uncoveredFill"]) if speaks and status.get("uncoveredFill") else None,
    )
    ready = _bot_ready(facts)
    if effective == "RiskHalted":
        msg = facts.last_error or "a risk limit was breached; trading halted"
        risk = _cond(RISK_LIMIT_BREACHED, True, "RiskHalted", msg)
    else:
        risk = _cond(RISK_LIMIT_BREACHED, False, "WithinLimits", "no risk limit breached")
    conditions = (
        ready,
        _progressing(facts, ready),
        _degraded(facts),
        risk,
        *_preflight(status),
        *_entries_blocked(status, running=speaks and effective == "Running"),
    )
    return OperatorStatus(phase=op_phase, conditions=conditions, active=active)


def _preflight(status: Mapping[str, Any]) -> tuple[Condition, ...]:
    """``Preflight`` from the bot's ``status.preflight`` (its checks before the first order); none before one ran."""
    record = status.get("preflight")
    if not isinstance(record, Mapping) or not isinstance(record.get("passed"), bool):
        return ()
    passed = bool(record["passed"])
    message = str(record.get("message") or "")
    return (_cond(PREFLIGHT, passed, "Passed" if passed else "Failed", message),)


_BLOCK_REASON = re.compile(r"^[A-Z][A-Za-z0-9]*$")  # crds/tradingbots.yaml status.entriesBlocked[].reason


def _entries_blocked(status: Mapping[str, Any], *, running: bool) -> tuple[Condition, ...]:
    """``EntriesBlocked`` from the bot's ``status.entriesBlocked`` (where it opens nothing new, and why); none while
    the bot has never reported the list. True while the list has an item, its reason the items' reasons (sorted,
    comma-joined). A bot that is not ``Running`` with a fresh heartbeat (starting, halted, paused, gone) tries no
    entries at all, and a list it wrote lasts only until it restarts (a new process writes its own once it trades):
    False then (``NotRunning``; the Ready condition says why)."""
    items = status.get("entriesBlocked")
    if not isinstance(items, list):
        return ()
    blocks = [item for item in items if isinstance(item, Mapping)]
    if not blocks:
        return (_cond(ENTRIES_BLOCKED, False, "NoneBlocked", "no entries are blocked"),)
    if not running:
        return (_cond(ENTRIES_BLOCKED, False, "NotRunning", "the bot is not running: it tries no entries"),)
    reasons: list[str] = []
    for reason in sorted({str(b.get("reason") or "") for b in blocks}):
        if _BLOCK_REASON.match(reason) and len(",".join([*reasons, reason])) <= 256:
            reasons.append(reason)
    lines = []
    for block in blocks:
        venues = "/".join(str(v) for v in block.get("venues") or [])
        until = f" until {block['until']}" if block.get("until") else ""
        where = f"{block.get('symbol')} on {venues}" if venues else str(block.get("symbol"))
        lines.append(f"{where}: {block.get('reason')}{until}: {block.get('message') or ''}")
    return (_cond(ENTRIES_BLOCKED, True, ",".join(reasons) or "Blocked", "; ".join(lines)),)


def _crash(obs: Observation, now: datetime, settings: OperatorSettings, phase: str) -> CrashLoop | None:
    window = timedelta(seconds=settings.crashloop_window_seconds)
    return obs.crash_loop(now=now, restarts=settings.crashloop_restarts, window=window, failing=phase == "Failed")


# a container that cannot start until someone fixes something (a Secret, a key, the image): the TradingBot's or
# FundingCollector's Ready condition carries the kubelet's reason and message (e.g. the collector's ingest-token
# Secret missing in its namespace: 'secret "perpdex-ingest-token" not found'), and clears by itself once the pod runs
CONTAINER_PROBLEMS = frozenset(
    {
        "CreateContainerConfigError",
        "CreateContainerError",
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "RunContainerError",
    }
)


def _container_problem(obs: Observation, what: str) -> Condition | None:
    for pod in obs.pods:
        if pod.waiting_reason in CONTAINER_PROBLEMS and not pod.terminating:
            message = pod.waiting_message or f"the {what} container of pod {pod.name} cannot start"
            return _cond(READY, False, pod.waiting_reason, f"{pod.name}: {message}")
    return None


def _bot_ready(f: Facts) -> Condition:
    if f.deleting:
        return _cond(READY, False, "Deleting", "the bot is being deleted")
    if f.paused:
        return _cond(READY, False, "Paused", "spec.paused is true" + ("; the pod is stopping" if f.active else ""))
    if f.crash is not None:
        return _cond(READY, False, "CrashLoopBackOff", f.crash.message)
    if f.problem is not None:
        return _cond(READY, False, f.problem.reason, f.problem.message)
    if (waiting := _container_problem(f.obs, f.what)) is not None:
        return waiting
    if f.stale:
        return _cond(READY, False, "HeartbeatStale", f.beat.describe())
    if f.phase == "Running" and f.speaks:
        return _cond(READY, True, "Running", "the bot is trading")
    if f.phase == "RiskHalted":
        return _cond(READY, False, "RiskHalted", f.last_error or "a risk limit was breached; trading halted")
    if f.phase in {"Failed", "Stopped"}:
        return _cond(READY, False, f.phase, f.last_error or f"the bot reported {f.phase}")
    if not f.active:
        return _cond(READY, False, "PodNotRunning", "waiting for the bot pod to start")
    return _cond(READY, False, "Starting", "the bot is starting")


def _progressing(f: Facts, ready: Condition) -> Condition:
    if f.deleting:
        return _cond(PROGRESSING, True, "Deleting", f"stopping the {f.what} before deletion")
    if f.problem is not None:
        return _cond(PROGRESSING, False, f.problem.reason, f.problem.message)
    if f.paused:
        if f.active:
            return _cond(PROGRESSING, True, "Stopping", f"pausing: waiting for the {f.what} pod to stop")
        return _cond(PROGRESSING, False, "Paused", f"the {f.what} is paused")
    if f.crash is not None:
        return _cond(PROGRESSING, False, "CrashLoopBackOff", f.crash.message)
    if f.config_hash and f.obs.rolling(f.config_hash):
        return _cond(PROGRESSING, True, "RollingUpdate", "replacing the pod to apply the new spec")
    if ready.status == "True":
        return _cond(PROGRESSING, False, "Reconciled", f"the {f.what} runs the current spec")
    if f.stale:
        return _cond(PROGRESSING, False, "HeartbeatStale", ready.message)
    if f.phase in {"RiskHalted", "Failed", "Stopped"}:
        return _cond(PROGRESSING, False, f.phase, ready.message)
    return _cond(PROGRESSING, True, "Starting", f"waiting for the {f.what} to report Running")


def _degraded(f: Facts) -> Condition:
    if f.problem is not None:
        return _cond(DEGRADED, True, f.problem.reason, f.problem.message)
    if f.crash is not None:
        return _cond(DEGRADED, True, "CrashLoopBackOff", f.crash.message)
    if f.phase == "Failed":
        return _cond(DEGRADED, True, "Failed", f.last_error or "the process reported Failed")
    if f.stale:
        return _cond(DEGRADED, True, "HeartbeatStale", f.beat.describe())
    if f.uncovered is not None:
        return _cond(
            DEGRADED,
            True,
            "UncoveredFill",
            f"a fill of {f.uncovered} has no take-profit yet: the bot retries placing it and opens nothing new meanwhile",
        )
    return _cond(DEGRADED, False, "AsExpected", "no problem detected")


def _seconds(value: Any, default: float) -> float:
    try:
        return parse_duration(value) if value is not None else default
    except ValueError:
        return default


def collector_status(
    owner: Mapping[str, Any],
    obs: Observation,
    *,
    now: datetime,
    settings: OperatorSettings,
    config_hash: str | None,
    problem: Problem | None = None,
) -> OperatorStatus:
    spec = owner.get("spec") or {}
    status = owner.get("status") or {}
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    phase = str(status.get("phase") or "")
    interval = _seconds(spec.get("interval"), 60.0)
    timeout = _seconds(spec.get("timeout"), 20.0)
    beats = [parse_time(status.get("lastHeartbeat")), parse_time((status.get("lastCycle") or {}).get("startedAt"))]
    latest = max((b for b in beats if b is not None), default=None)
    stale_after = timedelta(seconds=max(settings.heartbeat_stale_seconds, 3 * interval + timeout))
    beat = Heartbeat(at=latest, stale_after=stale_after)
    speaks = beat.fresh(now) and phase in COLLECTOR_RUNTIME_PHASES
    active = obs.pod_present or speaks
    crash = _crash(obs, now, settings, phase)
    op_phase: str | None = None
    if deleting:
        pass
    elif crash is not None and crash.backing_off:
        op_phase = "Failed"
    elif _pending(phase, speaks, obs):
        op_phase = "Pending"
    effective = op_phase or phase
    facts = Facts(
        what="collector",
        deleting=deleting,
        paused=False,
        phase=effective,
        speaks=speaks,
        active=active,
        stale=not deleting and effective in COLLECTOR_RUNTIME_PHASES and beat.stale(now),
        beat=beat,
        crash=crash,
        problem=problem,
        last_error="",
        obs=obs,
        config_hash=config_hash,
    )
    ready = _collector_ready(facts)
    failing = sorted(str(e.get("name")) for e in status.get("exchanges") or [] if e.get("lastError"))
    outbox = status.get("outbox") or {}
    healthy = problem is None and crash is None and not facts.stale and effective != "Failed"
    if healthy and failing:
        degraded = _cond(DEGRADED, True, "ExchangesFailing", "failing exchanges: " + ", ".join(failing))
    elif healthy and outbox.get("lastError"):
        pending = int(outbox.get("pending") or 0)
        degraded = _cond(
            DEGRADED,
            True,
            "DeliveryFailing",
            f"the funding service does not accept cycles ({pending} pending): {str(outbox['lastError'])[:200]}",
        )
    else:
        degraded = _degraded(facts)
    return OperatorStatus(phase=op_phase, conditions=(ready, _progressing(facts, ready), degraded), active=active)


def _collector_ready(f: Facts) -> Condition:
    if f.deleting:
        return _cond(READY, False, "Deleting", "the collector is being deleted")
    if f.crash is not None:
        return _cond(READY, False, "CrashLoopBackOff", f.crash.message)
    if f.problem is not None:
        return _cond(READY, False, f.problem.reason, f.problem.message)
    if (waiting := _container_problem(f.obs, f.what)) is not None:
        return waiting
    if f.stale:
        return _cond(READY, False, "HeartbeatStale", f.beat.describe())
    if f.phase in {"Running", "Degraded"} and f.speaks:
        return _cond(READY, True, "Collecting", "funding rates are being collected")
    if f.phase in {"Failed", "Stopped"}:
        return _cond(READY, False, f.phase, f"the collector reported {f.phase}")
    if not f.active:
        return _cond(READY, False, "PodNotRunning", "waiting for the collector pod to start")
    return _cond(READY, False, "Starting", "the collector is starting")


class StatusUpdate(BaseModel):
    model_config = ConfigDict(frozen=True)

    patch: dict[str, Any] | None  # the merge patch for /status, None when nothing changes
    transitions: tuple[Transition, ...]
    phase_change: tuple[str, str] | None  # (old, new) when the operator changes the phase


def status_update(
    owner: Mapping[str, Any], desired: OperatorStatus, *, now: datetime, observed: bool = True
) -> StatusUpdate:
    """Compare with the CR's current status; a merge patch of ONLY the operator's fields when something differs.

    ``observed``: the children were synced to this generation (a full reconcile). A status-only pass never moves
    ``observedGeneration``: it would tell ``kubectl wait`` and the operator's own timers that a spec change is
    applied when it is not."""
    status = owner.get("status") or {}
    generation = int(owner["metadata"].get("generation") or 0)
    conditions, transitions = merge_conditions(
        status.get("conditions"), desired.conditions, generation=generation, now=now
    )
    patch: dict[str, Any] = {}
    if observed and status.get("observedGeneration") != generation:
        patch["observedGeneration"] = generation
    if conditions != list(status.get("conditions") or []):
        patch["conditions"] = conditions
    phase_change = None
    old_phase = str(status.get("phase") or "")
    if desired.phase is not None and desired.phase != old_phase:
        patch["phase"] = desired.phase
        phase_change = (old_phase, desired.phase)
    return StatusUpdate(
        patch={"status": patch} if patch else None, transitions=tuple(transitions), phase_change=phase_change
    )
