"""Ethereal funding adapter: the hourly rate of every active perpetual, USD conversions at the oracle price,
canonical symbols, public requests only and no SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import ExchangeError, FundingSource, TransientNetworkError
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

BTC_ID = "bc7d5575-3711-4532-a000-312bfacfb767"


def market_price(request: RecordedRequest) -> object:
    rows = {row["productId"]: row for row in load_fixture("ethereal", "market_price")["data"]}
    return {"data": [rows[pid] for pid in request.query_all["productIds"] if pid in rows]}


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/v1/product", load_fixture("ethereal", "products"))
        server.route("GET", "/v1/product/market-price", market_price)
        yield server


@pytest.fixture
async def source(venue: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = registry.create_funding_source("ethereal", {"baseUrl": venue.url})
    yield funding
    await funding.close()


async def test_every_active_perpetual_at_its_hourly_rate(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}  # SOLUSD is PENDING, ENAUSD spot
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    # `fundingRate1h` is per hour and Ethereal charges hourly: reported as is, with a 1 h interval
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTCUSD",
        Decimal("0.0000125"),
        Decimal(1),
        Decimal("0.0000125"),
    )
    assert eth.rate == Decimal("-0.0000042")  # negative: shorts pay longs
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("1000PEPEUSD", Decimal(1000), Decimal("0.00003"))


async def test_usd_conversions_prices_and_next_funding(source: FundingSource) -> None:
    before = datetime.now(UTC)
    rates = {r.symbol: r for r in await source.funding_rates()}
    btc, pepe = rates["BTC"], rates["PEPE"]
    oracle = Decimal("104400.1")
    assert (btc.mark_price, btc.index_price, btc.best_bid, btc.best_ask) == (
        oracle,
        oracle,
        Decimal(104399),
        Decimal(104401),
    )
    assert btc.open_interest_usd == Decimal("152.4301") * oracle
    assert btc.volume_24h_usd == Decimal("1893.2201") * oracle
    assert pepe.open_interest_usd == Decimal(91000000) * Decimal("0.012346")  # 1000PEPE contracts x their price
    next_time = btc.next_funding_time
    assert next_time is not None and (next_time.minute, next_time.second) == (0, 0)
    assert before < next_time <= before + timedelta(hours=1)


async def test_symbol_filter_asks_prices_of_those_products_only(source: FundingSource, venue: ReplayServer) -> None:
    rates = await source.funding_rates(["BTC"])
    assert [(r.symbol, r.venue_symbol) for r in rates] == [("BTC", "BTCUSD")]
    assert venue.requests_to("GET", "/v1/product/market-price")[-1].query_all["productIds"] == [BTC_ID]


async def test_public_endpoints_only(source: FundingSource, venue: ReplayServer) -> None:
    await source.funding_rates()
    assert {r.path for r in venue.requests} == {"/v1/product", "/v1/product/market-price"}
    assert all(r.method == "GET" and not r.body for r in venue.requests)


async def test_an_outage_is_a_typed_error(source: FundingSource, venue: ReplayServer) -> None:
    venue.route("GET", "/v1/product", Reply(503, body="maintenance"))
    with pytest.raises(TransientNetworkError):
        await source.funding_rates()
    venue.route("GET", "/v1/product", {"unexpected": True})
    with pytest.raises(ExchangeError):
        await source.funding_rates()


def test_the_collector_side_imports_no_sdk() -> None:
    code = (
        "import sys; from bot_runtime.exchanges import registry;"
        "registry.create_funding_source('ethereal', {});"
        "print(sorted({'ethereal', 'web3', 'eth_account'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]


async def test_minimum_order_size_in_base_units(source: FundingSource) -> None:
    """``/v1/product``'s ``minQuantity`` / ``lotSize`` (products.json; the larger), x the multiplier."""
    sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
    assert sizes == {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001"), "PEPE": Decimal(1000)}  # 1000PEPEUSD: 1 x 1000
