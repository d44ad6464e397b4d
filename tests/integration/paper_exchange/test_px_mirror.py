"""Mirror mode against a replay of a live venue's public stream: a paper venue on Aster's market (top of book and
trades from its combined public stream), on the real PostgreSQL. Resting paper orders fill only when a replayed trade
prints through their price (a print at the price does not fill: back of the queue), each print filling at most its
size; takers fill at the live touch up to the size shown there.

The frames are Aster's public WebSocket events as its API documentation gives them (Binance USDⓈ-M shaped): the
combined stream wraps each in ``{"stream": ..., "data": ...}``; ``bookTicker`` carries ``b``/``B``/``a``/``A``,
``aggTrade`` carries ``p`` (price), ``q`` (quantity), ``T`` (trade time, ms).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from bot_runtime.clock import SystemClock
from bot_runtime.paper_exchange.venues import VenueConfig
from tests.integration.paper_exchange.px_helpers import API, D, InProcess, open_in_process
from tests.support.replay import ReplayServer, WsConnection, load_fixture

pytestmark = pytest.mark.integration

T0 = 1_800_000_000_000


def book(bid: str, ask: str, bid_qty: str = "1", ask_qty: str = "1") -> dict[str, Any]:
    return {
        "stream": "btcusdt@bookTicker",
        "data": {"e": "bookTicker", "u": 1, "s": "BTCUSDT", "b": bid, "B": bid_qty, "a": ask, "A": ask_qty, "T": T0},
    }


def trade(n: int, price: str, qty: str) -> dict[str, Any]:
    return {
        "stream": "btcusdt@aggTrade",
        "data": {"e": "aggTrade", "E": T0 + n, "s": "BTCUSDT", "a": n, "p": price, "q": qty, "T": T0 + n, "m": True},
    }


async def until(what: str, check: Callable[[], Any], within: float = 20.0) -> Any:
    async def poll() -> Any:
        while True:
            value = await check()
            if value:
                return value
            await asyncio.sleep(0.05)

    try:
        return await asyncio.wait_for(poll(), within)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_paper_orders_fill_only_when_replayed_trades_cross(px_dsn: str) -> None:
    async with ReplayServer() as live:
        stream = live.websocket("/stream")
        venue = VenueConfig(
            name="paper-aster",
            options={"makerFee": "0.0001", "takerFee": "0.00035", "tickSize": "0.1", "sizeStep": "0.001"},
            mirror={"venue": "aster", "symbols": ["BTC"], "options": {"wsUrl": live.ws_url, "baseUrl": live.url}},
        )
        px: InProcess = await open_in_process(px_dsn, [venue], {}, clock=SystemClock())
        try:
            rt = px.app.state.runtime
            rt.tick_seconds = 0.05
            await px.open("paper-aster", "m")
            feed: WsConnection = await stream.wait_for_connections(1, within=10)
            assert feed.request.query["streams"] == "btcusdt@bookTicker/btcusdt@aggTrade"
            await feed.send_json(book("59999.9", "60000.1", ask_qty="0.2"))

            async def quoted() -> bool:
                return (await px.http.get(f"{API}/venues/paper-aster/quotes/BTC")).status_code == 200

            await until("the live quote", quoted)
            acct = px.account_url("paper-aster", "m")
            buy = (
                await px.order(
                    "paper-aster",
                    "m",
                    symbol="BTC",
                    side="buy",
                    size="0.01",
                    price="59990",
                    time_in_force="post_only",
                    client_order_id="b",
                )
            ).json()
            sell = (
                await px.order(
                    "paper-aster",
                    "m",
                    symbol="BTC",
                    side="sell",
                    size="0.01",
                    price="60010",
                    time_in_force="post_only",
                    client_order_id="s",
                )
            ).json()
            assert (buy["status"], sell["status"]) == ("open", "open")

            await feed.send_json(trade(1, "59990", "1"))  # at the buy's price: the queue ahead of it takes it
            await feed.send_json(trade(2, "60010.5", "0.004"))  # through the sell, 0.004 traded

            async def sell_part() -> Any:
                order = (await px.http.get(acct + f"/orders/{sell['order_id']}")).json()
                return order if D(order["filled_size"]) > 0 else None

            part = await until("the sell's partial fill", sell_part)
            assert (part["status"], D(part["filled_size"])) == ("partially_filled", D("0.004"))
            assert D((await px.get(acct + f"/orders/{buy['order_id']}"))["filled_size"]) == 0

            await feed.send_json(trade(3, "59989.9", "0.05"))  # through the buy: it fills whole, at its own price

            async def buy_done() -> Any:
                order = (await px.http.get(acct + f"/orders/{buy['order_id']}")).json()
                return order if order["status"] == "filled" else None

            done = await until("the buy's fill", buy_done)
            assert D(done["avg_fill_price"]) == D("59990")
            fills = await px.get(acct + "/fills")
            assert [(f["side"], D(f["price"]), D(f["size"]), f["liquidity"]) for f in fills] == [
                ("sell", D("60010"), D("0.004"), "maker"),
                ("buy", D("59990"), D("0.01"), "maker"),
            ]
            assert D(fills[1]["fee"]) == D("0.01") * D("59990") * D("0.0001")

            # a taker fills at the live touch, up to the size shown there; the IOC's remainder expires
            ioc = (
                await px.order(
                    "paper-aster",
                    "m",
                    symbol="BTC",
                    side="buy",
                    size="0.3",
                    price="60000.1",
                    time_in_force="ioc",
                    client_order_id="t",
                )
            ).json()
            assert (ioc["status"], D(ioc["filled_size"]), D(ioc["avg_fill_price"])) == (
                "expired",
                D("0.2"),
                D("60000.1"),
            )
        finally:
            await px.close()


async def test_a_mirror_venue_reports_and_pays_the_live_funding_rate(px_dsn: str) -> None:
    """The rate comes from the live venue's public funding endpoints (replayed from Aster's documented answers, see
    tests/fixtures/exchanges/aster/SOURCES.md): BTCUSDT's lastFundingRate 0.0001 per 8 h."""
    async with ReplayServer() as live:
        live.websocket("/stream")
        for path, fixture in (
            ("/fapi/v1/exchangeInfo", "exchange_info"),
            ("/fapi/v1/premiumIndex", "premium_index"),
            ("/fapi/v1/fundingInfo", "funding_info"),
            ("/fapi/v1/ticker/24hr", "ticker_24hr"),
            ("/fapi/v1/ticker/bookTicker", "book_ticker"),
        ):
            live.route("GET", path, load_fixture("aster", fixture))
        venue = VenueConfig(
            name="paper-aster",
            options={"fundingIntervalHours": "8", "fundingRateHourly": "0.000001"},
            mirror={
                "venue": "aster",
                "symbols": ["BTC"],
                "options": {"wsUrl": live.ws_url, "baseUrl": live.url, "fundingPollSeconds": "0.2"},
            },
        )
        px = await open_in_process(px_dsn, [venue], {}, clock=SystemClock())
        try:
            px.app.state.runtime.tick_seconds = 0.05

            async def live_rate() -> Any:
                body = (await px.http.get(f"{API}/venues/paper-aster/funding-rates")).json()
                btc = next((r for r in body.get("rates", []) if r["symbol"] == "BTC"), None)
                return btc if btc is not None and D(btc["rate"]) == D("0.0001") else None

            btc = await until("the live funding rate", live_rate)
            assert D(btc["interval_hours"]) == D(8)
            assert live.requests_to("GET", "/fapi/v1/premiumIndex")
        finally:
            await px.close()
