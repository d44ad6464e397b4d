"""Risk limits across restarts, in-process (issue 17, item 8): ``BotProcess.run`` against the in-memory API server
(tests/support/fake_kube.py) and a paper venue. The baselines a process wrote to ``status.riskBaselines`` are the ones
the next process measures from, and a ``closeAll`` halt whose exit was cut short is finished by the next start."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import OrderRequest, OrderType, Side, TimeInForce
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.logs import SecretRedactor
from bot_runtime.process.bot import BotProcess, RunOptions
from bot_runtime.process.lifecycle import EXIT_OK
from bot_runtime.status import RiskHaltRecord
from bot_runtime.strategies.base import ClientIds
from tests.support.fake_kube import FakeKube

NS, NAME = "ns", "bot"
ENV = {"PERPDEX_BOT_NAME": NAME, "PERPDEX_NAMESPACE": NS, "POD_NAME": "bot-0", "POD_UID": "uid-bot-0"}
PAPER = {"startPrice": "60000", "volatility": "3", "seed": 7, "startingBalanceUsd": "100000"}


class InProcessBot(BotProcess):
    venue: PaperExchange

    def _install_signal_handlers(self) -> None:
        pass

    def build_exchanges(self) -> None:
        self.exchanges["paper"] = self.venue


def tradingbot(generation: int, risk: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": NAME, "namespace": NS, "generation": generation},
        "spec": {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "risk": risk},
        "status": status,
    }


def start(
    tmp_path: Path, kube: FakeKube, venue: PaperExchange, risk: dict[str, Any], **spec: Any
) -> tuple[BotProcess, Any]:
    config = parse_config(
        {
            "name": NAME,
            "namespace": NS,
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": {"quantity": "0.01", "takeProfit": "0.05", "direction": "buy", "maxOrders": 10, "waitTime": "2s"},
            "paper": PAPER,
            "risk": risk,
            **spec,
        }
    )
    options = RunOptions(
        metrics_port=0,
        metrics_host="127.0.0.1",
        trade_log=tmp_path / "t.csv",
        status_interval=0.05,
        sample_interval=0.05,
    )
    bot = InProcessBot(config, options, redactor=SecretRedactor(), env=ENV)
    bot.venue = venue
    bot._kube = kube
    return bot, asyncio.create_task(bot.run())


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def stop(bot: BotProcess, task: Any) -> int:
    bot._on_signal(signal.SIGTERM)
    code: int = await asyncio.wait_for(task, 60)
    return code


async def test_the_baselines_are_written_and_a_restart_measures_from_them(tmp_path: Path) -> None:
    kube = FakeKube(tradingbot(1, {}, {}), namespace=NS, name=NAME)
    venue = PaperExchange("paper", {"ticker": "BTC", **PAPER})
    bot, task = start(tmp_path, kube, venue, {})
    written = await until(lambda: kube.status.get("riskBaselines"), "status.riskBaselines")
    today = datetime.now(UTC).date().isoformat()
    assert written["startingEquity"] == written["peakEquity"] == written["dayStartEquity"] == "100000"
    assert written["day"] == today
    assert await stop(bot, task) == EXIT_OK
    assert kube.status["riskBaselines"]["startingEquity"] == "100000"

    # the account had been worth 120000 at its peak (an earlier process wrote that): 100000 is a 16.7 % drawdown
    kube.objects[kube.bot_path]["status"]["riskBaselines"] = {
        "startingEquity": "120000",
        "peakEquity": "120000",
        "day": today,
        "dayStartEquity": "120000",
    }
    venue2 = PaperExchange("paper", {"ticker": "BTC", **PAPER})
    bot2, task2 = start(tmp_path, kube, venue2, {"maxDrawdownPct": "10"})
    halt = await until(lambda: kube.status.get("riskHalt"), "a risk halt")
    assert halt["limit"] in {"maxDrawdownPct", "emergencyLoss"}
    assert kube.status["riskBaselines"]["peakEquity"] == "120000"  # kept, not reset by the restart
    assert await stop(bot2, task2) == EXIT_OK


async def test_an_interrupted_close_all_is_finished_by_the_next_start(tmp_path: Path) -> None:
    record = RiskHaltRecord(
        limit="maxDailyLossUsd", message="lost 300 > 200", action="closeAll", at=datetime.now(UTC), generation=2
    )
    kube = FakeKube(tradingbot(2, {"onBreach": "closeAll"}, {"riskHalt": record.to_status()}), namespace=NS, name=NAME)
    venue = PaperExchange("paper", {"ticker": "BTC", **PAPER})
    await venue.connect()
    # the halting process died after cancelling, before its exit: a long position is left
    await venue.place_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=Decimal("0.05"), order_type=OrderType.MARKET, client_order_id="m"
        )
    )
    assert (await venue.position("BTC")).size == Decimal("0.05")
    bot, task = start(tmp_path, kube, venue, {"onBreach": "closeAll"})
    await until(lambda: kube.status.get("phase") == "RiskHalted", "RiskHalted")
    await until(lambda: bot.halted_at_start and kube.status.get("position") == "0", "flat")
    assert (await venue.position("BTC")).size == 0
    assert kube.status["riskHalt"] == record.to_status()  # still halted
    assert await stop(bot, task) == EXIT_OK


async def test_a_recorded_pause_halt_keeps_the_take_profits_at_the_next_start(tmp_path: Path) -> None:
    """A restart under a recorded `pause` halt cancels as the halt did: the entry goes, the take-profit stays (onStop
    cancelEntries, the default), so the halted position keeps its exit (issue 18)."""
    record = RiskHaltRecord(
        limit="maxPositionUsd", message="3000 > 1500", action="pause", at=datetime.now(UTC), generation=2
    )
    kube = FakeKube(tradingbot(2, {}, {"riskHalt": record.to_status()}), namespace=NS, name=NAME)
    venue = PaperExchange("paper", {"ticker": "BTC", **PAPER})
    await venue.connect()
    ids = ClientIds(NAME, NS)
    await venue.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.05"),
            order_type=OrderType.MARKET,
            client_order_id=ids.new(ClientIds.OPEN),
        )
    )
    quote = await venue.best_bid_ask("BTC")
    take_profit = OrderRequest(
        symbol="BTC",
        side=Side.SELL,
        size=Decimal("0.05"),
        order_type=OrderType.LIMIT,
        price=(quote.ask * Decimal("1.05")).quantize(Decimal("0.1")),
        time_in_force=TimeInForce.POST_ONLY,
        client_order_id=ids.new(ClientIds.CLOSE),
    )
    entry = take_profit.model_copy(
        update={
            "side": Side.BUY,
            "price": (quote.bid * Decimal("0.95")).quantize(Decimal("0.1")),
            "client_order_id": ids.new(ClientIds.OPEN),
        }
    )
    await venue.place_order(take_profit)
    await venue.place_order(entry)
    bot, task = start(tmp_path, kube, venue, {})
    await until(lambda: kube.status.get("phase") == "RiskHalted", "RiskHalted")
    await until(lambda: bot.halted_at_start, "the halt applied at start")

    async def resting() -> list[str | None]:
        return sorted(ids.role_of(o.client_order_id) or "" for o in await venue.open_orders("BTC"))

    deadline = time.monotonic() + 30
    while await resting() != ["c"] and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await resting() == ["c"]  # the entry cancelled, the take-profit kept
    assert (await venue.position("BTC")).size == Decimal("0.05")
    assert await stop(bot, task) == EXIT_OK
    await venue.connect()  # the process closed its client; the paper venue's books outlive it
    assert await resting() == ["c"]  # stopping a halted bot applies no onStop


async def test_realized_pnl_and_fees_carry_over_a_restart(tmp_path: Path) -> None:
    kube = FakeKube(tradingbot(1, {}, {"realizedPnl": "5.5", "feesPaid": "1.25"}), namespace=NS, name=NAME)
    venue = PaperExchange("paper", {"ticker": "BTC", **PAPER})
    bot, task = start(tmp_path, kube, venue, {}, paused=True)  # trades nothing: its own PnL is 0
    await until(lambda: kube.status.get("phase") == "Paused", "Paused")
    assert Decimal(kube.status["realizedPnl"]) == Decimal("5.5") and Decimal(kube.status["feesPaid"]) == Decimal("1.25")
    # no write before the previous values were read ever cleared them
    assert all(p["status"].get("realizedPnl", "x") is not None for p in kube.status_patches)
    assert await stop(bot, task) == EXIT_OK
    assert Decimal(kube.status["realizedPnl"]) == Decimal("5.5")
