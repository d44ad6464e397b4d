"""GRVT funding adapter against the replay server: percent → fraction, 8 h interval, USD figures, multipliers."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("pysdk")

from bot_runtime.exchanges.base import ExchangeError, RateLimited
from bot_runtime.exchanges.registry import create_funding_source
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture


async def test_every_perpetual_parsed() -> None:
    async with ReplayServer() as server:
        server.route("POST", "/full/v1/instruments", load_fixture("grvt", "instruments"))
        server.route("POST", "/full/v1/ticker", lambda r: load_fixture("grvt", "tickers")[r.json()["instrument"]])
        source = create_funding_source("grvt", {"baseUrl": server.url, "environment": "testnet"})
        try:
            rates = {r.symbol: r for r in await source.funding_rates()}
            only_eth = await source.funding_rates(["ETH"])
        finally:
            await source.close()
        assert not server.requests_to("POST", "/auth/api_key/login")  # public data: no login
        tickers = sorted(r.json()["instrument"] for r in server.requests_to("POST", "/full/v1/ticker"))
    assert set(rates) == {"BTC", "ETH", "PEPE"}
    btc, eth, pepe = rates["BTC"], rates["ETH"], rates["PEPE"]
    assert btc.rate == Decimal("0.0001") and btc.interval_hours == 8  # 0.01 percentage points per 8 h
    assert btc.hourly_rate == Decimal("0.0000125")
    assert eth.rate == Decimal("-0.000045")
    assert (pepe.venue_symbol, pepe.multiplier, pepe.rate) == ("1000PEPE_USDT_Perp", Decimal(1000), Decimal("0.000123"))
    assert btc.mark_price == Decimal("97345.61") and btc.index_price == Decimal("97350.02")
    assert btc.open_interest_usd == Decimal("123.456") * Decimal("97345.61")
    assert btc.volume_24h_usd == Decimal("5123456.75") + Decimal("4987654.25")
    assert (btc.best_bid, btc.best_ask) == (Decimal("97345.5"), Decimal("97345.6"))
    assert btc.next_funding_time is not None and btc.next_funding_time.hour % 8 == 0
    assert btc.next_funding_time.minute == 0
    assert [r.symbol for r in only_eth] == ["ETH"]
    assert tickers.count("ETH_USDT_Perp") == 2


async def test_interval_and_next_funding_time_from_the_api_spec_fields() -> None:
    """GRVT's API spec (newer than grvt-pysdk 0.2.1's types) gives the instrument a ``funding_interval_hours`` and
    the ticker a ``next_funding_time`` (unix ns): both win over the 8-hour default; the ticker has no interval."""
    instruments = load_fixture("grvt", "instruments")
    for instrument in instruments["result"]:
        if instrument["instrument"] == "BTC_USDT_Perp":
            instrument["funding_interval_hours"] = 1
    tickers = load_fixture("grvt", "tickers")
    tickers["BTC_USDT_Perp"]["result"]["next_funding_time"] = "1764064800000000000"
    tickers["ETH_USDT_Perp"]["result"]["funding_interval_hours"] = 1  # not a ticker field: ignored

    async with ReplayServer() as server:
        server.route("POST", "/full/v1/instruments", instruments)
        server.route("POST", "/full/v1/ticker", lambda r: tickers[r.json()["instrument"]])
        source = create_funding_source("grvt", {"baseUrl": server.url, "environment": "testnet"})
        try:
            rates = {r.symbol: r for r in await source.funding_rates(["BTC", "ETH"])}
        finally:
            await source.close()
    btc, eth = rates["BTC"], rates["ETH"]
    assert (btc.interval_hours, btc.rate) == (Decimal(1), Decimal("0.0000125"))  # the 8-hour 0.01 % over 1 h
    assert btc.next_funding_time is not None and int(btc.next_funding_time.timestamp()) == 1764064800
    assert (eth.interval_hours, eth.rate) == (Decimal(8), Decimal("-0.000045"))


async def test_rate_limit_while_collecting() -> None:
    def limited(request: RecordedRequest) -> Reply:
        return Reply(429, load_fixture("grvt", "error_rate_limited"))

    async with ReplayServer() as server:
        server.route("POST", "/full/v1/instruments", load_fixture("grvt", "instruments"))
        server.route("POST", "/full/v1/ticker", limited)
        source = create_funding_source("grvt", {"baseUrl": server.url, "environment": "testnet"})
        try:
            with pytest.raises(RateLimited):
                await source.funding_rates()
        finally:
            await source.close()


async def test_a_body_that_is_not_json_is_an_error_not_an_empty_venue() -> None:
    async with ReplayServer() as server:
        server.route("POST", "/full/v1/instruments", Reply(body='{"result": [{"instrument": "BTC_'))
        source = create_funding_source("grvt", {"baseUrl": server.url, "environment": "testnet"})
        try:
            with pytest.raises(ExchangeError, match="not JSON"):
                await source.funding_rates()
        finally:
            await source.close()


async def test_minimum_order_size_in_base_units() -> None:
    """``full/v1/instruments``' ``min_size`` (instruments.json), x the multiplier."""
    async with ReplayServer() as server:
        server.route("POST", "/full/v1/instruments", load_fixture("grvt", "instruments"))
        server.route("POST", "/full/v1/ticker", lambda r: load_fixture("grvt", "tickers")[r.json()["instrument"]])
        source = create_funding_source("grvt", {"baseUrl": server.url, "environment": "testnet"})
        try:
            sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
        finally:
            await source.close()
    assert sizes == {"BTC": Decimal("0.001"), "ETH": Decimal("0.01"), "PEPE": Decimal(100) * 1000}
