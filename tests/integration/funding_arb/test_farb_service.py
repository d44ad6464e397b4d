"""The funding-arb strategy against the REAL funding service on the REAL PostgreSQL, fed by a paper collector cycle:
a pair opens when the service's net APR passes minNetApr (and not before), earns funding with the right sign on both
legs, shows in the status legs, exits on a spread flip; a restart recovers the pair without reopening; a venue the
service does not know is left out; the real run loop and shutdown(closePositions) work over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.collector.collector import Collector
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.paper import PaperExchange, PaperFundingSource, PaperOptions
from bot_runtime.funding_api.client import FundingServiceClient
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import RecordingEvents
from bot_runtime.strategies.funding_arb import ExitReason, FundingArbStrategy, Tuning
from tests.integration.funding_service.fs_helpers import TOKEN, Service

pytestmark = pytest.mark.integration

BASE = "http://funding.test"
SIZE = D("0.0166")  # 1000 USD at 60000, on the 0.0001 step


def config(**fa: Any) -> BotConfig:
    return parse_config(
        {
            "name": "farb-it",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingServiceUrl": BASE,
            "fundingArb": {
                "exchanges": ["paper-a", "paper-b"],
                "symbols": ["BTC"],
                "positionSizeUsd": "1000",
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "preFundingWindow": "0s",
                # the stack runs cycles by hand on a virtual clock nobody advances meanwhile: a maker exit order
                # would rest forever; the maker-first exit is tested on the fault rig (test_farb_exit_orders.py)
                "exitOrders": "ioc",
                **fa,
            },
            "paper": {"volatility": "0", "startPrice": "60000", "step": "60s", "seed": 7},
        }
    )


@dataclass
class Stack:
    clock: VirtualClock
    service: Service
    config: BotConfig
    venues: dict[str, PaperExchange]
    sources: dict[str, PaperFundingSource]
    collector: Collector
    clients: list[FundingServiceClient]
    strategy: FundingArbStrategy
    events: RecordingEvents

    def client(self, token: str | None = None) -> FundingServiceClient:
        client = FundingServiceClient(BASE, token=token, transport=httpx.ASGITransport(app=self.service.app))
        self.clients.append(client)
        return client

    def new_strategy(self, cfg: BotConfig | None = None, tuning: Tuning | None = None) -> FundingArbStrategy:
        self.events = RecordingEvents()
        self.strategy = FundingArbStrategy(
            cfg or self.config,
            self.venues,
            RiskManager((cfg or self.config).risk, self.clock),
            self.events,
            clock=self.clock,
            source=self.client(),
            tuning=tuning,
        )
        return self.strategy

    def set_rates(self, **hourly: str) -> None:
        """The venue pays this hourly rate and its collector reports it."""
        for key, value in hourly.items():
            name = key.replace("_", "-")
            self.venues[name].funding.hourly_rate = D(value)
            self.sources[name].model.hourly_rate = D(value)

    async def collect(self) -> None:
        summary = await self.collector.cycle()
        assert summary.rates_ingested == summary.rates_collected > 0, self.collector.delivery_error

    async def hours(self, n: int) -> None:
        """n hours of virtual time, each followed by a collector cycle and a strategy cycle."""
        for _ in range(n):
            await self.clock.advance(3600)
            await self.collect()
            await self.strategy.cycle()

    async def sizes(self) -> dict[str, D]:
        return {name: (await v.position("BTC")).size for name, v in self.venues.items()}


@pytest.fixture
async def stack(service: Service) -> AsyncIterator[Stack]:
    # virtual time starts at the real now: the service judges freshness on its own (real) clock
    clock = VirtualClock(datetime.now(UTC), settle_rounds=60)
    cfg = config()
    rates = {"paper-a": "0.00001", "paper-b": "0.00002"}
    venues: dict[str, PaperExchange] = {}
    sources: dict[str, PaperFundingSource] = {}
    for name, rate in rates.items():
        options = {**cfg.venue_options(name), "fundingRateHourly": rate, "fundingIntervalHours": "1"}
        venues[name] = PaperExchange(name, options, clock=clock)
        await venues[name].connect()
        sources[name] = PaperFundingSource(name, PaperOptions.parse(name, options), clock)
    st = Stack(clock, service, cfg, venues, sources, None, [], None, RecordingEvents())  # type: ignore[arg-type]
    ingest = st.client(TOKEN)
    st.collector = Collector(sources, ingest.ingest, interval=60, timeout=10)
    st.new_strategy()
    try:
        yield st
    finally:
        await st.strategy.stop_updates()
        for client in st.clients:
            await client.close()
        for venue in venues.values():
            await venue.close()


async def test_pair_opens_above_min_net_apr_earns_funding_and_exits_on_a_flip(stack: Stack) -> None:
    await stack.collect()
    await stack.strategy.cycle()
    assert stack.strategy.pairs == {}  # spread 0.00001/h: net APR < 0.15 at the service
    page = await stack.client().opportunities(symbol="BTC", hold_hours=72, min_divergence=0, min_profit=-1)
    [row] = page.opportunities
    assert row.net_apr < D("0.15") and (row.long_dex, row.short_dex) == ("paper-a", "paper-b")
    assert await stack.sizes() == {"paper-a": 0, "paper-b": 0}

    stack.set_rates(paper_b="0.0001")  # spread 0.00009/h: net APR 0.7884 - 0.2433
    await stack.clock.advance(60)  # the service keeps the newest reading of a period: a later one
    await stack.collect()
    await stack.strategy.cycle()
    [pair] = stack.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "paper-b")
    assert await stack.sizes() == {"paper-a": SIZE, "paper-b": -SIZE}
    assert pair.entry_spread_hourly == D("0.00009")

    await stack.hours(3)
    paid = 3 * SIZE * 60000 * D("0.00001")
    received = 3 * SIZE * 60000 * D("0.0001")
    assert pair.long.funding_pnl == -paid
    assert pair.short.funding_pnl == received
    [leg] = stack.strategy.snapshot().legs
    assert leg.funding_pnl == received - paid
    assert leg.current_net_apr == (D("0.00009") * 72 - D("0.001")) * 8760 / 72  # exit fees only: entry's are sunk
    assert leg.entry_spread_apr == D("0.00009") * 8760
    assert stack.strategy.pairs_opened == 1

    stack.set_rates(paper_a="0.0002", paper_b="0.00001")  # flipped
    await stack.hours(1)
    assert stack.strategy.pairs == {}
    [closed] = stack.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    # the hour before the flip was seen was paid at the flipped rates: the pair lost on it
    assert closed.funding_pnl == received - paid + SIZE * 60000 * (D("0.00001") - D("0.0002"))
    assert await stack.sizes() == {"paper-a": 0, "paper-b": 0}


async def test_restart_recovers_the_pair_without_reopening(stack: Stack) -> None:
    stack.set_rates(paper_b="0.0001")
    await stack.collect()
    await stack.strategy.cycle()
    assert len(stack.strategy.pairs) == 1
    await stack.hours(1)
    await stack.strategy.stop_updates()  # the pod dies

    strategy = stack.new_strategy()
    await stack.hours(1)
    [pair] = strategy.pairs.values()
    assert pair.recovered and pair.base_size == SIZE
    assert pair.entry_spread_hourly == D("0.00009")  # the service's current spread stands in for it
    assert stack.events.orders == []
    assert await stack.sizes() == {"paper-a": SIZE, "paper-b": -SIZE}


async def test_a_venue_without_data_at_the_service_is_left_out(stack: Stack) -> None:
    cfg = config(exchanges=["paper-a", "paper-b", "paper-z"])
    z = PaperExchange("paper-z", {**cfg.venue_options("paper-z"), "fundingRateHourly": "0.001"}, clock=stack.clock)
    await z.connect()
    stack.venues["paper-z"] = z
    try:
        stack.set_rates(paper_b="0.0001")
        await stack.collect()  # paper-a and paper-b only: the service has never heard of paper-z
        strategy = stack.new_strategy(cfg)
        await strategy.cycle()
        [pair] = strategy.pairs.values()
        assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "paper-b")
        assert any("no data for paper-z" in str(e) for e in stack.events.errors)
    finally:
        stack.venues.pop("paper-z")
        await z.close()


async def test_the_run_loop_and_shutdown_over_http(stack: Stack) -> None:
    stack.set_rates(paper_b="0.0001")
    await stack.collect()
    strategy = stack.new_strategy(tuning=Tuning(poll_interval=30.0))
    stopping = asyncio.Event()
    task = asyncio.create_task(strategy.run(stopping))
    deadline = time.monotonic() + 30  # real seconds: a generous bound for a few HTTP round trips
    while not strategy.pairs and time.monotonic() < deadline and not task.done():
        await stack.clock.advance(1)
        await asyncio.sleep(0.02)  # the service answers over real I/O
    assert len(strategy.pairs) == 1, strategy.last_error
    assert strategy.snapshot().phase.value == "Running"
    stopping.set()
    await stack.clock.drive(task)
    await strategy.shutdown(OnStop.CLOSE_POSITIONS)
    assert await stack.sizes() == {"paper-a": 0, "paper-b": 0}
    assert strategy.snapshot().phase.value == "Stopped"


async def test_exit_on_net_apr_decay_through_the_service(stack: Stack) -> None:
    strategy = stack.new_strategy(config(erosionExitRatio="0.1"))
    stack.set_rates(paper_b="0.0001")
    await stack.collect()
    await strategy.cycle()
    assert len(strategy.pairs) == 1
    # a held pair's net APR charges only its exit fees (0.0005 + 0.0005 over holdHours 72): 0.1217 a year
    stack.set_rates(paper_b="0.00005")  # spread 0.00004/h: net APR 0.3504 - 0.1217 still above exitNetApr 0.03
    await stack.hours(1)
    assert len(strategy.pairs) == 1
    stack.set_rates(paper_b="0.00004")  # spread 0.00003/h: 0.2628 - 0.1217 = 0.1411, kept (the round trip: closed)
    await stack.hours(1)
    assert len(strategy.pairs) == 1
    stack.set_rates(paper_b="0.000025")  # spread 0.000015/h: 0.1314 - 0.1217 = 0.0097 < 0.03 (no erosion at 0.1)
    await stack.hours(1)
    assert strategy.pairs == {}
    [closed] = strategy.closed
    assert closed.reason is ExitReason.NET_APR
    assert await stack.sizes() == {"paper-a": 0, "paper-b": 0}
