"""Preflight at bot start, ``perpdex bot`` as a real process on the paper venue: a quantity under the market's
minimum stops the bot before any order in phase Failed with the check's message, the process stays up (no exit, so
no crash loop in a pod) and a SIGTERM ends it cleanly; a passing preflight is in the status and the bot trades."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.bot.bot_harness import BotRun, fast_paper_spec, is_status, write_manifest

pytestmark = pytest.mark.integration


@pytest.fixture
def runs() -> Iterator[list[BotRun]]:
    started: list[BotRun] = []
    yield started
    for run in started:
        run.kill()


def test_a_failing_check_stops_the_bot_before_any_order_without_exiting(tmp_path: Path, runs: list[BotRun]) -> None:
    spec = fast_paper_spec(grid={"quantity": "0.00001", "takeProfit": "0.05", "maxOrders": 10, "waitTime": "2s"})
    bot = BotRun(write_manifest(tmp_path / "bot.yaml", "paper-tiny", spec), tmp_path)
    runs.append(bot)
    failed = bot.wait_for(lambda x: is_status(x) and x["status"].get("phase") == "Failed", 60, "phase Failed")
    preflight = failed["status"]["preflight"]
    assert preflight["passed"] is False
    assert "quantity fail: 0.00001 is below the minimum" in preflight["message"]
    assert "credentials pass" in preflight["message"] and "market pass" in preflight["message"]
    assert failed["status"]["lastError"].startswith("preflight failed: paper BTC quantity:")
    assert bot.proc.poll() is None, "a failed preflight must not end the process (a pod would crash-loop)"
    assert bot.metric("perpdex_bot_orders_total") == 0
    assert bot.metric("perpdex_bot_phase", {"phase": "Failed"}) == 1
    assert bot.terminate() == 0
    [final] = bot.messages("final status")
    assert final["status"]["phase"] == "Failed" and final["status"]["preflight"]["passed"] is False
    assert not bot.messages("onStop applied")  # nothing was placed, nothing to undo


def test_a_passing_preflight_is_reported_and_the_bot_trades(tmp_path: Path, runs: list[BotRun]) -> None:
    bot = BotRun(write_manifest(tmp_path / "bot.yaml", "paper-ok", fast_paper_spec()), tmp_path)
    runs.append(bot)
    running = bot.wait_for(lambda x: is_status(x) and x["status"].get("phase") == "Running", 60, "phase Running")
    assert running["status"]["preflight"]["passed"] is True
    assert "collateral pass" in running["status"]["preflight"]["message"]
    bot.wait_for(lambda x: x.get("msg") == "fill", 90, "a fill")
    assert bot.terminate() == 0
