"""Backpack funding adapter: hourly (or the market's published) interval, USD conversions, kPEPE → PEPE x1000."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import FundingSource
from tests.support.replay import ReplayServer, load_fixture


@pytest.fixture
async def source() -> AsyncIterator[tuple[FundingSource, ReplayServer]]:
    async with ReplayServer() as server:
        for path, name in [
            ("/api/v1/markets", "markets"),
            ("/api/v1/markPrices", "mark_prices"),
            ("/api/v1/tickers", "tickers"),
            ("/api/v1/openInterest", "open_interest"),
        ]:
            server.route("GET", path, load_fixture("backpack", name))
        funding = registry.create_funding_source("backpack", {"baseUrl": server.url})
        yield funding, server
        await funding.close()


async def test_rates_intervals_and_symbols(source: tuple[FundingSource, ReplayServer]) -> None:
    funding, _ = source
    rates = {r.symbol: r for r in await funding.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}  # closed market and spot market left out
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC_USDC_PERP",
        Decimal("0.0000125"),
        Decimal(1),
        Decimal("0.0000125"),
    )
    assert (eth.interval_hours, eth.hourly_rate) == (Decimal(8), Decimal("-0.0000125"))  # its published 8 h interval
    assert (pepe.venue_symbol, pepe.multiplier, pepe.interval_hours) == ("kPEPE_USDC_PERP", Decimal(1000), Decimal(1))


async def test_usd_conversions_and_times(source: tuple[FundingSource, ReplayServer]) -> None:
    funding, server = source
    rates = {r.symbol: r for r in await funding.funding_rates()}
    btc, pepe = rates["BTC"], rates["PEPE"]
    assert btc.open_interest_usd == Decimal("1273.85214") * Decimal("97010.51853741")
    assert pepe.open_interest_usd is None
    assert btc.volume_24h_usd == Decimal("250000000.123456")
    assert (btc.mark_price, btc.index_price) == (Decimal("97010.51853741"), Decimal("97000.18643195"))
    assert btc.next_funding_time == datetime(2025, 11, 25, 11, 0, tzinfo=UTC)
    assert all(r.header("X-API-Key") is None for r in server.requests)


async def test_symbol_filter(source: tuple[FundingSource, ReplayServer]) -> None:
    funding, _ = source
    assert [r.venue_symbol for r in await funding.funding_rates(["PEPE"])] == ["kPEPE_USDC_PERP"]


def test_funding_adapter_does_not_import_bpx() -> None:
    code = (
        "import sys\n"
        "from bot_runtime.exchanges import registry\n"
        "registry.create_funding_source('backpack', {})\n"
        "print(sorted(m for m in ('bpx', 'paradex_py', 'lighter', 'pysdk', 'edgex_sdk') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_minimum_order_size_in_base_units(source: tuple[FundingSource, ReplayServer]) -> None:
    """``/api/v1/markets``' ``filters.quantity.minQuantity`` (markets.json), x the multiplier."""
    funding, _ = source
    sizes = {r.symbol: r.min_order_size for r in await funding.funding_rates()}
    assert sizes == {"BTC": Decimal("0.0001"), "ETH": Decimal("0.001"), "PEPE": Decimal(1000)}  # kPEPE: 1 x 1000
