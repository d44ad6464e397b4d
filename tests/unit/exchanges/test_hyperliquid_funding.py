"""Hyperliquid funding adapter: the hourly rate of every listed perpetual, USD conversions, canonical symbols, one
public request and no SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import FundingSource, TransientNetworkError
from tests.support.replay import ReplayServer, Reply, load_fixture


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("POST", "/info", load_fixture("hyperliquid", "meta_and_asset_ctxs"))
        yield server


@pytest.fixture
async def source(venue: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = registry.create_funding_source("hyperliquid", {"baseUrl": venue.url})
    yield funding
    await funding.close()


async def test_every_listed_perpetual_at_its_hourly_rate(source: FundingSource, venue: ReplayServer) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE", "SOL"}  # MATIC is delisted
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    # the venue's `funding` is already per hour (it settles hourly): reported as is, with a 1 h interval
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC",
        Decimal("0.0000125"),
        Decimal(1),
        Decimal("0.0000125"),
    )
    assert eth.rate == Decimal("-0.0000041176")  # negative: shorts pay longs
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("kPEPE", Decimal(1000), Decimal("0.0000097317"))
    assert [r.json() for r in venue.requests] == [{"type": "metaAndAssetCtxs"}]


async def test_usd_conversions_prices_and_next_funding(source: FundingSource) -> None:
    before = datetime.now(UTC)
    rates = {r.symbol: r for r in await source.funding_rates()}
    btc, pepe = rates["BTC"], rates["PEPE"]
    assert btc.open_interest_usd == Decimal("30567.86874") * Decimal("97381.0")
    assert pepe.open_interest_usd == Decimal("4412392917.0") * Decimal("0.020121")  # kPEPE contracts x their mark
    assert (btc.mark_price, btc.index_price, btc.volume_24h_usd) == (
        Decimal("97381.0"),
        Decimal("97345.0"),
        Decimal("2413698612.7325325012"),
    )
    next_time = btc.next_funding_time
    assert next_time is not None and (next_time.minute, next_time.second) == (0, 0)
    assert before < next_time <= before + timedelta(hours=1)


async def test_symbol_filter(source: FundingSource) -> None:
    rates = await source.funding_rates(["PEPE", "ETH"])
    assert sorted((r.symbol, r.venue_symbol) for r in rates) == [("ETH", "ETH"), ("PEPE", "kPEPE")]


async def test_public_endpoint_only(source: FundingSource, venue: ReplayServer) -> None:
    await source.funding_rates()
    assert all("signature" not in (r.json() or {}) and "user" not in (r.json() or {}) for r in venue.requests)


async def test_an_outage_is_a_typed_error(source: FundingSource, venue: ReplayServer) -> None:
    venue.route("POST", "/info", Reply(503, body="maintenance"))
    with pytest.raises(TransientNetworkError):
        await source.funding_rates()


async def test_minimum_order_size_is_ten_dollars_on_the_size_step(source: FundingSource, venue: ReplayServer) -> None:
    """No minimum size on Hyperliquid, a $10 minimum value: the smallest size on the ``szDecimals`` step worth $10 at
    ``markPx`` (meta_and_asset_ctxs.json), x the multiplier; None without a mark price."""
    sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
    assert sizes["BTC"] == Decimal("0.00011")  # szDecimals 5; $10 / 97381 = 0.000102.. -> up to the step
    assert sizes["ETH"] == Decimal("0.0028")  # szDecimals 4; $10 / 3701.1 = 0.00270..
    assert sizes["SOL"] == Decimal("0.05")  # szDecimals 2; $10 / 243.25 = 0.0411..
    assert sizes["PEPE"] == Decimal(497) * 1000  # kPEPE, szDecimals 0; $10 / 0.020121 = 496.99..
    answer = load_fixture("hyperliquid", "meta_and_asset_ctxs")
    for ctx in answer[1]:
        ctx.pop("markPx", None)
    venue.route("POST", "/info", answer)
    assert {r.min_order_size for r in await source.funding_rates()} == {None}
