"""Funding-arb across Extended and a paper venue: the real Extended client and funding adapter against the stateful
Extended replay (every order's Stark signature verified, the settlement hash recomputed with the SDK's own
``hash_order``), and paper-a; both collected into the REAL funding service on the REAL PostgreSQL, whose fee table
knows Extended from migration 005. The pair opens long on the venue that pays less (paper-a) and short on Extended
when the service's net APR passes minNetApr, with an IOC the engine fills (its verdict awaited as on the live venue);
when Extended's hourly rate flips below paper-a's, the pair exits and both legs are flat again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import httpx
import pytest

pytest.importorskip("x10")

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
from tests.unit.exchanges.test_extended_client import API, ENV, ExtendedVenue, options

pytestmark = pytest.mark.integration

BASE = "http://funding.test"


def config() -> BotConfig:
    return parse_config(
        {
            "name": "farb-ext",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingServiceUrl": BASE,
            "fundingArb": {
                "exchanges": ["paper-a", "extended"],
                "symbols": ["BTC"],
                "positionSizeUsd": "1000",
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "preFundingWindow": "0s",
                # cycles run by hand on a virtual clock nobody advances meanwhile: a maker exit would rest forever
                "exitOrders": "ioc",
            },
            # paper-a trades where the replay's BTC book is (64235.9 / 64268.2)
            "paper": {"volatility": "0", "startPrice": "64252.05", "step": "60s", "seed": 7},
        },
        require_credentials=False,
    )


@dataclass
class Rig:
    clock: VirtualClock
    service: Service
    ext: ExtendedVenue
    venues: dict[str, Exchange]
    collector: Collector
    strategy: FundingArbStrategy
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
        ext = ExtendedVenue(server)
        ext.live_positions = True
        ext.now_ms = lambda: int(clock.now().timestamp() * 1000)  # orders and fills on the strategy's clock
        ext.funding["BTC-USD"] = "0.00001"
        paper_options = {**cfg.venue_options("paper-a"), "fundingRateHourly": "0.00001", "fundingIntervalHours": "1"}
        paper = PaperExchange("paper-a", paper_options, clock=clock)
        extended = registry.create_exchange("extended", options(server), ENV)
        venues: dict[str, Exchange] = {"paper-a": paper, "extended": extended}
        for venue in venues.values():
            await venue.connect()
        sources: dict[str, FundingSource] = {
            "paper-a": PaperFundingSource("paper-a", PaperOptions.parse("paper-a", paper_options), clock),
            "extended": registry.create_funding_source("extended", {"baseUrl": server.url + API}),
        }
        clients: list[FundingServiceClient] = []

        def client(token: str | None = None) -> FundingServiceClient:
            made = FundingServiceClient(BASE, token=token, transport=httpx.ASGITransport(app=service.app))
            clients.append(made)
            return made

        collector = Collector(sources, client(TOKEN).ingest, interval=60, timeout=10)
        events = RecordingEvents()
        strategy = FundingArbStrategy(cfg, venues, RiskManager(cfg.risk, clock), events, clock=clock, source=client())
        built = Rig(clock, service, ext, venues, collector, strategy, clients)
        try:
            yield built
        finally:
            await strategy.stop_updates()
            for made in clients:
                await made.close()
            await collector.close()
            for venue in venues.values():
                await venue.close()


async def test_pair_across_extended_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}  # equal hourly rates: nothing to earn
    assert rig.ext.bodies == []

    rig.ext.funding["BTC-USD"] = "0.0001"  # Extended's longs now pay 0.0001/h, paper-a's 0.00001/h
    # Extended's REST book carries no time: a quote is stamped with the real time when read, so the virtual clock may
    # run ahead of it by less than the strategy's maximum quote age (15 s)
    await rig.clock.advance(10)
    await rig.collect()
    row = await rig.opportunity()  # what the service computed from both collected rates and its fee table
    assert (row.long_dex, row.short_dex) == ("paper-a", "extended") and row.net_apr > D("0.15")
    await rig.strategy.cycle()
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "extended")
    sizes = await rig.sizes()
    assert sizes["paper-a"] > 0 and sizes["extended"] == -sizes["paper-a"]
    assert sizes["paper-a"] * D("64250") == pytest.approx(D(1000), rel=D("0.02"))
    [entry] = rig.ext.bodies  # the short leg: one IOC sell on Extended, its settlement signed by the Stark key
    assert (entry["side"], entry["timeInForce"], entry["postOnly"], entry["reduceOnly"]) == (
        "SELL",
        "IOC",
        False,
        False,
    )
    assert D(entry["qty"]) == -sizes["extended"]

    rig.ext.funding["BTC-USD"] = "-0.0001"  # flipped: Extended now pays the shorts less than paper-a charges
    await rig.clock.advance(10)
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    assert await rig.sizes() == {"paper-a": D(0), "extended": D(0)}
    exit_order = rig.ext.bodies[-1]
    assert (exit_order["side"], exit_order["timeInForce"], exit_order["reduceOnly"]) == ("BUY", "IOC", True)
