"""Failed entries stop with a condition and an event (issue 21): the strategy reports every (symbol, venue pair)
backing off or stopped in its snapshot, the bot writes it as ``status.entriesBlocked`` (the CRD's schema takes it),
and the operator derives the ``EntriesBlocked`` condition from it, a Warning Event when entries stop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot_runtime.status import BotStatus
from perpdex_operator.conditions import merge_conditions
from perpdex_operator.observe import Observation
from perpdex_operator.settings import OperatorSettings
from perpdex_operator.status import bot_status
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

REPO = Path(__file__).resolve().parents[3]
LOW, HIGH = "0.00001", "0.00008"
SETTINGS = OperatorSettings(namespaces=["t"], heartbeat_stale_seconds=60)


def status_doc(rig: Rig) -> dict[str, Any]:
    """What the bot writes on its TradingBot (``Reporting.current_status`` hands the snapshot's list through)."""
    snap = rig.strategy.snapshot()
    return BotStatus(phase="Running", last_heartbeat=rig.clock.now(), entries_blocked=snap.entries_blocked).to_status()


def conditions(rig: Rig, status: dict[str, Any], previous: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    owner = {"metadata": {"name": "farb", "namespace": "t", "generation": 1}, "spec": {}, "status": status}
    derived = bot_status(owner, Observation(), now=rig.clock.now(), settings=SETTINGS, config_hash=None)
    merged, transitions = merge_conditions(previous, derived.conditions, generation=1, now=rig.clock.now())
    [cond] = [c for c in merged if c["type"] == "EntriesBlocked"]
    [transition] = [t for t in transitions if t.type == "EntriesBlocked"] or [None]
    return merged, (cond, transition)


def fits_the_crd(items: list[dict[str, Any]]) -> None:
    crd = yaml.safe_load((REPO / "crds" / "tradingbots.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    item = schema["entriesBlocked"]["items"]
    for doc in items:
        assert set(item["required"]) <= set(doc) <= set(item["properties"])
        assert len(doc["message"]) <= item["properties"]["message"]["maxLength"]


async def test_backing_off_then_stopped_is_a_condition_and_a_warning_event(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    doc = status_doc(rig)
    assert doc["entriesBlocked"] == []  # reported, nothing blocked
    merged, (cond, transition) = conditions(rig, doc, [])
    assert (cond["status"], cond["reason"]) == ("False", "NoneBlocked")
    assert transition is not None and transition.healthy  # a first healthy value: no Event (reconcile skips it)

    b = rig.venues["paper-b"]
    b.reject_entries = True
    await rig.run_for(30)
    assert b.entry_attempts == 1
    [item] = status_doc(rig)["entriesBlocked"]
    failed_at = rig.clock.now().replace(microsecond=0)
    assert item["symbol"] == "BTC" and item["venues"] == ["paper-a", "paper-b"]
    assert item["reason"] == "FailedEntriesBackoff"
    assert item["message"].startswith("backing off after 1 consecutive failed entry (stop at 5); last: ")
    since = item["since"]
    assert failed_at - timedelta(seconds=30) <= _time(since) <= failed_at
    assert _time(item["until"]) - _time(since) == timedelta(seconds=600)  # Tuning.entry_cooldown
    fits_the_crd([item])
    merged, (cond, transition) = conditions(rig, status_doc(rig), merged)
    assert (cond["status"], cond["reason"]) == ("True", "FailedEntriesBackoff")
    assert f"BTC on paper-a/paper-b: FailedEntriesBackoff until {item['until']}: backing off" in cond["message"]
    assert transition.event_type == "Warning"

    # the back-off ends: entries may be tried again, the condition clears (a Normal Event)
    await rig.run_for(600)
    assert b.entry_attempts == 2  # tried again at once, failed again: 1200 s now
    [item] = status_doc(rig)["entriesBlocked"]
    assert _time(item["until"]) - _time(item["since"]) == timedelta(seconds=1200)
    # the status does not churn: the same document while nothing happens
    assert status_doc(rig)["entriesBlocked"] == [item]

    await rig.run_for(24 * 3600)
    assert b.entry_attempts == 5
    [item] = status_doc(rig)["entriesBlocked"]
    assert item["reason"] == "FailedEntriesStopped" and "until" not in item
    assert item["message"].startswith("stopped after 5 consecutive failed entries (limit 5) until the bot restarts")
    fits_the_crd([item])
    merged, (cond, transition) = conditions(rig, status_doc(rig), merged)
    assert (cond["status"], cond["reason"]) == ("True", "FailedEntriesStopped")
    assert transition is not None and transition.event_type == "Warning"  # the reason changed: one more Event
    assert "BTC on paper-a/paper-b: FailedEntriesStopped: stopped after 5" in transition.describe()
    # and it stays: nothing more happens, no further transition
    await rig.run_for(3600)
    _, (cond, transition) = conditions(rig, status_doc(rig), merged)
    assert cond["reason"] == "FailedEntriesStopped" and transition is None
    rig.check_invariants()


async def test_an_entry_that_opens_clears_the_block(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.reject_entries = True
    await rig.run_for(30)
    merged, (cond, _) = conditions(rig, status_doc(rig), [])
    assert cond["status"] == "True"
    b.reject_entries = False
    await rig.run_for(700)
    assert len(rig.strategy.pairs) == 1
    assert status_doc(rig)["entriesBlocked"] == []
    _, (cond, transition) = conditions(rig, status_doc(rig), merged)
    assert (cond["status"], cond["reason"]) == ("False", "NoneBlocked")
    assert transition is not None and transition.event_type == "Normal"
    rig.check_invariants()


def test_a_bot_that_does_not_run_has_no_blocks_and_other_bots_no_condition() -> None:
    """A stale heartbeat or a process still starting: no entries are tried (False, NotRunning); a bot that never
    reported the list (a grid bot) gets no EntriesBlocked condition at all."""
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    block = {
        "symbol": "BTC",
        "venues": ["paper-a", "paper-b"],
        "reason": "FailedEntriesStopped",
        "message": "stopped",
        "since": "2026-12-07T10:00:00Z",
    }
    old = {"phase": "Running", "lastHeartbeat": "2026-12-07T11:00:00Z", "entriesBlocked": [block]}
    owner = {"metadata": {"name": "b", "namespace": "t", "generation": 1}, "spec": {}, "status": old}
    got = bot_status(owner, Observation(), now=now, settings=SETTINGS, config_hash=None)
    [cond] = [c for c in got.conditions if c.type == "EntriesBlocked"]
    assert (cond.status, cond.reason) == ("False", "NotRunning")
    # a restarted process that has not traded yet (Starting) still shows the previous process's list: not blocked
    starting = {**old, "phase": "Starting", "lastHeartbeat": "2026-12-07T11:59:55Z"}
    got = bot_status({**owner, "status": starting}, Observation(), now=now, settings=SETTINGS, config_hash=None)
    [cond] = [c for c in got.conditions if c.type == "EntriesBlocked"]
    assert (cond.status, cond.reason) == ("False", "NotRunning")
    running = {**starting, "phase": "Running"}
    got = bot_status({**owner, "status": running}, Observation(), now=now, settings=SETTINGS, config_hash=None)
    [cond] = [c for c in got.conditions if c.type == "EntriesBlocked"]
    assert (cond.status, cond.reason) == ("True", "FailedEntriesStopped")
    grid = {"metadata": {"name": "g", "namespace": "t", "generation": 1}, "spec": {}, "status": {"phase": "Running"}}
    got = bot_status(grid, Observation(), now=now, settings=SETTINGS, config_hash=None)
    assert "EntriesBlocked" not in {c.type for c in got.conditions}


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
