"""Lighter funding adapter against the replay server: only Lighter rows, hourly interval, USD conversions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot_runtime.exchanges.base import ExchangeError, MalformedResponse, TransientNetworkError
from bot_runtime.exchanges.registry import create_funding_source
from tests.support.replay import ReplayServer, Reply, load_fixture

pytest.importorskip("lighter")


async def test_every_lighter_perp_with_true_interval_and_usd_figures() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/funding-rates", load_fixture("lighter", "funding_rates"))
        server.route("GET", "/api/v1/orderBookDetails", load_fixture("lighter", "order_book_details"))
        source = create_funding_source("lighter", {"baseUrl": server.url})
        try:
            rates = {r.symbol: r for r in await source.funding_rates()}
            subset = await source.funding_rates(["PEPE"])
        finally:
            await source.close()
    assert set(rates) == {"ETH", "BTC", "PEPE"}  # binance/hyperliquid rows of the same endpoint are dropped
    eth, btc, pepe = rates["ETH"], rates["BTC"], rates["PEPE"]
    for rate in rates.values():
        assert rate.exchange == "lighter" and rate.interval_hours == 1
        assert rate.next_funding_time is not None and rate.next_funding_time.minute == 0
    # the endpoint's value covers 8 hours; Lighter settles hourly
    assert eth.rate == Decimal("0.0001") / 8 and eth.hourly_rate == Decimal("0.0000125")
    assert btc.rate == Decimal("-0.000096") / 8
    assert (pepe.venue_symbol, pepe.multiplier) == ("1000PEPE", Decimal(1000))
    assert eth.mark_price == Decimal("3012.45") and eth.index_price == Decimal("3012.80")
    assert eth.open_interest_usd == Decimal("41234.5678") * Decimal("3012.45")
    assert eth.volume_24h_usd == Decimal("812345678.123456")
    assert pepe.open_interest_usd == Decimal(2100000000) * Decimal("0.011234")
    assert [r.symbol for r in subset] == ["PEPE"]


async def test_outage_is_transient() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/funding-rates", Reply(502, body="bad gateway"))
        server.route("GET", "/api/v1/orderBookDetails", load_fixture("lighter", "order_book_details"))
        source = create_funding_source("lighter", {"baseUrl": server.url})
        try:
            with pytest.raises(TransientNetworkError):
                await source.funding_rates()
        finally:
            await source.close()


async def test_a_body_that_is_not_json_is_an_exchange_error() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/funding-rates", Reply(body='{"funding_rates": [{"exch'))
        server.route("GET", "/api/v1/orderBookDetails", load_fixture("lighter", "order_book_details"))
        source = create_funding_source("lighter", {"baseUrl": server.url})
        try:
            with pytest.raises(ExchangeError, match="malformed answer") as caught:
                await source.funding_rates()
        finally:
            await source.close()
    assert isinstance(caught.value, MalformedResponse)  # a truncated body may be whole on the next read (issue 18)


async def test_minimum_order_size_in_base_units() -> None:
    """``orderBookDetails``' ``min_base_amount`` (order_book_details.json), x the multiplier."""
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/funding-rates", load_fixture("lighter", "funding_rates"))
        server.route("GET", "/api/v1/orderBookDetails", load_fixture("lighter", "order_book_details"))
        source = create_funding_source("lighter", {"baseUrl": server.url})
        try:
            sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
        finally:
            await source.close()
    assert sizes == {"ETH": Decimal("0.005"), "BTC": Decimal("0.0002"), "PEPE": Decimal(500) * 1000}
