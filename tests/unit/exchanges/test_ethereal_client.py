"""The Ethereal trading client against a local replay of Ethereal's REST API (``/v1/...``) and its native WebSocket
gateway (``/v1/stream``). :class:`EtherealVenue` is a small stateful venue: it recovers the signer of every order and
cancel from its EIP-712 signature exactly as the SDK builds the signed message (``ethereal.rest.order.sign_order``:
quantity and price x 1e9, ``productId`` = ``onchainId``, the client id as bytes32; ``sign_cancel_order``: ids as
bytes32) against the domain of ``/v1/rpc/config``, refuses one not signed by the account or its active linked signer
(or with a nonce it has seen), rests and fills orders, and streams ``OrderUpdate`` / ``OrderFill``."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any, ClassVar

import pytest

pytest.importorskip("ethereal")

from eth_account import Account
from eth_account.messages import encode_typed_data
from ethereal.rest.util import client_order_id_to_bytes32, uuid_to_bytes32

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    InsufficientMargin,
    MalformedResponse,
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
from bot_runtime.exchanges.ethereal.client import EtherealExchange
from bot_runtime.exchanges.ethereal.mapping import ClientIdCodec
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture

ACCOUNT_KEY = "0x" + "4c" * 32  # the account's own wallet key
ACCOUNT = str(Account.from_key(ACCOUNT_KEY).address)
LINKED_KEY = "0x" + "5d" * 32  # a linked signer of the account's subaccount
LINKED = str(Account.from_key(LINKED_KEY).address)
ENV = {"ETHEREAL_PRIVATE_KEY": ACCOUNT_KEY, "ETHEREAL_ACCOUNT_ADDRESS": ACCOUNT}
SUB = "c25c39d9-ce2b-4753-960c-c5ad558aace8"
BTC_ID = "bc7d5575-3711-4532-a000-312bfacfb767"
ETH_ID = "e0c3a7a5-7f3d-4f24-9a1b-2d6f0d3b4c11"
SCALE = Decimal("1e9")


def fx(name: str) -> Any:
    return load_fixture("ethereal", name)


def _types(spec: str) -> list[dict[str, str]]:
    fields = []
    for part in spec.split(","):
        kind, name = part.strip().rsplit(" ", 1)
        fields.append({"name": name, "type": kind})
    return fields


def recover_signer(body: dict[str, Any], primary: str) -> str:
    """The address that signed ``body`` (a ``POST /v1/order`` or ``/v1/order/cancel`` payload), with the message
    built as the SDK's ``sign_order`` / ``sign_cancel_order`` build it."""
    rpc = fx("rpc_config")
    message = dict(body["data"])
    if primary == "TradeOrder":
        message["quantity"] = int(Decimal(message["quantity"]) * SCALE)
        message["price"] = int(Decimal(message.get("price", 0)) * SCALE)
        message["productId"] = int(message["onchainId"])
        if message.get("clientOrderId"):
            message["clientOrderId"] = client_order_id_to_bytes32(message["clientOrderId"])
    else:
        message["orderIds"] = [uuid_to_bytes32(i) for i in message.get("orderIds") or []]
        message["clientOrderIds"] = [client_order_id_to_bytes32(i) for i in message.get("clientOrderIds") or []]
    typed = {
        "types": {
            "EIP712Domain": _types("string name,string version,uint256 chainId,address verifyingContract"),
            primary: _types(rpc["signatureTypes"][primary]),
        },
        "primaryType": primary,
        "domain": rpc["domain"],
        "message": message,
    }
    return str(Account.recover_message(encode_typed_data(full_message=typed), signature=body["signature"]))


class EtherealVenue:
    """Ethereal as the client sees it (see the module docstring). BTC's book is 104399 / 104401, ETH's 3520.1 /
    3520.3; a post-only order at or through the other side is refused - at once (``ImmediateMatchPostOnly`` in the
    201) or, with ``async_verdicts``, as the order's later status - an IOC or market order fills at the touch."""

    BOOK: ClassVar[dict[str, tuple[Decimal, Decimal]]] = {
        BTC_ID: (Decimal("104399"), Decimal("104401")),
        ETH_ID: (Decimal("3520.1"), Decimal("3520.3")),
    }

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.products = {p["onchainId"]: p for p in fx("products")["data"]}
        self.tickers = {p["id"]: p["ticker"] for p in fx("products")["data"]}
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self.nonces: set[str] = set()
        self.positions: dict[str, Decimal] = {}  # product id → signed size, from fills
        self.live_positions = False
        self.linked_status = "ACTIVE"  # the linked signer's state
        self.async_verdicts = False  # post-only refusals come later, as the order's status
        self.refuse_next: tuple[int, str] | None = None  # (HTTP status, fixture) for the next order
        self.bodies: list[dict[str, Any]] = []
        self._ids = (str(uuid.UUID(int=0xE7E0000000000000 << 64 | n)) for n in itertools.count(1))
        server.route("GET", "/v1/product", fx("products"))
        server.route("GET", "/v1/product/market-price", self.market_price)
        server.route("GET", "/v1/rpc/config", fx("rpc_config"))
        server.route("GET", "/v1/subaccount", self.subaccounts)
        server.route("GET", "/v1/subaccount/balance", fx("balances"))
        server.route("GET", "/v1/linked-signer/address/{address}", self.linked_signer)
        server.route("GET", "/v1/position", self.list_positions)
        server.route("GET", "/v1/order", self.list_orders)
        server.route("GET", "/v1/order/{id}", self.get_order)
        server.route("GET", "/v1/order/fill", self.list_fills)
        server.route("POST", "/v1/order", self.submit)
        server.route("POST", "/v1/order/cancel", self.cancel)
        self.ws = server.websocket("/v1/stream", on_message=self.on_ws)

    # reads ------------------------------------------------------------------------------------------------------------
    def market_price(self, request: RecordedRequest) -> Any:
        rows = {row["productId"]: row for row in fx("market_price")["data"]}
        out = []
        for pid in request.query_all["productIds"]:
            row = rows[pid]
            if pid in self.BOOK:
                row["bestBidPrice"], row["bestAskPrice"] = (str(p) for p in self.BOOK[pid])
            out.append(row)
        return {"data": out}

    def subaccounts(self, request: RecordedRequest) -> Any:
        return fx("subaccounts") if request.query["sender"] == ACCOUNT else {"data": [], "hasNext": False}

    def linked_signer(self, request: RecordedRequest) -> Any:
        if request.path_params["address"].lower() != LINKED.lower():
            return Reply(404, fx("error_not_found"))
        answer = fx("linked_signer_active")
        answer["status"] = self.linked_status
        return answer

    def _signers(self) -> set[str]:
        return {ACCOUNT.lower()} | ({LINKED.lower()} if self.linked_status == "ACTIVE" else set())

    def list_positions(self, request: RecordedRequest) -> Any:
        assert request.query["subaccountId"] == SUB
        page = fx("positions")
        if self.live_positions:
            template = page["data"][0]
            page["data"] = [
                {**template, "productId": pid, "side": 0 if size > 0 else 1, "size": str(abs(size))}
                for pid, size in self.positions.items()
                if size != 0
            ]
        return page

    def list_orders(self, request: RecordedRequest) -> Any:
        query = request.query
        assert query["subaccountId"] == SUB
        rows = list(self.orders.values())
        if "clientOrderId" in query:
            rows = [o for o in rows if o.get("clientOrderId") == query["clientOrderId"]]
        if query.get("isWorking") == "true":
            rows = [o for o in rows if o["status"] in {"NEW", "PENDING", "FILLED_PARTIAL"}]
        if "productIds" in request.query_all:
            rows = [o for o in rows if o["productId"] in request.query_all["productIds"]]
        return {"data": rows, "hasNext": False}

    def get_order(self, request: RecordedRequest) -> Any:
        order = self.orders.get(request.path_params["id"])
        return order if order is not None else Reply(404, fx("error_not_found"))

    def list_fills(self, request: RecordedRequest) -> Any:
        assert request.query["subaccountId"] == SUB
        after = int(request.query.get("createdAfter", 0))
        return {"data": [f for f in self.fills if f["createdAt"] >= after], "hasNext": False}

    # signed requests --------------------------------------------------------------------------------------------------
    def _authorised(self, body: dict[str, Any], primary: str) -> bool:
        data = body["data"]
        signer = recover_signer(body, primary)
        fresh = data["nonce"] not in self.nonces
        self.nonces.add(data["nonce"])
        return signer.lower() == data["sender"].lower() and signer.lower() in self._signers() and fresh

    def submit(self, request: RecordedRequest) -> Any:
        body = request.json()
        self.bodies.append(body)
        if not self._authorised(body, "TradeOrder"):
            return Reply(422, fx("submit_failed_invalid_signer"))
        if self.refuse_next is not None:
            (status, name), self.refuse_next = self.refuse_next, None
            return Reply(status, fx(name))
        data = body["data"]
        product = self.products[data["onchainId"]]
        bid, ask = self.BOOK.get(product["id"], self.BOOK[BTC_ID])
        buy = data["side"] == 0
        quantity = Decimal(data["quantity"])
        market = data["type"] == "MARKET"
        price = Decimal(data.get("price", "0"))
        crosses = market or (price >= ask if buy else price <= bid)
        oid = next(self._ids)
        order = {**fx("order_open"), "id": oid, "clientOrderId": data.get("clientOrderId"), "productId": product["id"],
                 "side": data["side"], "price": str(price), "quantity": str(quantity), "availableQuantity": str(quantity),
                 "reduceOnly": data.get("reduceOnly", False), "postOnly": data.get("postOnly", False),
                 "timeInForce": data.get("timeInForce"), "type": data["type"], "sender": data["sender"],
                 "createdAt": int(time.time() * 1000), "updatedAt": int(time.time() * 1000)}  # fmt: skip
        if market:
            order.pop("postOnly")
            order.pop("timeInForce")
        created = {"id": oid, "clientOrderId": data.get("clientOrderId"), "filled": "0", "result": "Ok"}
        if data.get("postOnly") and crosses:
            self.orders[oid] = {**order, "status": "REJECTED", "rejectedReason": "ImmediateMatchPostOnly",
                                "availableQuantity": "0"}  # fmt: skip
            if not self.async_verdicts:
                return Reply(201, {**created, "result": "ImmediateMatchPostOnly"})
            asyncio.get_running_loop().call_later(0.05, self._push_update, oid)
            return Reply(201, created)
        if data.get("timeInForce") == "IOC" and not crosses:
            self.orders[oid] = {**order, "status": "CANCELED", "availableQuantity": "0"}
            return Reply(201, {**created, "result": "UnfilledImmediateOrCancel"})
        self.orders[oid] = order
        if crosses:  # an IOC or market order: filled at once at the touch
            self.fill(oid, quantity, px=ask if buy else bid, maker=False)
        else:
            asyncio.get_running_loop().call_soon(self._push_update, oid)
        return Reply(201, created)

    def cancel(self, request: RecordedRequest) -> Any:
        body = request.json()
        self.bodies.append(body)
        if not self._authorised(body, "CancelOrder"):
            return Reply(401, fx("error_unauthorized"))
        results = []
        data = body["data"]
        targets = [("id", i) for i in data.get("orderIds") or []] + [
            ("cl", c) for c in data.get("clientOrderIds") or []
        ]
        for kind, ident in targets:
            if kind == "id":
                order = self.orders.get(ident)
            else:
                order = next((o for o in self.orders.values() if o.get("clientOrderId") == ident), None)
            if order is None:
                results.append({"id": ident if kind == "id" else str(uuid.UUID(int=0)), "result": "NotFound"})
                continue
            result = {"FILLED": "AlreadyFilled", "CANCELED": "AlreadyCanceled", "REJECTED": "AlreadyCanceled",
                      "EXPIRED": "AlreadyExpired"}.get(order["status"], "Ok")  # fmt: skip
            if result == "Ok":
                order["status"], order["availableQuantity"] = "CANCELED", "0"
                asyncio.get_running_loop().call_soon(self._push_update, order["id"])
            row = {"id": order["id"], "result": result}
            if kind == "cl":
                row["clientOrderId"] = ident
            results.append(row)
        return Reply(202, {"data": results})

    # fills and the stream ---------------------------------------------------------------------------------------------
    def _stream_order(self, order: dict[str, Any]) -> dict[str, Any]:
        entry = {**fx("ws_order_update")["data"]["d"][0], "id": order["id"], "cloid": order.get("clientOrderId"),
                 "otyp": order["type"], "qty": order["quantity"], "aqty": order["availableQuantity"],
                 "fill": order["filled"], "px": order["price"], "sd": order["side"], "s": self.tickers[order["productId"]],
                 "st": order["status"], "t": order["updatedAt"], "ro": order["reduceOnly"],
                 "po": bool(order.get("postOnly")), "tif": order.get("timeInForce") or "IOC"}  # fmt: skip
        if not entry["cloid"]:
            entry.pop("cloid")
        return entry

    def _push_update(self, oid: str) -> None:
        message = {"e": "OrderUpdate", "t": int(time.time() * 1000),
                   "data": {"t": int(time.time() * 1000), "d": [self._stream_order(self.orders[oid])]}}  # fmt: skip
        asyncio.get_running_loop().create_task(self.ws.broadcast(message))

    def fill(
        self,
        oid: str,
        size: Decimal,
        *,
        push: bool = True,
        px: Decimal | None = None,
        maker: bool = True,
        time_ms: int | None = None,
    ) -> dict[str, Any]:
        """Fill ``size`` of an order (recorded for ``/v1/order/fill``; pushed over the stream if ``push``)."""
        order = self.orders[oid]
        filled = Decimal(order["filled"]) + size
        order["filled"], order["availableQuantity"] = str(filled), str(Decimal(order["quantity"]) - filled)
        order["status"] = "FILLED" if filled >= Decimal(order["quantity"]) else "FILLED_PARTIAL"
        order["updatedAt"] = int(time.time() * 1000)
        signed = size if order["side"] == 0 else -size
        self.positions[order["productId"]] = self.positions.get(order["productId"], Decimal(0)) + signed
        price = px if px is not None else Decimal(order["price"])
        row = {**fx("fills")["data"][0], "id": str(uuid.uuid4()), "orderId": oid, "clientOrderId": order.get("clientOrderId"),
               "productId": order["productId"], "side": order["side"], "price": str(price), "filled": str(size),
               "isMaker": maker, "feeUsd": "0" if maker else str(price * size * Decimal("0.0003")),
               "createdAt": time_ms if time_ms is not None else int(time.time() * 1000)}  # fmt: skip
        self.fills.append(row)
        if push:
            asyncio.get_running_loop().create_task(self.push_fill(row))
        return row

    def stream_fill(self, row: dict[str, Any]) -> dict[str, Any]:
        entry = {**fx("ws_order_fill")["data"]["d"][0], "id": row["id"], "oid": row["orderId"],
                 "cloid": row.get("clientOrderId"), "px": row["price"], "sz": row["filled"], "sd": row["side"],
                 "s": self.tickers[row["productId"]], "fee": row["feeUsd"], "m": row["isMaker"], "t": row["createdAt"]}  # fmt: skip
        if not entry["cloid"]:
            entry.pop("cloid")
        return {"e": "OrderFill", "t": row["createdAt"], "data": {"t": row["createdAt"], "d": [entry]}}

    async def push_fill(self, row: dict[str, Any]) -> None:
        await self.ws.broadcast(self.stream_fill(row))
        order = self.orders[row["orderId"]]
        await self.ws.broadcast({"e": "OrderUpdate", "t": order["updatedAt"],
                                 "data": {"t": order["updatedAt"], "d": [self._stream_order(order)]}})  # fmt: skip

    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("event") in {"subscribe", "unsubscribe"}:
            return [fx("ws_ack")]
        return []

    @staticmethod
    def subscriptions(conn: WsConnection) -> list[dict[str, Any]]:
        return [m["data"] for m in conn.received if m.get("event") == "subscribe"]


def options(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": server.url,
        "wsUrl": server.ws_url + "/v1/stream",
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
        "settleTimeout": 2.0,
        "settleInterval": 0.2,
        **extra,
    }


@pytest.fixture
async def venue() -> AsyncIterator[EtherealVenue]:
    async with ReplayServer() as server:
        yield EtherealVenue(server)


@pytest.fixture
async def eth(venue: EtherealVenue) -> AsyncIterator[Exchange]:
    client = registry.create_exchange("ethereal", options(venue.server), ENV)
    await client.connect()
    conn = await venue.ws.wait_for_connections(1)
    await conn.wait_for_message(lambda m: m.get("data", {}).get("type") == "OrderFill")
    yield client
    await client.close()


def post_only(
    price: str, *, side: Side = Side.BUY, size: str = "0.01", client_id: str = "pd1a2b3c-o-mi3k2x9a00f"
) -> OrderRequest:
    return OrderRequest(
        symbol="BTC",
        side=side,
        size=Decimal(size),
        price=Decimal(price),
        time_in_force=TimeInForce.POST_ONLY,
        client_order_id=client_id,
    )


# --- markets ----------------------------------------------------------------------------------------------------------
async def test_markets_perpetuals_ticks_steps_and_multipliers(eth: Exchange) -> None:
    markets = await eth.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # SOLUSD is PENDING, ENAUSD spot
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.contract_id, btc.tick_size, btc.size_step, btc.min_size, btc.quote) == (
        "BTCUSD",
        BTC_ID,
        Decimal(1),
        Decimal("0.0001"),
        Decimal("0.0001"),
        "USD",
    )
    assert (btc.maker_fee, btc.taker_fee, btc.max_leverage) == (Decimal("0.00005"), Decimal("0.00025"), Decimal(20))
    assert (pepe.venue_symbol, pepe.multiplier, pepe.tick_size, pepe.size_step) == (
        "1000PEPEUSD",
        Decimal(1000),
        Decimal("0.000001"),
        Decimal(1),
    )


# --- placing ----------------------------------------------------------------------------------------------------------
async def test_post_only_order_is_the_sdks_signed_trade_order(eth: Exchange, venue: EtherealVenue) -> None:
    order = await eth.place_order(post_only("104000.7", size="0.01234"))
    body = venue.server.requests_to("POST", "/v1/order")[-1].json()
    data = body["data"]
    client_id = ClientIdCodec().encode("pd1a2b3c-o-mi3k2x9a00f")
    assert data == {
        "clientOrderId": client_id,
        "engineType": 0,
        "nonce": data["nonce"],
        "onchainId": 1,
        "postOnly": True,
        "price": "104000.000000000",  # down to the tick for a buy (9 decimals, as the API)
        "quantity": "0.012300000",  # down to the lot
        "reduceOnly": False,
        "sender": ACCOUNT,
        "side": 0,
        "signedAt": data["signedAt"],
        "subaccount": "0x" + b"primary".hex().ljust(64, "0"),
        "timeInForce": "GTD",
        "type": "LIMIT",
    }
    assert set(body) == {"data", "signature"}
    assert abs(int(data["nonce"]) - time.time_ns()) < 60 * 10**9  # nanoseconds, now
    assert abs(data["signedAt"] - time.time()) < 60  # seconds
    assert recover_signer(body, "TradeOrder") == ACCOUNT
    tampered = {**body, "data": {**data, "price": "104001"}}
    assert recover_signer(tampered, "TradeOrder") != ACCOUNT  # the price is part of what is signed
    assert (order.status, order.time_in_force, order.client_order_id, order.price, order.size) == (
        OrderStatus.OPEN,
        TimeInForce.POST_ONLY,
        "pd1a2b3c-o-mi3k2x9a00f",
        Decimal(104000),
        Decimal("0.0123"),
    )
    assert venue.orders[order.order_id]["clientOrderId"] == client_id


@pytest.mark.parametrize("later", [False, True], ids=["in-the-answer", "as-a-later-status"])
async def test_post_only_that_would_cross_raises(eth: Exchange, venue: EtherealVenue, later: bool) -> None:
    venue.async_verdicts = later
    with pytest.raises(PostOnlyWouldCross):
        await eth.place_order(post_only("104401"))
    with pytest.raises(PostOnlyWouldCross):
        await eth.place_order(post_only("104399", side=Side.SELL, client_id="pd1a2b3c-o-mi3k2x9a010"))
    assert all(o["status"] == "REJECTED" for o in venue.orders.values())


async def test_margin_reduce_only_and_signer_refusals(eth: Exchange, venue: EtherealVenue) -> None:
    venue.refuse_next = (422, "submit_failed_insufficient_balance")
    with pytest.raises(InsufficientMargin):
        await eth.place_order(post_only("104000"))
    venue.refuse_next = (201, "submit_created_post_only")
    with pytest.raises(PostOnlyWouldCross):
        await eth.place_order(post_only("104000"))
    created = fx("submit_created_post_only")
    created["result"] = "OrderIncreasesPosition"
    venue.server.route("POST", "/v1/order", Reply(201, created))
    with pytest.raises(OrderRejected) as caught:
        await eth.place_order(post_only("104000").model_copy(update={"reduce_only": True}))
    assert caught.value.reason.value == "reduce_only_violation"
    venue.server.route("POST", "/v1/order", Reply(422, fx("submit_failed_invalid_signer")))
    with pytest.raises(AuthenticationError):
        await eth.place_order(post_only("104000"))


async def test_ioc_market_and_minimum_size(eth: Exchange, venue: EtherealVenue) -> None:
    ioc = OrderRequest(symbol="ETH", side=Side.BUY, size=Decimal("0.02"), price=Decimal("3500"),
                       time_in_force=TimeInForce.IOC, client_order_id="pd1a2b3c-x-mi3k2x9a010")  # fmt: skip
    expired = await eth.place_order(ioc)  # nothing to take at 3500: expired, unfilled
    assert (expired.status, expired.filled_size, expired.time_in_force) == (OrderStatus.EXPIRED, 0, TimeInForce.IOC)
    assert venue.bodies[-1]["data"]["timeInForce"] == "IOC" and "postOnly" in venue.bodies[-1]["data"]
    market = OrderRequest(symbol="ETH", side=Side.SELL, size=Decimal("0.02"), order_type=OrderType.MARKET,
                          client_order_id="pd1a2b3c-x-mi3k2x9a011")  # fmt: skip
    filled = await eth.place_order(market)
    sent = venue.bodies[-1]["data"]
    assert (sent["type"], sent["side"], Decimal(sent["quantity"]), "price" in sent) == (
        "MARKET",
        1,
        Decimal("0.02"),
        False,
    )
    assert recover_signer(venue.bodies[-1], "TradeOrder") == ACCOUNT
    assert (filled.status, filled.filled_size, filled.order_type) == (
        OrderStatus.FILLED,
        Decimal("0.02"),
        OrderType.MARKET,
    )
    count = len(venue.bodies)
    with pytest.raises(OrderRejected, match="below the minimum"):
        await eth.place_order(post_only("104000", size="0.00004"))
    assert len(venue.bodies) == count  # refused before sending


# --- cancelling and finding -------------------------------------------------------------------------------------------
async def test_cancel_cancel_all_open_orders_and_lookups(eth: Exchange, venue: EtherealVenue) -> None:
    first = await eth.place_order(post_only("104000", client_id="pd1a2b3c-o-mi3k2x9a001"))
    await eth.place_order(post_only("104100", client_id="pd1a2b3c-o-mi3k2x9a002"))
    await eth.place_order(post_only("104200", client_id="pd1a2b3c-o-mi3k2x9a003"))
    listed = await eth.open_orders("BTC")
    assert [o.client_order_id for o in listed] == [
        "pd1a2b3c-o-mi3k2x9a001",
        "pd1a2b3c-o-mi3k2x9a002",
        "pd1a2b3c-o-mi3k2x9a003",
    ]
    assert all(o.time_in_force is TimeInForce.POST_ONLY and o.status is OrderStatus.OPEN for o in listed)
    await eth.cancel_order("BTC", first.order_id)
    cancel = venue.bodies[-1]
    assert cancel["data"]["orderIds"] == [first.order_id] and cancel["data"]["clientOrderIds"] == []
    assert recover_signer(cancel, "CancelOrder") == ACCOUNT
    with pytest.raises(OrderNotFound):
        await eth.cancel_order("BTC", first.order_id)
    found = await eth.get_order("BTC", first.order_id)
    assert found is not None and found.status is OrderStatus.CANCELED
    assert await eth.get_order("BTC", str(uuid.uuid4())) is None
    # another process (a restarted bot) finds an order by the client id alone, and cancels it by that id
    other = registry.create_exchange("ethereal", options(venue.server), ENV)
    assert isinstance(other, EtherealExchange)
    try:
        await other.connect()
        again = await other.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a002")
        assert again is not None and again.price == Decimal(104100) and again.status is OrderStatus.OPEN
        assert await other.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a0zz") is None
        await other.cancel_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a002")
        assert venue.bodies[-1]["data"]["clientOrderIds"] == [ClientIdCodec().encode("pd1a2b3c-o-mi3k2x9a002")]
        assert recover_signer(venue.bodies[-1], "CancelOrder") == ACCOUNT
    finally:
        await other.close()
    assert await eth.cancel_all("BTC") == 1
    assert await eth.open_orders() == []
    assert await eth.cancel_all() == 0


# --- account ----------------------------------------------------------------------------------------------------------
async def test_positions_and_balance(eth: Exchange) -> None:
    positions = {p.symbol: p for p in await eth.positions()}
    assert set(positions) == {"BTC", "ETH"}  # the zero 1000PEPE row is left out
    btc, short = positions["BTC"], positions["ETH"]
    assert (btc.size, btc.avg_entry_price, btc.unrealized_pnl, btc.funding_pnl) == (
        Decimal("0.01"),
        Decimal(104000),
        Decimal("4.001"),
        Decimal("-0.13"),
    )
    assert (short.size, short.avg_entry_price) == (Decimal("-0.2"), Decimal(3600))
    assert (await eth.position("PEPE")).size == 0
    balance = await eth.balance()
    assert (balance.asset, balance.available, balance.margin_used, balance.equity) == (
        "USD",
        Decimal(4650),
        Decimal(350),
        Decimal(5000) + Decimal("4.001") + Decimal("15.96"),
    )


# --- errors -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, fx("error_rate_limit"), headers={"Retry-After": "2"}), RateLimited),
        (Reply(401, fx("error_unauthorized")), AuthenticationError),
        (Reply(503, body="upstream unavailable"), TransientNetworkError),
    ],
)
async def test_http_errors_are_mapped(eth: Exchange, venue: EtherealVenue, reply: Reply, error: type) -> None:
    venue.server.route("GET", "/v1/position", reply)
    with pytest.raises(error) as caught:
        await eth.positions()
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 2
    assert ACCOUNT_KEY[2:] not in str(caught.value)


async def test_submit_order_after_a_timeout_finds_the_order_instead_of_resending(
    eth: Exchange, venue: EtherealVenue
) -> None:
    handler = venue.submit
    calls = 0

    def lost_answer(request: RecordedRequest) -> Any:  # the venue takes the order, the answer is lost
        nonlocal calls
        calls += 1
        handler(request)
        return Reply(503, body="upstream timed out")

    venue.server.route("POST", "/v1/order", lost_answer)
    order = await eth.submit_order(post_only("104000", client_id="pd1a2b3c-o-mi3k2x9a0aa"))
    assert calls == 1 and len(venue.orders) == 1
    assert (order.client_order_id, order.status) == ("pd1a2b3c-o-mi3k2x9a0aa", OrderStatus.OPEN)


# --- credentials and the signer ---------------------------------------------------------------------------------------
async def test_a_linked_signer_trades_for_the_account(venue: EtherealVenue) -> None:
    client = registry.create_exchange("ethereal", options(venue.server), {**ENV, "ETHEREAL_PRIVATE_KEY": LINKED_KEY})
    await client.connect()
    try:
        await client.place_order(post_only("104000"))
        body = venue.bodies[-1]
        assert body["data"]["sender"] == LINKED and recover_signer(body, "TradeOrder") == LINKED
    finally:
        await client.close()


@pytest.mark.parametrize("case", ["revoked-signer", "unknown-signer", "no-subaccount"])
async def test_connect_refuses_a_key_that_may_not_trade_for_the_subaccount(venue: EtherealVenue, case: str) -> None:
    env = {**ENV, "ETHEREAL_PRIVATE_KEY": LINKED_KEY}
    if case == "revoked-signer":
        venue.linked_status = "REVOKED"
    elif case == "unknown-signer":
        env["ETHEREAL_PRIVATE_KEY"] = "0x" + "6e" * 32
    client = registry.create_exchange(
        "ethereal", options(venue.server, subaccount="other" if case == "no-subaccount" else "primary"), env
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.connect()
    await client.close()
    assert env["ETHEREAL_PRIVATE_KEY"][2:] not in str(caught.value)


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({}, ["ETHEREAL_PRIVATE_KEY", "ETHEREAL_ACCOUNT_ADDRESS"]),
        ({**ENV, "ETHEREAL_PRIVATE_KEY": "your_private_key_here"}, ["ETHEREAL_PRIVATE_KEY"]),
        ({**ENV, "ETHEREAL_PRIVATE_KEY": "0x" + "zz" * 32}, ["ETHEREAL_PRIVATE_KEY"]),
        ({**ENV, "ETHEREAL_PRIVATE_KEY": "0x" + "ff" * 32}, ["ETHEREAL_PRIVATE_KEY"]),
        ({**ENV, "ETHEREAL_ACCOUNT_ADDRESS": "0x1234"}, ["ETHEREAL_ACCOUNT_ADDRESS"]),
    ],
)
def test_credentials_are_checked_by_name_never_echoed(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("ethereal", {}, env)
    assert caught.value.keys == keys
    for value in env.values():
        if len(value) > 12:
            assert value not in str(caught.value) and value[2:] not in str(caught.value)


# --- the account stream -----------------------------------------------------------------------------------------------
async def test_subscriptions_and_fills_over_the_stream(eth: Exchange, venue: EtherealVenue) -> None:
    conn = await venue.ws.wait_for_connections(1)
    assert venue.subscriptions(conn) == [
        {"type": "OrderUpdate", "subaccountId": SUB},
        {"type": "OrderFill", "subaccountId": SUB},
    ]
    updates = eth.order_updates()
    order = await eth.place_order(post_only("104000", size="0.01"))
    venue.fill(order.order_id, Decimal("0.004"))
    partial = await asyncio.wait_for(anext(updates), 5)
    while partial.fill is None:  # the NEW of the placement may come first
        partial = await asyncio.wait_for(anext(updates), 5)
    assert partial.fill.size == Decimal("0.004")
    assert (partial.order.status, partial.order.filled_size) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"))
    assert (partial.fill.fee, partial.fill.liquidity.value, partial.fill.client_order_id) == (
        Decimal(0),
        "maker",
        "pd1a2b3c-o-mi3k2x9a00f",
    )
    venue.fill(order.order_id, Decimal("0.006"))
    full = await asyncio.wait_for(anext(updates), 5)
    assert full.fill is not None and (full.order.status, full.order.filled_size) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
    )
    with pytest.raises(TimeoutError):  # the OrderUpdate FILLED that follows says nothing new
        await asyncio.wait_for(anext(updates), 0.3)


async def test_a_cancel_by_the_venue_arrives_over_the_stream(eth: Exchange, venue: EtherealVenue) -> None:
    order = await eth.place_order(post_only("104000"))
    updates = eth.order_updates()
    venue.orders[order.order_id]["status"] = "CANCELED"
    venue._push_update(order.order_id)
    update = await asyncio.wait_for(anext(updates), 5)
    while update.order.status is OrderStatus.OPEN:  # the NEW of the placement may still be on its way
        update = await asyncio.wait_for(anext(updates), 5)
    assert update.order.status is OrderStatus.CANCELED
    assert (
        update.order.time_in_force is TimeInForce.POST_ONLY
        and update.order.client_order_id == post_only("1").client_order_id
    )


async def test_dropped_stream_resubscribes_and_recovers_the_missed_fill_over_rest(
    eth: Exchange, venue: EtherealVenue
) -> None:
    updates = eth.order_updates()
    order = await eth.place_order(post_only("104000", size="0.01"))
    venue.fill(order.order_id, Decimal("0.001"), push=False, time_ms=int(time.time() * 1000) - 3_600_000)  # old
    await venue.ws.drop_all()
    missed = venue.fill(order.order_id, Decimal("0.009"), push=False)  # during the gap: never pushed
    conn = await venue.ws.wait_for_connections(2, within=5)
    update = await asyncio.wait_for(anext(updates), 5)
    while update.fill is None:
        update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill.trade_id == missed["id"] and update.order.status is OrderStatus.FILLED
    await conn.wait_for_message(lambda m: m.get("data", {}).get("type") == "OrderFill")
    assert [s["type"] for s in venue.subscriptions(conn)] == ["OrderUpdate", "OrderFill"]
    # the same fill arriving over the stream later is not delivered twice; the old fill never is
    await venue.push_fill(missed)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_a_refused_subscription_is_logged_not_fatal(
    eth: Exchange, venue: EtherealVenue, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await venue.ws.wait_for_connections(1)
    await conn.send_json(fx("ws_ack_refused"))
    await asyncio.sleep(0.1)
    assert "SUBSCRIPTION_LIMIT_EXCEEDED" in caplog.text
    assert (await eth.place_order(post_only("104000"))).status is OrderStatus.OPEN


async def test_price_stream(eth: Exchange, venue: EtherealVenue) -> None:
    stream = eth.price_stream("BTC")
    first = asyncio.ensure_future(anext(stream))
    conn = await venue.ws.wait_for_connections(2)
    await conn.wait_for_message(lambda m: m.get("data", {}).get("type") == "Ticker")
    assert venue.subscriptions(conn) == [{"type": "Ticker", "symbol": "BTCUSD"}]
    await conn.send_json(fx("ws_ticker"))
    quote = await asyncio.wait_for(first, 5)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
        Decimal(104399),
        Decimal(104401),
        Decimal("0.52"),
        Decimal("0.31"),
    )
    await stream.aclose()
    top = await eth.best_bid_ask("ETH")
    assert (top.bid, top.ask) == (Decimal("3520.1"), Decimal("3520.3"))


def test_the_client_repr_holds_no_key(venue: EtherealVenue) -> None:
    client = registry.create_exchange("ethereal", options(venue.server), ENV)
    assert isinstance(client, EtherealExchange)
    assert ACCOUNT_KEY[2:] not in repr(client.__dict__) and client.signer_address == ACCOUNT


def test_an_ethereal_pod_imports_only_its_own_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from bot_runtime.exchanges import registry;"
        "print(sorted({'ethereal', 'web3'} & set(sys.modules)));"
        f"registry.create_exchange('ethereal', {{}}, {ENV!r});"
        "print(sorted({'ethereal', 'hyperliquid', 'lighter', 'pysdk', 'edgex_sdk', 'paradex_py', 'bpx', 'x10', 'web3'}"
        " & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "['ethereal']"]  # the SDK's signing modules only: no web3


# --- payloads read strictly -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "what"),
    [
        ({"status": "PARKED"}, "unknown order status 'PARKED'"),  # outside the SDK's Status enum
        ({"side": 2}, "unknown order side"),
        ({"quantity": None}, "unreadable GET /v1/order/{id}"),
    ],
    ids=["unknown-status", "unknown-side", "missing-quantity"],
)
async def test_an_order_payload_it_cannot_read_is_malformed_not_a_default(
    eth: Exchange, venue: EtherealVenue, change: dict[str, Any], what: str
) -> None:
    order = await eth.place_order(post_only("104000"))
    venue.orders[order.order_id].update(change)
    with pytest.raises(MalformedResponse, match=re.escape(what)) as caught:
        await eth.get_order("BTC", order.order_id)
    assert "104000" not in str(caught.value)  # no payload text in the message


async def test_a_crossed_or_empty_book_is_no_quote(eth: Exchange, venue: EtherealVenue) -> None:
    venue.BOOK = {**EtherealVenue.BOOK, BTC_ID: (Decimal(104401), Decimal(104399))}
    with pytest.raises(MalformedResponse, match="0 < bid < ask"):
        await eth.best_bid_ask("BTC")
