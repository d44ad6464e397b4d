"""EdgeX funding adapter against the replay server: per-contract interval (minutes → hours), USD figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

pytest.importorskip("edgex_sdk")

from bot_runtime.exchanges.base import ExchangeError, TransientNetworkError
from bot_runtime.exchanges.registry import create_funding_source
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture


async def test_every_tradable_contract_parsed() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v2/public/meta/getMetaData", load_fixture("edgex", "metadata"))
        server.route(
            "GET", "/api/v2/public/quote/getTicker", lambda r: load_fixture("edgex", "tickers")[r.query["contractId"]]
        )
        source = create_funding_source("edgex", {"baseUrl": server.url})
        try:
            rates = {r.symbol: r for r in await source.funding_rates()}
            only_btc = await source.funding_rates(["BTC"])
        finally:
            await source.close()
        asked = sorted(r.query["contractId"] for r in server.requests_to("GET", "/api/v2/public/quote/getTicker"))
        assert all(not r.header("x-edgex-signature") for r in server.requests)  # public: no credentials sent
    assert set(rates) == {"BTC", "ETH", "PEPE"}
    btc, pepe = rates["BTC"], rates["PEPE"]
    assert (btc.rate, btc.interval_hours) == (Decimal("-0.00012236"), Decimal(4))  # fundingRateIntervalMin 240
    assert btc.hourly_rate == Decimal("-0.00012236") / 4
    assert (pepe.venue_symbol, pepe.multiplier, pepe.interval_hours) == ("1000PEPEUSDT", Decimal(1000), Decimal(1))
    assert btc.mark_price == Decimal("101636.3750002346932888031005859375")
    assert btc.index_price == Decimal("101676.380723500")
    assert btc.open_interest_usd == Decimal("12.105") * Decimal("101676.380723500")
    assert btc.volume_24h_usd == Decimal("50821443.7464")
    assert btc.next_funding_time == datetime.fromtimestamp(1734609600, tz=UTC)
    assert [r.symbol for r in only_btc] == ["BTC"]
    assert asked.count("10000099") == 0  # the disabled contract is not asked for


async def test_outage_is_transient() -> None:
    def broken(request: RecordedRequest) -> Reply:
        return Reply(503, body="maintenance")

    async with ReplayServer() as server:
        server.route("GET", "/api/v2/public/meta/getMetaData", broken)
        source = create_funding_source("edgex", {"baseUrl": server.url})
        try:
            with pytest.raises(TransientNetworkError):
                await source.funding_rates()
        finally:
            await source.close()


async def test_a_body_that_is_not_json_is_an_exchange_error() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v2/public/meta/getMetaData", Reply(body='{"code": "SUCCESS", "data": {"contr'))
        source = create_funding_source("edgex", {"baseUrl": server.url})
        try:
            with pytest.raises(ExchangeError, match="malformed answer"):
                await source.funding_rates()
        finally:
            await source.close()


async def test_minimum_order_size_in_base_units() -> None:
    """``getMetaData``'s ``contractList[].minOrderSize`` (metadata.json), x the multiplier."""
    async with ReplayServer() as server:
        server.route("GET", "/api/v2/public/meta/getMetaData", load_fixture("edgex", "metadata"))
        server.route(
            "GET", "/api/v2/public/quote/getTicker", lambda r: load_fixture("edgex", "tickers")[r.query["contractId"]]
        )
        source = create_funding_source("edgex", {"baseUrl": server.url})
        try:
            sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
        finally:
            await source.close()
    assert sizes == {"BTC": Decimal("0.001"), "ETH": Decimal("0.01"), "PEPE": Decimal(100) * 1000}
