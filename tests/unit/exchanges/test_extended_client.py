"""The Extended trading client against a local replay of Extended's REST API (``/api/v1``) and its account and
order book streams, in the wire format of the SDK's models and the API docs (fixtures: ``tests/fixtures/exchanges/
extended``). :class:`ExtendedVenue` is a small stateful venue: every order it receives must carry the SDK's
settlement - the order hash recomputed with the SDK's ``hash_order`` from the signed amounts, the Stark signature
verified with ``fast_stark_crypto.verify`` against the account's key - and the ``X-Api-Key`` header; it rests
orders (``NEW``), rejects a post-only order that would take after acknowledging it (``REJECTED`` /
``POST_ONLY_FAILED``, as the engine does), fills on command and pushes ``ORDER``/``TRADE`` messages with ``seq``."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

import pytest

pytest.importorskip("x10")

from fast_stark_crypto import verify
from x10.config import MAINNET_CONFIG, TESTNET_CONFIG
from x10.core.amount import StarkAmount
from x10.core.stark_account import StarkPerpetualAccount
from x10.models.market import MarketModel
from x10.models.order import OrderSide
from x10.models.order import TimeInForce as SdkTimeInForce
from x10.signing.order_object import create_order_object
from x10.signing.order_object_settlement import hash_order

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
    OrderUpdate,
    PostOnlyWouldCross,
    RateLimited,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from bot_runtime.exchanges.extended import config as extended_config
from bot_runtime.exchanges.extended.client import ExtendedExchange
from bot_runtime.exchanges.extended.config import ExtendedCredentials
from bot_runtime.exchanges.extended.signing import OrderSigner
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

# the SDK repository's test account (tests/fixtures/accounts.py): a real Stark key pair, vault 10002
PRIVATE_KEY = "0x7a7ff6fd3cab02ccdcd4a572563f5976f8976899b03a39773795a3c486d4986"
PUBLIC_KEY = "0x61c5e7e8339b7d56f197f54ea91b776776690e3232313de0f2ecbd0ef76f466"
API_KEY = "f3c9a1e07b2d4c58a6e1d2b3c4f5a6b7"
ENV = {
    "EXTENDED_API_KEY": API_KEY,
    "EXTENDED_STARK_KEY_PRIVATE": PRIVATE_KEY,
    "EXTENDED_STARK_KEY_PUBLIC": PUBLIC_KEY,
    "EXTENDED_VAULT": "10002",
}
STREAM = "/stream.extended.exchange/v1"
API = "/api/v1"


def fx(name: str) -> Any:
    return load_fixture("extended", name)


def ok(data: Any) -> dict[str, Any]:
    return {"status": "OK", "data": data}


def now_ms() -> int:
    return int(time.time() * 1000)


class ExtendedVenue:
    """Extended as the client sees it (see the module docstring). BTC's book is 64235.9 / 64268.2, ETH's
    3201.4 / 3201.6: a post-only order at or through the other side is rejected, an IOC fills at once at the touch."""

    BOOK: ClassVar[dict[str, tuple[Decimal, Decimal]]] = {
        "BTC-USD": (Decimal("64235.9"), Decimal("64268.2")),
        "ETH-USD": (Decimal("3201.4"), Decimal("3201.6")),
    }

    def __init__(self, server: ReplayServer, *, domain: Any = MAINNET_CONFIG.signing.starknet_domain) -> None:
        self.server = server
        self.domain = domain
        self.markets = {m["name"]: MarketModel.model_validate(m) for m in fx("markets")["data"]}
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []
        self.refuse_next: str | None = None  # an error fixture for the next order
        self.positions: dict[str, Decimal] = {}  # market → signed size, from the fills here
        self.live_positions = False  # True: /user/positions from the fills here, not the fixture's positions
        self.funding: dict[str, str] = {}  # market → the hourly rate /info/markets reports (else the fixture's)
        self.now_ms = now_ms  # the venue's clock (order and trade times)
        self.account = fx("account_info")
        self._ids = itertools.count(1791389621914243072)
        self._tids = itertools.count(1811328331296018432)
        self._seq = itertools.count(1)
        for path, answer in {
            "/info/markets": self.get_markets,
            "/user/account/info": self._account,
            "/user/fees": fx("fees"),
            "/user/balance": fx("balance"),
        }.items():
            server.route("GET", API + path, answer)
        server.route("GET", API + "/info/markets/{market}/orderbook", self.book)
        server.route("GET", API + "/user/positions", self.get_positions)
        server.route("POST", API + "/user/order", self.place)
        server.route("GET", API + "/user/orders/{oid}", self.get_order)
        server.route("GET", API + "/user/orders/external/{eid}", self.by_external_id)
        server.route("GET", API + "/user/orders", self.open_orders)
        server.route("DELETE", API + "/user/order/{oid}", self.cancel)
        server.route("DELETE", API + "/user/order", self.cancel)
        server.route("POST", API + "/user/order/massCancel", self.mass_cancel)
        server.route("GET", API + "/user/trades", self.get_trades)
        self.ws = server.websocket(STREAM + "/account")
        self.book_ws = server.websocket(STREAM + "/orderbooks/BTC-USD")

    def get_markets(self, request: RecordedRequest) -> Any:
        answer = fx("markets")
        for market in answer["data"]:
            stats = market["marketStats"]
            stats["fundingRate"] = self.funding.get(market["name"], stats["fundingRate"])
        return answer

    def _account(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        return self.account

    @staticmethod
    def _authorized(request: RecordedRequest) -> None:
        assert request.header("X-Api-Key") == API_KEY and request.header("User-Agent")

    def book(self, request: RecordedRequest) -> Any:
        answer = fx("orderbook")
        bid, ask = self.BOOK[request.path_params["market"]]
        answer["data"]["market"] = request.path_params["market"]
        answer["data"]["bid"][0]["price"], answer["data"]["ask"][0]["price"] = str(bid), str(ask)
        return answer

    def get_positions(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        answer = fx("positions")
        if self.live_positions:
            template = answer["data"][0]
            answer["data"] = [
                {**template, "market": market, "side": "LONG" if size > 0 else "SHORT", "size": str(abs(size))}
                for market, size in self.positions.items()
                if size != 0
            ]
        return answer

    # orders ---------------------------------------------------------------------------------------------------------
    def verify_settlement(self, body: dict[str, Any]) -> None:
        """The order's hash recomputed from what it signs (the SDK's ``hash_order``), its signature checked."""
        market = self.markets[body["market"]]
        amounts = body["debuggingAmounts"]
        settlement = body["settlement"]
        stark_key = int(settlement["starkKey"], 16)
        order_hash = hash_order(
            amount_synthetic=StarkAmount(int(amounts["syntheticAmount"]), market.synthetic_asset),
            amount_collateral=StarkAmount(int(amounts["collateralAmount"]), market.collateral_asset),
            max_fee=StarkAmount(int(amounts["feeAmount"]), market.collateral_asset),
            nonce=int(body["nonce"]),
            position_id=int(settlement["collateralPosition"]),
            expiration_timestamp=datetime.fromtimestamp(body["expiryEpochMillis"] / 1000, tz=UTC),
            public_key=stark_key,
            starknet_domain=self.domain,
        )
        r, s = int(settlement["signature"]["r"], 16), int(settlement["signature"]["s"], 16)
        assert stark_key == int(PUBLIC_KEY, 16) and int(settlement["collateralPosition"]) == 10002
        assert verify(stark_key, order_hash, r, s), "the Stark signature does not verify"

    def place(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        body = request.json()
        assert isinstance(body, dict)
        self.verify_settlement(body)
        self.bodies.append(body)
        if self.refuse_next is not None:
            name, self.refuse_next = self.refuse_next, None
            return Reply(400, json=fx(name))
        oid = next(self._ids)
        bid, ask = self.BOOK[body["market"]]
        price, buy = Decimal(body["price"]), body["side"] == "BUY"
        crosses = price >= ask if buy else price <= bid
        order = {**fx("order_open")["data"], "id": oid, "externalId": body["id"], "market": body["market"],
                 "type": body["type"], "side": body["side"], "price": body["price"], "qty": body["qty"],
                 "reduceOnly": body.get("reduceOnly", False), "postOnly": body.get("postOnly", False),
                 "timeInForce": body["timeInForce"], "createdTime": self.now_ms(), "updatedTime": self.now_ms()}  # fmt: skip
        self.orders[oid] = order
        if crosses and order["postOnly"]:
            order.update(status="REJECTED", statusReason="POST_ONLY_FAILED", cancelledQty=order["qty"])
        elif crosses:  # an IOC / market order: filled at once at the touch
            self.fill(oid, Decimal(order["qty"]), px=ask if buy else bid, taker=True)
        return ok({"id": oid, "externalId": body["id"]})

    def get_order(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        order = self.orders.get(int(request.path_params["oid"]))
        return ok(order) if order is not None else Reply(404, json=fx("error_not_found"))

    def by_external_id(self, request: RecordedRequest) -> Any:
        found = [o for o in self.orders.values() if o["externalId"] == request.path_params["eid"]]
        return ok(found) if found else Reply(404, json=fx("error_not_found"))

    def open_orders(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        market = request.query.get("market")
        live = [o for o in self.orders.values() if o["status"] in {"NEW", "PARTIALLY_FILLED"}]
        return ok([o for o in live if market is None or o["market"] == market])

    def cancel(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        if "oid" in request.path_params:
            order = self.orders.get(int(request.path_params["oid"]))
        else:
            order = next((o for o in self.orders.values() if o["externalId"] == request.query["externalId"]), None)
        if order is None or order["status"] not in {"NEW", "PARTIALLY_FILLED"}:
            return Reply(404, json=fx("error_not_found"))
        order.update(status="CANCELLED", updatedTime=now_ms())
        asyncio.get_running_loop().create_task(self.push({"orders": [dict(order)]}, "ORDER"))
        return fx("ok_empty")

    def mass_cancel(self, request: RecordedRequest) -> Any:
        body = request.json()
        assert isinstance(body, dict)
        for order in self.orders.values():
            if order["status"] == "NEW" and (body.get("cancelAll") or order["market"] in body.get("markets", [])):
                order.update(status="CANCELLED")
        return fx("ok_empty")

    def get_trades(self, request: RecordedRequest) -> Any:
        self._authorized(request)
        return ok(sorted(self.trades, key=lambda t: -t["createdTime"])[: int(request.query.get("limit", 100))])

    # fills and the stream -------------------------------------------------------------------------------------------
    def fill(
        self,
        oid: int,
        size: Decimal,
        *,
        push: bool = True,
        px: Decimal | None = None,
        taker: bool = False,
        time_ms: int | None = None,
    ) -> dict[str, Any]:
        order = self.orders[oid]
        signed = size if order["side"] == "BUY" else -size
        self.positions[order["market"]] = self.positions.get(order["market"], Decimal(0)) + signed
        filled = Decimal(order["filledQty"]) + size
        order.update(filledQty=str(filled), averagePrice=str(px or order["price"]), updatedTime=self.now_ms(),
                     status="FILLED" if filled >= Decimal(order["qty"]) else "PARTIALLY_FILLED")  # fmt: skip
        trade = {**fx("trades")["data"][0], "id": next(self._tids), "market": order["market"], "orderId": oid,
                 "side": order["side"], "price": str(px or order["price"]), "qty": str(size), "isTaker": taker,
                 "fee": "0.0125" if taker else "0", "createdTime": time_ms if time_ms is not None else self.now_ms()}  # fmt: skip
        self.trades.append(trade)
        if push:
            asyncio.get_running_loop().create_task(self.push_fill(trade, order))
        return trade

    async def push(self, data: dict[str, Any], kind: str) -> None:
        await self.ws.broadcast({"type": kind, "data": data, "ts": now_ms(), "seq": next(self._seq)})

    async def push_fill(self, trade: dict[str, Any], order: dict[str, Any]) -> None:
        await self.push({"orders": [dict(order)]}, "ORDER")
        await self.push({"trades": [trade]}, "TRADE")


def options(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": server.url + API,
        "wsUrl": server.ws_url + STREAM,
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
        "orderConfirmPoll": 0.05,
        **extra,
    }


@pytest.fixture
async def venue() -> AsyncIterator[ExtendedVenue]:
    async with ReplayServer() as server:
        yield ExtendedVenue(server)


@pytest.fixture
async def ext(venue: ExtendedVenue) -> AsyncIterator[Exchange]:
    client = registry.create_exchange("extended", options(venue.server), ENV)
    await client.connect()
    await venue.ws.wait_for_connections(1)
    yield client
    await client.close()


async def next_fill(updates: AsyncIterator[OrderUpdate]) -> OrderUpdate:
    """The next update that carries a fill (order states without one - the acknowledgement, ORDER messages - are
    skipped)."""
    while True:
        update = await asyncio.wait_for(anext(updates), 5)
        if update.fill is not None:
            return update


def post_only(
    price: str, *, side: Side = Side.BUY, size: str = "0.0104", client_id: str = "pd1a2b3c-o-mi3k2x9a00f"
) -> OrderRequest:
    return OrderRequest(symbol="BTC", side=side, size=Decimal(size), price=Decimal(price),
                        time_in_force=TimeInForce.POST_ONLY, client_order_id=client_id)  # fmt: skip


# --- markets ----------------------------------------------------------------------------------------------------------
async def test_markets_perpetuals_ticks_steps_and_multipliers(ext: Exchange) -> None:
    markets = await ext.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # MATIC-USD is inactive, XVS-USD is spot
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.contract_id, btc.tick_size, btc.size_step, btc.min_size, btc.quote) == (
        "BTC-USD", "BTC-USD", Decimal("0.1"), Decimal("0.00001"), Decimal("0.0001"), "USD",
    )  # fmt: skip
    assert (btc.taker_fee, btc.max_leverage) == (Decimal("0.00025"), Decimal("50.00"))
    assert (pepe.venue_symbol, pepe.multiplier, pepe.size_step, pepe.tick_size) == (
        "1000PEPE-USD", Decimal(1000), Decimal(1), Decimal("0.000001"),
    )  # fmt: skip


def test_the_endpoints_and_domains_are_the_sdks() -> None:
    assert MAINNET_CONFIG.endpoints.api_base_url == extended_config.MAINNET_URL
    assert MAINNET_CONFIG.endpoints.stream_url == extended_config.MAINNET_WS_URL
    assert TESTNET_CONFIG.endpoints.api_base_url == extended_config.TESTNET_URL
    assert TESTNET_CONFIG.endpoints.stream_url == extended_config.TESTNET_WS_URL


# --- placement --------------------------------------------------------------------------------------------------------
async def test_post_only_order_is_the_sdks_signed_order(ext: Exchange, venue: ExtendedVenue) -> None:
    order = await ext.place_order(post_only("64000.04"))
    assert (order.status, order.order_id, order.client_order_id) == (
        OrderStatus.OPEN, "1791389621914243072", "pd1a2b3c-o-mi3k2x9a00f",
    )  # fmt: skip
    body = venue.bodies[-1]
    assert (body["id"], body["market"], body["type"], body["side"]) == (
        "pd1a2b3c-o-mi3k2x9a00f",
        "BTC-USD",
        "LIMIT",
        "BUY",
    )
    # the price is rounded down to the 0.1 tick: away from crossing
    assert (body["qty"], body["price"], body["postOnly"], body["timeInForce"], body["reduceOnly"]) == (
        "0.0104",
        "64000.0",
        True,
        "GTT",
        False,
    )  # fmt: skip
    assert (body["fee"], body["selfTradeProtectionLevel"]) == ("0.00025", "ACCOUNT")  # the account's taker fee
    assert body["expiryEpochMillis"] > now_ms() + 6 * 86_400_000  # GTT: 7 days by default
    # exactly what the SDK builds from the same inputs (same nonce, same expiry): same amounts, hash and signature
    account = StarkPerpetualAccount(vault=10002, private_key=PRIVATE_KEY, public_key=PUBLIC_KEY, api_key="")
    expected = create_order_object(
        account=account,
        market=venue.markets["BTC-USD"],
        amount_of_synthetic=Decimal("0.0104"),
        price=Decimal("64000.0"),
        side=OrderSide.BUY,
        starknet_domain=MAINNET_CONFIG.signing.starknet_domain,
        post_only=True,
        expire_time=datetime.fromtimestamp(body["expiryEpochMillis"] / 1000, tz=UTC),
        order_external_id="pd1a2b3c-o-mi3k2x9a00f",
        time_in_force=SdkTimeInForce.GTT,
        nonce=int(body["nonce"]),
        taker_fee=Decimal("0.00025"),
    ).to_api_request_json(exclude_none=True)
    assert body == expected


def test_the_signer_reproduces_the_sdk_repositorys_test_vector() -> None:
    """x10xchange/python_sdk tests/signing/order_object/test_limit_order_object.py ``test_create_sell_order``: the
    same market, account, nonce and expiry give the same signature through our signer."""
    credentials = ExtendedCredentials.from_env(ENV)
    signer = OrderSigner(credentials, is_mainnet=False)
    market = MarketModel.model_validate(next(m for m in fx("markets")["data"] if m["name"] == "BTC-USD"))
    body = signer.signed_order(
        market,
        side="SELL",
        size=Decimal("0.00100000"),
        price=Decimal("43445.11680000"),
        order_type="LIMIT",
        time_in_force="GTT",
        post_only=False,
        reduce_only=False,
        external_id="x",
        expire_time=datetime(2024, 1, 19, 1, 8, 56, 860694, tzinfo=UTC),
        taker_fee=Decimal("0.0005"),
        nonce=1473459052,
    )
    assert body["settlement"]["signature"] == {
        "r": "0x604ef07147d4251385eaaa630e6a71db8f0a8c7cb33021c98698047db80edfa",
        "s": "0x6c707d9a06604d3f8ffd34378bf4fce7c0aaf50cba4cf37c3525c323106cda5",
    }
    assert body["debuggingAmounts"] == {
        "collateralAmount": "43445116",
        "feeAmount": "21723",
        "syntheticAmount": "-1000",
    }
    assert body["expiryEpochMillis"] == 1705626536861


async def test_post_only_that_would_cross_is_rejected_by_the_engine(ext: Exchange, venue: ExtendedVenue) -> None:
    with pytest.raises(PostOnlyWouldCross):
        await ext.place_order(post_only("64270"))
    rejected = next(iter(venue.orders.values()))
    assert (rejected["status"], rejected["statusReason"]) == ("REJECTED", "POST_ONLY_FAILED")


async def test_post_only_rejection_arriving_over_the_stream(venue: ExtendedVenue) -> None:
    client = registry.create_exchange("extended", options(venue.server, orderConfirmPoll=30), ENV)
    await client.connect()
    await venue.ws.wait_for_connections(1)

    def acknowledge_then_reject(request: RecordedRequest) -> Any:
        answer = venue.place(request)
        order = venue.orders[max(venue.orders)]
        asyncio.get_running_loop().create_task(venue.push({"orders": [dict(order)]}, "ORDER"))
        return answer

    venue.server.route("POST", API + "/user/order", acknowledge_then_reject)
    venue.server.route("GET", API + "/user/orders/{oid}", Reply(404, json=fx("error_not_found")))  # not yet known
    try:
        with pytest.raises(PostOnlyWouldCross):
            await asyncio.wait_for(client.place_order(post_only("64300", client_id="pd1a2b3c-o-mi3k2x9a0bb")), 5)
    finally:
        await client.close()


async def test_margin_reduce_only_and_minimum_size_refusals(ext: Exchange, venue: ExtendedVenue) -> None:
    venue.refuse_next = "error_margin"
    with pytest.raises(InsufficientMargin):
        await ext.place_order(post_only("64000"))
    venue.refuse_next = "error_reduce_only"
    with pytest.raises(OrderRejected) as caught:
        await ext.place_order(post_only("64000", side=Side.SELL, client_id="pd1a2b3c-c-mi3k2x9a00g"))
    assert caught.value.reason.value == "reduce_only_violation"
    sent = len(venue.bodies)
    with pytest.raises(OrderRejected, match="below the minimum"):
        await ext.place_order(post_only("64000", size="0.00009"))
    assert len(venue.bodies) == sent  # refused before sending


async def test_market_and_ioc_orders_take_at_once(ext: Exchange, venue: ExtendedVenue) -> None:
    market = await ext.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.002"),
            order_type=OrderType.MARKET,
            client_order_id="pd1a2b3c-x-mi3k2x9a00h",
            reduce_only=True,
        )
    )
    body = venue.bodies[-1]
    # the SDK's market order: type MARKET, IOC, a worst price 0.75 % through the ask, rounded up to the tick
    assert (body["type"], body["timeInForce"], body["postOnly"], body["reduceOnly"], body["price"]) == (
        "MARKET", "IOC", False, True, "64750.3",
    )  # fmt: skip
    assert (market.status, market.filled_size, market.time_in_force) == (
        OrderStatus.FILLED, Decimal("0.002"), TimeInForce.IOC,
    )  # fmt: skip


# --- cancel and lookups -----------------------------------------------------------------------------------------------
async def test_cancel_cancel_all_open_orders_and_lookups(ext: Exchange, venue: ExtendedVenue) -> None:
    first = await ext.place_order(post_only("64000"))
    second = await ext.place_order(post_only("63990", client_id="pd1a2b3c-o-mi3k2x9a00i"))
    assert [o.order_id for o in await ext.open_orders("BTC")] == [first.order_id, second.order_id]
    found = await ext.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a00i")
    assert found is not None and (found.order_id, found.time_in_force) == (second.order_id, TimeInForce.POST_ONLY)
    assert await ext.find_order_by_client_id("BTC", "pd1a2b3c-o-nothere0000") is None
    assert await ext.get_order("BTC", "12345") is None
    await ext.cancel_order("BTC", first.order_id)
    assert venue.orders[int(first.order_id)]["status"] == "CANCELLED"
    historical = await ext.get_order("BTC", first.order_id)
    assert historical is not None and (historical.status, historical.cancel_reason) == (
        OrderStatus.CANCELED, "user_canceled",
    )  # fmt: skip
    with pytest.raises(OrderNotFound):
        await ext.cancel_order("BTC", "12345")
    assert isinstance(ext, ExtendedExchange)
    await ext.cancel_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a00i")
    assert venue.orders[int(second.order_id)]["status"] == "CANCELLED"
    await ext.place_order(post_only("63980", client_id="pd1a2b3c-o-mi3k2x9a00j"))
    assert await ext.cancel_all("BTC") == 1
    assert venue.server.requests_to("POST", API + "/user/order/massCancel")[-1].json() == {"markets": ["BTC-USD"]}
    assert await ext.open_orders() == []


# --- account ----------------------------------------------------------------------------------------------------------
async def test_positions_and_balance(ext: Exchange) -> None:
    positions = {p.symbol: p for p in await ext.positions()}
    assert (positions["BTC"].size, positions["ETH"].size) == (Decimal("0.012"), Decimal("-0.5"))
    assert (positions["BTC"].avg_entry_price, positions["BTC"].liquidation_price) == (
        Decimal("64010.5"),
        Decimal("58211.4"),
    )
    assert (await ext.position("PEPE")).size == 0
    balance = await ext.balance()
    assert (balance.asset, balance.equity, balance.available, balance.margin_used) == (
        "USD", Decimal("1207.85"), Decimal("980.11"), Decimal("237.19"),
    )  # fmt: skip


# --- errors -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, json=fx("error_rate_limit"), headers={"Retry-After": "2"}), RateLimited),
        (Reply(401, json=fx("error_unauthorized")), AuthenticationError),
        (Reply(400, json=fx("error_bad_signature")), AuthenticationError),
        (Reply(503, body="upstream unavailable"), TransientNetworkError),
    ],
)
async def test_http_errors_are_mapped_without_secrets(
    ext: Exchange, venue: ExtendedVenue, reply: Reply, error: type[Exception]
) -> None:
    venue.server.route("POST", API + "/user/order", reply)
    with pytest.raises(error) as caught:
        await ext.place_order(post_only("64000"))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 2
    for secret in (API_KEY, PRIVATE_KEY, PRIVATE_KEY[2:]):
        assert secret not in str(caught.value)


async def test_connect_refuses_keys_of_another_sub_account(venue: ExtendedVenue) -> None:
    venue.account["data"]["l2Vault"] = 10001
    client = registry.create_exchange("extended", options(venue.server), ENV)
    with pytest.raises(AuthenticationError, match="EXTENDED_VAULT"):
        await client.connect()
    await client.close()


async def test_submit_order_after_a_lost_answer_finds_the_order_instead_of_resending(
    ext: Exchange, venue: ExtendedVenue
) -> None:
    calls = 0

    def lost_answer(request: RecordedRequest) -> Any:  # the venue takes the order, the answer is lost
        nonlocal calls
        calls += 1
        venue.place(request)
        return Reply(503, body="upstream timed out")

    venue.server.route("POST", API + "/user/order", lost_answer)
    order = await ext.submit_order(post_only("64000", client_id="pd1a2b3c-o-mi3k2x9a0aa"))
    assert calls == 1 and len(venue.orders) == 1
    assert (order.client_order_id, order.status) == ("pd1a2b3c-o-mi3k2x9a0aa", OrderStatus.OPEN)


# --- payloads read strictly (issue 18) --------------------------------------------------------------------------------
async def test_unreadable_payloads_are_malformed_never_defaults(ext: Exchange, venue: ExtendedVenue) -> None:
    order = await ext.place_order(post_only("64000"))
    venue.orders[int(order.order_id)]["status"] = "UNKNOWN"  # the SDK's technical status: not read as open
    with pytest.raises(MalformedResponse, match="unknown order status"):
        await ext.get_order("BTC", order.order_id)
    venue.orders[int(order.order_id)].update(status="FILLED", filledQty=None)  # FILLED: filled completely
    filled = await ext.get_order("BTC", order.order_id)
    assert filled is not None and (filled.status, filled.filled_size) == (OrderStatus.FILLED, Decimal("0.0104"))
    venue.orders[int(order.order_id)].update(status="CANCELLED", filledQty=None)  # may have filled anything
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await ext.get_order("BTC", order.order_id)
    venue.server.route("GET", API + "/info/markets/{market}/orderbook", ok({"market": "ETH-USD", "bid": [], "ask": []}))
    with pytest.raises(MalformedResponse, match="bid < ask"):
        await ext.best_bid_ask("ETH")
    venue.server.route("GET", API + "/user/positions", ok([{"market": "BTC-USD", "size": "0.1"}]))
    with pytest.raises(MalformedResponse, match="unreadable position"):
        await ext.positions()


async def test_an_unreadable_placement_answer_is_looked_up_not_resent(ext: Exchange, venue: ExtendedVenue) -> None:
    def no_id(request: RecordedRequest) -> Any:
        venue.place(request)
        return ok({"externalId": "pd1a2b3c-o-mi3k2x9a0cc"})

    venue.server.route("POST", API + "/user/order", no_id)
    order = await ext.submit_order(post_only("64000", client_id="pd1a2b3c-o-mi3k2x9a0cc"))
    assert len(venue.bodies) == 1 and order.order_id == str(max(venue.orders))


# --- the account stream -----------------------------------------------------------------------------------------------
async def test_partial_fill_and_fill_over_the_stream(ext: Exchange, venue: ExtendedVenue) -> None:
    conn = await venue.ws.wait_for_connections(1)
    assert conn.request.header("X-Api-Key") == API_KEY
    updates = ext.order_updates()
    order = await ext.place_order(post_only("64000", size="0.01"))
    venue.fill(int(order.order_id), Decimal("0.004"))
    partial = await next_fill(updates)
    assert (partial.fill.size, partial.fill.liquidity.value, partial.fill.client_order_id) == (
        Decimal("0.004"), "maker", "pd1a2b3c-o-mi3k2x9a00f",
    )  # fmt: skip
    assert (partial.order.status, partial.order.filled_size) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"))
    venue.fill(int(order.order_id), Decimal("0.006"))
    full = await next_fill(updates)
    assert (full.order.status, full.order.filled_size) == (OrderStatus.FILLED, Decimal("0.01"))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_dropped_stream_reconnects_and_recovers_the_missed_fill_over_rest(
    ext: Exchange, venue: ExtendedVenue
) -> None:
    updates = ext.order_updates()
    order = await ext.place_order(post_only("64000", size="0.01"))
    venue.fill(int(order.order_id), Decimal("0.001"), push=False, time_ms=now_ms() - 3_600_000)  # before the start
    await venue.ws.drop_all()
    missed = venue.fill(int(order.order_id), Decimal("0.009"), push=False)  # during the gap: never pushed
    conn = await venue.ws.wait_for_connections(2, within=5)
    assert conn.request.header("X-Api-Key") == API_KEY
    update = await next_fill(updates)
    assert update.fill is not None and update.fill.trade_id == str(missed["id"])
    assert update.order.status is OrderStatus.FILLED
    # the same fill arriving over the stream later is not delivered twice; the old fill never is
    await venue.push_fill(missed, venue.orders[int(order.order_id)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_a_sequence_gap_resyncs_over_rest(ext: Exchange, venue: ExtendedVenue) -> None:
    updates = ext.order_updates()
    order = await ext.place_order(post_only("64000", size="0.01"))
    await venue.push({"orders": []}, "ORDER")
    lost = venue.fill(int(order.order_id), Decimal("0.01"), push=False)
    next(venue._seq)  # the message of that fill never arrives: the next one skips a number
    await venue.push({"orders": []}, "ORDER")
    await venue.ws.wait_for_connections(2, within=5)
    update = await next_fill(updates)
    assert update.fill is not None and update.fill.trade_id == str(lost["id"])


async def test_price_stream(ext: Exchange, venue: ExtendedVenue) -> None:
    stream = ext.price_stream("BTC")
    first = asyncio.ensure_future(anext(stream))
    conn = await venue.book_ws.wait_for_connections(1)
    assert conn.request.query.get("depth") == "1"
    await conn.send_json(fx("ws_orderbook_depth1"))
    quote = await asyncio.wait_for(first, 5)
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("64235.9"), Decimal("64268.2"), Decimal("0.04852"))
    await stream.aclose()
    top = await ext.best_bid_ask("ETH")
    assert (top.bid, top.ask) == (Decimal("3201.4"), Decimal("3201.6"))


# --- credentials ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({}, ["EXTENDED_API_KEY", "EXTENDED_STARK_KEY_PRIVATE", "EXTENDED_STARK_KEY_PUBLIC", "EXTENDED_VAULT"]),
        ({**ENV, "EXTENDED_API_KEY": "your_api_key_here"}, ["EXTENDED_API_KEY"]),
        ({**ENV, "EXTENDED_STARK_KEY_PRIVATE": "0x" + "zz" * 32}, ["EXTENDED_STARK_KEY_PRIVATE"]),
        ({**ENV, "EXTENDED_VAULT": "vault-1"}, ["EXTENDED_VAULT"]),
        (
            {**ENV, "EXTENDED_STARK_KEY_PUBLIC": "0x" + "12" * 31},
            ["EXTENDED_STARK_KEY_PUBLIC", "EXTENDED_STARK_KEY_PRIVATE"],
        ),
    ],
)
def test_credentials_are_checked_by_name_never_echoed(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("extended", {}, env)
    assert caught.value.keys == keys
    for value in env.values():
        if len(value) > 12:
            assert value not in str(caught.value) and value[2:] not in str(caught.value)


def test_the_client_repr_holds_no_secret(venue: ExtendedVenue) -> None:
    client = registry.create_exchange("extended", options(venue.server), ENV)
    for secret in (API_KEY, PRIVATE_KEY[2:], str(int(PRIVATE_KEY, 16))):
        assert secret not in repr(client) and secret not in repr(vars(client))


def test_an_extended_pod_imports_only_its_sdk_and_its_collector_none() -> None:
    code = (
        "import sys; from bot_runtime.exchanges import registry;"
        "registry.create_funding_source('extended', {});"
        "print(sorted({'x10', 'fast_stark_crypto'} & set(sys.modules)));"
        f"registry.create_exchange('extended', {{}}, {json.dumps(ENV)});"
        "print(sorted({'x10', 'lighter', 'pysdk', 'edgex_sdk', 'paradex_py', 'bpx', 'hyperliquid', 'aiohttp',"
        " 'x10.clients', 'tenacity'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["[]", "['x10']"]
