"""Aster funding adapter: every perpetual's rate with its own interval, USD conversions, canonical symbols."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import FundingSource
from tests.support.replay import ReplayServer, Reply, load_fixture


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        for path, name in [
            ("/fapi/v1/exchangeInfo", "exchange_info"),
            ("/fapi/v1/premiumIndex", "premium_index"),
            ("/fapi/v1/fundingInfo", "funding_info"),
            ("/fapi/v1/ticker/24hr", "ticker_24hr"),
            ("/fapi/v1/ticker/bookTicker", "book_ticker"),
        ]:
            server.route("GET", path, load_fixture("aster", name))
        server.route("GET", "/fapi/v1/openInterest", Reply(400, {"code": -1121, "msg": "Invalid symbol."}))
        for symbol in ("BTCUSDT", "1000PEPEUSDT"):
            server.route(
                "GET",
                "/fapi/v1/openInterest",
                load_fixture("aster", f"open_interest_{symbol.lower()}"),
                query={"symbol": symbol},
            )
        yield server


@pytest.fixture
async def source(venue: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = registry.create_funding_source("aster", {"baseUrl": venue.url})
    yield funding
    await funding.close()


async def test_every_perpetual_with_its_true_interval(source: FundingSource, venue: ReplayServer) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTCUSDT",
        Decimal("0.0001"),
        Decimal(8),
        Decimal("0.0000125"),
    )
    assert (pepe.venue_symbol, pepe.multiplier, pepe.interval_hours, pepe.hourly_rate) == (
        "1000PEPEUSDT",
        Decimal(1000),
        Decimal(4),
        Decimal("0.0001"),
    )
    assert eth.interval_hours == Decimal(8)  # absent from fundingInfo: the documented 8 h default
    assert eth.rate == Decimal("-0.00005")


async def test_usd_conversions_prices_and_times(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    btc, pepe, eth = rates["BTC"], rates["PEPE"], rates["ETH"]
    assert btc.open_interest_usd == Decimal("2500.125") * Decimal("97012.34000000")
    assert pepe.open_interest_usd == Decimal("8000000000") * Decimal("0.0123400")
    assert eth.open_interest_usd is None  # the venue had none for it
    assert btc.volume_24h_usd == Decimal("1486900000.50")
    assert (btc.mark_price, btc.index_price, btc.best_bid, btc.best_ask) == (
        Decimal("97012.34000000"),
        Decimal("97000.10000000"),
        Decimal("97012.3"),
        Decimal("97012.4"),
    )
    assert btc.next_funding_time == datetime(2025, 11, 25, 16, 0, tzinfo=UTC)


async def test_symbol_filter_and_quote_choice(source: FundingSource, venue: ReplayServer) -> None:
    rates = await source.funding_rates(["BTC"])
    assert [(r.symbol, r.venue_symbol) for r in rates] == [("BTC", "BTCUSDT")]
    oi_requests = venue.requests_to("GET", "/fapi/v1/openInterest")
    assert [r.query["symbol"] for r in oi_requests] == ["BTCUSDT"]


async def test_public_endpoints_only(source: FundingSource, venue: ReplayServer) -> None:
    await source.funding_rates()
    assert all(r.header("X-MBX-APIKEY") is None and "signature" not in r.query for r in venue.requests)


async def test_minimum_order_size_in_base_units(source: FundingSource, venue: ReplayServer) -> None:
    """``exchangeInfo``'s ``LOT_SIZE`` ``minQty`` (exchange_info.json), x the multiplier; None without the filter."""
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert rates["BTC"].min_order_size == Decimal("0.001")
    assert rates["PEPE"].min_order_size == Decimal(1) * 1000  # 1000PEPEUSDT: 1 contract of 1000 PEPE
    info = load_fixture("aster", "exchange_info")
    for sym in info["symbols"]:
        if sym["symbol"] == "ETHUSDT":
            sym["filters"] = [f for f in sym["filters"] if f["filterType"] != "LOT_SIZE"]
    venue.route("GET", "/fapi/v1/exchangeInfo", info)
    assert {r.symbol: r.min_order_size for r in await source.funding_rates(["ETH"])} == {"ETH": None}
