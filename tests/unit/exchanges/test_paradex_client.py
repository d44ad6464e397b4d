"""The Paradex trading client (paradex-py, Starknet signing) against a local replay of Paradex's wire format."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    CredentialsError,
    Exchange,
    InsufficientMargin,
    MalformedResponse,
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
from tests.support.replay import RecordedRequest, ReplayServer, Reply, load_fixture

L2_KEY = hex(random.Random(7).randrange(1, 2**250))
L1_ADDRESS = "0x" + "ab" * 20
ENV = {"PARADEX_L1_ADDRESS": L1_ADDRESS, "PARADEX_L2_PRIVATE_KEY": L2_KEY, "PARADEX_ENVIRONMENT": "testnet"}


def fx(name: str) -> Any:
    return load_fixture("paradex", name)


def verify_order_signature(body: dict[str, Any]) -> bool:
    """Rebuild the order's typed data as Paradex does and check the Starknet signature with the account's key."""
    from paradex_py.account.utils import derive_l2_address_starknet, typed_data_to_message_hash
    from paradex_py.api.models import SystemConfigSchema
    from paradex_py.common.order import Order, OrderSide, OrderType
    from paradex_py.message.order import build_order_message
    from starknet_py.common import int_from_bytes
    from starknet_py.hash.utils import verify_message_signature
    from starknet_py.net.signer.key_pair import KeyPair

    raw = dict(fx("system_config"), starknet_fullnode_rpc_base_url="https://pathfinder.api.testnet.paradex.trade")
    config = SystemConfigSchema().load(raw, unknown="exclude")
    public_key = KeyPair.from_private_key(int(L2_KEY, 16)).public_key
    address = derive_l2_address_starknet(config, public_key)
    order = Order(
        market=body["market"],
        order_type=OrderType(body["type"]),
        order_side=OrderSide(body["side"]),
        size=Decimal(body["size"]),
        limit_price=Decimal(body.get("price", "0")),
        signature_timestamp=body["signature_timestamp"],
    )
    message_hash = typed_data_to_message_hash(
        build_order_message(int_from_bytes(config.starknet_chain_id.encode()), order), address
    )
    r, s = (int(x) for x in json.loads(body["signature"]))
    return bool(verify_message_signature(message_hash, [r, s], public_key))


def rpc(conn: Any, message: Any) -> list[Any]:
    if not isinstance(message, dict) or "id" not in message:
        return []
    if message.get("method") == "auth":
        return [{"jsonrpc": "2.0", "result": {"node_id": "replay"}, "id": message["id"]}]
    return [{"jsonrpc": "2.0", "result": {"channel": message["params"]["channel"]}, "id": message["id"]}]


@pytest.fixture
async def venue() -> AsyncIterator[ReplayServer]:
    async with ReplayServer() as server:
        server.route("GET", "/v1/system/config", fx("system_config"))
        server.route("POST", "/v1/auth/{public_key}", fx("auth"))
        server.route("GET", "/v1/markets", fx("markets"))
        server.route("GET", "/v1/orders", {"results": []})
        server.websocket("/v1/ws", on_message=rpc)
        yield server


@pytest.fixture
async def paradex(venue: ReplayServer) -> AsyncIterator[Exchange]:
    options = {
        "baseUrl": venue.url + "/v1",
        "wsUrl": venue.ws_url + "/v1/ws",
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
        "orderConfirmPoll": 0.02,
        "orderConfirmTimeout": 2,
    }
    client = registry.create_exchange("paradex", options, ENV)
    await client.connect()
    conn = await venue._ws["/v1/ws"].wait_for_connections(1)
    await conn.wait_for_message(lambda m: m.get("params") == {"channel": "fills.ALL"})
    yield client
    await client.close()


async def test_connect_authenticates_with_a_starknet_signed_request(paradex: Exchange, venue: ReplayServer) -> None:
    auth = venue.requests_to("POST", "/v1/auth/{public_key}")
    assert auth, "the SDK's auth request reached the replay server"
    assert auth[0].header(
        "PARADEX-STARKNET-SIGNATURE",
    ) and auth[0].header("PARADEX-TIMESTAMP")
    conn = venue._ws["/v1/ws"].connections[0]
    assert conn.received[0]["method"] == "auth" and conn.received[0]["params"]["bearer"] == fx("auth")["jwt_token"]
    assert [m["params"]["channel"] for m in conn.received[1:3]] == ["orders.ALL", "fills.ALL"]
    markets = await paradex.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # the option is not a perpetual
    assert (markets["BTC"].tick_size, markets["BTC"].size_step, markets["BTC"].min_notional) == (
        Decimal("0.1"),
        Decimal("0.001"),
        Decimal("10"),
    )
    assert (markets["PEPE"].venue_symbol, markets["PEPE"].multiplier) == ("kPEPE-USD-PERP", Decimal(1000))


async def test_post_only_order_is_starknet_signed_and_confirmed_by_the_engine(
    paradex: Exchange, venue: ReplayServer
) -> None:
    venue.route("POST", "/v1/orders", fx("order_new"))
    venue.route("GET", "/v1/orders/{order_id}", fx("order_open"))
    order = await paradex.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.0104"),
            price=Decimal("97010.17"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    body = venue.requests_to("POST", "/v1/orders")[-1].json()
    assert {k: body[k] for k in ("market", "side", "type", "size", "price", "instruction", "client_id")} == {
        "market": "BTC-USD-PERP",
        "side": "BUY",
        "type": "LIMIT",
        "size": "0.010",
        "price": "97010.1",
        "instruction": "POST_ONLY",
        "client_id": "grid-open-1",
    }
    assert "flags" not in body
    assert verify_order_signature(body)
    tampered = dict(body, price="97010.2")
    assert not verify_order_signature(tampered)
    assert venue.requests_to("POST", "/v1/orders")[-1].header("Authorization") == f"Bearer {fx('auth')['jwt_token']}"
    assert (order.status, order.time_in_force, order.client_order_id) == (
        OrderStatus.OPEN,
        TimeInForce.POST_ONLY,
        "grid-open-1",
    )


async def test_post_only_closed_by_the_engine_raises(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/v1/orders", fx("order_new"))
    venue.route("GET", "/v1/orders/{order_id}", fx("order_closed_post_only"))
    with pytest.raises(PostOnlyWouldCross):
        await paradex.place_order(
            OrderRequest(
                symbol="BTC",
                side=Side.BUY,
                size=Decimal("0.01"),
                price=Decimal("97010.9"),
                time_in_force=TimeInForce.POST_ONLY,
                client_order_id="grid-open-1",
            )
        )


async def test_engine_decision_from_the_stream_needs_no_polling(venue: ReplayServer) -> None:
    options = {
        "baseUrl": venue.url + "/v1",
        "wsUrl": venue.ws_url + "/v1/ws",
        "orderConfirmPoll": 3,
        "orderConfirmTimeout": 5,
    }
    client = registry.create_exchange("paradex", options, ENV)
    await client.connect()
    endpoint = venue._ws["/v1/ws"]
    conn = await endpoint.wait_for_connections(1)
    await conn.wait_for_message(lambda m: m.get("params") == {"channel": "fills.ALL"})

    async def accept(request: RecordedRequest) -> Any:
        async def push() -> None:
            await asyncio.sleep(0.05)
            await endpoint.broadcast(
                {
                    "jsonrpc": "2.0",
                    "method": "subscription",
                    "params": {"channel": "orders.ALL", "data": fx("order_open")},
                }
            )

        asyncio.get_running_loop().create_task(push())
        return fx("order_new")

    venue.route("POST", "/v1/orders", accept)
    order = await client.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.1"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    assert order.status is OrderStatus.OPEN
    assert venue.requests_to("GET", "/v1/orders/{order_id}") == []
    await client.close()


async def test_reduce_only_market_order(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/v1/orders", fx("order_new"))
    venue.route("GET", "/v1/orders/{order_id}", fx("order_filled"))
    order = await paradex.place_order(
        OrderRequest(
            symbol="PEPE",
            side=Side.SELL,
            size=Decimal("1500.7"),
            order_type=OrderType.MARKET,
            reduce_only=True,
            client_order_id="close-1",
        )
    )
    body = venue.requests_to("POST", "/v1/orders")[-1].json()
    assert (body["market"], body["type"], body["side"], body["size"], body["flags"]) == (
        "kPEPE-USD-PERP",
        "MARKET",
        "SELL",
        "1500",
        ["REDUCE_ONLY"],
    )
    assert "price" not in body and verify_order_signature(body)
    assert order.status is OrderStatus.FILLED


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, {"error": "RATE_LIMITED", "message": "slow down"}), RateLimited),
        (Reply(400, fx("error_validation")), OrderRejected),
        (Reply(400, {"error": "VALIDATION_ERROR", "message": "not enough margin to place order"}), InsufficientMargin),
        (Reply(503, body="<html>upstream unavailable</html>"), TransientNetworkError),
    ],
)
async def test_errors_are_mapped(paradex: Exchange, venue: ReplayServer, reply: Reply, error: type[Exception]) -> None:
    venue.route("POST", "/v1/orders", reply)
    with pytest.raises(error) as caught:
        await paradex.place_order(
            OrderRequest(
                symbol="BTC", side=Side.BUY, size=Decimal("0.01"), price=Decimal("97010.1"), client_order_id="e"
            )
        )
    assert L2_KEY[2:] not in str(caught.value)


async def test_cancel_cancel_all_open_orders_lookups(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("DELETE", "/v1/orders/{order_id}", Reply(204))
    venue.route("DELETE", "/v1/orders", Reply(204))
    venue.route("GET", "/v1/orders", fx("orders_open"))
    await paradex.cancel_order("BTC", "1764064800100201709028160000")
    assert venue.requests_to("DELETE", "/v1/orders/{order_id}")[-1].path.endswith("/1764064800100201709028160000")
    orders = await paradex.open_orders("BTC")
    assert venue.requests_to("GET", "/v1/orders")[-1].query == {"market": "BTC-USD-PERP"}
    assert [(o.status, o.filled_size, o.reduce_only, o.client_order_id) for o in orders] == [
        (OrderStatus.OPEN, Decimal(0), False, "grid-open-1"),
        (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"), True, "grid-close-7"),
    ]
    assert await paradex.cancel_all("BTC") == 2
    assert venue.requests_to("DELETE", "/v1/orders")[-1].query == {"market": "BTC-USD-PERP"}
    venue.route("GET", "/v1/orders/{order_id}", Reply(404, fx("error_not_found")))
    venue.route("GET", "/v1/orders/by_client_id/{client_id}", Reply(404, fx("error_client_id_not_found")))
    assert await paradex.get_order("BTC", "1") is None
    assert await paradex.find_order_by_client_id("BTC", "nope") is None
    venue.route("GET", "/v1/orders/by_client_id/{client_id}", fx("order_open"))
    found = await paradex.find_order_by_client_id("BTC", "grid-open-1")
    assert found is not None and found.order_id == "1764064800100201709028160000"


async def test_positions_balance_and_bbo(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/v1/positions", fx("positions"))
    venue.route("GET", "/v1/account", fx("account"))
    venue.route("GET", "/v1/bbo/{market}", fx("bbo"))
    positions = {p.symbol: p for p in await paradex.positions()}
    assert set(positions) == {"BTC", "PEPE"}
    btc = positions["BTC"]
    assert (btc.size, btc.avg_entry_price, btc.unrealized_pnl, btc.liquidation_price, btc.leverage) == (
        Decimal("0.02"),
        Decimal("96500.1"),
        Decimal("10.2"),
        Decimal("80000.2"),
        None,
    )
    assert (btc.realized_pnl, btc.funding_pnl) == (Decimal("1.5"), Decimal("-0.5"))
    balance = await paradex.balance()
    assert (balance.equity, balance.available, balance.margin_used, balance.unrealized_pnl) == (
        Decimal("10013.2"),
        Decimal("9757.0"),
        Decimal("256.2"),
        Decimal("13.2"),
    )
    quote = await paradex.best_bid_ask("BTC")
    assert (quote.bid, quote.ask) == (Decimal("97010.1"), Decimal("97010.9"))


async def test_fill_over_websocket_and_recovery_after_a_drop(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/v1/orders", fx("order_new"))
    venue.route("GET", "/v1/orders/{order_id}", fx("order_open"))
    updates = paradex.order_updates()
    await paradex.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.1"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    accepted = await asyncio.wait_for(anext(updates), 5)  # the engine's verdict, polled while placing
    assert (accepted.order.status, accepted.fill) == (OrderStatus.OPEN, None)
    endpoint = venue._ws["/v1/ws"]
    now_ms = int(time.time() * 1000)
    fills = fx("fills")
    missed = fills["results"][0] | {"created_at": now_ms}
    history = missed | {"id": "8615262148007718000", "created_at": now_ms - 60_000}  # the previous process's
    venue.route("GET", "/v1/fills", fills | {"results": [missed, history]})
    venue.route("GET", "/v1/orders/{order_id}", fx("order_filled"))
    await endpoint.drop_all()
    conn = await endpoint.wait_for_connections(2)
    await conn.wait_for_message(lambda m: m.get("params") == {"channel": "orders.ALL"})
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None
    assert (update.fill.trade_id, update.fill.size, update.fill.fee, update.fill.liquidity.value) == (
        "8615262148007718462",
        Decimal("0.01"),
        Decimal("-0.0097"),
        "maker",
    )
    assert (update.order.status, update.order.client_order_id) == (OrderStatus.FILLED, "grid-open-1")
    assert len(venue.requests_to("POST", "/v1/auth/{public_key}")) >= 2  # a fresh JWT for the new connection
    assert int(venue.requests_to("GET", "/v1/fills")[-1].query["start_at"]) > 1_700_000_000_000
    await endpoint.broadcast(fx("ws_fill"))  # the same fill over the new stream: not delivered twice
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_fill_pushed_over_websocket(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("POST", "/v1/orders", fx("order_new"))
    venue.route("GET", "/v1/orders/{order_id}", fx("order_open"))
    updates = paradex.order_updates()
    await paradex.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=Decimal("0.01"),
            price=Decimal("97010.1"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="grid-open-1",
        )
    )
    assert (await asyncio.wait_for(anext(updates), 5)).order.status is OrderStatus.OPEN
    await venue._ws["/v1/ws"].broadcast(fx("ws_fill"))
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None and update.fill.price == Decimal("97010.1")
    assert (update.order.status, update.order.filled_size) == (OrderStatus.FILLED, Decimal("0.01"))


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({}, "PARADEX_L1_ADDRESS"),
        (
            {"PARADEX_L1_ADDRESS": L1_ADDRESS, "PARADEX_L2_PRIVATE_KEY": "your_private_key_here"},
            "PARADEX_L2_PRIVATE_KEY",
        ),
        ({"PARADEX_L1_ADDRESS": L1_ADDRESS, "PARADEX_L2_PRIVATE_KEY": "not-hex-at-all"}, "PARADEX_L2_PRIVATE_KEY"),
        ({"PARADEX_L1_ADDRESS": "0x123", "PARADEX_L2_PRIVATE_KEY": L2_KEY}, "PARADEX_L1_ADDRESS"),
    ],
)
def test_bad_credentials_name_the_key(env: dict[str, str], key: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("paradex", {}, env)
    assert key in caught.value.keys
    assert L2_KEY not in str(caught.value) and "not-hex-at-all" not in str(caught.value)


@pytest.mark.parametrize(
    ("options", "env", "environment"),
    [
        ({}, {}, "prod"),  # the original's default: a bot without PARADEX_ENVIRONMENT trades on prod
        ({}, {"PARADEX_ENVIRONMENT": "testnet"}, "testnet"),
        ({"environment": "testnet"}, {}, "testnet"),  # a FundingCollector's venue option
        ({"environment": "prod"}, {"PARADEX_ENVIRONMENT": "testnet"}, "prod"),  # options first
    ],
)
def test_environment_is_prod_unless_asked(options: dict[str, str], env: dict[str, str], environment: str) -> None:
    from bot_runtime.exchanges.paradex.settings import ParadexSettings

    settings = ParadexSettings.load(options, env)
    assert settings.environment == environment
    assert settings.base_url == f"https://api.{environment}.paradex.trade/v1"
    assert settings.ws_url == f"wss://ws.api.{environment}.paradex.trade/v1"


def test_collector_funding_source_defaults_to_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARADEX_ENVIRONMENT", raising=False)
    from bot_runtime.exchanges.paradex.funding import ParadexFundingSource

    source = registry.create_funding_source("paradex", {})
    assert isinstance(source, ParadexFundingSource)
    assert source.settings.base_url == "https://api.prod.paradex.trade/v1"


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------

ORDER_ID = load_fixture("paradex", "order_filled")["id"]


def filled_order(**changes: Any) -> dict[str, Any]:
    """order_filled.json (``GET /orders/{id}``, a CLOSED order with nothing remaining) with ``changes``; a value of
    None drops the key."""
    return {k: v for k, v in (fx("order_filled") | changes).items() if v is not None or k not in changes}


async def test_unknown_order_status_is_an_error_not_closed(paradex: Exchange, venue: ReplayServer) -> None:
    venue.route("GET", "/v1/orders/{order_id}", filled_order(status="SETTLING"))
    with pytest.raises(MalformedResponse, match="unknown order status 'SETTLING'"):
        await paradex.get_order("BTC", ORDER_ID)
    # the same on the orders channel (the order_filled.json object as a subscription event): nothing published
    updates = paradex.order_updates()
    event = {"channel": "orders.ALL", "data": filled_order(status="SETTLING")}
    await venue._ws["/v1/ws"].broadcast({"jsonrpc": "2.0", "method": "subscription", "params": event})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_closed_without_remaining_size_is_an_error_not_unfilled(paradex: Exchange, venue: ReplayServer) -> None:
    # Paradex has no FILLED status: a CLOSED order filled size - remaining_size; without remaining_size it may have
    # filled anything (CLOSED also ends cancelled orders), so it is an error, never a fill of 0
    venue.route("GET", "/v1/orders/{order_id}", filled_order(remaining_size=None))
    with pytest.raises(MalformedResponse, match="remaining_size"):
        await paradex.get_order("BTC", ORDER_ID)
    venue.route("GET", "/v1/orders/{order_id}", filled_order())
    order = await paradex.get_order("BTC", ORDER_ID)
    assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.01"))


@pytest.mark.parametrize("field", ["id", "market", "side", "size", "status"])
async def test_missing_order_field_is_an_exchange_error(paradex: Exchange, venue: ReplayServer, field: str) -> None:
    venue.route("GET", "/v1/orders/{order_id}", filled_order(**{field: None}))
    with pytest.raises(MalformedResponse, match=field):
        await paradex.get_order("BTC", ORDER_ID)
    venue.route("GET", "/v1/orders", {"results": [filled_order(**{field: None})]})
    with pytest.raises(MalformedResponse):
        await paradex.open_orders("BTC")


@pytest.mark.parametrize(
    "top", [{"bid": "0"}, {"ask": "0"}, {"bid": "-1"}, {"bid": "97011.0"}, {"ask": None}, {"bid": "x"}]
)
async def test_zero_negative_or_crossed_quote_is_refused(
    paradex: Exchange, venue: ReplayServer, top: dict[str, Any]
) -> None:
    # bbo.json with one side replaced (the REST read accepted 0 before)
    venue.route("GET", "/v1/bbo/{market}", {k: v for k, v in (fx("bbo") | top).items() if v is not None})
    with pytest.raises(MalformedResponse):
        await paradex.best_bid_ask("BTC")
