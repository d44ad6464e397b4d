"""``perpdex bot --config`` as a real process on the paper exchange: it trades and prints fills, /metrics shows them,
SIGTERM with resting orders exits 0 and applies onStop — checked on the venue's own state, read back through the
exchange interface after onStop and printed as the ``venue state`` line (the paper venue lives inside the process)."""

from __future__ import annotations

import csv
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


def test_trades_prints_fills_serves_metrics_and_cancels_on_sigterm(tmp_path: Path, runs: list[BotRun]) -> None:
    config = write_manifest(tmp_path / "bot.yaml", "paper-grid", fast_paper_spec())
    bot = BotRun(config, tmp_path)
    runs.append(bot)
    assert bot.get("/healthz").status_code == 200
    bot.wait_for(lambda x: x.get("msg") == "fill", 90, "a fill")
    # a moment with an order resting on the venue, seen in the bot's own status line
    bot.wait_for(lambda x: is_status(x) and x["status"].get("openOrders", 0) >= 1, 90, "a resting order")
    assert bot.get("/readyz").status_code == 200
    fills_printed = len(bot.messages("fill"))
    assert bot.metric("perpdex_bot_fills_total") >= fills_printed >= 1
    assert bot.metric("perpdex_bot_orders_total") >= 1
    assert bot.metric("perpdex_bot_order_latency_seconds_count") >= 1
    assert bot.metric("perpdex_bot_phase", {"phase": "Running"}) == 1
    assert bot.metric("perpdex_bot_heartbeat_timestamp_seconds") > 0

    assert bot.terminate() == 0
    [venue] = bot.messages("venue state")
    assert venue["open_orders"] == 0
    [final] = bot.messages("final status")
    assert final["status"]["phase"] == "Stopped" and final["status"]["openOrders"] == 0
    assert bot.messages("onStop applied")[0]["on_stop"] == "cancelOrders"
    # the trade log holds every printed fill
    rows = list(csv.reader(bot.trade_log.open()))
    assert rows[0] == ["Timestamp", "OrderID", "Side", "Quantity", "Price", "Status", "Fee"]
    assert len(rows) - 1 == len(bot.messages("fill"))


def test_sigterm_with_a_position_closes_it(tmp_path: Path, runs: list[BotRun]) -> None:
    config = write_manifest(
        tmp_path / "bot.yaml",
        "paper-close",
        fast_paper_spec(
            onStop="closePositions",
            grid={"quantity": "0.01", "takeProfit": "0.5", "direction": "buy", "maxOrders": 10, "waitTime": "2s"},
        ),
    )
    bot = BotRun(config, tmp_path)
    runs.append(bot)
    # a long position with its take-profit order resting (0.5 %: far away, it stays)
    bot.wait_for(
        lambda x: is_status(x) and x["status"].get("position", "0") != "0" and x["status"].get("openOrders", 0) >= 1,
        120,
        "an open position",
    )
    assert bot.terminate() == 0
    [venue] = bot.messages("venue state")
    assert venue["position"] in {"0", "0.00", "0.0"} or float(venue["position"]) == 0
    assert venue["open_orders"] == 0
    final = bot.messages("final status")[0]["status"]
    assert final["phase"] == "Stopped" and final["position"] == "0"
    # the exit was reduce-only
    exits = [x for x in bot.messages("order") if x["reduce_only"] and x["type"] == "market"]
    assert exits and all(x["side"] == "sell" for x in exits)


def test_paused_config_does_not_trade(tmp_path: Path, runs: list[BotRun]) -> None:
    config = write_manifest(tmp_path / "bot.yaml", "paper-paused", fast_paper_spec(paused=True))
    bot = BotRun(config, tmp_path)
    runs.append(bot)
    bot.wait_for(lambda x: is_status(x) and x["status"]["phase"] == "Paused", 60, "phase Paused")
    assert bot.metric("perpdex_bot_phase", {"phase": "Paused"}) == 1
    assert bot.metric("perpdex_bot_orders_total") == 0
    assert bot.terminate() == 0
    assert bot.messages("final status")[0]["status"]["phase"] == "Paused"
    assert not bot.messages("order") and not bot.messages("fill")


def test_missing_credentials_name_the_keys_never_values(tmp_path: Path, runs: list[BotRun]) -> None:
    spec = fast_paper_spec(exchange="lighter")
    config = write_manifest(tmp_path / "bot.yaml", "live", spec)
    secret = "0x" + "ab" * 32
    bot = BotRun(config, tmp_path, env={"API_KEY_PRIVATE_KEY": secret, "LIGHTER_ACCOUNT_INDEX": "your_account_here"})
    runs.append(bot)
    assert bot.wait(60) == 1
    [error] = bot.messages("cannot start")
    assert "LIGHTER_ACCOUNT_INDEX" in error["error"] and "LIGHTER_API_KEY_INDEX" in error["error"]
    assert "API_KEY_PRIVATE_KEY" not in error["error"]  # that one is present
    assert bot.messages("final status")[0]["status"]["phase"] == "Failed"
    assert secret not in bot.output()


def test_legacy_flags_run_the_same_bot(tmp_path: Path, runs: list[BotRun]) -> None:
    """The runbot.py command line on the paper venue trades like --config does."""
    env_file = tmp_path / ".env"
    env_file.write_text("TELEGRAM_CHAT_ID=\n")
    import subprocess
    import sys

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot_runtime.cli",
            "bot",
            "--exchange",
            "paper",
            "--ticker",
            "BTC",
            "--quantity",
            "0.01",
            "--take-profit",
            "0.05",
            "--direction",
            "sell",
            "--max-orders",
            "5",
            "--wait-time",
            "2",
            "--grid-step",
            "-100",
            "--stop-price",
            "-1",
            "--pause-price",
            "-1",
            "--env-file",
            str(env_file),
            "--print-config",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"direction":"sell"' in proc.stdout and '"maxOrders":5' in proc.stdout


def test_risk_halt_is_reported_and_kept_after_sigterm(tmp_path: Path, runs: list[BotRun]) -> None:
    # one order of 0.01 BTC (~600 USD) already exceeds maxPositionUsd 100: the first entry trips the limit
    spec = fast_paper_spec(risk={"maxPositionUsd": "100", "onBreach": "pause"})
    bot = BotRun(write_manifest(tmp_path / "bot.yaml", "paper-risk", spec), tmp_path)
    runs.append(bot)
    bot.wait_for(lambda x: is_status(x) and x["status"]["phase"] == "RiskHalted", 60, "phase RiskHalted")
    [breach] = bot.messages("risk limit breached")
    assert breach["limit"] == "maxPositionUsd" and breach["action"] == "pause"
    assert bot.metric("perpdex_bot_risk_events_total", {"rule": "maxPositionUsd"}) == 1
    assert not [x for x in bot.messages("order") if not x["reduce_only"]]  # the order was never sent
    assert bot.terminate() == 0
    final = bot.messages("final status")[0]["status"]
    assert final["phase"] == "RiskHalted" and final["openOrders"] == 0
