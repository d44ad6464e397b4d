"""GRVT trading client on the real grvt-pysdk (login, EIP-712 signing, REST) and our websockets-15 stream, against a
local replay server speaking GRVT's wire format (tests/fixtures/exchanges/grvt, see SOURCES.md)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("pysdk")

from eth_account import Account
from eth_account.messages import encode_typed_data

from bot_runtime.exchanges._shared.client_ids import GRVT, IntegerClientIds
from bot_runtime.exchanges.base import (
    AuthenticationError,
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
from bot_runtime.exchanges.grvt import GrvtExchange
from bot_runtime.exchanges.registry import create_exchange
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture
from tests.unit.exchanges.conftest import grid_config, wait_until

SUB_ACCOUNT = "8751933338735530"
API_KEY = "grvt-test-api-key-5a3c9e"
PRIVATE_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SIGNER = Account.from_key(PRIVATE_KEY).address
COOKIE = "gravity-session-cookie-value-2f9d"
TESTNET_CHAIN_ID = 326

# EIP-712 types as GRVT documents them (api-docs.grvt.io, "Order signing")
ORDER_TYPES = {
    "Order": [
        {"name": "subAccountID", "type": "uint64"},
        {"name": "isMarket", "type": "bool"},
        {"name": "timeInForce", "type": "uint8"},
        {"name": "postOnly", "type": "bool"},
        {"name": "reduceOnly", "type": "bool"},
        {"name": "legs", "type": "OrderLeg[]"},
        {"name": "nonce", "type": "uint32"},
        {"name": "expiration", "type": "int64"},
    ],
    "OrderLeg": [
        {"name": "assetID", "type": "uint256"},
        {"name": "contractSize", "type": "uint64"},
        {"name": "limitPrice", "type": "uint64"},
        {"name": "isBuyingContract", "type": "bool"},
    ],
}
TIF_CODES = {"GOOD_TILL_TIME": 1, "ALL_OR_NONE": 2, "IMMEDIATE_OR_CANCEL": 3, "FILL_OR_KILL": 4}


def recover_signer(order: dict[str, Any]) -> str:
    instruments = {i["instrument"]: i for i in load_fixture("grvt", "instruments")["result"]}
    legs = []
    for leg in order["legs"]:
        inst = instruments[leg["instrument"]]
        legs.append(
            {
                "assetID": int(inst["instrument_hash"], 16),
                "contractSize": int(Decimal(leg["size"]) * 10 ** inst["base_decimals"]),
                "limitPrice": int(Decimal(leg["limit_price"]) * 10**9),
                "isBuyingContract": leg["is_buying_asset"],
            }
        )
    message = {
        "subAccountID": int(order["sub_account_id"]),
        "isMarket": order["is_market"],
        "timeInForce": TIF_CODES[order["time_in_force"]],
        "postOnly": order["post_only"],
        "reduceOnly": order["reduce_only"],
        "legs": legs,
        "nonce": order["signature"]["nonce"],
        "expiration": int(order["signature"]["expiration"]),
    }
    domain = {"name": "GRVT Exchange", "version": "0", "chainId": TESTNET_CHAIN_ID}
    signable = encode_typed_data(domain, ORDER_TYPES, message)
    sig = order["signature"]
    return str(Account.recover_message(signable, vrs=(sig["v"], int(sig["r"], 16), int(sig["s"], 16))))


class GrvtVenue:
    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.next_id = 1
        self.best_bid, self.best_ask = Decimal("97345.5"), Decimal("97345.6")
        self.create_override: list[Reply] = []
        for path, handler in {
            "/auth/api_key/login": self.login,
            "/full/v1/instruments": lambda r: load_fixture("grvt", "instruments"),
            "/full/v1/create_order": self.create_order,
            "/full/v1/order": self.get_order,
            "/full/v1/open_orders": self.open_orders,
            "/full/v1/cancel_order": self.cancel_order,
            "/full/v1/cancel_all_orders": self.cancel_all,
            "/full/v1/positions": lambda r: self.private(r, load_fixture("grvt", "positions")),
            "/full/v1/account_summary": lambda r: self.private(r, load_fixture("grvt", "account_summary")),
            "/full/v1/fill_history": self.fill_history,
            "/full/v1/mini": lambda r: load_fixture("grvt", "mini_ticker"),
            "/full/v1/ticker": lambda r: load_fixture("grvt", "tickers")[r.json()["instrument"]],
        }.items():
            server.route("POST", path, handler)
        self.ws = server.websocket("/ws/full", on_message=self.on_ws)

    # REST -----------------------------------------------------------------------------------------------------------
    def login(self, request: RecordedRequest) -> Reply:
        if request.json() != {"api_key": API_KEY}:
            return Reply(401, load_fixture("grvt", "error_unauthenticated"))
        return Reply(
            200,
            {"status": "success"},
            headers={
                "Set-Cookie": f"gravity={COOKIE}; Path=/; Expires=Tue, 01 Jan 2030 00:00:00 GMT; HttpOnly; Secure",
                "X-Grvt-Account-Id": "ACC:0x" + "ab" * 20,
            },
        )

    def authed(self, request: RecordedRequest) -> bool:
        return f"gravity={COOKIE}" in (request.header("cookie") or "") and bool(request.header("x-grvt-account-id"))

    def private(self, request: RecordedRequest, body: Any) -> Any:
        if not self.authed(request):
            return Reply(401, load_fixture("grvt", "error_unauthenticated"))
        assert request.json()["sub_account_id"] == SUB_ACCOUNT
        return body

    def create_order(self, request: RecordedRequest) -> Any:
        if not self.authed(request):
            return Reply(401, load_fixture("grvt", "error_unauthenticated"))
        if self.create_override:
            return self.create_override.pop(0)
        order = copy_json(request.json()["order"])
        order_id = f"0x{self.next_id:032x}"
        self.next_id += 1
        leg = order["legs"][0]
        price = Decimal(leg["limit_price"])
        crosses = price >= self.best_ask if leg["is_buying_asset"] else price <= self.best_bid
        order["order_id"] = order_id
        order["metadata"]["create_time"] = str(time.time_ns())
        order["state"] = {
            "status": "PENDING",
            "reject_reason": "UNSPECIFIED",
            "book_size": [leg["size"]],
            "traded_size": ["0.0"],
            "update_time": str(time.time_ns()),
            "avg_fill_price": ["0.0"],
        }
        stored = copy_json(order)
        if order["post_only"] and crosses:
            stored["state"].update(status="REJECTED", reject_reason="FAIL_POST_ONLY", book_size=["0.0"])
        elif order["is_market"]:
            stored["state"].update(
                status="FILLED", book_size=["0.0"], traded_size=[leg["size"]], avg_fill_price=[str(self.best_ask)]
            )
        else:
            stored["state"]["status"] = "OPEN"
        self.orders[order_id] = stored
        return {"result": order}

    def _find(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("order_id"):
            return self.orders.get(body["order_id"])
        cid = body.get("client_order_id")
        return next((o for o in self.orders.values() if o["metadata"]["client_order_id"] == cid), None)

    def get_order(self, request: RecordedRequest) -> Any:
        if not self.authed(request):
            return Reply(401, load_fixture("grvt", "error_unauthenticated"))
        order = self._find(request.json())
        return {"result": order} if order else Reply(404, load_fixture("grvt", "error_not_found"))

    def open_orders(self, request: RecordedRequest) -> Any:
        return self.private(request, {"result": [o for o in self.orders.values() if o["state"]["status"] == "OPEN"]})

    def cancel_order(self, request: RecordedRequest) -> Any:
        order = self._find(request.json())
        if order is not None:
            order["state"].update(status="CANCELLED", reject_reason="CLIENT_CANCEL")
        return self.private(request, {"result": {"ack": True}})

    def cancel_all(self, request: RecordedRequest) -> Any:
        body = request.json()
        for order in self.orders.values():
            base = order["legs"][0]["instrument"].split("_")[0]
            if order["state"]["status"] == "OPEN" and (not body.get("base") or base in body["base"]):
                order["state"].update(status="CANCELLED", reject_reason="CLIENT_BULK_CANCEL")
        return self.private(request, {"result": {"ack": True}})

    def fill_history(self, request: RecordedRequest) -> Any:
        since = int(request.json().get("start_time") or 0)
        return self.private(request, {"result": [f for f in self.fills if int(f["event_time"]) >= since], "next": ""})

    def fill(self, order_id: str) -> dict[str, Any]:
        order = self.orders[order_id]
        leg = order["legs"][0]
        order["state"].update(
            status="FILLED", book_size=["0.0"], traded_size=[leg["size"]], avg_fill_price=[leg["limit_price"]]
        )
        fill: dict[str, Any] = load_fixture("grvt", "fill")
        fill.update(
            event_time=str(time.time_ns()),
            size=leg["size"],
            price=leg["limit_price"],
            is_buyer=leg["is_buying_asset"],
            trade_id=f"{900000 + len(self.fills)}-1",
            order_id=order_id,
            client_order_id=order["metadata"]["client_order_id"],
        )
        self.fills.append(fill)
        return fill

    # WebSocket ---------------------------------------------------------------------------------------------------------
    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("method") != "subscribe":
            return []
        params = message["params"]
        return [
            {
                "jsonrpc": "2.0",
                "result": {
                    "stream": params["stream"],
                    "subs": params["selectors"],
                    "unsubs": [],
                    "num_snapshots": [0],
                    "first_sequence_number": ["1"],
                    "latest_sequence_number": ["0"],
                },
                "id": message["id"],
                "method": "subscribe",
            }
        ]

    async def push(self, stream: str, feed: dict[str, Any], seq: int = 1) -> None:
        await self.ws.broadcast(
            {
                "stream": stream,
                "selector": SUB_ACCOUNT,
                "sequence_number": str(seq),
                "feed": feed,
                "prev_sequence_number": str(seq - 1),
            }
        )


def copy_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


ENV = {
    "GRVT_TRADING_ACCOUNT_ID": SUB_ACCOUNT,
    "GRVT_PRIVATE_KEY": PRIVATE_KEY,
    "GRVT_API_KEY": API_KEY,
    "GRVT_ENVIRONMENT": "testnet",
}


@pytest.fixture
async def venue() -> AsyncIterator[GrvtVenue]:
    async with ReplayServer() as server:
        yield GrvtVenue(server)


@pytest.fixture
async def client(venue: GrvtVenue) -> AsyncIterator[GrvtExchange]:
    exchange = create_exchange("grvt", {"confirmTimeout": 1.0}, {**ENV, "GRVT_BASE_URL": venue.server.url})
    assert isinstance(exchange, GrvtExchange)
    await exchange.connect()
    try:
        yield exchange
    finally:
        await exchange.close()


def post_only_buy(cid: str, price: str = "97000.0", size: str = "0.01") -> OrderRequest:
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


async def test_login_markets_and_symbols(client: GrvtExchange, venue: GrvtVenue) -> None:
    login = venue.server.requests_to("POST", "/auth/api_key/login")
    assert len(login) == 1 and login[0].json() == {"api_key": API_KEY}
    markets = await client.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}
    assert markets["PEPE"].multiplier == 1000 and markets["PEPE"].venue_symbol == "1000PEPE_USDT_Perp"
    assert (markets["BTC"].tick_size, markets["BTC"].min_size) == (Decimal("0.1"), Decimal("0.001"))
    instruments = venue.server.requests_to("POST", "/full/v1/instruments")[0].json()
    assert instruments["kind"] == ["PERPETUAL"]


async def test_post_only_order_is_eip712_signed_by_our_key(client: GrvtExchange, venue: GrvtVenue) -> None:
    order = await client.place_order(post_only_buy("grid-1"))
    assert order.status is OrderStatus.OPEN and order.client_order_id == "grid-1"
    sent = venue.server.requests_to("POST", "/full/v1/create_order")[-1].json()["order"]
    assert sent["sub_account_id"] == SUB_ACCOUNT
    assert (sent["is_market"], sent["time_in_force"], sent["post_only"], sent["reduce_only"]) == (
        False,
        "GOOD_TILL_TIME",
        True,
        False,
    )
    assert sent["legs"] == [
        {
            "instrument": "BTC_USDT_Perp",
            "size": "0.010000000",
            "limit_price": "97000.000000000",
            "is_buying_asset": True,
        }
    ]
    assert sent["metadata"]["client_order_id"] == str(IntegerClientIds(GRVT).encode("grid-1"))
    assert int(sent["metadata"]["client_order_id"]) >= 2**63
    signature = sent["signature"]
    assert signature["signer"] == SIGNER
    assert isinstance(signature["nonce"], int) and 0 <= signature["nonce"] < 2**32
    assert int(signature["expiration"]) > time.time_ns()
    assert recover_signer(sent) == SIGNER  # the signature covers exactly the fields that were sent


async def test_post_only_rejection_and_other_rejections(client: GrvtExchange, venue: GrvtVenue) -> None:
    with pytest.raises(PostOnlyWouldCross):
        await client.place_order(post_only_buy("cross-1", price="97400.0"))
    venue.create_override = [Reply(429, load_fixture("grvt", "error_rate_limited"), headers={"Retry-After": "1.5"})]
    with pytest.raises(RateLimited) as limited:
        await client.place_order(post_only_buy("rl-1"))
    assert limited.value.retry_after == 1.5
    venue.create_override = [Reply(400, {"code": 2010, "message": "Insufficient margin for the order", "status": 400})]
    with pytest.raises(InsufficientMargin):
        await client.place_order(post_only_buy("m-1"))
    venue.create_override = [Reply(502, body="<html>bad gateway</html>")]
    with pytest.raises(TransientNetworkError):
        await client.place_order(post_only_buy("t-1"))


async def test_ioc_reduce_only_and_market_orders(client: GrvtExchange, venue: GrvtVenue) -> None:
    await client.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.SELL,
            size=Decimal("0.02"),
            price=Decimal("97300"),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            client_order_id="ioc-1",
        )
    )
    ioc = venue.server.requests_to("POST", "/full/v1/create_order")[-1].json()["order"]
    assert (ioc["time_in_force"], ioc["reduce_only"], ioc["post_only"], ioc["legs"][0]["is_buying_asset"]) == (
        "IMMEDIATE_OR_CANCEL",
        True,
        False,
        False,
    )
    assert recover_signer(ioc) == SIGNER
    filled = await client.place_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=Decimal("0.01"), order_type=OrderType.MARKET, client_order_id="mkt-1"
        )
    )
    market = venue.server.requests_to("POST", "/full/v1/create_order")[-1].json()["order"]
    assert (market["is_market"], market["time_in_force"], market["legs"][0]["limit_price"]) == (
        True,
        "IMMEDIATE_OR_CANCEL",
        "0.000000000",
    )
    assert recover_signer(market) == SIGNER
    assert filled.status is OrderStatus.FILLED and filled.filled_size == Decimal("0.01")


async def test_cancel_cancel_all_and_lookups(client: GrvtExchange, venue: GrvtVenue) -> None:
    first = await client.place_order(post_only_buy("c-1"))
    await client.place_order(post_only_buy("c-2", price="96000.0"))
    await client.cancel_order("BTC", first.order_id)
    assert venue.server.requests_to("POST", "/full/v1/cancel_order")[-1].json() == {
        "sub_account_id": SUB_ACCOUNT,
        "order_id": first.order_id,
    }
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", first.order_id)
    cancelled = await client.get_order("BTC", first.order_id)
    assert cancelled is not None and cancelled.status is OrderStatus.CANCELED
    found = await client.find_order_by_client_id("BTC", "c-2")
    assert found is not None and found.status is OrderStatus.OPEN
    assert await client.find_order_by_client_id("BTC", "never") is None
    assert await client.cancel_all("BTC") == 1
    assert venue.server.requests_to("POST", "/full/v1/cancel_all_orders")[-1].json() == {
        "sub_account_id": SUB_ACCOUNT,
        "kind": ["PERPETUAL"],
        "base": ["BTC"],
        "quote": ["USDT"],
    }
    assert await client.open_orders() == []


async def test_positions_balance_quote(client: GrvtExchange) -> None:
    assert [(p.symbol, p.size) for p in await client.positions()] == [("BTC", Decimal("-0.02"))]
    btc = await client.position("BTC")
    assert (btc.avg_entry_price, btc.mark_price, btc.liquidation_price) == (
        Decimal("97500.0"),
        Decimal("97345.61"),
        Decimal("131000.5"),
    )
    balance = await client.balance()
    assert (balance.equity, balance.available, balance.margin_used, balance.asset) == (
        Decimal("10003.08"),
        Decimal("9808.39"),
        Decimal("194.69"),
        "USDT",
    )
    quote = await client.best_bid_ask("BTC")
    assert (quote.bid, quote.ask) == (Decimal("97345.5"), Decimal("97345.6"))


async def test_stream_fill_drop_reconnect_and_gap_recovery(client: GrvtExchange, venue: GrvtVenue) -> None:
    updates = client.order_updates()
    conn = await venue.ws.wait_for_connections(1)
    assert f"gravity={COOKIE}" in (conn.request.header("cookie") or "")
    subscribed = [m for m in conn.received if m.get("method") == "subscribe"]
    assert sorted(m["params"]["stream"] for m in subscribed) == ["v1.fill", "v1.order"]
    assert all(m["params"]["selectors"] == [SUB_ACCOUNT] and m["jsonrpc"] == "2.0" for m in subscribed)

    live = await client.place_order(post_only_buy("ws-1"))
    fill = venue.fill(live.order_id)
    await venue.push("v1.fill", fill)
    update = await next_fill(updates)
    assert update.fill is not None
    assert (update.fill.order_id, update.fill.client_order_id, update.fill.fee, update.fill.liquidity.value) == (
        live.order_id,
        "ws-1",
        Decimal("-0.097"),
        "maker",
    )

    gap = await client.place_order(post_only_buy("ws-2", price="96000.0"))
    await conn.drop()
    venue.ws.refuse = True
    await asyncio.sleep(0.3)
    gap_fill = venue.fill(gap.order_id)  # happens while we are disconnected: only fill_history knows it
    venue.ws.refuse = False
    second = await venue.ws.wait_for_connections(2, within=10)
    await second.wait_for_message(lambda m: m.get("params", {}).get("stream") == "v1.fill")
    recovered = await next_fill(updates)
    assert recovered.fill is not None and recovered.fill.trade_id == gap_fill["trade_id"]
    assert recovered.fill.client_order_id == "ws-2"
    assert venue.server.requests_to("POST", "/full/v1/fill_history")
    await venue.push("v1.fill", gap_fill, seq=2)  # the late duplicate is dropped
    with pytest.raises(TimeoutError):
        await next_fill(updates, within=0.5)


async def test_price_stream_over_market_data_ws(client: GrvtExchange, venue: GrvtVenue) -> None:
    stream = client.price_stream("BTC")
    task = asyncio.ensure_future(anext(stream))
    conn = None
    for _ in range(50):
        conn = next(
            (
                c
                for c in venue.ws.connections
                if any(m.get("params", {}).get("stream") == "v1.mini.s" for m in c.received)
            ),
            None,
        )
        if conn:
            break
        await asyncio.sleep(0.05)
    assert conn is not None
    sub = next(m for m in conn.received if m.get("params", {}).get("stream") == "v1.mini.s")
    assert sub["params"]["selectors"] == ["BTC_USDT_Perp@500"]
    await conn.send_json(
        {
            "stream": "v1.mini.s",
            "selector": "BTC_USDT_Perp@500",
            "sequence_number": "0",
            "feed": load_fixture("grvt", "mini_ticker")["result"],
            "prev_sequence_number": "0",
        }
    )
    quote = await asyncio.wait_for(task, 5)
    assert (quote.bid, quote.ask) == (Decimal("97345.5"), Decimal("97345.6"))
    await stream.aclose()  # type: ignore[attr-defined]


async def test_wrong_api_key_is_an_authentication_error(venue: GrvtVenue) -> None:
    exchange = create_exchange(
        "grvt", {"stream": False}, {**ENV, "GRVT_API_KEY": "another-key-123", "GRVT_BASE_URL": venue.server.url}
    )
    try:
        with pytest.raises(AuthenticationError, match="GRVT_API_KEY") as err:
            await exchange.connect()
        assert "another-key-123" not in str(err.value)
    finally:
        await exchange.close()


async def test_sdk_logs_never_carry_the_api_key_or_cookie(venue: GrvtVenue, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    exchange = create_exchange("grvt", {"stream": False}, {**ENV, "GRVT_BASE_URL": venue.server.url})
    await exchange.connect()
    try:
        await exchange.place_order(post_only_buy("log-1"))
    finally:
        await exchange.close()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert API_KEY not in text and COOKIE not in text and PRIVATE_KEY[2:] not in text


async def test_grid_session_open_fill_close_then_stop_cancels(client: GrvtExchange, venue: GrvtVenue) -> None:
    """The grid strategy on this client against the replay venue: open, fill over the stream, take-profit close,
    stop (what SIGTERM triggers) cancels it."""
    from bot_runtime.config import OnStop
    from bot_runtime.risk import RiskManager
    from bot_runtime.strategies import build_strategy

    # a flat account: a buy grid cannot cover the recorded short (positionMismatch)
    venue.server.route("POST", "/full/v1/positions", lambda r: venue.private(r, {"result": []}))
    config = grid_config("grvt")
    strategy = build_strategy(config, client, RiskManager(config.risk))
    stopping = asyncio.Event()
    task = asyncio.create_task(strategy.run(stopping))

    def resting(buying: bool) -> dict[str, Any] | None:
        return next(
            (
                o
                for o in venue.orders.values()
                if o["legs"][0]["is_buying_asset"] is buying and o["state"]["status"] == "OPEN"
            ),
            None,
        )

    try:
        opened = await wait_until(lambda: resting(True))
        assert opened["post_only"] and Decimal(opened["legs"][0]["limit_price"]) == venue.best_ask - Decimal("0.1")
        fill = venue.fill(opened["order_id"])
        await venue.push("v1.order", opened)
        await venue.push("v1.fill", fill, seq=2)
        close = await wait_until(lambda: resting(False))
        assert close["reduce_only"] and Decimal(close["legs"][0]["size"]) == Decimal("0.01")
        expected = (Decimal(opened["legs"][0]["limit_price"]) * Decimal("1.0002") / Decimal("0.1")).to_integral_value(
            rounding="ROUND_CEILING"
        ) * Decimal("0.1")
        assert Decimal(close["legs"][0]["limit_price"]) == expected
        assert recover_signer(close) == SIGNER
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        await strategy.shutdown(OnStop.CANCEL_ORDERS)
    assert resting(False) is None and resting(True) is None


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------

ORDER_ID = load_fixture("grvt", "order")["order_id"]


def stored_order(venue: GrvtVenue, **state: Any) -> dict[str, Any]:
    """order.json (``pysdk.grvt_raw_types.Order``) served by ``/full/v1/order``, its ``state`` changed by ``state``
    (a value of None drops the key)."""
    order: dict[str, Any] = load_fixture("grvt", "order")
    order["state"] = {k: v for k, v in (order["state"] | state).items() if v is not None}
    venue.orders[ORDER_ID] = order
    return order


async def test_unknown_order_status_is_an_error_not_open(client: GrvtExchange, venue: GrvtVenue) -> None:
    stored_order(venue, status="LIQUIDATING")
    with pytest.raises(MalformedResponse, match="unknown order status 'LIQUIDATING'"):
        await client.get_order("BTC", ORDER_ID)
    # the same on the v1.order feed: no update is published from it
    updates = client.order_updates()
    await venue.ws.wait_for_connections(1)
    await venue.push("v1.order", stored_order(venue, status="LIQUIDATING"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_filled_without_traded_size_is_the_whole_order(client: GrvtExchange, venue: GrvtVenue) -> None:
    # OrderStatus.FILLED: "Order is fully filled and hence closed"
    stored_order(venue, status="FILLED", traded_size=None, book_size=["0.0"])
    order = await client.get_order("BTC", ORDER_ID)
    assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.01"))
    # OPEN is "unfilled or partially filled": without traded_size it is unreadable, never 0
    stored_order(venue, traded_size=None)
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await client.get_order("BTC", ORDER_ID)


@pytest.mark.parametrize("drop", ["status", "legs", "size", "is_buying_asset"])
async def test_missing_order_field_is_an_exchange_error(client: GrvtExchange, venue: GrvtVenue, drop: str) -> None:
    order = stored_order(venue, **({"status": None} if drop == "status" else {}))
    if drop == "legs":
        order["legs"] = []
    elif drop != "status":
        del order["legs"][0][drop]
    with pytest.raises(MalformedResponse):
        await client.get_order("BTC", ORDER_ID)


@pytest.mark.parametrize(
    "top",
    [
        {"best_bid_price": "0"},
        {"best_ask_price": "0.0"},
        {"best_bid_price": "-5"},
        {"best_bid_price": "97345.7"},  # crossed
        {"best_ask_price": None},
    ],
)
async def test_zero_negative_or_crossed_quote_is_refused(
    client: GrvtExchange, venue: GrvtVenue, top: dict[str, Any]
) -> None:
    # mini_ticker.json with one side replaced
    ticker = load_fixture("grvt", "mini_ticker")
    venue.server.route("POST", "/full/v1/mini", {"result": ticker["result"] | top})
    with pytest.raises(MalformedResponse):
        await client.best_bid_ask("BTC")
