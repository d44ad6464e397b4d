"""The bot process's start-up decision on a recorded risk halt, in-process: ``BotProcess.run`` against an in-memory
Kubernetes API (a dict of objects, JSON merge patch on status) and a paper exchange whose order placements are
counted. The real API server and the real ``perpdex bot`` process are covered in
tests/integration/bot/test_risk_halt_restart.py."""

from __future__ import annotations

import asyncio
import copy
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import ExchangeError, Order, OrderRequest, Side, TimeInForce
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.kube import NotFound, resource_path
from bot_runtime.logs import SecretRedactor
from bot_runtime.process.bot import BotProcess, RunOptions
from bot_runtime.process.lifecycle import EXIT_OK
from bot_runtime.status import RiskHaltRecord
from bot_runtime.strategies.base import ClientIds

NS, NAME = "ns", "bot"
BOT_PATH = resource_path("perpdex.io/v1alpha1", "tradingbots", NS, NAME)
STATUS_PATH = f"{BOT_PATH}/status"
ENV = {"PERPDEX_BOT_NAME": NAME, "PERPDEX_NAMESPACE": NS, "POD_NAME": "bot-0", "POD_UID": "uid-bot-0"}
AT = datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC)
PAPER = {"startPrice": "60000", "volatility": "3", "seed": 7, "startingBalanceUsd": "100000"}


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = merge(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeKube:
    """The few calls the bot makes (Lease get/create/replace, TradingBot get, status merge patch), in memory."""

    def __init__(self, tradingbot: dict[str, Any]) -> None:
        self.objects: dict[str, dict[str, Any]] = {BOT_PATH: tradingbot}
        self.status_patches: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.after_get: Callable[[str], None] | None = None

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        self.gets.append(path)
        if path not in self.objects:
            raise NotFound(404, "NotFound", path)
        obj = copy.deepcopy(self.objects[path])
        if self.after_get is not None:
            self.after_get(path)
        return obj

    async def create(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.objects[f"{path}/{body['metadata']['name']}"] = copy.deepcopy(body)
        return body

    async def replace(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.objects[path] = copy.deepcopy(body)
        return body

    async def patch(self, path: str, body: dict[str, Any], patch_type: str = "merge", **params: Any) -> dict[str, Any]:
        assert path == STATUS_PATH and patch_type == "merge"
        self.status_patches.append(copy.deepcopy(body))
        if BOT_PATH not in self.objects:
            raise NotFound(404, "NotFound", path)
        return merge(self.objects[BOT_PATH], copy.deepcopy(body))

    async def close(self) -> None:
        pass

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.objects[BOT_PATH].get("status") or {})


class CountingPaper(PaperExchange):
    def __init__(self) -> None:
        super().__init__("paper", PAPER)
        self.placed: list[OrderRequest] = []

    async def place_order(self, request: OrderRequest) -> Order:
        self.placed.append(request)
        return await super().place_order(request)


def tradingbot_object(generation: int, risk: dict[str, Any], record: RiskHaltRecord | None) -> dict[str, Any]:
    status: dict[str, Any] = {"phase": "RiskHalted" if record else "Stopped"}
    if record is not None:
        status["riskHalt"] = record.to_status()
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": NAME, "namespace": NS, "generation": generation},
        "spec": {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "risk": risk},
        "status": status,
    }


def make_bot(tmp_path: Path, kube: FakeKube, exchange: CountingPaper, risk: dict[str, Any]) -> BotProcess:
    config = parse_config(
        {
            "name": NAME,
            "namespace": NS,
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": {"quantity": "0.01", "takeProfit": "0.05", "direction": "buy", "maxOrders": 10, "waitTime": "2s"},
            "paper": PAPER,
            "onStop": "cancelOrders",
            "risk": risk,
        }
    )
    options = RunOptions(
        metrics_port=0,
        metrics_host="127.0.0.1",
        trade_log=tmp_path / "trades.csv",
        status_interval=0.05,
        sample_interval=0.05,
    )
    bot = BotProcess(config, options, redactor=SecretRedactor(), env=ENV)
    bot._kube = kube
    bot._install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the test's loop keeps its own

    def build_exchanges() -> None:
        bot.exchanges["paper"] = exchange

    bot.build_exchanges = build_exchanges  # type: ignore[method-assign]
    return bot


async def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


async def stop(bot: BotProcess, task: asyncio.Task[int]) -> int:
    bot._on_signal(signal.SIGTERM)
    return await asyncio.wait_for(task, 60)


async def test_same_generation_stays_halted_and_places_no_order(tmp_path: Path) -> None:
    record = RiskHaltRecord(
        limit="maxPositionUsd",
        message="BTC: position notional 600.00 > maxPositionUsd 100",
        action="pause",
        at=AT,
        generation=3,
    )
    kube = FakeKube(tradingbot_object(3, {"maxPositionUsd": "1000000"}, record))
    exchange = CountingPaper()
    # an entry of ours still resting (the halting process died in the middle of cancelling)
    await exchange.connect()
    ids = ClientIds(NAME, NS)
    quote = await exchange.best_bid_ask("BTC")
    await exchange.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=(quote.bid * Decimal("0.9")).quantize(Decimal(1)),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id=ids.new(ClientIds.OPEN),
        )
    )
    assert len(await exchange.open_orders("BTC")) == 1
    exchange.placed.clear()

    # the limit in the (unchanged) spec would even allow trading: only the recorded halt stops it
    bot = make_bot(tmp_path, kube, exchange, {"maxPositionUsd": "1000000"})
    task = asyncio.create_task(bot.run())
    await until(lambda: kube.status.get("phase") == "RiskHalted" and bot.snapshot is not None, "RiskHalted")
    await asyncio.sleep(1.5)  # a grid would have opened within this time
    assert exchange.placed == []  # no order at all
    assert await exchange.open_orders("BTC") == []  # our resting entry was cancelled
    status = kube.status
    assert status["riskHalt"] == record.to_status()  # kept as it was
    assert status["lastError"].startswith("still halted: risk limit maxPositionUsd breached (pause)")
    assert "change the spec" in status["lastError"]
    assert bot.liveness().ok  # alive (not restarted by its probe), just not trading

    assert await stop(bot, task) == EXIT_OK
    assert exchange.placed == []  # onStop is not applied by a process that never traded
    final = kube.status
    assert final["phase"] == "RiskHalted" and final["riskHalt"] == record.to_status()
    # no status write ever removed or changed the record
    assert all(p["status"].get("riskHalt", record.to_status()) == record.to_status() for p in kube.status_patches)


async def test_new_generation_clears_and_trades(tmp_path: Path) -> None:
    record = RiskHaltRecord(
        limit="maxPositionUsd",
        message="BTC: 600.00 > 100",
        action="pause",
        at=AT,
        generation=3,
    )
    kube = FakeKube(tradingbot_object(4, {}, record))  # the user raised the limit: generation 4
    exchange = CountingPaper()
    bot = make_bot(tmp_path, kube, exchange, {})
    task = asyncio.create_task(bot.run())
    await until(lambda: exchange.placed, "an order")
    await until(lambda: kube.status.get("phase") == "Running", "Running")
    assert "riskHalt" not in kube.status  # removed by a merge patch with null
    assert any("riskHalt" in p["status"] and p["status"]["riskHalt"] is None for p in kube.status_patches)
    assert "still halted" not in str(kube.status.get("lastError"))
    assert bot.strategy is not None and not bot.strategy.risk.halted  # the halt is cleared
    assert await stop(bot, task) == EXIT_OK
    assert kube.status["phase"] == "Stopped" and "riskHalt" not in kube.status


async def test_a_halt_records_the_generation_of_its_moment(tmp_path: Path) -> None:
    """The bot started at generation 5; the spec changed (6) before the breach: the record says 6, so the pod the
    operator rolls for generation 6 stays halted (the change was not an answer to this halt)."""
    kube = FakeKube(tradingbot_object(5, {"maxPositionUsd": "100"}, None))

    def bump_after_start(path: str) -> None:
        if path == BOT_PATH and kube.objects[BOT_PATH]["metadata"]["generation"] == 5:
            kube.objects[BOT_PATH]["metadata"]["generation"] = 6

    kube.after_get = bump_after_start
    exchange = CountingPaper()
    bot = make_bot(tmp_path, kube, exchange, {"maxPositionUsd": "100"})  # 0.01 BTC ~ 600 USD: the first order trips
    task = asyncio.create_task(bot.run())
    halt = await until(
        lambda: (kube.status.get("riskHalt") or {}).get("generation") == 6 and kube.status["riskHalt"], "a record"
    )
    assert kube.status["phase"] == "RiskHalted"
    assert halt["limit"] == "maxPositionUsd" and halt["action"] == "pause"
    assert "maxPositionUsd 100" in halt["message"]
    assert exchange.placed == []  # refused before it went out
    assert "recorded in status.riskHalt" in kube.status["lastError"]
    assert await stop(bot, task) == EXIT_OK
    assert kube.status["phase"] == "RiskHalted" and kube.status["riskHalt"] == halt  # the final status keeps it

    # the next process, same generation: halted, no order
    exchange2 = CountingPaper()
    bot2 = make_bot(tmp_path, kube, exchange2, {"maxPositionUsd": "100"})
    kube.after_get = None
    task2 = asyncio.create_task(bot2.run())
    await until(lambda: bot2.halted_at_start and bot2.phase == "RiskHalted", "halted again")
    await asyncio.sleep(1.0)
    assert exchange2.placed == []
    assert await stop(bot2, task2) == EXIT_OK


async def test_no_trading_while_the_tradingbot_cannot_be_read(tmp_path: Path) -> None:
    kube = FakeKube(tradingbot_object(1, {}, None))
    del kube.objects[BOT_PATH]  # e.g. the API answers 404/403 for it
    exchange = CountingPaper()
    bot = make_bot(tmp_path, kube, exchange, {})
    task = asyncio.create_task(bot.run())
    await until(lambda: kube.gets.count(BOT_PATH) >= 2, "a retry")
    assert exchange.placed == [] and bot.strategy is None
    assert bot.events.last_error is not None and "cannot read the TradingBot" in bot.events.last_error
    assert await stop(bot, task) == EXIT_OK
    assert exchange.placed == []


async def test_outside_kubernetes_nothing_is_recorded(tmp_path: Path) -> None:
    kube = FakeKube(tradingbot_object(1, {}, None))
    exchange = CountingPaper()
    bot = make_bot(tmp_path, kube, exchange, {"maxPositionUsd": "100"})
    bot.kube_target = None  # as without PERPDEX_BOT_NAME / PERPDEX_NAMESPACE
    task = asyncio.create_task(bot.run())
    await until(lambda: bot.phase == "RiskHalted", "RiskHalted")
    assert bot.risk_halt is None and bot.halt_notice is None
    assert "riskHalt" not in bot.current_status().to_status()
    assert await stop(bot, task) == EXIT_OK
    assert kube.gets == [] and kube.status_patches == []


class UnreachablePaper(CountingPaper):
    async def connect(self) -> None:
        raise ExchangeError("paper: connection refused", exchange="paper")


async def test_a_held_halt_shows_while_the_venue_is_unreachable(tmp_path: Path) -> None:
    record = RiskHaltRecord(
        limit="maxDailyLossUsd", message="lost 510 USD today", action="closeAll", at=AT, generation=2
    )
    kube = FakeKube(tradingbot_object(2, {}, record))
    exchange = UnreachablePaper()
    bot = make_bot(tmp_path, kube, exchange, {})
    task = asyncio.create_task(bot.run())
    await until(lambda: kube.status.get("phase") == "RiskHalted", "RiskHalted before connecting")
    assert not bot.connected and kube.status["riskHalt"] == record.to_status()
    assert await stop(bot, task) == EXIT_OK
    assert kube.status["phase"] == "RiskHalted" and kube.status["riskHalt"] == record.to_status()
    assert exchange.placed == []


async def test_status_legs_are_read_at_start_handed_to_the_strategy_and_never_erased_before(tmp_path: Path) -> None:
    """status.legs of the previous process reach the strategy (fundingArb restores its pairs' entry from them); no
    status write before that read carries legs, so a restart that dies early cannot erase them."""
    leg = {
        "symbol": "BTC",
        "longExchange": "paper-a",
        "shortExchange": "paper-b",
        "size": "0.0166",
        "entrySpreadApr": "0.6132",
        "openedAt": "2026-11-24T08:30:15Z",
    }
    obj = tradingbot_object(2, {}, None)
    obj["status"]["legs"] = [leg]
    kube = FakeKube(obj)
    patches_before_read: list[dict[str, Any]] = []
    plain_get = kube.get

    async def slow_first_read(path: str, **params: Any) -> dict[str, Any]:
        if path == BOT_PATH and not patches_before_read:  # the reporter writes "Starting" before the answer comes
            await until(lambda: kube.status_patches, "a status write before the TradingBot is read")
            patches_before_read.extend(kube.status_patches)
        return await plain_get(path, **params)

    kube.get = slow_first_read  # type: ignore[method-assign]
    bot = make_bot(tmp_path, kube, CountingPaper(), {})
    remembered: list[Any] = []
    build = bot.build_strategy

    def spying_build() -> Any:
        strategy = build()
        strategy.remember_legs = remembered.extend  # type: ignore[method-assign]
        return strategy

    bot.build_strategy = spying_build  # type: ignore[method-assign]
    task = asyncio.create_task(bot.run())
    await until(lambda: remembered, "the legs handed to the strategy")
    [snapshot] = remembered
    assert (snapshot.symbol, snapshot.long_exchange, snapshot.short_exchange) == ("BTC", "paper-a", "paper-b")
    assert snapshot.entry_spread_apr == Decimal("0.6132") and snapshot.funding_pnl == 0
    assert snapshot.opened_at == datetime(2026, 11, 24, 8, 30, 15, tzinfo=UTC)
    assert patches_before_read and all("legs" not in p["status"] for p in patches_before_read)
    # kept until the strategy reports its own (a grid has none)
    await until(lambda: kube.status.get("legs") == [], "the strategy's own legs written")
    assert await stop(bot, task) == EXIT_OK
