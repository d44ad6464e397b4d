"""Nado funding adapter: every perpetual of the indexer's ``/v2/contracts`` at its hourly rate (the quoted 24-hour
rate / 24), USD figures as the venue gives them, canonical symbols, minimum sizes from the gateway's symbols query,
public endpoints only and no SDK."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import FundingSource, TransientNetworkError
from tests.support.replay import ReplayServer, Reply, load_fixture


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/archive/v2/contracts", load_fixture("nado", "v2_contracts"))
        server.route("POST", "/v1/query", load_fixture("nado", "query_symbols"))
        yield server


@pytest.fixture
async def source(venue: ReplayServer) -> AsyncIterator[FundingSource]:
    funding = registry.create_funding_source(
        "nado", {"baseUrl": venue.url + "/v1", "indexerUrl": venue.url + "/archive/v1"}
    )
    yield funding
    await funding.close()


async def test_every_perpetual_at_its_hourly_rate(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    assert set(rates) == {"BTC", "ETH", "PEPE"}
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    # /v2/contracts quotes the 24-hour rate; funding settles hourly: rate / 24 per 1 h interval
    assert (btc.venue_symbol, btc.rate, btc.interval_hours, btc.hourly_rate) == (
        "BTC-PERP",
        Decimal("0.00001"),
        Decimal(1),
        Decimal("0.00001"),
    )
    assert eth.rate == Decimal("-0.00005")  # negative: shorts pay longs
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("kPEPE-PERP", Decimal(1000), Decimal("0.0002"))


async def test_prices_open_interest_volume_book_and_next_funding(source: FundingSource) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    btc, eth = rates["BTC"], rates["ETH"]
    assert (btc.mark_price, btc.index_price, btc.open_interest_usd, btc.volume_24h_usd) == (
        Decimal("97400.12"),
        Decimal("97410.5"),
        Decimal("44487509.81"),
        Decimal("120221882.5"),
    )
    assert (btc.best_bid, btc.best_ask) == (Decimal("97380.0"), Decimal("97381.0"))
    assert (eth.best_bid, eth.best_ask) == (None, None)
    assert btc.next_funding_time == datetime.fromtimestamp(1765000800, UTC)


async def test_minimum_order_sizes_from_the_symbols_query(source: FundingSource, venue: ReplayServer) -> None:
    rates = {r.symbol: r for r in await source.funding_rates()}
    # base units: BTC 0.001; kPEPE 100 contracts of 1000 PEPE = 100,000 PEPE
    assert (rates["BTC"].min_order_size, rates["ETH"].min_order_size) == (Decimal("0.001"), Decimal("0.01"))
    assert rates["PEPE"].min_order_size == Decimal(100_000)
    venue.clear_routes("POST", "/v1/query")
    venue.route("POST", "/v1/query", Reply(503, body="maintenance"))
    without = {r.symbol: r for r in await source.funding_rates()}  # the rates still come, without minimums
    assert set(without) == {"BTC", "ETH", "PEPE"} and without["BTC"].min_order_size is None


async def test_symbol_filter(source: FundingSource) -> None:
    rates = await source.funding_rates(["PEPE", "ETH"])
    assert sorted((r.symbol, r.venue_symbol) for r in rates) == [("ETH", "ETH-PERP"), ("PEPE", "kPEPE-PERP")]


async def test_public_endpoints_only_and_no_sdk(source: FundingSource, venue: ReplayServer) -> None:
    await source.funding_rates()
    assert {(r.method, r.path) for r in venue.requests} == {("GET", "/archive/v2/contracts"), ("POST", "/v1/query")}
    assert [r.json() for r in venue.requests if r.method == "POST"] == [{"type": "symbols", "product_type": "perp"}]
    assert all(b"signature" not in r.body for r in venue.requests)


def test_lazy_imports_a_pod_never_imports_the_sdk() -> None:
    """Importing the registry imports no SDK; the funding adapter imports neither eth-account nor nado-protocol;
    the trading client imports eth-account (its signer) and never nado-protocol (which cannot import in a pod)."""
    script = (
        "import sys; from bot_runtime.exchanges import registry; "
        "before = {m for m in ('eth_account', 'nado_protocol') if m in sys.modules}; "
        "registry.create_funding_source('nado', {}); "
        "funding = {m for m in ('eth_account', 'nado_protocol') if m in sys.modules}; "
        "registry.create_exchange('nado', {'baseUrl': 'http://127.0.0.1:9'}, {'NADO_PRIVATE_KEY': '0x' + '4c' * 32}); "
        "trading = {m for m in ('eth_account', 'nado_protocol') if m in sys.modules}; "
        "print(sorted(before), sorted(funding), sorted(trading))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] [] ['eth_account']"


async def test_an_outage_is_a_typed_error(source: FundingSource, venue: ReplayServer) -> None:
    venue.clear_routes("GET", "/archive/v2/contracts")
    venue.route("GET", "/archive/v2/contracts", Reply(503, body="maintenance"))
    with pytest.raises(TransientNetworkError):
        await source.funding_rates()
