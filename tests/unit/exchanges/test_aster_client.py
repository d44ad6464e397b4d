"""The Aster trading client against a local replay of Aster's REST + user-data-stream wire format."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    InsufficientMargin,
    MalformedResponse,
    OrderRequest,
    OrderStatus,
    OrderType,
    PostOnlyWouldCross,
    RateLimited,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

API_KEY = "aster-test-api-key-0123456789"
SECRET = "aster-test-secret-9876543210"
ENV = {"ASTER_API_KEY": API_KEY, "ASTER_SECRET_KEY": SECRET}
LISTEN_KEY = load_fixture("aster", "listen_key")["listenKey"]


def fx(name: str) -> Any:
    return load_fixture("aster", name)


def assert_signed(request: RecordedRequest) -> dict[str, str]:
    """The HMAC-SHA256 over the exact query string / body verifies with the secret; returns the parameters."""
    assert request.header("X-MBX-APIKEY") == API_KEY
    raw = request.body.decode() if request.method in {"POST", "PUT"} else request_query(request)
    payload, signature = raw.rsplit("&signature=", 1)
    assert hmac.compare_digest(signature, hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest())
    params = request.form() if request.method in {"POST", "PUT"} else dict(request.query)
    assert int(params["recvWindow"]) == 5000 and int(params["timestamp"]) > 1_700_000_000_000
    return params


def request_query(request: RecordedRequest) -> str:
    from urllib.parse import urlencode

    return urlencode(request.query)


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/fapi/v1/exchangeInfo", fx("exchange_info"))
        server.route("GET", "/fapi/v4/account", fx("account_v4"))
        server.route("GET", "/fapi/v1/openOrders", [])
        server.route("POST", "/fapi/v1/listenKey", fx("listen_key"))
        server.route("PUT", "/fapi/v1/listenKey", {})
        server.websocket(f"/ws/{LISTEN_KEY}")
        yield server


@pytest.fixture
async def aster(venue: ReplayServer) -> AsyncIterator[Exchange]:
    options = {"baseUrl": venue.url, "wsUrl": venue.ws_url, "reconnectInitialDelay": 0.01, "reconnectMaxDelay": 0.05}
    client = registry.create_exchange("aster", options, ENV)
    await client.connect()
    await venue._ws[f"/ws/{LISTEN_KEY}"].wait_for_connections(1)
    yield client
    await client.close()


async def test_markets_metadata_and_quote_preference(aster: Exchange) -> None:
    markets = await aster.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # SETTLING symbol dropped, BTCUSDC loses to USDT
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.tick_size, btc.size_step, btc.min_size, btc.min_notional, btc.quote) == (
        "BTCUSDT",
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("5"),
        "USDT",
    )
    assert (pepe.venue_symbol, pepe.multiplier, pepe.tick_size) == ("1000PEPEUSDT", Decimal(1000), Decimal("0.0000001"))


async def test_post_only_limit_is_signed_and_well_formed(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/fapi/v1/order", fx("order_new_gtx"))
    order = await aster.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.0104"),
            price=Decimal("97012.37"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    sent = assert_signed(venue.requests_to("POST", "/fapi/v1/order")[-1])
    assert venue.requests_to("POST", "/fapi/v1/order")[-1].header("content-type") == "application/x-www-form-urlencoded"
    assert {k: v for k, v in sent.items() if k not in {"recvWindow", "timestamp", "signature"}} == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.010",
        "timeInForce": "GTX",
        "price": "97012.3",
        "newClientOrderId": "grid-open-1",
        "newOrderRespType": "RESULT",
    }
    assert (order.order_id, order.status, order.time_in_force, order.client_order_id) == (
        "22542179",
        OrderStatus.OPEN,
        TimeInForce.POST_ONLY,
        "grid-open-1",
    )


async def test_post_only_that_would_cross_raises(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/fapi/v1/order", fx("order_expired_gtx"))
    with pytest.raises(PostOnlyWouldCross):
        await aster.place_order(
            OrderRequest(
                symbol="BTC",
                side=Side.BUY,
                size=Decimal("0.01"),
                price=Decimal("97012.5"),
                time_in_force=TimeInForce.POST_ONLY,
                client_order_id="grid-open-2",
            )
        )


async def test_reduce_only_market_and_ioc_orders(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/fapi/v1/order", fx("order_new_gtx"))
    await aster.place_order(
        OrderRequest(
            symbol="PEPE",
            side=Side.SELL,
            size=Decimal("1500.7"),
            order_type=OrderType.MARKET,
            reduce_only=True,
            client_order_id="close:7/a",
        )
    )
    market = assert_signed(venue.requests_to("POST", "/fapi/v1/order")[-1])
    assert (market["symbol"], market["type"], market["quantity"], market["reduceOnly"]) == (
        "1000PEPEUSDT",
        "MARKET",
        "1500",
        "true",
    )
    assert "price" not in market and "timeInForce" not in market and market["newClientOrderId"] == "close:7/a"
    await aster.place_order(
        OrderRequest(
            symbol="ETH",
            side=Side.SELL,
            size=Decimal("1"),
            price=Decimal("3400.001"),
            time_in_force=TimeInForce.IOC,
            client_order_id="an id with spaces",
        )
    )
    ioc = assert_signed(venue.requests_to("POST", "/fapi/v1/order")[-1])
    assert (ioc["timeInForce"], ioc["price"]) == ("IOC", "3400.01")  # sells round up to the tick
    assert ioc["newClientOrderId"].startswith("x-") and len(ioc["newClientOrderId"]) <= 36


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, fx("error_margin")), InsufficientMargin),
        (Reply(401, fx("error_signature")), AuthenticationError),
        (Reply(429, fx("error_rate_limit"), headers={"Retry-After": "3"}), RateLimited),
        (Reply(503, body="<html>Service Unavailable</html>"), TransientNetworkError),
    ],
)
async def test_errors_are_mapped(aster: Exchange, venue: ReplayServer, reply: Reply, error: type[Exception]) -> None:
    venue.route("POST", "/fapi/v1/order", reply)
    with pytest.raises(error) as caught:
        await aster.place_order(
            OrderRequest(
                symbol="BTC", side=Side.BUY, size=Decimal("0.01"), price=Decimal("90000"), client_order_id="e1"
            )
        )
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 3.0
    assert SECRET not in str(caught.value)


async def test_submit_order_after_a_503_finds_the_order_instead_of_resending(
    aster: Exchange, venue: ReplayServer
) -> None:
    venue.route(
        "POST",
        "/fapi/v1/order",
        Reply(503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}),
    )
    venue.route("GET", "/fapi/v1/order", fx("order_new_gtx"))
    order = await aster.submit_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=Decimal("0.01"), price=Decimal("97012.3"), client_order_id="grid-open-1"
        )
    )
    assert order.order_id == "22542179"
    assert len(venue.requests_to("POST", "/fapi/v1/order")) == 1
    lookup = assert_signed(venue.requests_to("GET", "/fapi/v1/order")[-1])
    assert lookup["origClientOrderId"] == "grid-open-1"


async def test_cancel_cancel_all_and_open_orders(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("DELETE", "/fapi/v1/order", fx("order_canceled"))
    venue.route("GET", "/fapi/v1/openOrders", fx("open_orders"))
    venue.route("DELETE", "/fapi/v1/allOpenOrders", fx("cancel_all"))
    await aster.cancel_order("BTC", "22542179")
    cancel = assert_signed(venue.requests_to("DELETE", "/fapi/v1/order")[-1])
    assert (cancel["symbol"], cancel["orderId"]) == ("BTCUSDT", "22542179")
    orders = await aster.open_orders("BTC")
    assert [(o.order_id, o.status, o.reduce_only, o.filled_size) for o in orders] == [
        ("22542179", OrderStatus.OPEN, False, Decimal(0)),
        ("22542101", OrderStatus.PARTIALLY_FILLED, True, Decimal("0.004")),
    ]
    assert await aster.cancel_all("BTC") == 2
    cancel_all = assert_signed(venue.requests_to("DELETE", "/fapi/v1/allOpenOrders")[-1])
    assert cancel_all["symbol"] == "BTCUSDT"


async def test_unknown_order_is_none(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/fapi/v1/order", Reply(400, {"code": -2013, "msg": "Order does not exist."}))
    assert await aster.get_order("BTC", "1") is None
    assert await aster.find_order_by_client_id("BTC", "nope") is None


async def test_positions_and_balance(aster: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/fapi/v2/positionRisk", fx("position_risk"))
    positions = {p.symbol: p for p in await aster.positions()}
    assert set(positions) == {"BTC", "PEPE"}
    assert (positions["BTC"].size, positions["BTC"].avg_entry_price, positions["BTC"].unrealized_pnl) == (
        Decimal("0.020"),
        Decimal("96500.10000"),
        Decimal("10.24480000"),
    )
    assert positions["PEPE"].size == Decimal(-50000)
    balance = await aster.balance()
    assert (balance.equity, balance.available, balance.margin_used) == (
        Decimal("10013.24480000"),
        Decimal("9757.04480000"),
        Decimal("256.20000000"),
    )


async def test_fill_over_websocket(aster: Exchange, venue: ReplayServer) -> None:
    updates = aster.order_updates()
    ws = venue._ws[f"/ws/{LISTEN_KEY}"]
    await ws.broadcast(fx("ws_order_trade_update_fill"))
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None
    assert (update.order.status, update.fill.trade_id, update.fill.size, update.fill.price, update.fill.fee) == (
        OrderStatus.FILLED,
        "BTCUSDT:698759",
        Decimal("0.010"),
        Decimal("97012.3"),
        Decimal("0.19402468"),
    )
    assert update.fill.liquidity.value == "maker"


async def test_dropped_stream_reconnects_and_recovers_the_missed_fill_over_rest(
    aster: Exchange, venue: ReplayServer
) -> None:
    venue.route("POST", "/fapi/v1/order", fx("order_new_gtx"))
    await aster.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97012.3"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    updates = aster.order_updates()
    ws = venue._ws[f"/ws/{LISTEN_KEY}"]
    # while the stream is down the order fills: only REST knows (and it also lists a fill of the previous process,
    # inside the look-back window, that must not come back as new)
    now_ms = int(time.time() * 1000)
    missed = fx("user_trades")[0] | {"time": now_ms}
    history = fx("user_trades")[0] | {"id": 698001, "time": now_ms - 60_000}
    venue.route("GET", "/fapi/v1/userTrades", [history, missed])
    venue.route("GET", "/fapi/v1/order", fx("order_filled"))
    await ws.drop_all()
    await ws.wait_for_connections(2)
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None and update.fill.trade_id == "BTCUSDT:698759"
    assert (update.order.status, update.order.client_order_id) == (OrderStatus.FILLED, "grid-open-1")
    trades = assert_signed(venue.requests_to("GET", "/fapi/v1/userTrades")[-1])
    assert trades["symbol"] == "BTCUSDT"
    assert len(venue.requests_to("POST", "/fapi/v1/listenKey")) >= 2  # a fresh listen key for the new connection
    # the same fill arriving late over the new connection is not delivered twice
    await ws.broadcast(fx("ws_order_trade_update_fill"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_price_stream(aster: Exchange, venue: ReplayServer) -> None:
    book = venue.websocket("/ws/btcusdt@bookTicker", on_connect=[fx("ws_book_ticker")])
    stream = aster.price_stream("BTC")
    assert isinstance(stream, AsyncGenerator)
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("97020.1"), Decimal("97020.2"), Decimal("1.5"))
    await stream.aclose()
    assert len(book.connections) == 1


@pytest.mark.parametrize("env", [{}, {"ASTER_API_KEY": "your_api_key_here", "ASTER_SECRET_KEY": SECRET}])
def test_missing_or_placeholder_credentials_name_the_key(env: dict[str, str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("aster", {}, env)
    assert "ASTER_API_KEY" in caught.value.keys
    assert SECRET not in str(caught.value)


async def test_bad_key_fails_at_connect(venue: ReplayServer) -> None:
    venue.route(
        "GET", "/fapi/v4/account", Reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    )
    client = registry.create_exchange("aster", {"baseUrl": venue.url, "wsUrl": venue.ws_url}, ENV)
    with pytest.raises(AuthenticationError):
        await client.connect()
    await client.close()


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------


async def test_unknown_order_status_is_an_error_not_open(aster: Exchange, venue: ReplayServer) -> None:
    # order_filled.json ("Query Order") with a status outside the doc's enum
    venue.route("GET", "/fapi/v1/order", fx("order_filled") | {"status": "NEW_ADL"})
    with pytest.raises(MalformedResponse, match="unknown order status 'NEW_ADL'"):
        await aster.get_order("BTC", "22542179")
    # the same over the user stream (ws_order_trade_update_fill.json): no update is published from it
    updates = aster.order_updates()
    event = fx("ws_order_trade_update_fill")
    await venue._ws[f"/ws/{LISTEN_KEY}"].broadcast(event | {"o": event["o"] | {"X": "NEW_ADL"}})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_filled_without_executed_qty_is_the_whole_order(aster: Exchange, venue: ReplayServer) -> None:
    # order_filled.json without executedQty: FILLED means executedQty == origQty (Binance-USDⓈ-M semantics)
    venue.route("GET", "/fapi/v1/order", {k: v for k, v in fx("order_filled").items() if k != "executedQty"})
    order = await aster.get_order("BTC", "22542179")
    assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.010"))
    # a cancelled order without it may have filled anything: an error, not 0
    venue.route("GET", "/fapi/v1/order", {k: v for k, v in fx("order_canceled").items() if k != "executedQty"})
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await aster.get_order("BTC", "22542179")


@pytest.mark.parametrize("field", ["orderId", "origQty", "status"])
async def test_missing_order_field_is_an_exchange_error(aster: Exchange, venue: ReplayServer, field: str) -> None:
    # order_filled.json without a required field: a MalformedResponse naming it, never a ValidationError
    venue.route("GET", "/fapi/v1/order", {k: v for k, v in fx("order_filled").items() if k != field})
    with pytest.raises(MalformedResponse, match=field):
        await aster.get_order("BTC", "22542179")
    venue.route("GET", "/fapi/v1/openOrders", [{k: v for k, v in fx("order_filled").items() if k != field}])
    with pytest.raises(MalformedResponse):
        await aster.open_orders("BTC")


@pytest.mark.parametrize(
    "prices", [{"bidPrice": "0"}, {"askPrice": "0.0"}, {"bidPrice": "-1"}, {"bidPrice": "97012.5"}, {"askPrice": None}]
)
async def test_zero_negative_or_crossed_quote_is_refused(
    aster: Exchange, venue: ReplayServer, prices: dict[str, Any]
) -> None:
    # book_ticker.json's BTCUSDT row (the answer with ?symbol=) with a bad side
    venue.route("GET", "/fapi/v1/ticker/bookTicker", fx("book_ticker")[0] | prices)
    with pytest.raises(MalformedResponse):
        await aster.best_bid_ask("BTC")
    venue.route("GET", "/fapi/v1/ticker/bookTicker", fx("book_ticker")[0])
    assert (await aster.best_bid_ask("BTC")).bid == Decimal("97012.3")


async def test_price_stream_skips_a_zero_quote(aster: Exchange, venue: ReplayServer) -> None:
    # ws_book_ticker.json with a zero bid first: the stream yields only the good quote after it
    good = fx("ws_book_ticker")
    venue.websocket("/ws/btcusdt@bookTicker", on_connect=[good | {"b": "0"}, good])
    stream = aster.price_stream("BTC")
    assert isinstance(stream, AsyncGenerator)
    quote = await asyncio.wait_for(anext(stream), 5)
    assert quote.bid == Decimal("97020.1")
    await stream.aclose()


async def test_unknown_order_side_is_an_error_not_sell(aster: Exchange, venue: ReplayServer) -> None:
    # order_filled.json with a side that is neither BUY nor SELL
    venue.route("GET", "/fapi/v1/order", fx("order_filled") | {"side": "BOTH"})
    with pytest.raises(MalformedResponse, match="unknown order side 'BOTH'"):
        await aster.get_order("BTC", "22542179")
