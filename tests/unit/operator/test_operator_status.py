"""Conditions, phase and transitions the operator derives (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perpdex_operator.conditions import Condition, merge_conditions
from perpdex_operator.observe import Observation, PodView, WorkloadView
from perpdex_operator.settings import OperatorSettings
from perpdex_operator.status import Problem, bot_status, collector_status, status_update

NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
SETTINGS = OperatorSettings(namespaces=["t"], heartbeat_stale_seconds=60)
NO_POD = Observation()
A_POD = Observation(pods=(PodView(name="b-0", phase="Running", ready=True, config_hash="h"),))


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def bot(*, paused: bool = False, deleting: bool = False, **status: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "b", "namespace": "t", "generation": 3}
    if deleting:
        meta["deletionTimestamp"] = iso(NOW)
    return {"metadata": meta, "spec": {"paused": paused}, "status": status}


def derive(owner: dict[str, Any], obs: Observation = NO_POD, problem: Problem | None = None) -> dict[str, Any]:
    result = bot_status(owner, obs, now=NOW, settings=SETTINGS, config_hash="h", problem=problem)
    out: dict[str, Any] = {"phase": result.phase, "active": result.active}
    out |= {c.type: (c.status, c.reason) for c in result.conditions}
    return out


def test_new_bot_without_pod_is_pending() -> None:
    got = derive(bot())
    assert got["phase"] == "Pending"
    assert got["Ready"] == ("False", "PodNotRunning")
    assert got["Progressing"] == ("True", "Starting")
    assert got["Degraded"] == ("False", "AsExpected")
    assert got["RiskLimitBreached"] == ("False", "WithinLimits")


def test_running_bot_with_fresh_heartbeat_is_ready_and_its_phase_is_left_alone() -> None:
    got = derive(bot(phase="Running", lastHeartbeat=iso(NOW - timedelta(seconds=5))), A_POD)
    assert got["phase"] is None
    assert got["Ready"] == ("True", "Running")
    assert got["Progressing"] == ("False", "Reconciled")
    # also when no Pod object exists (local pod runner): the bot speaks for itself
    assert derive(bot(phase="Running", lastHeartbeat=iso(NOW - timedelta(seconds=5))))["Ready"] == ("True", "Running")


def test_stale_heartbeat() -> None:
    got = derive(bot(phase="Running", lastHeartbeat=iso(NOW - timedelta(seconds=61))), A_POD)
    assert got["phase"] is None
    assert got["Ready"] == ("False", "HeartbeatStale")
    assert got["Degraded"] == ("True", "HeartbeatStale")
    # without any pod the stale bot is still reported stale, not silently Pending
    assert derive(bot(phase="Running", lastHeartbeat=iso(NOW - timedelta(minutes=5))))["Ready"] == (
        "False",
        "HeartbeatStale",
    )


def test_pause_waits_for_the_pod_then_paused() -> None:
    speaking = bot(paused=True, phase="Stopping", lastHeartbeat=iso(NOW))
    got = derive(speaking, A_POD)
    assert got["phase"] is None and got["active"]
    assert got["Ready"] == ("False", "Paused")
    assert got["Progressing"] == ("True", "Stopping")
    got = derive(bot(paused=True, phase="Stopped", lastHeartbeat=iso(NOW)))
    assert got["phase"] == "Paused" and not got["active"]
    assert got["Progressing"] == ("False", "Paused")
    # resume
    assert derive(bot(phase="Paused"))["phase"] == "Pending"


def test_workload_status_counts_as_a_pod() -> None:
    obs = Observation(workload=WorkloadView(exists=True, spec_replicas=0, status_replicas=1))
    got = derive(bot(paused=True, phase="Stopped"), obs)
    assert got["phase"] is None and got["active"]


def test_deleting() -> None:
    got = derive(bot(deleting=True, phase="Running", lastHeartbeat=iso(NOW)))
    assert got["phase"] is None and got["active"]
    assert got["Ready"] == ("False", "Deleting")
    assert got["Progressing"] == ("True", "Deleting")
    assert not derive(bot(deleting=True, phase="Stopped", lastHeartbeat=iso(NOW)))["active"]


def test_crash_loop() -> None:
    crashing = PodView(
        name="b-0",
        phase="Running",
        restart_count=5,
        waiting_reason="CrashLoopBackOff",
        last_exit_code=1,
        last_exit_reason="Error",
        last_finished_at=NOW,
    )
    got = derive(bot(phase="Starting", lastHeartbeat=iso(NOW - timedelta(minutes=3))), Observation(pods=(crashing,)))
    assert got["phase"] == "Failed"
    assert got["Degraded"] == ("True", "CrashLoopBackOff")
    assert got["Ready"] == ("False", "CrashLoopBackOff")
    # restarts long ago are history, not a crash loop
    old = crashing.model_copy(update={"waiting_reason": None, "last_finished_at": NOW - timedelta(hours=2)})
    got = derive(bot(phase="Running", lastHeartbeat=iso(NOW)), Observation(pods=(old,)))
    assert got["Degraded"] == ("False", "AsExpected")
    # many recent restarts without back-off yet: degraded, the phase stays the bot's
    recent = old.model_copy(update={"last_finished_at": NOW - timedelta(seconds=30)})
    got = derive(bot(phase="Running", lastHeartbeat=iso(NOW)), Observation(pods=(recent,)))
    assert got["Degraded"] == ("True", "CrashLoopBackOff") and got["phase"] is None
    # between back-offs (the container runs again for a moment) a loop already seen stays a loop: no flapping
    between = crashing.model_copy(update={"waiting_reason": None, "restart_count": 1})
    got = derive(bot(phase="Failed"), Observation(pods=(between,)))
    assert got["Degraded"] == ("True", "CrashLoopBackOff") and got["Ready"] == ("False", "CrashLoopBackOff")
    assert derive(bot(phase="Starting"), Observation(pods=(between,)))["Degraded"] == ("False", "AsExpected")
    # the loop is over and the pod gone: the operator's Failed gives way to Pending
    assert derive(bot(phase="Failed"))["phase"] == "Pending"


def test_risk_and_problems() -> None:
    got = derive(bot(phase="RiskHalted", lastHeartbeat=iso(NOW), lastError="maxDailyLossUsd"), A_POD)
    assert got["RiskLimitBreached"] == ("True", "RiskHalted")
    assert got["Ready"] == ("False", "RiskHalted")
    got = derive(bot(), problem=Problem(reason="ChildConflict", message="ConfigMap b-config taken"))
    assert got["Degraded"] == ("True", "ChildConflict")
    assert got["Progressing"] == ("False", "ChildConflict")


def test_preflight_condition_follows_the_bots_record_and_a_failure_is_a_warning_event() -> None:
    """status.preflight (written by the bot before its first order) becomes the Preflight condition; none before
    a process ran it; a change is a transition (one Event), Warning when it failed."""
    assert "Preflight" not in derive(bot(phase="Starting", lastHeartbeat=iso(NOW)), A_POD)
    failed = {
        "passed": False,
        "message": "lighter BTC: quantity fail: 0.0001 is below the minimum 0.001",
        "at": iso(NOW),
    }
    owner = bot(phase="Failed", lastHeartbeat=iso(NOW), preflight=failed)
    result = bot_status(owner, A_POD, now=NOW, settings=SETTINGS, config_hash="h")
    [cond] = [c for c in result.conditions if c.type == "Preflight"]
    assert (cond.status, cond.reason) == ("False", "Failed") and "below the minimum" in cond.message
    _, transitions = merge_conditions([], result.conditions, generation=3, now=NOW)
    [event] = [t for t in transitions if t.type == "Preflight"]
    assert event.event_type == "Warning"
    passed = bot(phase="Running", lastHeartbeat=iso(NOW), preflight={"passed": True, "message": "ok", "at": iso(NOW)})
    assert derive(passed, A_POD)["Preflight"] == ("True", "Passed")


def test_rolling_update_is_progressing() -> None:
    old_pod = Observation(pods=(PodView(name="b-0", phase="Running", config_hash="old"),))
    got = derive(bot(phase="Running", lastHeartbeat=iso(NOW)), old_pod)
    assert got["Progressing"] == ("True", "RollingUpdate")


def test_collector() -> None:
    owner = {
        "metadata": {"name": "c", "namespace": "t", "generation": 1},
        "spec": {"interval": "60s", "timeout": "20s"},
        "status": {"phase": "Running", "lastCycle": {"startedAt": iso(NOW - timedelta(seconds=100))}},
    }
    result = collector_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    got = {c.type: (c.status, c.reason) for c in result.conditions}
    assert got["Ready"] == ("True", "Collecting")  # 100 s < 3 x 60 s + 20 s
    owner["status"]["lastCycle"]["startedAt"] = iso(NOW - timedelta(seconds=201))
    result = collector_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    assert {c.type: c.reason for c in result.conditions}["Ready"] == "HeartbeatStale"
    owner["status"] = {
        "phase": "Degraded",
        "lastCycle": {"startedAt": iso(NOW)},
        "exchanges": [{"name": "grvt", "lastError": "timeout"}, {"name": "lighter"}],
    }
    result = collector_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    got = {c.type: (c.status, c.reason, c.message) for c in result.conditions}
    assert got["Degraded"] == ("True", "ExchangesFailing", "failing exchanges: grvt")
    assert got["Ready"][:2] == ("True", "Collecting")
    # a healthy venue's note (markets dropped as invalid) is not a failure
    owner["status"] = {
        "phase": "Running",
        "lastCycle": {"startedAt": iso(NOW)},
        "exchanges": [{"name": "grvt", "note": "dropped 2 invalid market(s), first: X"}],
        "outbox": {"pending": 0, "capacity": 120, "dropped": 0},
    }
    result = collector_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    assert {c.type: c.status for c in result.conditions}["Degraded"] == "False"
    # the funding service refusing or unreachable: cycles wait in the outbox, and the condition says so
    owner["status"]["phase"] = "Degraded"
    owner["status"]["outbox"] = {"pending": 7, "capacity": 120, "dropped": 0, "lastError": "ConnectError: refused"}
    result = collector_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    got = {c.type: (c.status, c.reason, c.message) for c in result.conditions}
    assert got["Degraded"] == (
        "True",
        "DeliveryFailing",
        "the funding service does not accept cycles (7 pending): ConnectError: refused",
    )
    assert (
        collector_status(
            {"metadata": {"name": "c", "generation": 1}}, NO_POD, now=NOW, settings=SETTINGS, config_hash=None
        ).phase
        == "Pending"
    )


def test_merge_conditions_keeps_transition_time_unless_the_status_flips() -> None:
    earlier = "2026-11-25T09:00:00Z"
    current = [
        {"type": "Ready", "status": "False", "reason": "Starting", "message": "", "lastTransitionTime": earlier},
        {"type": "Custom", "status": "True", "reason": "X", "lastTransitionTime": earlier},
    ]
    merged, transitions = merge_conditions(
        current,
        [Condition(type="Ready", status="False", reason="PodNotRunning", message="m")],
        generation=4,
        now=NOW,
    )
    assert merged[0] == {
        "type": "Ready",
        "status": "False",
        "reason": "PodNotRunning",
        "message": "m",
        "lastTransitionTime": earlier,
        "observedGeneration": 4,
    }
    assert merged[1]["type"] == "Custom"  # other writers' conditions are kept
    assert [(t.type, t.old_status, t.new_status, t.reason) for t in transitions] == [
        ("Ready", "False", "False", "PodNotRunning")
    ]
    merged, transitions = merge_conditions(
        merged, [Condition(type="Ready", status="True", reason="Running")], generation=4, now=NOW
    )
    assert merged[0]["lastTransitionTime"] == iso(NOW)
    assert transitions[0].healthy and transitions[0].event_type == "Normal"
    with pytest.raises(ValueError):
        Condition(type="Ready", status="True", reason="not a reason!")


def test_status_update_is_none_when_nothing_changes() -> None:
    owner = bot()
    desired = bot_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    first = status_update(owner, desired, now=NOW)
    assert first.patch is not None
    assert set(first.patch["status"]) == {"observedGeneration", "conditions", "phase"}
    assert first.phase_change == ("", "Pending")
    owner["status"] = first.patch["status"]
    later = NOW + timedelta(minutes=5)
    again = bot_status(owner, NO_POD, now=later, settings=SETTINGS, config_hash="h")
    assert status_update(owner, again, now=later).patch is None
    # the bot's own fields are never part of the operator's patch
    owner["status"] |= {"position": "1", "lastHeartbeat": iso(later)}
    changed = bot_status(owner, A_POD, now=later, settings=SETTINGS, config_hash="h")
    patch = status_update(owner, changed, now=later).patch
    assert patch is not None and set(patch["status"]) <= {"observedGeneration", "conditions", "phase"}


def test_pod_view_reads_container_statuses() -> None:
    pod = {
        "metadata": {"name": "b-0", "annotations": {"perpdex.io/config-hash": "h"}, "deletionTimestamp": iso(NOW)},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": "bot",
                    "restartCount": 4,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": iso(NOW)}},
                }
            ],
        },
    }
    view = PodView.from_pod(pod)
    assert (view.ready, view.terminating, view.config_hash, view.restart_count) == (True, True, "h", 4)
    assert (view.waiting_reason, view.last_exit_code, view.last_exit_reason, view.last_finished_at) == (
        "CrashLoopBackOff",
        137,
        "OOMKilled",
        NOW,
    )
    assert not PodView.from_pod({"metadata": {"name": "x"}, "status": {"phase": "Succeeded"}}).model_copy().ready
    assert Observation(pods=(PodView(name="x", phase="Succeeded"),)).pod_present is False


def test_an_uncovered_fill_is_degraded_while_the_bot_stays_ready() -> None:
    running = {"phase": "Running", "lastHeartbeat": iso(NOW - timedelta(seconds=5))}
    got = derive(bot(**running, uncoveredFill="0.01"), A_POD)
    assert got["Degraded"] == ("True", "UncoveredFill")
    assert got["Ready"] == ("True", "Running")  # it trades on: it retries the take-profit, opens nothing new
    assert derive(bot(**running, uncoveredFill=None), A_POD)["Degraded"] == ("False", "AsExpected")


def test_a_container_that_cannot_start_shows_the_kubelets_reason_in_ready() -> None:
    stuck = PodView(
        name="b-0",
        phase="Pending",
        waiting_reason="CreateContainerConfigError",
        waiting_message='secret "lighter-main" not found',
    )
    got = bot_status(bot(), Observation(pods=(stuck,)), now=NOW, settings=SETTINGS, config_hash="h")
    ready = next(c for c in got.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "CreateContainerConfigError")
    assert ready.message == 'b-0: secret "lighter-main" not found'
    # the Secret is created, the kubelet starts the container: the reason goes by itself
    running = bot(phase="Running", lastHeartbeat=iso(NOW - timedelta(seconds=5)))
    assert derive(running, A_POD)["Ready"] == ("True", "Running")


def test_a_collector_missing_its_ingest_token_secret_names_it_in_ready() -> None:
    """Issue 20: a collector outside the namespaces the chart renders the token into waits in
    CreateContainerConfigError; its Ready condition says which Secret is missing."""
    stuck = PodView(
        name="c-5d9f-x",
        phase="Pending",
        waiting_reason="CreateContainerConfigError",
        waiting_message='secret "perpdex-ingest-token" not found',
    )
    owner = {"metadata": {"name": "c", "generation": 1}, "spec": {"interval": "60s"}}
    got = collector_status(owner, Observation(pods=(stuck,)), now=NOW, settings=SETTINGS, config_hash="h")
    ready = next(c for c in got.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "CreateContainerConfigError")
    assert ready.message == 'c-5d9f-x: secret "perpdex-ingest-token" not found'


def test_a_status_only_pass_never_marks_a_new_generation_observed() -> None:
    """observedGeneration says the children follow that generation: only a full reconcile may move it (the status
    timer reconciles the children itself while the generation is ahead, when kopf lost its update cycle)."""
    owner = bot()
    owner["metadata"]["generation"] = 3
    owner["status"]["observedGeneration"] = 2
    desired = bot_status(owner, NO_POD, now=NOW, settings=SETTINGS, config_hash="h")
    status_only = status_update(owner, desired, now=NOW, observed=False).patch
    assert status_only is None or "observedGeneration" not in status_only["status"]
    full = status_update(owner, desired, now=NOW, observed=True).patch
    assert full is not None and full["status"]["observedGeneration"] == 3
