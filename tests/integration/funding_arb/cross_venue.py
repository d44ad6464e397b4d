"""A funding-arb pair across one venue under test and a paper venue, end to end: the venue's real client and funding
adapter against its stateful replay, paper-a, both collected into the REAL funding service on the REAL PostgreSQL
(whose fee table knows the venue from its migration). Used by the per-venue tests (test_farb_<venue>.py), which
name the venue's replay and check the orders in its own wire format.

The scenario (:func:`open_then_exit_on_a_flip`): equal hourly rates earn nothing; the venue's rate rises, the service
ranks long paper-a / short venue above minNetApr and the bot opens it with an IOC; the venue's rate flips and the pair
exits with reduce-only orders, both legs flat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any, Protocol

import httpx
import pytest

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

BASE = "http://funding.test"


class ReplayVenue(Protocol):
    """What the scenario sets on a venue's stateful replay (tests/unit/exchanges/test_<venue>_client.py)."""

    live_positions: bool
    now_ms: Callable[[], int]
    funding: dict[str, str]


@dataclass(frozen=True)
class VenueUnderTest:
    name: str
    market: str  # the replay's funding key for BTC (its own market name)
    mid: str  # where the replay's BTC book is: paper-a trades there
    replay: Callable[[ReplayServer], ReplayVenue]
    client_options: Callable[[ReplayServer], dict[str, Any]]
    env: Mapping[str, str]
    funding_options: Callable[[ReplayServer], dict[str, Any]]
    # how far the clock moves between collections (a venue whose REST book carries no time is stamped with the real
    # time when read, so the virtual clock may run ahead of it by less than the strategy's maximum quote age, 15 s)
    step_seconds: float = 60.0
    # how close the legs' notional comes to positionSizeUsd: the venue's size step at the mid bounds it
    notional_tolerance: str = "0.02"


def config(venue: VenueUnderTest) -> BotConfig:
    return parse_config(
        {
            "name": f"farb-{venue.name}",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingServiceUrl": BASE,
            "fundingArb": {
                "exchanges": ["paper-a", venue.name],
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
            "paper": {"volatility": "0", "startPrice": venue.mid, "step": "60s", "seed": 7},
        },
        require_credentials=False,
    )


@dataclass
class Rig:
    venue: VenueUnderTest
    clock: VirtualClock
    service: Service
    replay: ReplayVenue
    venues: dict[str, Exchange]
    collector: Collector
    strategy: FundingArbStrategy
    clients: list[FundingServiceClient] = field(default_factory=list)

    def set_rate(self, hourly: str) -> None:
        self.replay.funding[self.venue.market] = hourly

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


@asynccontextmanager
async def cross_venue_rig(service: Service, venue: VenueUnderTest) -> AsyncIterator[Rig]:
    clock = VirtualClock(datetime.now(UTC), settle_rounds=60)
    cfg = config(venue)
    async with ReplayServer() as server:
        replay = venue.replay(server)
        replay.live_positions = True
        replay.now_ms = lambda: int(clock.now().timestamp() * 1000)  # books, orders and fills on the bot's clock
        replay.funding[venue.market] = "0.00001"
        paper_options = {**cfg.venue_options("paper-a"), "fundingRateHourly": "0.00001", "fundingIntervalHours": "1"}
        venues: dict[str, Exchange] = {
            "paper-a": PaperExchange("paper-a", paper_options, clock=clock),
            venue.name: registry.create_exchange(venue.name, venue.client_options(server), dict(venue.env)),
        }
        for exchange in venues.values():
            await exchange.connect()
        sources: dict[str, FundingSource] = {
            "paper-a": PaperFundingSource("paper-a", PaperOptions.parse("paper-a", paper_options), clock),
            venue.name: registry.create_funding_source(venue.name, venue.funding_options(server)),
        }
        clients: list[FundingServiceClient] = []

        def client(token: str | None = None) -> FundingServiceClient:
            made = FundingServiceClient(BASE, token=token, transport=httpx.ASGITransport(app=service.app))
            clients.append(made)
            return made

        collector = Collector(sources, client(TOKEN).ingest, interval=60, timeout=10)
        risk = RiskManager(cfg.risk, clock)
        strategy = FundingArbStrategy(cfg, venues, risk, RecordingEvents(), clock=clock, source=client())
        rig = Rig(venue, clock, service, replay, venues, collector, strategy, clients)
        try:
            yield rig
        finally:
            await strategy.stop_updates()
            for made in clients:
                await made.close()
            await collector.close()
            for exchange in venues.values():
                await exchange.close()


async def open_then_exit_on_a_flip(
    rig: Rig,
    *,
    orders: Callable[[], list[Any]],
    check_entry: Callable[[Any, D], None],
    check_exit: Callable[[Any], None],
) -> None:
    """``orders``: the venue's orders as its replay received them; ``check_entry(order, size)``: the short leg's IOC
    sell of ``size`` in the venue's wire format; ``check_exit(order)``: the reduce-only buy that closes it."""
    name, mid = rig.venue.name, D(rig.venue.mid)
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}  # equal hourly rates: nothing to earn
    assert orders() == []

    rig.set_rate("0.0001")  # the venue's longs now pay 0.0001/h, paper-a's 0.00001/h
    await rig.clock.advance(rig.venue.step_seconds)
    await rig.collect()
    row = await rig.opportunity()  # what the service computed from both collected rates and its fee table
    assert (row.long_dex, row.short_dex) == ("paper-a", name) and row.net_apr > D("0.15")
    await rig.strategy.cycle()
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", name)
    sizes = await rig.sizes()
    assert sizes["paper-a"] > 0 and sizes[name] == -sizes["paper-a"]
    assert sizes["paper-a"] * mid == pytest.approx(D(1000), rel=D(rig.venue.notional_tolerance))
    [entry] = orders()  # the short leg: one IOC sell
    check_entry(entry, -sizes[name])

    rig.set_rate("-0.0001")  # flipped: the venue now pays the shorts less than paper-a charges
    await rig.clock.advance(rig.venue.step_seconds)
    await rig.collect()
    await rig.strategy.cycle()
    assert rig.strategy.pairs == {}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    assert await rig.sizes() == {"paper-a": D(0), name: D(0)}
    check_exit(orders()[-1])
