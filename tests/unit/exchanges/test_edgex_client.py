"""EdgeX V2 trading client on the real edgex-python-sdk (HMAC auth, EIP-712 order signing) and our asyncio
WebSocket, against a local replay server speaking EdgeX's wire format (tests/fixtures/exchanges/edgex, SOURCES.md)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("edgex_sdk")

from edgex_sdk.internal.auth import get_value
from edgex_sdk.internal.eip712 import EIP712_DOMAIN_TYPE, LIMIT_ORDER_PARAMS_TYPE, ORDER_BASE_TYPE
from eth_account import Account
from eth_account.messages import encode_typed_data

from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    InsufficientMargin,
    MalformedResponse,
    OrderNotFound,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PostOnlyWouldCross,
    RateLimited,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from bot_runtime.exchanges.edgex import EdgexExchange
from bot_runtime.exchanges.registry import create_exchange
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture
from tests.unit.exchanges.conftest import grid_config, wait_until

ACCOUNT = "543429922991899150"
SIGNER_KEY = "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"
SIGNER = Account.from_key(SIGNER_KEY).address
API_KEY, PASSPHRASE, SECRET = "edgex-api-key-7c1d", "edgex-pass-5e2a", "edgex-api-secret-93b7f1"


def expected_signature(timestamp: str, method: str, path: str, body: str) -> str:
    key = base64.b64encode(SECRET.encode())
    return hmac.new(key, f"{timestamp}{method}{path}{body}".encode(), hashlib.sha256).hexdigest()


def recover_order_signer(body: dict[str, Any]) -> str:
    """Rebuild the EIP-712 LimitOrderParams from the fields that were sent and recover who signed it."""
    metadata = load_fixture("edgex", "metadata")["data"]
    contract = next(c for c in metadata["contractList"] if c["contractId"] == body["contractId"])
    coin = next(c for c in metadata["coinList"] if c["coinId"] == contract["quoteCoinId"])
    synthetic_res, collateral_res = int(contract["resolution"], 16), int(coin["resolution"], 16)
    message = {
        "base": {
            "nonce": int(body["l2Nonce"]),
            "signer": SIGNER,
            "accountId": int(body["accountId"]),
            "expirationTimestamp": int(body["expireTime"]) // 1000,
        },
        "amountSynthetic": int(Decimal(body["l2Size"]) * synthetic_res),
        "amountCollateral": int(Decimal(body["l2Value"]) * collateral_res),
        "amountFee": int(Decimal(body["l2LimitFee"]) * collateral_res),
        "assetIdSynthetic": int(body["contractId"]),
        "assetIdCollateral": int(coin["coinId"]),
        "isBuyingSynthetic": body["side"] == "BUY",
        "parentOrderHash": b"\x00" * 32,
        "subOrderIndex": 0,
    }
    typed = {
        "types": {
            "EIP712Domain": EIP712_DOMAIN_TYPE,
            "OrderBase": ORDER_BASE_TYPE,
            "LimitOrderParams": LIMIT_ORDER_PARAMS_TYPE,
        },
        "primaryType": "LimitOrderParams",
        "domain": {
            "name": "EdgeX",
            "version": "1",
            "chainId": int(metadata["global"]["nativeChainId"]),
            "verifyingContract": metadata["global"]["contractAddress"],
        },
        "message": message,
    }
    return str(
        Account.recover_message(encode_typed_data(full_message=typed), signature=bytes.fromhex(body["l2Signature"]))
    )


def envelope(data: Any) -> dict[str, Any]:
    return {
        "code": "SUCCESS",
        "data": data,
        "msg": None,
        "errorParam": None,
        "requestTime": "1",
        "responseTime": "2",
        "traceId": "t",
    }


class EdgexVenue:
    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.next_id = 564829588270612618
        self.best_bid, self.best_ask = Decimal("101695.5"), Decimal("101695.9")
        self.create_override: list[Reply] = []
        self.bad_signatures = 0
        server.route("GET", "/api/v2/public/meta/getMetaData", load_fixture("edgex", "metadata"))
        server.route(
            "GET", "/api/v2/public/quote/getTicker", lambda r: load_fixture("edgex", "tickers")[r.query["contractId"]]
        )
        server.route("GET", "/api/v2/public/quote/getDepth", load_fixture("edgex", "depth"))
        for method, path, handler in (
            ("POST", "/api/v2/private/order/createOrder", self.create_order),
            ("GET", "/api/v2/private/order/getOrderByClientOrderId", self.by_client),
            ("GET", "/api/v2/private/order/getOrderById", self.by_id),
            ("GET", "/api/v2/private/order/getActiveOrderPage", self.active),
            ("POST", "/api/v2/private/order/cancelOrderById", self.cancel_by_id),
            ("POST", "/api/v2/private/order/cancelAllOrder", self.cancel_all),
            ("GET", "/api/v2/private/account/getAccountAsset", lambda r: load_fixture("edgex", "account_asset")),
            ("GET", "/api/v2/private/order/getHistoryOrderFillTransactionPage", self.fill_history),
        ):
            server.route(method, path, self.authed(handler))
        self.private_ws = server.websocket("/api/v1/private/ws", on_message=self.on_private)
        self.public_ws = server.websocket("/api/v1/public/ws", on_message=self.on_public)

    def authed(self, handler: Any) -> Any:
        def check(request: RecordedRequest) -> Any:
            ts = request.header("x-edgex-timestamp") or ""
            if request.method == "GET":
                body = "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))
            else:
                body = get_value(request.json())
            ok = (
                request.header("x-edgex-api-key") == API_KEY
                and request.header("x-edgex-passphrase") == PASSPHRASE
                and request.header("x-edgex-signature") == expected_signature(ts, request.method, request.path, body)
                and abs(int(ts or 0) - time.time() * 1000) < 60_000
            )
            if not ok:
                self.bad_signatures += 1
                return Reply(401, load_fixture("edgex", "error_signature"))
            return handler(request)

        return check

    def create_order(self, request: RecordedRequest) -> Any:
        if self.create_override:
            return self.create_override.pop(0)
        body = request.json()
        order = load_fixture("edgex", "order")
        order_id = str(self.next_id)
        self.next_id += 1
        price = Decimal(body["price"])
        crosses = price >= self.best_ask if body["side"] == "BUY" else price <= self.best_bid
        status, reason = "OPEN", "UNKNOWN_ORDER_CANCEL_REASON"
        if body["timeInForce"] == "POST_ONLY" and crosses:
            status, reason = "CANCELED", "COULD_NOT_FILL"  # the documented enum has no post-only-specific value
        if body["type"] == "MARKET":
            status = "FILLED"
            order.update(cumFillSize=body["size"], cumFillValue=str(Decimal(body["size"]) * self.best_ask))
        order.update(
            id=order_id,
            contractId=body["contractId"],
            side=body["side"],
            price=body["price"],
            size=body["size"],
            clientOrderId=body["clientOrderId"],
            type=body["type"],
            timeInForce=body["timeInForce"],
            reduceOnly=body["reduceOnly"],
            status=status,
            cancelReason=reason,
        )
        self.orders[order_id] = order
        return envelope({"orderId": order_id})

    def by_client(self, request: RecordedRequest) -> Any:
        wanted = set(request.query["clientOrderIdList"].split(","))
        return envelope([o for o in self.orders.values() if o["clientOrderId"] in wanted])

    def by_id(self, request: RecordedRequest) -> Any:
        wanted = set(request.query["orderIdList"].split(","))
        return envelope([o for o in self.orders.values() if o["id"] in wanted])

    def active(self, request: RecordedRequest) -> Any:
        contracts = request.query.get("filterContractIdList")
        rows = [
            o
            for o in self.orders.values()
            if o["status"] == "OPEN" and (not contracts or o["contractId"] in contracts.split(","))
        ]
        return envelope({"dataList": rows, "nextPageOffsetData": ""})

    def cancel_by_id(self, request: RecordedRequest) -> Any:
        results = {}
        for order_id in request.json()["orderIdList"]:
            order = self.orders.get(order_id)
            if order is None:
                results[order_id] = "FAILED_ORDER_NOT_FOUND"
            elif order["status"] != "OPEN":
                results[order_id] = "FAILED_ORDER_FILLED" if order["status"] == "FILLED" else "FAILED_ORDER_NOT_FOUND"
            else:
                order.update(status="CANCELED", cancelReason="USER_CANCELED")
                results[order_id] = "SUCCESS"
        return envelope({"cancelResultMap": results})

    def cancel_all(self, request: RecordedRequest) -> Any:
        contracts = request.json().get("filterContractIdList") or []
        results = {}
        for order in self.orders.values():
            if order["status"] == "OPEN" and (not contracts or order["contractId"] in contracts):
                order.update(status="CANCELED", cancelReason="USER_CANCELED")
                results[order["id"]] = "SUCCESS"
        return envelope({"cancelResultMap": results})

    def fill_history(self, request: RecordedRequest) -> Any:
        since = int(request.query.get("filterStartCreatedTimeInclusive") or 0)
        return envelope(
            {"dataList": [f for f in self.fills if int(f["createdTime"]) >= since], "nextPageOffsetData": ""}
        )

    def fill(self, order_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        order = self.orders[order_id]
        now = str(int(time.time() * 1000))
        order.update(
            status="FILLED",
            cumFillSize=order["size"],
            cumFillValue=str(Decimal(order["size"]) * Decimal(order["price"])),
        )
        fill = load_fixture("edgex", "fill")
        fill.update(
            id=str(900000 + len(self.fills)),
            orderId=order_id,
            contractId=order["contractId"],
            orderSide=order["side"],
            fillSize=order["size"],
            fillPrice=order["price"],
            fillValue=order["cumFillValue"],
            matchTime=now,
            createdTime=now,
        )
        self.fills.append(fill)
        return order, fill

    async def push_update(self, order: dict[str, Any], fill: dict[str, Any] | None) -> None:
        data: dict[str, Any] = {"order": [order], "orderFillTransaction": [fill] if fill else []}
        await self.private_ws.broadcast(
            {"type": "trade-event", "content": {"event": "ORDER_UPDATE", "version": "1001", "data": data}}
        )

    def on_private(self, conn: WsConnection, message: Any) -> list[Any]:
        return []

    def on_public(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("type") != "subscribe":
            return []
        depth = load_fixture("edgex", "depth")["data"]
        return [
            {"type": "subscribed", "channel": message["channel"]},
            {
                "type": "quote-event",
                "channel": message["channel"],
                "content": {"dataType": "Snapshot", "channel": message["channel"], "data": depth},
            },
        ]


ENV = {
    "EDGEX_ACCOUNT_ID": ACCOUNT,
    "EDGEX_STARK_PRIVATE_KEY": SIGNER_KEY,
    "EDGEX_API_KEY": API_KEY,
    "EDGEX_API_PASSPHRASE": PASSPHRASE,
    "EDGEX_API_SECRET": SECRET,
}


@pytest.fixture
async def venue() -> AsyncIterator[EdgexVenue]:
    async with ReplayServer() as server:
        yield EdgexVenue(server)


@pytest.fixture
async def client(venue: EdgexVenue) -> AsyncIterator[EdgexExchange]:
    env = {**ENV, "EDGEX_BASE_URL": venue.server.url, "EDGEX_WS_URL": venue.server.ws_url}
    exchange = create_exchange("edgex", {"confirmTimeout": 1.0}, env)
    assert isinstance(exchange, EdgexExchange)
    await exchange.connect()
    try:
        yield exchange
    finally:
        await exchange.close()


def post_only_buy(cid: str, price: str = "100000.0", size: str = "0.01") -> OrderRequest:
    return OrderRequest(
        symbol="BTC",
        side=Side.BUY,
        size=Decimal(size),
        price=Decimal(price),
        time_in_force=TimeInForce.POST_ONLY,
        client_order_id=cid,
    )


async def next_fill(updates: AsyncIterator[OrderUpdate], within: float = 8) -> OrderUpdate:
    async def wait() -> OrderUpdate:
        async for update in updates:
            if update.fill is not None:
                return update
        raise AssertionError("stream ended")

    return await asyncio.wait_for(wait(), within)


async def test_markets_from_metadata(client: EdgexExchange) -> None:
    markets = await client.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # the disabled contract is skipped
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.contract_id, btc.tick_size, btc.size_step, btc.min_size, btc.maker_fee) == (
        "10000001",
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("0.001"),
        Decimal("0.00015"),
    )
    assert (pepe.venue_symbol, pepe.multiplier) == ("1000PEPEUSDT", Decimal(1000))


async def test_post_only_order_is_hmac_authenticated_and_eip712_signed(
    client: EdgexExchange, venue: EdgexVenue
) -> None:
    order = await client.place_order(post_only_buy("grid-1"))
    assert order.status is OrderStatus.OPEN and order.client_order_id == "grid-1"
    assert venue.bad_signatures == 0  # every private call carried a valid HMAC
    body = venue.server.requests_to("POST", "/api/v2/private/order/createOrder")[-1].json()
    assert (body["accountId"], body["contractId"], body["side"], body["type"], body["timeInForce"]) == (
        ACCOUNT,
        "10000001",
        "BUY",
        "LIMIT",
        "POST_ONLY",
    )
    assert (body["price"], body["size"], body["clientOrderId"], body["reduceOnly"]) == (
        "100000.0",
        "0.01",
        "grid-1",
        False,
    )
    assert int(body["l2Nonce"]) == int(hashlib.sha256(b"grid-1").hexdigest()[:8], 16)
    assert Decimal(body["l2Value"]) == Decimal("100000.0") * Decimal("0.010")
    assert int(body["l2ExpireTime"]) - int(body["expireTime"]) == 8 * 24 * 3600 * 1000
    assert recover_order_signer(body) == SIGNER


async def test_rejections_are_mapped(client: EdgexExchange, venue: EdgexVenue) -> None:
    with pytest.raises(PostOnlyWouldCross):
        await client.place_order(post_only_buy("cross-1", price="101700.0"))
    venue.create_override = [Reply(200, load_fixture("edgex", "error_margin"))]
    with pytest.raises(InsufficientMargin):
        await client.place_order(post_only_buy("m-1"))
    venue.create_override = [Reply(429, {"code": "TOO_MANY_REQUEST", "msg": "rate limit exceeded"})]
    with pytest.raises(RateLimited):
        await client.place_order(post_only_buy("r-1"))
    venue.create_override = [Reply(500, body="internal error")]
    with pytest.raises(TransientNetworkError):
        await client.place_order(post_only_buy("t-1"))


async def test_market_and_reduce_only_ioc(client: EdgexExchange, venue: EdgexVenue) -> None:
    filled = await client.place_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=Decimal("0.002"), order_type=OrderType.MARKET, client_order_id="mkt-1"
        )
    )
    body = venue.server.requests_to("POST", "/api/v2/private/order/createOrder")[-1].json()
    assert (body["type"], body["timeInForce"], body["price"]) == ("MARKET", "IMMEDIATE_OR_CANCEL", "0")
    assert recover_order_signer(body) == SIGNER  # signed at the SDK's worst price (10 x oracle for a buy)
    assert filled.status is OrderStatus.FILLED
    await client.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.SELL,
            size=Decimal("0.01"),
            price=Decimal("101000"),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            client_order_id="ioc-1",
        )
    )
    body = venue.server.requests_to("POST", "/api/v2/private/order/createOrder")[-1].json()
    assert (body["timeInForce"], body["reduceOnly"], body["side"]) == ("IMMEDIATE_OR_CANCEL", True, "SELL")


async def test_cancel_cancel_all_lookups(client: EdgexExchange, venue: EdgexVenue) -> None:
    first = await client.place_order(post_only_buy("c-1"))
    await client.place_order(post_only_buy("c-2", price="99000.0"))
    await client.cancel_order("BTC", first.order_id)
    assert venue.server.requests_to("POST", "/api/v2/private/order/cancelOrderById")[-1].json() == {
        "accountId": ACCOUNT,
        "orderIdList": [first.order_id],
    }
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", first.order_id)
    got = await client.get_order("BTC", first.order_id)
    assert got is not None and got.status is OrderStatus.CANCELED
    found = await client.find_order_by_client_id("BTC", "c-2")
    assert found is not None and found.status is OrderStatus.OPEN
    assert await client.find_order_by_client_id("BTC", "nope") is None
    assert await client.cancel_all("BTC") == 1
    assert venue.server.requests_to("POST", "/api/v2/private/order/cancelAllOrder")[-1].json() == {
        "accountId": ACCOUNT,
        "filterContractIdList": ["10000001"],
    }
    assert await client.open_orders() == []


async def test_positions_balance_quote(client: EdgexExchange) -> None:
    assert [(p.symbol, p.size) for p in await client.positions()] == [("BTC", Decimal("-0.020"))]
    btc = await client.position("BTC")
    assert (btc.avg_entry_price, btc.liquidation_price, btc.unrealized_pnl) == (
        Decimal("97444.5"),
        Decimal("142354.9"),
        Decimal("-83.96"),
    )
    assert btc.mark_price == Decimal("2032.85") / Decimal("0.020")
    balance = await client.balance()
    assert (balance.equity, balance.available, balance.margin_used, balance.unrealized_pnl) == (
        Decimal("10021.31"),
        Decimal("9961.18"),
        Decimal("40.657"),
        Decimal("-83.96"),
    )
    quote = await client.best_bid_ask("BTC")
    assert (quote.bid, quote.ask) == (Decimal("101695.5"), Decimal("101695.9"))


async def test_stream_fill_drop_and_gap_recovery(client: EdgexExchange, venue: EdgexVenue) -> None:
    updates = client.order_updates()
    conn = await venue.private_ws.wait_for_connections(1)
    ts = conn.request.query["timestamp"]
    assert conn.request.query["accountId"] == ACCOUNT
    assert conn.request.header("x-edgex-signature") == expected_signature(
        ts, "GET", "/api/v1/private/ws", f"accountId={ACCOUNT}&timestamp={ts}"
    )
    await conn.send_json({"type": "ping", "time": "1693208170000"})
    assert await conn.wait_for_message(lambda m: m.get("type") == "pong") == {"type": "pong", "time": "1693208170000"}

    live = await client.place_order(post_only_buy("ws-1"))
    order, fill = venue.fill(live.order_id)
    await venue.push_update(order, fill)
    update = await next_fill(updates)
    assert update.fill is not None
    assert (update.fill.order_id, update.fill.client_order_id, update.fill.liquidity.value, update.fill.fee) == (
        live.order_id,
        "ws-1",
        "maker",
        Decimal("0.014439"),
    )

    gap = await client.place_order(post_only_buy("ws-2", price="99000.0"))
    await conn.drop()
    venue.private_ws.refuse = True
    await asyncio.sleep(0.3)
    _, gap_fill = venue.fill(gap.order_id)
    venue.private_ws.refuse = False
    await venue.private_ws.wait_for_connections(2, within=10)
    recovered = await next_fill(updates)
    assert recovered.fill is not None and recovered.fill.trade_id == gap_fill["id"]
    assert recovered.fill.client_order_id == "ws-2"
    assert venue.server.requests_to("GET", "/api/v2/private/order/getHistoryOrderFillTransactionPage")
    await venue.push_update(venue.orders[gap.order_id], gap_fill)  # late duplicate
    with pytest.raises(TimeoutError):
        await next_fill(updates, within=0.5)


async def test_price_stream(client: EdgexExchange, venue: EdgexVenue) -> None:
    stream = client.price_stream("BTC")
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask) == (Decimal("101695.5"), Decimal("101695.9"))
    conn = venue.public_ws.connections[-1]
    assert conn.received[0] == {"type": "subscribe", "channel": "depth.10000001.15"}
    await conn.send_json(
        {
            "type": "quote-event",
            "channel": "depth.10000001.15",
            "content": {
                "dataType": "Changed",
                "channel": "depth.10000001.15",
                "data": [{"asks": [{"price": "101695.9", "size": "0"}], "bids": []}],
            },
        }
    )
    quote = await asyncio.wait_for(anext(stream), 5)
    assert quote.ask == Decimal("101696.0")
    await stream.aclose()  # type: ignore[attr-defined]


async def test_wrong_api_secret_is_an_authentication_error(venue: EdgexVenue) -> None:
    env = {
        **ENV,
        "EDGEX_API_SECRET": "not-the-secret-xyz",
        "EDGEX_BASE_URL": venue.server.url,
        "EDGEX_WS_URL": venue.server.ws_url,
    }
    exchange = create_exchange("edgex", {"stream": False}, env)
    try:
        with pytest.raises(AuthenticationError) as err:
            await exchange.connect()
        assert "not-the-secret-xyz" not in str(err.value)
    finally:
        await exchange.close()


async def test_grid_session_open_fill_close_then_stop_cancels(client: EdgexExchange, venue: EdgexVenue) -> None:
    """The grid strategy on this client against the replay venue: open, fill over the stream, take-profit close,
    stop (what SIGTERM triggers) cancels it."""
    from bot_runtime.config import OnStop
    from bot_runtime.risk import RiskManager
    from bot_runtime.strategies import build_strategy

    asset = load_fixture("edgex", "account_asset")
    asset["data"]["positionList"] = []  # a flat account: a buy grid cannot cover the recorded short (positionMismatch)
    asset["data"]["positionAssetList"] = []
    venue.server.route("GET", "/api/v2/private/account/getAccountAsset", venue.authed(lambda r: asset))
    config = grid_config("edgex")
    strategy = build_strategy(config, client, RiskManager(config.risk))
    stopping = asyncio.Event()
    task = asyncio.create_task(strategy.run(stopping))

    def resting(side: str) -> dict[str, Any] | None:
        return next((o for o in venue.orders.values() if o["side"] == side and o["status"] == "OPEN"), None)

    try:
        opened = await wait_until(lambda: resting("BUY"))
        assert opened["timeInForce"] == "POST_ONLY" and Decimal(opened["price"]) == venue.best_ask - Decimal("0.1")
        order, fill = venue.fill(opened["id"])
        await venue.push_update(order, fill)
        close = await wait_until(lambda: resting("SELL"))
        assert close["reduceOnly"] and Decimal(close["size"]) == Decimal("0.01")
        expected = (Decimal(opened["price"]) * Decimal("1.0002") / Decimal("0.1")).to_integral_value(
            rounding="ROUND_CEILING"
        ) * Decimal("0.1")
        assert Decimal(close["price"]) == expected
        close_body = venue.server.requests_to("POST", "/api/v2/private/order/createOrder")[-1].json()
        assert recover_order_signer(close_body) == SIGNER
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        await strategy.shutdown(OnStop.CANCEL_ORDERS)
    assert resting("SELL") is None and resting("BUY") is None
    assert venue.bad_signatures == 0


@pytest.mark.parametrize(
    ("tif", "reason", "status", "expected"),
    [
        ("POST_ONLY", "COULD_NOT_FILL", OrderStatus.REJECTED, CancelReason.POST_ONLY_VIOLATION),
        ("IMMEDIATE_OR_CANCEL", "COULD_NOT_FILL", OrderStatus.EXPIRED, CancelReason.EXPIRED),
        # a post-only order cancelled without a reason is not a post-only refusal
        ("POST_ONLY", "UNKNOWN_ORDER_CANCEL_REASON", OrderStatus.CANCELED, CancelReason.USER_CANCELED),
        ("POST_ONLY", "ADMIN_CANCELED", OrderStatus.CANCELED, CancelReason.REJECTED),
        ("GOOD_TIL_CANCEL", "MARGIN_NOT_ENOUGH", OrderStatus.REJECTED, CancelReason.INSUFFICIENT_BALANCE),
    ],
)
def test_cancel_reasons_of_the_documented_enum(
    tif: str, reason: str, status: OrderStatus, expected: CancelReason
) -> None:
    from bot_runtime.exchanges.edgex.mapping import parse_order

    raw = load_fixture("edgex", "order")
    raw.update(status="CANCELED", cancelReason=reason, timeInForce=tif, cumFillSize="0", cumFillValue="0")
    order = parse_order(raw, "BTC")
    assert (order.status, order.cancel_reason) == (status, expected)


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------

ORDER_ID = load_fixture("edgex", "order")["id"]


def stored_order(venue: EdgexVenue, **changes: Any) -> dict[str, Any]:
    """order.json (the order object of getOrderById and the stream) with ``changes`` (None drops the key), served
    by the venue."""
    order = {k: v for k, v in (load_fixture("edgex", "order") | changes).items() if v is not None or k not in changes}
    venue.orders[ORDER_ID] = order
    return order


async def test_unknown_order_status_is_an_error_not_pending(client: EdgexExchange, venue: EdgexVenue) -> None:
    order = stored_order(venue, status="UNKNOWN_ORDER_STATUS")
    with pytest.raises(MalformedResponse, match="unknown order status 'UNKNOWN_ORDER_STATUS'"):
        await client.get_order("BTC", ORDER_ID)
    # the same in a trade-event: no update is published from it
    updates = client.order_updates()
    await venue.private_ws.wait_for_connections(1)
    await venue.push_update(order, None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_filled_without_fill_size_is_the_whole_order(client: EdgexExchange, venue: EdgexVenue) -> None:
    # FILLED is filled completely (a partial fill stays OPEN): without cumFillSize, or before it settles ("0"), the
    # filled size is the order's size
    for cum in (None, "0"):
        stored_order(venue, status="FILLED", cumFillSize=cum, cumFillValue=None)
        order = await client.get_order("BTC", ORDER_ID)
        assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.001"))
    # OPEN may carry partial fills: without cumFillSize it is unreadable, never 0
    stored_order(venue, cumFillSize=None)
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await client.get_order("BTC", ORDER_ID)


@pytest.mark.parametrize("field", ["size", "side", "status", "contractId"])
async def test_missing_order_field_is_an_exchange_error(client: EdgexExchange, venue: EdgexVenue, field: str) -> None:
    stored_order(venue, **{field: None})
    with pytest.raises(MalformedResponse, match=field):
        await client.get_order("BTC", ORDER_ID)


@pytest.mark.parametrize(("bid", "ask"), [("0", "101695.9"), ("101695.5", "0"), ("-1", "1"), ("101696", "101695.9")])
async def test_zero_negative_or_crossed_quote_is_refused(
    client: EdgexExchange, venue: EdgexVenue, bid: str, ask: str
) -> None:
    # depth.json with its best levels replaced
    depth = load_fixture("edgex", "depth")
    depth["data"][0]["bids"][0]["price"], depth["data"][0]["asks"][0]["price"] = bid, ask
    venue.server.route("GET", "/api/v2/public/quote/getDepth", depth)
    with pytest.raises(MalformedResponse):
        await client.best_bid_ask("BTC")
