"""``status.riskHalt``: the document the bot writes, the start-up decision it takes from its TradingBot, the CRD's
schema for it, and the reporter writing a change of it at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.process.lease import KubeTarget
from bot_runtime.process.risk_halt import halt_notice
from bot_runtime.status import BotStatus, RiskHaltRecord, StatusReporter, risk_halt_on_start

REPO = Path(__file__).resolve().parents[3]
AT = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
RECORD = RiskHaltRecord(
    limit="maxPositionUsd",
    message="BTC: position notional after this order 600.00 > maxPositionUsd 100",
    action="pause",
    at=AT,
    generation=3,
)


def tradingbot(generation: Any, risk_halt: Any = None, **status: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": "bot", "namespace": "ns", "generation": generation}, "status": status}
    if risk_halt is not None:
        obj["status"]["riskHalt"] = risk_halt
    return obj


def test_status_document_carries_the_record() -> None:
    doc = BotStatus(phase="RiskHalted", risk_halt=RECORD, risk_halt_checked=True).to_status()
    assert doc["phase"] == "RiskHalted"
    assert doc["riskHalt"] == {
        "limit": "maxPositionUsd",
        "message": "BTC: position notional after this order 600.00 > maxPositionUsd 100",
        "action": "pause",
        "at": "2026-11-25T10:00:05Z",
        "generation": 3,
    }
    assert RiskHaltRecord.from_status(doc["riskHalt"]) == RECORD  # round trip through the CR


def test_the_field_is_left_alone_until_read_then_cleared_with_null() -> None:
    # before the process has read status.riskHalt (and outside Kubernetes): the merge patch must not touch it
    assert "riskHalt" not in BotStatus(phase="Starting").to_status()
    # after the start-up read: "no record" is written as null, which removes a stale record
    doc = BotStatus(phase="Running", risk_halt_checked=True).to_status()
    assert "riskHalt" in doc and doc["riskHalt"] is None


def test_record_fits_the_crd_schema() -> None:
    crd = yaml.safe_load((REPO / "crds" / "tradingbots.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["riskHalt"]
    long = RiskHaltRecord(limit="x" * 200, message="m" * 5000, action="a" * 100, at=AT, generation=1).to_status()
    assert set(long) == set(schema["properties"])
    assert set(schema["required"]) <= set(long)
    for name, value in long.items():
        prop = schema["properties"][name]
        if prop["type"] == "string" and "maxLength" in prop:
            assert len(value) <= prop["maxLength"], name
    assert schema["properties"]["generation"]["type"] == "integer"


def test_same_generation_holds() -> None:
    check = risk_halt_on_start(tradingbot(3, RECORD.to_status(), phase="RiskHalted"))
    assert check.holds and not check.stale and check.recorded
    assert check.generation == 3 and check.record == RECORD


def test_a_new_generation_clears() -> None:
    check = risk_halt_on_start(tradingbot(4, RECORD.to_status()))
    assert not check.holds and check.stale
    assert check.generation == 4 and check.record == RECORD


def test_no_record() -> None:
    check = risk_halt_on_start(tradingbot(1))
    assert not check.holds and not check.stale and not check.recorded and check.record is None
    assert not risk_halt_on_start({"metadata": {"generation": 2}}).holds  # no status at all


def test_an_unreadable_record_of_the_current_generation_still_halts() -> None:
    """Fail closed: only the generation decides; the other fields are for people."""
    check = risk_halt_on_start(tradingbot(5, {"generation": 5, "limit": "maxDrawdownPct", "at": "yesterday"}))
    assert check.holds and check.record is not None
    assert check.record.limit == "maxDrawdownPct" and check.record.generation == 5
    # ...while a record without a usable generation is stale (the CRD's schema makes it impossible anyway)
    assert risk_halt_on_start(tradingbot(5, {"generation": "5", "limit": "x", "action": "pause", "at": "x"})).stale
    assert risk_halt_on_start(tradingbot(1, {"generation": True, "limit": "x"})).stale  # a bool is not generation 1


@pytest.mark.parametrize("obj", [{}, {"metadata": {}}, {"metadata": {"generation": "3"}}, tradingbot(-1)])
def test_no_generation_is_an_error(obj: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="generation"):
        risk_halt_on_start(obj)


def test_notice_says_why_and_how_to_clear() -> None:
    target = KubeTarget(name="btc-grid", namespace="trading", identity="btc-grid-0")
    after_restart = halt_notice(RECORD, target, restarted=True)
    assert after_restart.startswith("still halted: risk limit maxPositionUsd breached (pause)")
    assert "(generation 3)" in after_restart and "2026-11-25T10:00:05Z" in after_restart
    assert "no orders" in after_restart
    assert (
        """kubectl patch tradingbot btc-grid -n trading --type=merge -p '{"spec":{"paused":true}}' then false"""
        in after_restart
    )
    live = halt_notice(RECORD, target, restarted=False)
    assert "status.riskHalt" in live and "change the spec" in live and "a restart keeps it" in live
    assert len(after_restart) < 1000  # room left in lastError for the last error behind it


class Sink:
    def __init__(self) -> None:
        self.written: list[BotStatus] = []
        self.wrote = asyncio.Event()

    async def write(self, status: BotStatus, *, final: bool = False) -> None:
        self.written.append(status)
        self.wrote.set()


async def test_a_new_record_is_written_at_once() -> None:
    """Writes within ``min_interval`` wait, unless the phase or the halt record changes."""
    sink = Sink()
    reporter = StatusReporter(sink, min_interval=3600)
    reporter.start()
    try:
        reporter.publish(BotStatus(phase="RiskHalted", risk_halt_checked=True))
        await asyncio.wait_for(sink.wrote.wait(), 10)
        sink.wrote.clear()
        reporter.publish(BotStatus(phase="RiskHalted", risk_halt_checked=True, open_orders=1))  # held back
        await asyncio.sleep(0.2)
        assert len(sink.written) == 1
        reporter.publish(BotStatus(phase="RiskHalted", risk_halt=RECORD, risk_halt_checked=True))
        await asyncio.wait_for(sink.wrote.wait(), 10)
        assert sink.written[-1].risk_halt == RECORD
    finally:
        await reporter.stop()
