"""The Extended funding adapter against a replay of the public ``GET /api/v1/info/markets``: hourly rates as
published, USD open interest and volume as published, the next funding time from ``nextFundingRate`` (epoch ms),
canonical symbols, public only, an outage as a typed error."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import ExchangeError, FundingSource, TransientNetworkError
from tests.support.replay import ReplayServer, Reply, load_fixture


@pytest.fixture
async def server() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as replay:
        replay.route("GET", "/api/v1/info/markets", load_fixture("extended", "markets"))
        yield replay


@pytest.fixture
async def source(server: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = registry.create_funding_source("extended", {"baseUrl": server.url + "/api/v1"})
    yield funding
    await funding.close()


async def test_every_active_perpetual_with_its_hourly_rate(source: FundingSource, server: ReplayServer) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}  # MATIC-USD inactive, XVS-USD spot
    btc = rates["BTC"]
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC-USD",
        Decimal("-0.000034"),
        Decimal(1),
        Decimal("-0.000034"),
    )
    assert (btc.mark_price, btc.index_price, btc.best_bid, btc.best_ask) == (
        Decimal("64267.380482593245"),
        Decimal("64286.409493065992"),
        Decimal("64235.9"),
        Decimal("64268.2"),
    )
    # openInterest and dailyVolume are USD already (openInterestBase 2.34380 x the mark = 150629.9)
    assert (btc.open_interest_usd, btc.volume_24h_usd) == (Decimal("150629.886375"), Decimal("2410800.768021"))
    assert btc.next_funding_time == datetime(2024, 5, 7, 9, 0, tzinfo=UTC)
    pepe = rates["PEPE"]
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("1000PEPE-USD", Decimal(1000), Decimal("0.0000125"))
    request = server.requests_to("GET", "/api/v1/info/markets")[-1]
    assert request.header("X-Api-Key") is None  # public: no credentials sent


async def test_the_symbol_filter(source: FundingSource) -> None:
    assert [r.symbol for r in await source.funding_rates(["eth"])] == ["ETH"]


@pytest.mark.parametrize(
    ("reply", "error"),
    [(Reply(503, body="maintenance"), TransientNetworkError), (Reply(200, body="<html>"), ExchangeError),
     (Reply(json={"status": "OK", "data": [{"name": "BTC-USD"}]}), ExchangeError)],
)  # fmt: skip
async def test_an_outage_is_a_typed_error(
    source: FundingSource, server: ReplayServer, reply: Reply, error: type[Exception]
) -> None:
    server.route("GET", "/api/v1/info/markets", reply)
    with pytest.raises(error):
        await source.funding_rates()


async def test_minimum_order_size_in_base_units(source: FundingSource, server: ReplayServer) -> None:
    """``/info/markets``' ``tradingConfig.minOrderSize`` (markets.json), x the multiplier; None without it."""
    sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
    assert sizes == {"BTC": Decimal("0.0001"), "ETH": Decimal("0.01"), "PEPE": Decimal(1000) * 1000}
    markets = load_fixture("extended", "markets")
    for market in markets["data"]:
        market.pop("tradingConfig", None)
    server.route("GET", "/api/v1/info/markets", markets)
    assert {r.min_order_size for r in await source.funding_rates()} == {None}
