"""ApeX Omni funding adapter against a replay of its public REST API (tests/fixtures/exchanges/apex/SOURCES.md):
every tradable perpetual of /v3/symbols at its ticker's rate per 1-hour interval, open interest converted from base
units at the mark price, canonical symbols and multipliers, minimum sizes from the config, public endpoints only and
no SDK import."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.exchanges import apex
from bot_runtime.exchanges.apex.funding import next_funding
from bot_runtime.exchanges.base import ExchangeError, FundingSource, RateLimited, TransientNetworkError
from tests.support.replay import ReplayServer, Reply, load_fixture

TICKERS = {"BTCUSDT": "v3_ticker_btc", "ETHUSDT": "v3_ticker_eth", "1000PEPEUSDT": "v3_ticker_1000pepe"}


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/api/v3/symbols", load_fixture("apex", "v3_symbols"))
        for symbol, fixture in TICKERS.items():
            server.route("GET", "/api/v3/ticker", load_fixture("apex", fixture), query={"symbol": symbol})
        yield server


@pytest.fixture
async def source(venue: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = apex.create_funding_source("apex", {"baseUrl": venue.url + "/api"})
    yield funding
    await funding.close()


async def test_every_tradable_perpetual_at_its_hourly_rate(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}  # OLD-USDT has enableTrade false
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC-USDT",
        Decimal("0.0000125"),
        Decimal(1),
        Decimal("0.0000125"),
    )
    assert eth.rate == Decimal("-0.00005")  # negative: shorts pay longs
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("1000PEPE-USDT", Decimal(1000), Decimal("0.0002"))


async def test_prices_open_interest_in_usd_and_volume(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    btc, pepe = rates["BTC"], rates["PEPE"]
    assert (btc.mark_price, btc.index_price, btc.volume_24h_usd) == (
        Decimal("97400.1"),
        Decimal("97410.5"),
        Decimal("56260850.25"),
    )
    assert btc.open_interest_usd == Decimal("120.5") * Decimal("97400.1")  # base units x mark
    assert pepe.open_interest_usd == Decimal("1000000") * Decimal("0.012340")
    assert (btc.best_bid, btc.best_ask) == (None, None)


async def test_minimum_order_sizes_in_base_units(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert (rates["BTC"].min_order_size, rates["ETH"].min_order_size) == (Decimal("0.0010"), Decimal("0.010"))
    assert rates["PEPE"].min_order_size == Decimal(100_000)  # 100 contracts of 1000 PEPE


async def test_symbol_filter_reads_only_those_tickers(source: FundingSource, venue: ReplayServer) -> None:
    rates = await source.funding_rates(["PEPE", "ETH"])
    assert sorted((r.symbol, r.venue_symbol) for r in rates) == [("ETH", "ETH-USDT"), ("PEPE", "1000PEPE-USDT")]
    asked = sorted(r.query.get("symbol", "") for r in venue.requests if r.path == "/api/v3/ticker")
    assert asked == ["1000PEPEUSDT", "ETHUSDT"]


async def test_public_endpoints_only_and_no_signature(source: FundingSource, venue: ReplayServer) -> None:
    await source.funding_rates()
    assert {(r.method, r.path) for r in venue.requests} == {("GET", "/api/v3/symbols"), ("GET", "/api/v3/ticker")}
    assert all("apex-signature" not in {k.lower() for k in r.headers} for r in venue.requests)


async def test_a_market_whose_ticker_fails_is_left_out(source: FundingSource, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v3/ticker", Reply(500, body="oops"), query={"symbol": "ETHUSDT"})
    rates = {r.symbol for r in await source.funding_rates()}
    assert rates == {"BTC", "PEPE"}


async def test_an_outage_is_a_typed_error(source: FundingSource, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v3/symbols", Reply(503, body="maintenance"))
    with pytest.raises(TransientNetworkError):
        await source.funding_rates()
    venue.route("GET", "/api/v3/symbols", Reply(403, body="too many"))
    with pytest.raises(RateLimited):
        await source.funding_rates()
    venue.route("GET", "/api/v3/symbols", load_fixture("apex", "error_order_price"))
    with pytest.raises(ExchangeError, match="ORDER_PRICE_MUST_GREETER_ZERO"):
        await source.funding_rates()


def test_next_funding_time_of_day_is_its_next_utc_occurrence() -> None:
    now = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert next_funding("10:00:00", now) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert next_funding("00:00:00", now) == datetime(2026, 12, 8, 0, 0, tzinfo=UTC)
    assert next_funding(1765101600000, now) == datetime.fromtimestamp(1765101600, UTC)
    assert next_funding("", now) is None and next_funding("soon", now) is None


def test_the_funding_adapter_imports_no_sdk() -> None:
    script = (
        "import sys; from bot_runtime.exchanges import apex; apex.create_funding_source('apex', {}); "
        "print(sorted(m for m in ('apexomni', 'numpy', 'web3', 'sympy', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_apex_market_names_normalise() -> None:
    from bot_runtime.exchanges.symbols import normalize

    assert normalize("apex", "BTC-USDT") == ("BTC", Decimal(1))
    assert normalize("apex", "BTCUSDT") == ("BTC", Decimal(1))
    assert normalize("apex", "1000PEPE-USDT") == ("PEPE", Decimal(1000))
