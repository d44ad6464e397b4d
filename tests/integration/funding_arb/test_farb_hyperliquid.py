"""Funding-arb across a new venue and an existing one: the real Hyperliquid client and funding adapter against the
stateful Hyperliquid replay (every action's signer recovered with the SDK's own function), and a paper venue; both
collected into the REAL funding service on the REAL PostgreSQL. The pair opens long on the venue that pays less
(paper-a) and short on Hyperliquid when the service's net APR passes minNetApr, with an IOC signed by the API wallet;
when Hyperliquid's hourly rate flips below paper-a's, the pair exits and both legs are flat again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

pytest.importorskip("hyperliquid")

from bot_runtime.clock import VirtualClock
from bot_runtime.collector.collector import Collector
from bot_runtime.config import BotConfig, parse_config
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import Exchange, FundingSource
from bot_runtime.exchanges.paper import PaperExchange, PaperFundingSource, PaperOptions
from bot_runtime.funding_api.client import FundingServiceClient
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import RecordingEvents
from bot_runtime.strategies.funding_arb import ExitReason, FundingArbStrategy
from tests.integration.funding_service.fs_helpers import TOKEN, Service
from tests.support.replay import ReplayServer
from tests.unit.exchanges.test_hyperliquid_client import ENV, HyperliquidVenue, options

pytestmark = pytest.mark.integration

BASE = "http://funding.test"


def config() -> BotConfig:
    return parse_config(
        {
            "name": "farb-hl",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingServiceUrl": BASE,
            "fundingArb": {
                "exchanges": ["paper-a", "hyperliquid"],
                "symbols": ["BTC"],
                "positionSizeUsd": "1000",
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "preFundingWindow": "0s",
                # cycles run by hand on a virtual clock nobody advances meanwhile: a maker exit order would rest
                # forever (issue 22's maker-first exit is tested on the fault rig, test_farb_exit_orders.py)
                "exitOrders": "ioc",
            },
            # paper-a trades where the replay's BTC book is (97380 / 97381)
            "paper": {"volatility": "0", "startPrice": "97380.5", "step": "60s", "seed": 7},
        },
        require_credentials=False,
    )


@dataclass
class Rig:
    clock: VirtualClock
    service: Service
    hl: HyperliquidVenue
    venues: dict[str, Exchange]
    paper_source: PaperFundingSource
    collector: Collector
    strategy: FundingArbStrategy
    events: RecordingEvents
    clients: list[FundingServiceClient] = field(default_factory=list)

    async def collect(self) -> None:
        summary = await self.collector.cycle()
        assert summary.rates_ingested == summary.rates_collected > 0, self.collector.delivery_error

    async def opportunity(self) -> Any:
        client = FundingServiceClient(BASE, transport=httpx.ASGITransport(app=self.service.app))
        self.clients.append(client)
        page = await client.opportunities(symbol="BTC", hold_hours=72, min_divergence=0, min_profit=-1)
        [row] = page.opportunities
        return row

    async def sizes(self) -> dict[str, D]:
        return {name: (await venue.position("BTC")).size for name, venue in self.venues.items()}


@pytest.fixture
async def rig(service: Service) -> AsyncIterator[Rig]:
    clock = VirtualClock(datetime.now(UTC), settle_rounds=60)
    cfg = config()
    async with ReplayServer() as server:
        hl = HyperliquidVenue(server)
        hl.live_positions = True
        hl.now_ms = lambda: int(clock.now().timestamp() * 1000)  # books and fills on the strategy's clock
        hl.funding["BTC"] = "0.00001"
        paper_options = {**cfg.venue_options("paper-a"), "fundingRateHourly": "0.00001", "fundingIntervalHours": "1"}
        paper = PaperExchange("paper-a", paper_options, clock=clock)
        hyperliquid = registry.create_exchange("hyperliquid", options(server), ENV)
        venues: dict[str, Exchange] = {"paper-a": paper, "hyperliquid": hyperliquid}
        for venue in venues.values():
            await venue.connect()
        paper_source = PaperFundingSource("paper-a", PaperOptions.parse("paper-a", paper_options), clock)
        sources: dict[str, FundingSource] = {
            "paper-a": paper_source,
            "hyperliquid": registry.create_funding_source("hyperliquid", {"baseUrl": server.url}),
        }
        clients: list[FundingServiceClient] = []

        def client(token: str | None = None) -> FundingServiceClient:
            made = FundingServiceClient(BASE, token=token, transport=httpx.ASGITransport(app=service.app))
            clients.append(made)
            return made

        collector = Collector(sources, client(TOKEN).ingest, interval=60, timeout=10)
        events = RecordingEvents()
        strategy = FundingArbStrategy(cfg, venues, RiskManager(cfg.risk, clock), events, clock=clock, source=client())
        built = Rig(clock, service, hl, venues, paper_source, collector, strategy, events, clients)
        try:
            yield built
        finally:
            await strategy.stop_updates()
            for made in clients:
                await made.close()
            await collector.close()
            for venue in venues.values():
                await venue.close()


def hl_orders(rig: Rig) -> list[dict[str, Any]]:
    return [action["orders"][0] for action in rig.hl.actions if action["type"] == "order"]


async def test_pair_across_hyperliquid_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}  # equal hourly rates: nothing to earn
    assert hl_orders(rig) == []

    rig.hl.funding["BTC"] = "0.0001"  # Hyperliquid's longs now pay 0.0001/h, paper-a's 0.00001/h
    await rig.clock.advance(60)
    await rig.collect()
    row = await rig.opportunity()  # what the service computed from both collected rates and its fee table
    assert (row.long_dex, row.short_dex) == ("paper-a", "hyperliquid") and row.net_apr > D("0.15")
    await rig.strategy.cycle()
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "hyperliquid")
    sizes = await rig.sizes()
    assert sizes["paper-a"] > 0 and sizes["hyperliquid"] == -sizes["paper-a"]
    assert sizes["paper-a"] * D("97380") == pytest.approx(D(1000), rel=D("0.02"))
    [entry] = hl_orders(rig)  # the short leg: one IOC sell on Hyperliquid, signed by the API wallet
    assert (entry["b"], entry["r"], entry["t"]) == (False, False, {"limit": {"tif": "Ioc"}})
    assert D(entry["s"]) == -sizes["hyperliquid"]

    rig.hl.funding["BTC"] = "-0.0001"  # flipped: Hyperliquid now pays the shorts less than paper-a charges
    await rig.clock.advance(60)
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    assert await rig.sizes() == {"paper-a": 0, "hyperliquid": 0}
    exit_order = hl_orders(rig)[-1]
    assert (exit_order["b"], exit_order["r"]) == (True, True)  # a reduce-only buy closes the short
