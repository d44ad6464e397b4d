"""Paradex funding adapter: per-market funding period, USD conversions, kPEPE → PEPE x1000, and no SDK import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import FundingSource
from tests.support.replay import ReplayServer, load_fixture


@pytest.fixture
async def source() -> AsyncIterator[tuple[FundingSource, ReplayServer]]:
    async with ReplayServer() as server:
        server.route("GET", "/v1/markets", load_fixture("paradex", "markets"))
        server.route("GET", "/v1/markets/summary", load_fixture("paradex", "markets_summary"), query={"market": "ALL"})
        funding = registry.create_funding_source("paradex", {"baseUrl": server.url + "/v1"})
        yield funding, server
        await funding.close()


async def test_rates_with_each_markets_funding_period(source: tuple[FundingSource, ReplayServer]) -> None:
    funding, server = source
    rates = {r.symbol: r for r in await funding.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}  # the option market is not a perpetual
    btc, pepe = rates["BTC"], rates["PEPE"]
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC-USD-PERP",
        Decimal("0.00008"),
        Decimal(8),
        Decimal("0.00001"),
    )
    assert (pepe.venue_symbol, pepe.multiplier, pepe.interval_hours, pepe.hourly_rate) == (
        "kPEPE-USD-PERP",
        Decimal(1000),
        Decimal(1),
        Decimal("0.00001"),
    )
    assert btc.open_interest_usd == Decimal("1250.5") * Decimal("97010.5")
    assert (btc.volume_24h_usd, btc.mark_price, btc.index_price, btc.best_bid, btc.best_ask) == (
        Decimal("152000000.25"),
        Decimal("97010.5"),
        Decimal("97001.2"),
        Decimal("97010.1"),
        Decimal("97010.9"),
    )
    assert btc.next_funding_time is None  # continuous funding
    assert all(r.header("Authorization") is None for r in server.requests)


async def test_symbol_filter(source: tuple[FundingSource, ReplayServer]) -> None:
    funding, _ = source
    assert [r.symbol for r in await funding.funding_rates(["ETH"])] == ["ETH"]


def test_importing_one_venue_imports_no_other_sdk() -> None:
    code = (
        "import sys\n"
        "import bot_runtime.exchanges.registry\n"
        "sdks = ('bpx', 'paradex_py', 'lighter', 'pysdk', 'edgex_sdk')\n"
        "print('registry', sorted(m for m in sdks if m in sys.modules))\n"
        "from bot_runtime.exchanges import registry\n"
        "registry.create_funding_source('paradex', {})\n"
        "print('paradex-funding', sorted(m for m in sdks if m in sys.modules))\n"
        "import bot_runtime.exchanges.aster.client\n"
        "print('aster', sorted(m for m in sdks if m in sys.modules))\n"
        "import bot_runtime.exchanges.backpack.client\n"
        "print('backpack', sorted(m for m in sdks if m in sys.modules))\n"
        "import bot_runtime.exchanges.paradex.client\n"
        "print('paradex-client', sorted(m for m in sdks if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [
        "registry []",
        "paradex-funding []",
        "aster []",
        "backpack ['bpx']",
        "paradex-client ['bpx']",  # paradex_py is imported only when the client connects
    ]


async def test_minimum_order_size_is_the_size_increment(source: tuple[FundingSource, ReplayServer]) -> None:
    """Paradex publishes no minimum size: ``/markets``' ``order_size_increment`` (markets.json), x the multiplier."""
    funding, _ = source
    sizes = {r.symbol: r.min_order_size for r in await funding.funding_rates()}
    assert sizes == {"BTC": Decimal("0.001"), "ETH": Decimal("0.01"), "PEPE": Decimal(1000)}  # kPEPE: 1 x 1000
