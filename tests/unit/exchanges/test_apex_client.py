"""The ApeX Omni trading client against a stateful replay of its REST API and private stream (shapes:
tests/fixtures/exchanges/apex/SOURCES.md). The replay venue checks every private request's ``APEX-SIGNATURE`` and
every order's zkLink signature by recomputing them with the signer ``test_apex_signing.py`` proves byte-identical to
the SDK's ``HttpPrivate.sign`` / ``create_order_v3``. BTC-USDT's book: 97400.0 / 97401.0."""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

if importlib.util.find_spec("apexomni") is None:
    pytest.skip("the apex extra is not installed", allow_module_level=True)

from bot_runtime.exchanges import apex
from bot_runtime.exchanges.apex.client import ApexExchange
from bot_runtime.exchanges.apex.signing import Contract, OrderSigner, request_signature
from bot_runtime.exchanges.base import (
    CredentialsError,
    Exchange,
    InsufficientMargin,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    PostOnlyWouldCross,
    RateLimited,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture

SECRET = "c2VjcmV0LW9mLXRoZS1yZXBsYXktdmVudWU"
SEEDS = "1f" * 64
ENV = {
    "APEX_API_KEY": "replay-api-key",
    "APEX_API_KEY_SECRET": SECRET,
    "APEX_API_KEY_PASSPHRASE": "replay-passphrase",
    "APEX_OMNI_KEY_SEED": "0x" + SEEDS,
}
ACCOUNT_ID = "584232029141860482"
BTC = Contract("BTC-USDT", 50001, Decimal("0.1"), 6)
BID, ASK = Decimal("97400.0"), Decimal("97401.0")
TICKERS = {"BTCUSDT": "v3_ticker_btc", "ETHUSDT": "v3_ticker_eth", "1000PEPEUSDT": "v3_ticker_1000pepe"}


def fx(name: str) -> Any:
    return load_fixture("apex", name)


class ApexVenue:
    """ApeX Omni as the client sees it: orders rest until filled or cancelled; a post-only order at or through the
    other side is accepted and cancelled at once (the assumption docs/exchanges/apex.md states); an IOC (or market)
    order that crosses fills whole at the touch, one that does not is cancelled unfilled. ``funding`` overrides a
    ticker's ``fundingRate`` (by its name, ``BTCUSDT``); with ``live_positions`` the account's positions are the
    fills here; ``now_ms`` is the venue's clock (orders, fills)."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.refuse_next: dict[str, Any] | None = None
        self.bad_signatures: list[str] = []
        self.refuse_key = False  # True: every private request is refused as a bad API key (revoked)
        self.live_positions = False
        self.funding: dict[str, str] = {}
        self.now_ms: Any = lambda: int(time.time() * 1000)
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(700_000_000_000_000_101)
        self.signer = OrderSigner(SEEDS, ACCOUNT_ID)
        server.route("GET", "/api/v3/symbols", fx("v3_symbols"))
        server.route("GET", "/api/v3/depth", fx("v3_depth"))
        server.route("GET", "/api/v3/ticker", self.ticker)
        server.route("GET", "/api/v3/account", self.private(self.account))
        server.route("GET", "/api/v3/account-balance", self.private(lambda r: fx("v3_account_balance")))
        server.route("GET", "/api/v3/open-orders", self.private(self.open_orders))
        server.route("GET", "/api/v3/order", self.private(lambda r: self.lookup(r, "id")))
        server.route("GET", "/api/v3/order-by-client-order-id", self.private(lambda r: self.lookup(r, "clientId")))
        server.route("GET", "/api/v3/fills", self.private(self.fills_page))
        server.route("POST", "/api/v3/order", self.private(self.place))
        server.route("POST", "/api/v3/delete-order", self.private(lambda r: self.delete(r, "id")))
        server.route("POST", "/api/v3/delete-client-order-id", self.private(lambda r: self.delete(r, "clientId")))
        server.route("POST", "/api/v3/delete-open-orders", self.private(self.delete_open))
        self.ws = server.websocket("/realtime_private", on_message=self.on_ws)

    # authentication ------------------------------------------------------------------------------------------------
    def private(self, handler: Any) -> Any:
        def checked(request: RecordedRequest) -> Any:
            path = request.path + (
                "?" + "&".join(f"{k}={v}" for k, v in request.query.items()) if request.query else ""
            )
            data = request.form() if request.method == "POST" else {}
            expected = request_signature(SECRET, path, request.method, request.header("APEX-TIMESTAMP") or "", data)
            if self.refuse_key:
                return Reply(200, json={"code": 20006, "msg": "apikey sign error"})
            if request.header("APEX-SIGNATURE") != expected or request.header("APEX-API-KEY") != ENV["APEX_API_KEY"]:
                self.bad_signatures.append(path)
                return Reply(200, json={"code": 20006, "msg": "apikey sign error"})
            if request.header("APEX-PASSPHRASE") != ENV["APEX_API_KEY_PASSPHRASE"]:
                return Reply(200, json={"code": 20006, "msg": "apikey sign error"})
            return handler(request)

        return checked

    # public and account ------------------------------------------------------------------------------------------
    def ticker(self, request: RecordedRequest) -> Any:
        symbol = request.query.get("symbol", "")
        if symbol not in TICKERS:
            return {"data": []}
        answer = fx(TICKERS[symbol])
        if symbol in self.funding:
            answer["data"][0]["fundingRate"] = self.funding[symbol]
        return answer

    def account(self, request: RecordedRequest) -> Any:
        answer = fx("v3_account")
        if self.live_positions:
            sizes: dict[str, Decimal] = {}
            for row in self.fills:
                signed = Decimal(row["size"]) if row["side"] == "BUY" else -Decimal(row["size"])
                sizes[row["symbol"]] = sizes.get(row["symbol"], Decimal(0)) + signed
            template = answer["data"]["positions"][0]
            answer["data"]["positions"] = [
                {**template, "symbol": symbol, "side": "LONG" if size > 0 else "SHORT", "size": str(abs(size))}
                for symbol, size in sizes.items()
                if size != 0
            ]
        return answer

    # orders --------------------------------------------------------------------------------------------------------
    def row(self, order_id: str) -> dict[str, Any]:
        return dict(self.orders[order_id])

    def place(self, request: RecordedRequest) -> Any:
        form = request.form()
        if self.refuse_next is not None:
            refusal, self.refuse_next = self.refuse_next, None
            return refusal
        price, size = Decimal(form["price"]), Decimal(form["size"])
        fees = fx("v3_account")["data"]["contractAccount"]
        expected = self.signer.signature(
            BTC, side=form["side"], price=price, size=size, client_id=form["clientId"],
            taker_fee_rate=Decimal(fees["takerFeeRate"]), maker_fee_rate=Decimal(fees["makerFeeRate"]),
        )  # fmt: skip
        if form["signature"] != expected:
            return {"code": 3, "msg": "order signature error", "key": "ORDER_SIGNATURE_ERROR"}
        order_id = str(next(self._ids))
        crosses = (form["side"] == "BUY" and price >= ASK) or (form["side"] == "SELL" and price <= BID)
        status = "CANCELED" if form["timeInForce"] == "POST_ONLY" and crosses else "OPEN"
        immediate = form["timeInForce"] == "IMMEDIATE_OR_CANCEL"
        if immediate and not crosses:
            status = "CANCELED"
        now = self.now_ms()
        self.orders[order_id] = {**fx("v3_order")["data"], "id": order_id, "clientId": form["clientId"],
                                 "symbol": form["symbol"], "side": form["side"], "price": form["price"],
                                 "size": form["size"], "remainingSize": form["size"], "status": status,
                                 "timeInForce": form["timeInForce"], "reduceOnly": form["reduceOnly"] == "True",
                                 "createdAt": now, "updatedTime": now, "form": form}  # fmt: skip
        answer = self.row(order_id)
        answer["status"] = "PENDING"  # the acknowledgement; the verdict comes after
        if immediate and crosses:
            self.fill(order_id, size, price=ASK if form["side"] == "BUY" else BID)
        return {"data": {k: v for k, v in answer.items() if k != "form"}}

    def public_row(self, order_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.orders[order_id].items() if k != "form"}

    def open_orders(self, request: RecordedRequest) -> Any:
        return {"data": [self.public_row(i) for i, o in self.orders.items() if o["status"] == "OPEN"]}

    def lookup(self, request: RecordedRequest, key: str) -> Any:
        ident = request.query["id"]
        for order_id, order in self.orders.items():
            if (order_id if key == "id" else order["clientId"]) == ident:
                return {"data": self.public_row(order_id)}
        return {"data": None}

    def delete(self, request: RecordedRequest, key: str) -> Any:
        ident = request.form()["id"]
        for order_id, order in self.orders.items():
            if (order_id if key == "id" else order["clientId"]) == ident and order["status"] == "OPEN":
                order["status"] = "CANCELED"
                self.push({"orders": [self.public_row(order_id)]})
                return {"data": order_id}
        return {"code": 3, "msg": "order not found", "key": "ORDER_NOT_FOUND"}

    def delete_open(self, request: RecordedRequest) -> Any:
        symbols = set(request.form().get("symbol", "").split(","))
        for order in self.orders.values():
            if order["status"] == "OPEN" and order["symbol"] in symbols:
                order["status"] = "CANCELED"
        return {"data": None}

    def fill(self, order_id: str, size: Decimal, *, push: bool = True, price: Decimal | None = None) -> dict[str, Any]:
        order = self.orders[order_id]
        done = Decimal(order["cumSuccessFillSize"]) + size
        px = price if price is not None else Decimal(order["price"])
        order["cumSuccessFillSize"] = str(done)
        order["cumSuccessFillValue"] = str(Decimal(order["cumSuccessFillValue"]) + size * px)
        order["remainingSize"] = str(Decimal(order["size"]) - done)
        order["status"] = "FILLED" if done >= Decimal(order["size"]) else "OPEN"
        row = {**fx("v3_fills")["data"]["orders"][0], "id": str(800_000_000_000_000_000 + len(self.fills) + 1),
               "orderId": order_id, "clientOrderId": order["clientId"], "side": order["side"],
               "price": str(px), "size": str(size), "createdAt": self.now_ms()}  # fmt: skip
        self.fills.append(row)
        if push:
            self.push({"orders": [self.public_row(order_id)], "fills": [row]})
        return row

    def fills_page(self, request: RecordedRequest) -> Any:
        begin = int(request.query.get("beginTimeInclusive", "0"))
        limit, page = int(request.query.get("limit", "100")), int(request.query.get("page", "0"))
        rows = [f for f in self.fills if f["createdAt"] >= begin]
        return {"data": {"orders": rows[page * limit : (page + 1) * limit], "totalSize": len(rows)}}

    # stream --------------------------------------------------------------------------------------------------------
    def push(self, contents: dict[str, Any]) -> None:
        message = fx("ws_zk_accounts_v3_delta")
        message["contents"] = {**{k: [] for k in message["contents"]}, **contents}
        self.tasks.add(asyncio.get_running_loop().create_task(self.ws.broadcast(message)))

    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("op") == "login":
            login = json.loads(message["args"][0])
            expected = request_signature(SECRET, "/ws/accounts", "GET", str(login["timestamp"]), {})
            ok = login["signature"] == expected and login["apiKey"] == ENV["APEX_API_KEY"]
            return [fx("ws_login_success") if ok else {"success": "false", "request": {"op": "login"}}]
        return []


def options(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    return {"baseUrl": server.url + "/api", "wsUrl": server.ws_url, "reconnectInitialDelay": 0.01,
            "reconnectMaxDelay": 0.05, "settleInterval": 0.05, **extra}  # fmt: skip


@pytest.fixture
async def venue() -> AsyncIterator[ApexVenue]:
    async with ReplayServer() as server:
        yield ApexVenue(server)


@pytest.fixture
async def client(venue: ApexVenue) -> AsyncIterator[Exchange]:
    exchange = apex.create_exchange("apex", options(venue.server), ENV)
    await exchange.connect()
    await venue.ws.wait_for_connections(1)
    yield exchange
    await exchange.close()


def post_only(price: str, *, side: Side = Side.BUY, size: str = "0.010", client_id: str = "pd1a2b3c-o-mi3k2x9a00f") -> OrderRequest:  # fmt: skip
    return OrderRequest(symbol="BTC", side=side, size=Decimal(size), price=Decimal(price),
                        time_in_force=TimeInForce.POST_ONLY, client_order_id=client_id)  # fmt: skip


async def next_fill(stream: Any, within: float = 5.0) -> Any:
    while True:
        update = await asyncio.wait_for(anext(stream), within)
        if update.fill is not None:
            return update


async def test_markets_ticks_steps_minimums_and_multipliers(client: Exchange) -> None:
    markets = await client.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # OLD-USDT: enableTrade false
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.tick_size, btc.size_step, btc.min_size) == (
        "BTC-USDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.0010"),
    )  # fmt: skip
    assert (pepe.venue_symbol, pepe.multiplier) == ("1000PEPE-USDT", Decimal(1000))
    quote = await client.best_bid_ask("BTC")
    assert (quote.bid, quote.ask, quote.bid_size) == (BID, ASK, Decimal("0.131"))


async def test_post_only_order_is_the_sdks_body_with_its_signature(client: Exchange, venue: ApexVenue) -> None:
    order = await client.place_order(post_only("97000.04"))  # rounded down to the tick for a buy
    assert order.status is OrderStatus.OPEN and order.price == Decimal("97000.0")
    assert order.client_order_id == "pd1a2b3c-o-mi3k2x9a00f" and venue.bad_signatures == []
    form = venue.orders[order.order_id]["form"]
    fees = fx("v3_account")["data"]["contractAccount"]
    body = venue.signer.order_body(
        BTC, side="BUY", order_type="LIMIT", price=Decimal("97000.0"), size=Decimal("0.010"),
        time_in_force="POST_ONLY", reduce_only=False, client_id="pd1a2b3c-o-mi3k2x9a00f",
        taker_fee_rate=Decimal(fees["takerFeeRate"]), maker_fee_rate=Decimal(fees["makerFeeRate"]),
        timestamp_seconds=int(form["expiration"]) // 1000 - 3600 * 24 * 28,
    )  # fmt: skip
    assert form == {k: str(v) for k, v in body.items() if v is not None}  # the SDK's form, key for key


async def test_post_only_that_would_cross_raises(client: Exchange, venue: ApexVenue) -> None:
    with pytest.raises(PostOnlyWouldCross):
        await client.place_order(post_only("97401.0"))
    assert [o["status"] for o in venue.orders.values()] == ["CANCELED"]


async def test_refusals_and_minimum_size(client: Exchange, venue: ApexVenue) -> None:
    with pytest.raises(OrderRejected, match="minimum"):
        await client.place_order(post_only("97000", size="0.0004"))
    venue.refuse_next = {"code": 3, "msg": "...", "key": "ORDER_POSSIBLE_LEAD_TO_ACCOUNT_LIQUIDATED"}
    with pytest.raises(InsufficientMargin):
        await client.place_order(post_only("97000"))
    venue.refuse_next = {"code": 3, "msg": "...", "key": "ORDER_WITH_THIS_PRICE_CANNOT_REDUCE_POSITION_ONLY"}
    with pytest.raises(OrderRejected) as refused:
        await client.place_order(post_only("97000"))
    assert refused.value.reason is not None and refused.value.reason.value == "reduce_only_violation"
    assert venue.orders == {}


async def test_cancel_by_id_and_by_client_id_and_lookups_from_another_process(
    client: Exchange, venue: ApexVenue
) -> None:
    first = await client.place_order(post_only("97000"))
    second = await client.place_order(post_only("96000", client_id="pd1a2b3c-o-mi3k2x9a0bb"))
    assert {o.order_id for o in await client.open_orders("BTC")} == {first.order_id, second.order_id}
    await client.cancel_order("BTC", first.order_id)
    assert venue.orders[first.order_id]["status"] == "CANCELED"
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", first.order_id)
    other = apex.create_exchange("apex", options(venue.server), ENV)  # a restarted bot
    assert isinstance(other, ApexExchange)
    await other.connect()
    found = await other.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a0bb")
    assert found is not None and (found.order_id, found.status) == (second.order_id, OrderStatus.OPEN)
    assert await other.find_order_by_client_id("BTC", "pd1a2b3c-o-nothere") is None
    assert await other.get_order("BTC", "1") is None
    await other.cancel_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a0bb")
    assert venue.orders[second.order_id]["status"] == "CANCELED"
    with pytest.raises(OrderNotFound):
        await other.cancel_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a0bb")
    await other.close()
    await client.place_order(post_only("95000", client_id="pd1a2b3c-o-mi3k2x9a0cc"))
    assert await client.cancel_all("BTC") == 1 and await client.open_orders() == []


async def test_submit_order_after_a_lost_answer_finds_the_order_instead_of_resending(
    client: Exchange, venue: ApexVenue
) -> None:
    calls = 0
    place = venue.private(venue.place)

    def lose_first(request: RecordedRequest) -> Any:
        nonlocal calls
        calls += 1
        answer = place(request)
        return Reply(502, body="bad gateway") if calls == 1 else answer

    venue.server.route("POST", "/api/v3/order", lose_first)
    order = await client.submit_order(post_only("97000", client_id="pd1a2b3c-o-mi3k2x9a0aa"))
    assert calls == 1 and len(venue.orders) == 1  # found by its clientId, not sent twice
    assert (order.client_order_id, order.status) == ("pd1a2b3c-o-mi3k2x9a0aa", OrderStatus.OPEN)


async def test_positions_and_balance(client: Exchange) -> None:
    positions = {p.symbol: p for p in await client.positions()}
    assert set(positions) == {"BTC", "ETH"}  # PEPE's size is 0
    assert (positions["BTC"].size, positions["BTC"].avg_entry_price) == (Decimal("0.010"), Decimal("97000.0"))
    assert positions["ETH"].size == Decimal("-0.50")
    assert (await client.position("PEPE")).size == 0
    balance = await client.balance()
    assert (balance.equity, balance.available, balance.margin_used) == (
        Decimal("10250.500000"), Decimal("8100.250000"), Decimal("2150.250000"),
    )  # fmt: skip


async def test_login_then_partial_fill_and_fill_over_the_stream(client: Exchange, venue: ApexVenue) -> None:
    conn = venue.ws.connections[0]
    assert conn.request.path == "/realtime_private" and conn.request.query["v"] == "2"
    login = await conn.wait_for_message(lambda m: m.get("op") == "login")
    assert '"topics": ["ws_zk_accounts_v3"]' in login["args"][0]
    updates = client.order_updates()
    order = await client.place_order(post_only("97000"))
    venue.fill(order.order_id, Decimal("0.004"))
    update = await next_fill(updates)
    assert (update.fill.size, update.fill.price, update.fill.liquidity.value) == (
        Decimal("0.004"), Decimal("97000.0"), "maker",
    )  # fmt: skip
    assert update.fill.client_order_id == "pd1a2b3c-o-mi3k2x9a00f"
    assert (update.order.status, update.order.filled_size) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"))
    venue.fill(order.order_id, Decimal("0.006"))
    update = await next_fill(updates)
    assert (update.order.status, update.order.filled_size) == (OrderStatus.FILLED, Decimal("0.010"))
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", order.order_id)
    await updates.aclose()


async def test_a_dropped_stream_logs_in_again_and_recovers_the_missed_fill_once(
    client: Exchange, venue: ApexVenue
) -> None:
    updates = client.order_updates()
    order = await client.place_order(post_only("97000"))
    await venue.ws.drop_all()
    missed = venue.fill(order.order_id, Decimal("0.010"), push=False)
    conn = await venue.ws.wait_for_connections(2)
    update = await next_fill(updates)
    assert update.fill.trade_id == missed["id"] and update.order.status is OrderStatus.FILLED
    assert any(m.get("op") == "login" for m in conn.received)
    venue.push({"orders": [venue.public_row(order.order_id)], "fills": [missed]})  # late over the stream: not twice
    second = await client.place_order(post_only("96000", client_id="pd1a2b3c-o-mi3k2x9a0bb"))
    venue.fill(second.order_id, Decimal("0.010"))
    assert (await next_fill(updates)).fill.order_id == second.order_id
    await updates.aclose()


async def test_rate_limit_and_server_errors(client: Exchange, venue: ApexVenue) -> None:
    venue.server.route("GET", "/api/v3/account-balance", Reply(403, body="too many"))
    with pytest.raises(RateLimited):
        await client.balance()
    venue.server.route("GET", "/api/v3/account-balance", Reply(502, body="bad gateway"))
    with pytest.raises(TransientNetworkError):
        await client.balance()


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({k: v for k, v in ENV.items() if k != "APEX_OMNI_KEY_SEED"}, ["APEX_OMNI_KEY_SEED"]),
        ({**ENV, "APEX_API_KEY_SECRET": "your_secret_here"}, ["APEX_API_KEY_SECRET"]),
        ({**ENV, "APEX_OMNI_KEY_SEED": "not-hex-seeds"}, ["APEX_OMNI_KEY_SEED"]),
    ],
)
def test_credentials_are_checked_by_name_never_echoed(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as refused:
        apex.create_exchange("apex", {}, env)
    assert refused.value.keys == keys
    assert all(value not in str(refused.value) for value in env.values())


def test_the_client_repr_holds_no_secret() -> None:
    text = repr(apex.create_exchange("apex", {}, ENV).__dict__)
    assert SECRET not in text and SEEDS not in text and "replay-passphrase" not in text


async def test_ioc_and_market_orders_settle_filled_or_expired(client: Exchange, venue: ApexVenue) -> None:
    ioc = OrderRequest(symbol="BTC", side=Side.SELL, size=Decimal("0.010"), price=Decimal("97300"),
                       time_in_force=TimeInForce.IOC, client_order_id="pd1a2b3c-x-mi3k2x9a001")  # fmt: skip
    filled = await client.place_order(ioc)
    assert (filled.status, filled.filled_size, filled.avg_fill_price) == (OrderStatus.FILLED, Decimal("0.010"), BID)
    assert venue.orders[filled.order_id]["form"]["timeInForce"] == "IMMEDIATE_OR_CANCEL"
    missed = await client.place_order(ioc.model_copy(update={"price": Decimal("97500"), "client_order_id": "pd1a2b3c-x-mi3k2x9a002"}))  # fmt: skip
    assert (missed.status, missed.filled_size) == (OrderStatus.EXPIRED, Decimal(0))
    market = OrderRequest(symbol="BTC", side=Side.BUY, size=Decimal("0.010"), order_type=OrderType.MARKET,
                          reduce_only=True, client_order_id="pd1a2b3c-c-mi3k2x9a003")  # fmt: skip
    bought = await client.place_order(market)
    form = venue.orders[bought.order_id]["form"]
    assert (form["type"], form["reduceOnly"], Decimal(form["price"])) == (
        "MARKET",
        "True",
        Decimal("102271.1"),
    )  # ask x 1.05, rounded through
    assert bought.status is OrderStatus.FILLED and bought.avg_fill_price == ASK
