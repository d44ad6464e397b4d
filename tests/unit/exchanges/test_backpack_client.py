"""The Backpack trading client (bpx-py ED25519 signing) against a local replay of Backpack's wire format."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from bot_runtime.exchanges import registry
from bot_runtime.exchanges._shared.tagged_ids import BACKPACK, TaggedClientIds
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
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
from tests.unit.exchanges.conftest import GridProcess, wait_until

_KEY = Ed25519PrivateKey.generate()
SECRET = base64.b64encode(_KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()
PUBLIC = base64.b64encode(_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
ENV = {"BACKPACK_PUBLIC_KEY": PUBLIC, "BACKPACK_SECRET_KEY": SECRET}


def fx(name: str) -> Any:
    return load_fixture("backpack", name)


def _signing_string(instruction: str, params: dict[str, Any], timestamp: str, window: str) -> bytes:
    parts = [f"instruction={instruction}"]
    for key, value in sorted(params.items()):
        parts.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return ("&".join(parts) + f"&timestamp={timestamp}&window={window}").encode()


def assert_signed(request: RecordedRequest, instruction: str) -> dict[str, Any]:
    """Verify the ED25519 signature with the account's public key; return the signed parameters."""
    assert request.header("X-API-Key") == PUBLIC
    params: dict[str, Any] = (request.json() or {}) if request.method != "GET" else dict(request.query)
    message = _signing_string(
        instruction, params, request.header("X-Timestamp") or "", request.header("X-Window") or ""
    )
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC))
    public.verify(base64.b64decode(request.header("X-Signature") or ""), message)  # raises if forged
    assert request.header("X-Window") == "5000"
    return params


def order_stream(server: ReplayServer) -> Any:
    return server._ws["/"]


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/markets", fx("markets"))
        server.route("GET", "/api/v1/capital/collateral", fx("collateral"))
        server.route("GET", "/api/v1/orders", [])
        server.websocket("/")
        yield server


@pytest.fixture
async def backpack(venue: ReplayServer) -> AsyncIterator[Exchange]:
    options = {
        "baseUrl": venue.url,
        "wsUrl": venue.ws_url + "/",
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
    }
    client = registry.create_exchange("backpack", options, ENV)
    await client.connect()
    await order_stream(venue).wait_for_connections(1)
    yield client
    await client.close()


async def test_markets_use_the_perpetuals_only(backpack: Exchange) -> None:
    markets = await backpack.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.tick_size, btc.size_step, btc.min_size, btc.quote) == (
        "BTC_USDC_PERP",
        Decimal("0.1"),
        Decimal("0.0001"),
        Decimal("0.0001"),
        "USDC",
    )
    assert (pepe.venue_symbol, pepe.multiplier) == ("kPEPE_USDC_PERP", Decimal(1000))


async def test_account_subscription_is_signed_with_the_same_key(backpack: Exchange, venue: ReplayServer) -> None:
    conn = order_stream(venue).connections[0]
    sub = await conn.wait_for_message(lambda m: isinstance(m, dict) and m.get("method") == "SUBSCRIBE")
    assert sub["params"] == ["account.orderUpdate"]
    key, signature, timestamp, window = sub["signature"]
    assert key == PUBLIC
    Ed25519PublicKey.from_public_bytes(base64.b64decode(PUBLIC)).verify(
        base64.b64decode(signature), _signing_string("subscribe", {}, timestamp, window)
    )


async def test_post_only_limit_is_signed_and_well_formed(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/api/v1/order", fx("order_new_post_only"))
    order = await backpack.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01004"),
            price=Decimal("97010.47"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="1001",
        )
    )
    sent = assert_signed(venue.requests_to("POST", "/api/v1/order")[-1], "orderExecute")
    assert sent == {
        "symbol": "BTC_USDC_PERP",
        "side": "Bid",
        "orderType": "Limit",
        "quantity": "0.0100",
        "price": "97010.4",
        "postOnly": True,
        "timeInForce": "GTC",
        "clientId": 1001,
    }
    assert (order.order_id, order.status, order.time_in_force, order.client_order_id) == (
        "4228978331",
        OrderStatus.OPEN,
        TimeInForce.POST_ONLY,
        "1001",
    )


async def test_reduce_only_market_with_a_non_numeric_client_id(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/api/v1/order", fx("order_new_post_only"))
    await backpack.place_order(
        OrderRequest(
            symbol="PEPE",
            side=Side.SELL,
            size=Decimal("1500.7"),
            order_type=OrderType.MARKET,
            reduce_only=True,
            client_order_id="grid-close-7",
        )
    )
    sent = assert_signed(venue.requests_to("POST", "/api/v1/order")[-1], "orderExecute")
    assert (sent["symbol"], sent["orderType"], sent["quantity"], sent["reduceOnly"], sent["side"]) == (
        "kPEPE_USDC_PERP",
        "Market",
        "1500",
        True,
        "Ask",
    )
    assert "price" not in sent and "postOnly" not in sent
    assert sent["clientId"] == TaggedClientIds(BACKPACK).encode("grid-close-7") and BACKPACK.is_foreign_slice(
        sent["clientId"]
    )


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(400, fx("error_post_only")), PostOnlyWouldCross),
        (Reply(400, fx("error_insufficient_margin")), InsufficientMargin),
        (Reply(429, fx("error_rate_limit"), headers={"Retry-After": "2"}), RateLimited),
        (Reply(401, fx("error_signature")), AuthenticationError),
        (Reply(502, body="bad gateway"), TransientNetworkError),
    ],
)
async def test_errors_are_mapped(backpack: Exchange, venue: ReplayServer, reply: Reply, error: type[Exception]) -> None:
    venue.route("POST", "/api/v1/order", reply)
    with pytest.raises(error) as caught:
        await backpack.place_order(
            OrderRequest(
                symbol="BTC",
                side=Side.BUY,
                size=Decimal("0.01"),
                price=Decimal("97010.4"),
                time_in_force=TimeInForce.POST_ONLY,
                client_order_id="7",
            )
        )
    assert SECRET not in str(caught.value)


async def test_cancel_cancel_all_open_orders(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("DELETE", "/api/v1/order", fx("order_cancelled"))
    venue.route("DELETE", "/api/v1/orders", fx("cancel_all"))
    venue.route("GET", "/api/v1/orders", fx("open_orders"))
    await backpack.cancel_order("BTC", "4228978331")
    assert assert_signed(venue.requests_to("DELETE", "/api/v1/order")[-1], "orderCancel") == {
        "symbol": "BTC_USDC_PERP",
        "orderId": "4228978331",
    }
    orders = await backpack.open_orders("BTC")
    assert assert_signed(venue.requests_to("GET", "/api/v1/orders")[-1], "orderQueryAll") == {
        "marketType": "PERP",
        "symbol": "BTC_USDC_PERP",
    }
    assert [(o.order_id, o.status, o.filled_size, o.reduce_only, o.client_order_id) for o in orders] == [
        ("4228978331", OrderStatus.OPEN, Decimal(0), False, "1001"),
        ("4228970001", OrderStatus.PARTIALLY_FILLED, Decimal("0.0040"), True, "2077"),
    ]
    assert orders[1].avg_fill_price == Decimal("97500")
    assert await backpack.cancel_all("BTC") == 2
    assert assert_signed(venue.requests_to("DELETE", "/api/v1/orders")[-1], "orderCancelAll") == {
        "symbol": "BTC_USDC_PERP"
    }


async def test_get_order_falls_back_to_history_and_client_id_lookup(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v1/order", Reply(404, fx("error_not_found")))
    venue.route("GET", "/wapi/v1/history/orders", fx("order_history_filled"))
    order = await backpack.get_order("BTC", "4228978331")
    assert order is not None and order.status is OrderStatus.FILLED and order.avg_fill_price == Decimal("97010.4")
    assert (
        assert_signed(venue.requests_to("GET", "/wapi/v1/history/orders")[-1], "orderHistoryQueryAll")["orderId"]
        == "4228978331"
    )
    found = await backpack.find_order_by_client_id("BTC", "1001")
    assert found is not None and found.order_id == "4228978331"
    lookup = assert_signed(venue.requests_to("GET", "/api/v1/order")[-1], "orderQuery")
    assert lookup == {"symbol": "BTC_USDC_PERP", "clientId": "1001"}
    assert await backpack.find_order_by_client_id("BTC", "999") is None


async def test_positions_and_balance(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v1/position", fx("positions"))
    positions = {p.symbol: p for p in await backpack.positions()}
    assert set(positions) == {"BTC", "PEPE"}
    btc = positions["BTC"]
    assert (btc.size, btc.avg_entry_price, btc.unrealized_pnl, btc.funding_pnl, btc.liquidation_price) == (
        Decimal("0.0200"),
        Decimal("96500.1"),
        Decimal("10.208"),
        Decimal("-0.009218"),
        Decimal("80000.2"),
    )
    assert positions["PEPE"].size == Decimal(-50000)
    assert (await backpack.position("ETH")).size == 0
    assert_signed(venue.requests_to("GET", "/api/v1/position")[-1], "positionQuery")
    balance = await backpack.balance()
    assert (balance.equity, balance.available, balance.margin_used, balance.unrealized_pnl) == (
        Decimal("10013.208"),
        Decimal("9757.008"),
        Decimal("256.2"),
        Decimal("13.208"),
    )
    assert_signed(venue.requests_to("GET", "/api/v1/capital/collateral")[-1], "collateralQuery")


async def test_best_bid_ask_from_depth(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v1/depth", fx("depth"))
    quote = await backpack.best_bid_ask("BTC")
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("97010.4"), Decimal("97010.6"), Decimal("0.38647"))


async def test_fill_over_websocket(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/api/v1/order", fx("order_new_post_only"))
    await backpack.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.4"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="1001",
        )
    )
    updates = backpack.order_updates()
    await order_stream(venue).broadcast(fx("ws_order_fill"))
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None
    assert (update.order.status, update.order.client_order_id, update.order.time_in_force) == (
        OrderStatus.FILLED,
        "1001",
        TimeInForce.POST_ONLY,
    )
    assert (
        update.fill.trade_id,
        update.fill.size,
        update.fill.price,
        update.fill.fee,
        update.fill.liquidity.value,
    ) == ("BTC_USDC_PERP:9748827", Decimal("0.0100"), Decimal("97010.4"), Decimal("0.194021"), "maker")


@pytest.mark.parametrize(
    ("expiry_reason", "expected"),
    [
        ("PostOnlyTaker", CancelReason.POST_ONLY_VIOLATION),  # the only retryable one
        (None, CancelReason.EXPIRED),  # an expired post-only order is not a post-only violation by itself
        ("InsufficientMargin", CancelReason.INSUFFICIENT_BALANCE),
        ("SelfTradePrevention", CancelReason.REJECTED),
    ],
)
async def test_expired_post_only_order_is_labelled_by_its_expiry_reason(
    backpack: Exchange, venue: ReplayServer, expiry_reason: str | None, expected: CancelReason
) -> None:
    """``orderExpired`` carries the engine's reason in ``R`` (OpenAPI ``OrderExpiryReason``)."""
    venue.route("POST", "/api/v1/order", fx("order_new_post_only"))
    await backpack.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.4"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="1001",
        )
    )
    updates = backpack.order_updates()
    message = fx("ws_order_fill")
    data = {k: v for k, v in message["data"].items() if k not in ("l", "L", "m", "n", "N", "t")}
    data.update(e="orderExpired", X="Expired", z="0", Z="0")
    if expiry_reason is not None:
        data["R"] = expiry_reason
    await order_stream(venue).broadcast({"stream": message["stream"], "data": data})
    update = await asyncio.wait_for(anext(updates), 5)
    assert (update.order.status, update.order.cancel_reason) == (OrderStatus.EXPIRED, expected)


async def test_dropped_stream_reconnects_resubscribes_and_recovers_the_fill(
    backpack: Exchange, venue: ReplayServer
) -> None:
    venue.route("POST", "/api/v1/order", fx("order_new_post_only"))
    await backpack.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.4"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="1001",
        )
    )
    updates = backpack.order_updates()
    now = datetime.now(UTC)
    missed = fx("fills")[0] | {"timestamp": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]}
    history = missed | {"tradeId": 9748001, "timestamp": (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000")}
    venue.route("GET", "/wapi/v1/history/fills", [history, missed])
    venue.route("GET", "/api/v1/order", Reply(404, fx("error_not_found")))
    venue.route("GET", "/wapi/v1/history/orders", fx("order_history_filled"))
    await order_stream(venue).drop_all()
    conn = await order_stream(venue).wait_for_connections(2)
    await conn.wait_for_message(lambda m: isinstance(m, dict) and m.get("params") == ["account.orderUpdate"])
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None and update.fill.trade_id == "BTC_USDC_PERP:9748827"
    assert (update.order.status, update.order.client_order_id) == (OrderStatus.FILLED, "1001")
    fills_query = assert_signed(venue.requests_to("GET", "/wapi/v1/history/fills")[-1], "fillHistoryQueryAll")
    assert fills_query["marketType"] == "PERP" and int(fills_query["from"]) > 1_700_000_000_000
    await order_stream(venue).broadcast(fx("ws_order_fill"))  # late duplicate on the new connection
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_price_stream(backpack: Exchange, venue: ReplayServer) -> None:
    def on_message(conn: Any, message: Any) -> list[Any]:
        return [fx("ws_book_ticker")] if message.get("params") == ["bookTicker.BTC_USDC_PERP"] else []

    venue.websocket("/", on_message=on_message)
    stream = backpack.price_stream("BTC")
    assert isinstance(stream, AsyncGenerator)
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask, quote.ask_size) == (Decimal("97020.1"), Decimal("97020.2"), Decimal("0.4087"))
    await stream.aclose()


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({}, "BACKPACK_PUBLIC_KEY"),
        ({"BACKPACK_PUBLIC_KEY": PUBLIC, "BACKPACK_SECRET_KEY": "changeme"}, "BACKPACK_SECRET_KEY"),
        ({"BACKPACK_PUBLIC_KEY": PUBLIC, "BACKPACK_SECRET_KEY": "bm90LWEta2V5"}, "BACKPACK_SECRET_KEY"),
    ],
)
def test_bad_credentials_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("backpack", {}, env)
    assert key in caught.value.keys
    assert "bm90LWEta2V5" not in str(caught.value)


class BackpackVenue:
    """A small stateful Backpack for a grid session: orders rest (post-only that would take is refused), fill when
    the test says so (an ``orderFill`` on the account stream), cancel, and are listed and looked up over REST."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.next_id = 4229000001
        self.next_trade = 9750001
        self.position = Decimal(0)
        book = fx("depth")
        self.best_bid = max(Decimal(p) for p, _ in book["bids"])
        self.best_ask = min(Decimal(p) for p, _ in book["asks"])
        server.route("GET", "/api/v1/markets", fx("markets"))
        server.route("GET", "/api/v1/capital/collateral", fx("collateral"))
        server.route("GET", "/api/v1/depth", book)
        server.route("GET", "/api/v1/orders", lambda r: [o for o in self.orders.values() if o["status"] == "New"])
        server.route("POST", "/api/v1/order", self.create)
        server.route("DELETE", "/api/v1/order", self.cancel)
        server.route("DELETE", "/api/v1/orders", self.cancel_all)
        server.route("GET", "/api/v1/order", self.lookup)
        server.route("GET", "/wapi/v1/history/orders", self.history)
        server.route("GET", "/api/v1/position", self.positions)
        server.route("GET", "/wapi/v1/history/fills", [])
        self.stream = server.websocket("/")

    def create(self, request: RecordedRequest) -> Any:
        body = assert_signed(request, "orderExecute")
        price = Decimal(body["price"])
        crosses = price >= self.best_ask if body["side"] == "Bid" else price <= self.best_bid
        if body.get("postOnly") and crosses:
            return Reply(400, fx("error_post_only"))
        order = fx("order_new_post_only") | {
            "id": str(self.next_id),
            "clientId": body["clientId"],
            "side": body["side"],
            "price": body["price"],
            "quantity": body["quantity"],
            "postOnly": bool(body.get("postOnly")),
            "reduceOnly": body.get("reduceOnly"),
            "createdAt": int(time.time() * 1000),
        }
        self.next_id += 1
        self.orders[order["id"]] = order
        return order

    def cancel(self, request: RecordedRequest) -> Any:
        order = self.orders.get(assert_signed(request, "orderCancel")["orderId"])
        if order is None or order["status"] != "New":
            return Reply(404, fx("error_not_found"))
        order["status"] = "Cancelled"
        return order

    def cancel_all(self, request: RecordedRequest) -> Any:
        assert_signed(request, "orderCancelAll")
        cancelled = [o for o in self.orders.values() if o["status"] == "New"]
        for order in cancelled:
            order["status"] = "Cancelled"
        return cancelled

    def lookup(self, request: RecordedRequest) -> Any:
        query = assert_signed(request, "orderQuery")
        for order in self.orders.values():
            wanted = str(order["id"]) == query.get("orderId") or str(order["clientId"]) == query.get("clientId")
            if wanted and order["status"] == "New":
                return order
        return Reply(404, fx("error_not_found"))

    def history(self, request: RecordedRequest) -> Any:
        query = assert_signed(request, "orderHistoryQueryAll")
        done = [o for o in self.orders.values() if o["status"] != "New"]
        return [o for o in done if "orderId" not in query or o["id"] == query["orderId"]]

    def positions(self, request: RecordedRequest) -> Any:
        assert_signed(request, "positionQuery")
        btc = fx("positions")[0] | {"netQuantity": str(self.position), "netExposureQuantity": str(abs(self.position))}
        return [btc]

    async def fill(self, order_id: str) -> None:
        """The resting order trades completely; the account stream says so."""
        order = self.orders[order_id]
        quote = Decimal(order["quantity"]) * Decimal(order["price"])
        order.update(status="Filled", executedQuantity=order["quantity"], executedQuoteQuantity=str(quote))
        self.position += Decimal(order["quantity"]) * (1 if order["side"] == "Bid" else -1)
        now_us = int(time.time() * 1_000_000)
        event = fx("ws_order_fill")
        event["data"].update(
            E=now_us, T=now_us, c=order["clientId"], S=order["side"], q=order["quantity"], p=order["price"],
            i=order_id, l=order["quantity"], L=order["price"], z=order["quantity"], Z=str(quote), t=self.next_trade,
        )  # fmt: skip
        self.next_trade += 1
        await self.stream.broadcast(event)


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A restarted bot (a new client with no memory of the ids it sent) finds its resting take-profit among the open
    orders by the role packed into the uint32 ``clientId``: it neither places it again nor opens at once (the
    cooldown after a restart), and its stop cancels it as the bot's own order."""

    async with ReplayServer() as server:
        venue = BackpackVenue(server)
        options = {"baseUrl": server.url, "wsUrl": server.ws_url + "/", "reconnectInitialDelay": 0.01}
        first = GridProcess(registry.create_exchange("backpack", options, ENV), "backpack")
        await first.start()
        try:
            opened = await wait_until(lambda: next((o for o in venue.orders.values() if o["side"] == "Bid"), None))
            assert opened["postOnly"] and Decimal(opened["price"]) == venue.best_ask - Decimal("0.1")
            await venue.fill(opened["id"])
            close = await wait_until(lambda: next((o for o in venue.orders.values() if o["side"] == "Ask"), None))
            assert close["reduceOnly"] and close["status"] == "New" and 0 < close["clientId"] < 2**31
        finally:
            await first.crash()
        placed_before_restart = len(server.requests_to("POST", "/api/v1/order"))

        second = GridProcess(registry.create_exchange("backpack", options, ENV), "backpack")
        await second.start()
        try:
            resting = await wait_until(lambda: second.strategy.close_orders)
            await asyncio.sleep(1.5)  # a few grid iterations
            assert [o.order_id for o in second.strategy.close_orders] == [close["id"]]
            client_id = resting[0].client_order_id
            assert client_id is not None and client_id.startswith(second.strategy.client_ids.tag[:7] + "-c-#")
            assert second.strategy.client_ids.role_of(client_id) == "c"
            assert len(server.requests_to("POST", "/api/v1/order")) == placed_before_restart  # nothing placed again
        finally:
            await second.stop()
        assert close["status"] == "Cancelled"  # cancelled on stop: recognised as the bot's own


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------


def _history_row(**changes: Any) -> dict[str, Any]:
    """order_history_filled.json's row (OpenAPI ``Order``) with ``changes``; a value of None drops the key."""
    row = fx("order_history_filled")[0] | changes
    return {k: v for k, v in row.items() if v is not None or k not in changes}


async def test_unknown_order_status_is_an_error_not_open(backpack: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/api/v1/order", _history_row(status="Liquidating"))
    with pytest.raises(MalformedResponse, match="unknown order status 'Liquidating'"):
        await backpack.get_order("BTC", "4228978331")
    # the same over the account stream (ws_order_fill.json): no update is published from it
    updates = backpack.order_updates()
    message = fx("ws_order_fill")
    await order_stream(venue).broadcast(message | {"data": message["data"] | {"X": "Liquidating"}})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_filled_without_executed_quantity_is_the_whole_order(backpack: Exchange, venue: ReplayServer) -> None:
    # OpenAPI OrderStatus "Filled" is the final state of an order that executed its quantity
    venue.route("GET", "/api/v1/order", _history_row(executedQuantity=None))
    order = await backpack.get_order("BTC", "4228978331")
    assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.0100"))
    venue.route("GET", "/api/v1/order", _history_row(executedQuantity=None, status="Cancelled"))
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await backpack.get_order("BTC", "4228978331")


@pytest.mark.parametrize("field", ["id", "side", "status", "orderType"])
async def test_missing_order_field_is_an_exchange_error(backpack: Exchange, venue: ReplayServer, field: str) -> None:
    venue.route("GET", "/api/v1/order", _history_row(**{field: None}))
    with pytest.raises(MalformedResponse, match=field):
        await backpack.get_order("BTC", "4228978331")
    venue.route("GET", "/api/v1/orders", [_history_row(**{field: None})])
    with pytest.raises(MalformedResponse):
        await backpack.open_orders("BTC")


@pytest.mark.parametrize(
    "book",
    [
        {"bids": [["0", "2.0"]]},  # a zero bid
        {"asks": [["-1", "0.1"]]},  # a negative ask
        {"bids": [["97020.0", "1.0"]]},  # crossed: best bid above the best ask
        {"bids": [["abc", "1.0"]]},  # not a number
    ],
)
async def test_zero_negative_or_crossed_quote_is_refused(
    backpack: Exchange, venue: ReplayServer, book: dict[str, Any]
) -> None:
    # depth.json with one side replaced
    venue.route("GET", "/api/v1/depth", fx("depth") | book)
    with pytest.raises(MalformedResponse):
        await backpack.best_bid_ask("BTC")


async def test_price_stream_skips_a_zero_quote(backpack: Exchange, venue: ReplayServer) -> None:
    # ws_book_ticker.json with a zero ask first: only the good quote after it is yielded
    good = fx("ws_book_ticker")
    bad = good | {"data": good["data"] | {"a": "0"}}

    def on_message(conn: Any, message: Any) -> list[Any]:
        return [bad, good] if message.get("params") == ["bookTicker.BTC_USDC_PERP"] else []

    venue.websocket("/", on_message=on_message)
    stream = backpack.price_stream("BTC")
    assert isinstance(stream, AsyncGenerator)
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask) == (Decimal("97020.1"), Decimal("97020.2"))
    await stream.aclose()
