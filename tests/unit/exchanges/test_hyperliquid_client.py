"""The Hyperliquid trading client against a local replay of Hyperliquid's ``/info``, ``/exchange`` and ``/ws`` wire
format. :class:`HyperliquidVenue` is a small stateful venue: it recovers the signer of every ``/exchange`` action
with the SDK's own ``recover_agent_or_user_from_l1_action`` (refusing an action not signed by the approved API
wallet, or with a nonce it has seen), rests and fills orders, and answers ``orderStatus`` by oid and by cloid."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, ClassVar

import pytest

pytest.importorskip("hyperliquid")

from eth_account import Account
from hyperliquid.utils.signing import (
    order_request_to_order_wire,
    order_wires_to_order_action,
    recover_agent_or_user_from_l1_action,
)
from hyperliquid.utils.types import Cloid

from bot_runtime.exchanges import registry
from bot_runtime.exchanges._shared.packed_ids import PackedIdCodec
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
from bot_runtime.exchanges.hyperliquid.client import HyperliquidExchange
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture

AGENT_KEY = "0x" + "4c" * 32  # the API wallet (agent): signs
ACCOUNT = "0x8d1a2B3c4D5e6F708192a3B4c5D6e7F8091A2b3C"  # the account it trades for
AGENT = str(Account.from_key(AGENT_KEY).address)
ENV = {"HYPERLIQUID_API_PRIVATE_KEY": AGENT_KEY, "HYPERLIQUID_ACCOUNT_ADDRESS": ACCOUNT}
START_MS = 1_765_094_300_000


def fx(name: str) -> Any:
    return load_fixture("hyperliquid", name)


class HyperliquidVenue:
    """Hyperliquid as the client sees it (see the module docstring). BTC's book is 97380 / 97381, ETH's 3701.0 /
    3701.2; an ALO order at or through the other side is refused, an IOC fills at once at the touch."""

    BOOK: ClassVar[dict[str, tuple[Decimal, Decimal]]] = {
        "BTC": (Decimal("97380"), Decimal("97381")),
        "ETH": (Decimal("3701.0"), Decimal("3701.2")),
    }

    def __init__(self, server: ReplayServer, *, signer: str = AGENT, account: str = ACCOUNT) -> None:
        self.server = server
        self.signer = signer
        self.account = account
        self.orders: dict[int, dict[str, Any]] = {}  # oid → {"order": frontend order, "status": ..., ...}
        self.fills: list[dict[str, Any]] = []
        self.nonces: set[int] = set()
        self.positions: dict[str, Decimal] = {}  # coin → signed size, from fills
        self.live_positions = False  # True: clearinghouseState from the fills here, not the fixture's positions
        self.funding: dict[str, str] = {}  # coin → the hourly rate metaAndAssetCtxs reports (else the fixture's)
        self.now_ms: Callable[[], int] = lambda: int(time.time() * 1000)  # the venue's clock (books, fills)
        self.refuse_next: str | None = None  # the name of an order error fixture for the next order
        self.role = fx("user_role_agent")
        self.role["data"]["user"] = account.lower()
        self._oids = itertools.count(48212330100)
        self._tids = itertools.count(928374650200000)
        self.actions: list[dict[str, Any]] = []
        server.route("POST", "/info", self.info)
        server.route("POST", "/exchange", self.exchange)
        self.ws = server.websocket("/ws", on_message=self.on_ws)

    # /info ----------------------------------------------------------------------------------------------------------
    def info(self, request: RecordedRequest) -> Any:
        body = request.json()
        kind = body["type"]
        if kind == "metaAndAssetCtxs":
            meta, ctxs = fx("meta_and_asset_ctxs")
            for asset, ctx in zip(meta["universe"], ctxs, strict=True):
                ctx["funding"] = self.funding.get(asset["name"], ctx["funding"])
            return [meta, ctxs]
        if kind == "l2Book":
            book = fx("l2_book")
            bid, ask = self.BOOK.get(body["coin"], self.BOOK["BTC"])
            book["coin"], book["time"] = body["coin"], self.now_ms()
            book["levels"][0][0]["px"], book["levels"][1][0]["px"] = str(bid), str(ask)
            return book
        if kind == "userRole":
            return self.role if body["user"].lower() == self.signer.lower() else fx("user_role_missing")
        assert body["user"] == self.account, "reads are keyed by the account, not the API wallet"
        if kind == "frontendOpenOrders":
            return [o["order"] for o in self.orders.values() if o["status"] == "open"]
        if kind == "orderStatus":
            found = self._find(body["oid"])
            if found is None:
                return fx("order_status_unknown")
            return {"status": "order", "order": self._ws_order(found)}
        if kind == "userFillsByTime":
            return [f for f in self.fills if f["time"] >= body["startTime"]]
        if kind == "clearinghouseState":
            state = fx("clearinghouse_state")
            if self.live_positions:
                template = state["assetPositions"][0]
                state["assetPositions"] = [
                    {**template, "position": {**template["position"], "coin": coin, "szi": str(size)}}
                    for coin, size in self.positions.items()
                    if size != 0
                ]
            return state
        raise AssertionError(f"unexpected /info {kind}")

    def _find(self, oid: int | str) -> dict[str, Any] | None:
        if isinstance(oid, int):
            return self.orders.get(oid)
        return next((o for o in self.orders.values() if o["order"]["cloid"] == oid), None)

    @staticmethod
    def _ws_order(entry: dict[str, Any]) -> dict[str, Any]:
        return {"order": entry["order"], "status": entry["status"], "statusTimestamp": entry["status_time"]}

    # /exchange ------------------------------------------------------------------------------------------------------
    def exchange(self, request: RecordedRequest) -> Any:
        body = request.json()
        assert set(body) == {"action", "nonce", "signature", "vaultAddress", "expiresAfter"}
        action, nonce = body["action"], body["nonce"]
        signer = recover_agent_or_user_from_l1_action(
            action, body["signature"], body["vaultAddress"], nonce, None, True
        )
        if signer.lower() != self.signer.lower() or nonce in self.nonces:
            answer = fx("exchange_err_unknown_agent")
            answer["response"] = f"User or API Wallet {signer.lower()} does not exist."
            return answer
        self.nonces.add(nonce)
        self.actions.append(action)
        if action["type"] == "order":
            return self._order(action["orders"][0])
        if action["type"] in {"cancel", "cancelByCloid"}:
            return self._cancel(action)
        raise AssertionError(f"unexpected action {action['type']}")

    def _order(self, wire: dict[str, Any]) -> Any:
        if self.refuse_next is not None:
            name, self.refuse_next = self.refuse_next, None
            return fx(name)
        coin = fx("meta_and_asset_ctxs")[0]["universe"][wire["a"]]["name"]
        bid, ask = self.BOOK.get(coin, self.BOOK["BTC"])
        price, size, buy = Decimal(wire["p"]), Decimal(wire["s"]), wire["b"]
        tif = wire["t"]["limit"]["tif"]
        crosses = price >= ask if buy else price <= bid
        if tif == "Alo" and crosses:
            return fx("exchange_order_error_alo")
        if tif == "Ioc" and not crosses:
            return fx("exchange_order_error_ioc")
        oid = next(self._oids)
        order = {**fx("order_status_order")["order"]["order"], "coin": coin, "side": "B" if buy else "A",
                 "limitPx": wire["p"], "sz": wire["s"], "origSz": wire["s"], "oid": oid, "timestamp": START_MS,
                 "reduceOnly": wire["r"], "tif": tif, "cloid": wire.get("c")}  # fmt: skip
        self.orders[oid] = {"order": order, "status": "open", "status_time": START_MS}
        if crosses:  # an IOC: filled at once at the touch (the stream tells of it too)
            self.fill(oid, size, px=ask if buy else bid, crossed=True)
            answer = fx("exchange_order_filled")
            answer["response"]["data"]["statuses"][0]["filled"].update(
                {"oid": oid, "totalSz": str(size), "avgPx": str(ask if buy else bid)}
            )
            return answer
        answer = fx("exchange_order_resting")
        answer["response"]["data"]["statuses"][0]["resting"]["oid"] = oid
        return answer

    def _cancel(self, action: dict[str, Any]) -> Any:
        statuses: list[Any] = []
        for cancel in action["cancels"]:
            entry = self._find(cancel["o"] if action["type"] == "cancel" else cancel["cloid"])
            if entry is None or entry["status"] != "open":
                statuses.append(fx("exchange_cancel_error")["response"]["data"]["statuses"][0])
                continue
            entry["status"] = "canceled"
            statuses.append("success")
        answer = fx("exchange_cancel_success")
        answer["response"]["data"]["statuses"] = statuses
        return answer

    # fills and the stream -------------------------------------------------------------------------------------------
    def fill(
        self,
        oid: int,
        size: Decimal,
        *,
        push: bool = True,
        px: Decimal | None = None,
        crossed: bool = False,
        time_ms: int | None = None,
    ) -> dict[str, Any]:
        """Fill ``size`` of a resting order (recorded for ``userFillsByTime``; pushed over the stream if ``push``)."""
        entry = self.orders[oid]
        order = entry["order"]
        remaining = Decimal(order["sz"]) - size
        order["sz"] = str(remaining)
        if remaining <= 0:
            entry["status"] = "filled"
        signed = size if order["side"] == "B" else -size
        self.positions[order["coin"]] = self.positions.get(order["coin"], Decimal(0)) + signed
        fill = {**fx("ws_user_fills")["data"]["fills"][0], "coin": order["coin"], "px": str(px or order["limitPx"]),
                "sz": str(size), "side": order["side"], "oid": oid, "tid": next(self._tids), "crossed": crossed,
                "time": time_ms if time_ms is not None else self.now_ms()}  # fmt: skip
        self.fills.append(fill)
        if push:
            asyncio.get_running_loop().create_task(self.push_fill(fill, entry))
        return fill

    async def push_fill(self, fill: dict[str, Any], entry: dict[str, Any]) -> None:
        await self.ws.broadcast({"channel": "user", "data": {"fills": [fill]}})
        if entry["status"] != "open":
            await self.ws.broadcast({"channel": "orderUpdates", "data": [self._ws_order(entry)]})

    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("method") == "ping":
            return [fx("ws_pong")]
        if message.get("method") == "subscribe":
            answer = fx("ws_subscription_response")
            answer["data"]["subscription"] = message["subscription"]
            return [answer]
        return []

    def subscriptions(self, conn: WsConnection) -> list[str]:
        return [m["subscription"]["type"] for m in conn.received if m.get("method") == "subscribe"]


def options(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": server.url,
        "wsUrl": server.ws_url + "/ws",
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
        **extra,
    }


@pytest.fixture
async def venue() -> AsyncIterator[HyperliquidVenue]:
    async with ReplayServer() as server:
        yield HyperliquidVenue(server)


@pytest.fixture
async def hl(venue: HyperliquidVenue) -> AsyncIterator[Exchange]:
    client = registry.create_exchange("hyperliquid", options(venue.server), ENV)
    await client.connect()
    await venue.ws.wait_for_connections(1)
    yield client
    await client.close()


def post_only(
    price: str, *, side: Side = Side.BUY, size: str = "0.0104", client_id: str = "pd1a2b3c-o-mi3k2x9a00f"
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
async def test_markets_perpetuals_ticks_steps_and_multipliers(hl: Exchange) -> None:
    markets = await hl.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE", "SOL"}  # MATIC is delisted
    btc, eth, pepe = markets["BTC"], markets["ETH"], markets["PEPE"]
    # 5 significant figures at the mark (97381 → 1) beat BTC's 6 - 5 = 1 decimal; the minimum size is the $10
    # minimum order value at the mark (10 / 97381 = 0.0001027 → 0.00011 on the 0.00001 step)
    assert (btc.contract_id, btc.tick_size, btc.size_step, btc.min_size, btc.min_notional, btc.quote) == (
        "0",
        Decimal(1),
        Decimal("0.00001"),
        Decimal("0.00011"),
        Decimal(10),
        "USDC",
    )
    assert (eth.contract_id, eth.tick_size, eth.size_step, eth.max_leverage) == (
        "1",
        Decimal("0.1"),
        Decimal("0.0001"),
        Decimal(25),
    )
    assert (pepe.venue_symbol, pepe.contract_id, pepe.multiplier, pepe.size_step, pepe.tick_size, pepe.min_size) == (
        "kPEPE",
        "3",
        Decimal(1000),
        Decimal(1),
        Decimal("0.000001"),
        Decimal(497),  # 10 / 0.020121 = 496.99 kPEPE
    )


# --- placing ----------------------------------------------------------------------------------------------------------
async def test_post_only_order_is_the_sdks_action_signed_by_the_api_wallet(
    hl: Exchange, venue: HyperliquidVenue
) -> None:
    order = await hl.place_order(post_only("97012.37"))
    sent = venue.server.requests_to("POST", "/exchange")[-1].json()
    client_id = "pd1a2b3c-o-mi3k2x9a00f"
    cloid = PackedIdCodec().encode(client_id)
    # exactly what the SDK's Exchange.order builds for these values (key order too: it is msgpack-hashed)
    expected = order_wires_to_order_action(
        [
            order_request_to_order_wire(
                {"coin": "BTC", "is_buy": True, "sz": 0.0104, "limit_px": 97012.0,
                 "order_type": {"limit": {"tif": "Alo"}}, "reduce_only": False, "cloid": Cloid(cloid)},
                0,
            )
        ]
    )  # fmt: skip
    assert sent["action"] == expected and list(sent["action"]["orders"][0]) == list(expected["orders"][0])
    assert sent["action"]["orders"][0]["p"] == "97012"  # 5 significant figures, rounded down for a buy
    assert sent["vaultAddress"] is None and sent["expiresAfter"] is None
    assert abs(sent["nonce"] - time.time() * 1000) < 60_000  # milliseconds, now
    recovered = recover_agent_or_user_from_l1_action(sent["action"], sent["signature"], None, sent["nonce"], None, True)
    assert recovered.lower() == AGENT.lower()
    # testnet ("b") does not verify for the same signature: the network is part of what is signed
    assert (
        recover_agent_or_user_from_l1_action(
            sent["action"], sent["signature"], None, sent["nonce"], None, False
        ).lower()
        != AGENT.lower()
    )
    assert (order.order_id, order.status, order.time_in_force, order.client_order_id, order.price) == (
        "48212330100",
        OrderStatus.OPEN,
        TimeInForce.POST_ONLY,
        client_id,
        Decimal(97012),
    )
    assert venue.orders[48212330100]["order"]["cloid"] == cloid


async def test_post_only_that_would_cross_raises(hl: Exchange, venue: HyperliquidVenue) -> None:
    with pytest.raises(PostOnlyWouldCross) as caught:
        await hl.place_order(post_only("97381"))
    assert "immediately matched" in str(caught.value)
    with pytest.raises(PostOnlyWouldCross):
        await hl.place_order(post_only("97380", side=Side.SELL))
    assert venue.orders == {}


async def test_margin_and_reduce_only_refusals(hl: Exchange, venue: HyperliquidVenue) -> None:
    venue.refuse_next = "exchange_order_error_margin"
    with pytest.raises(InsufficientMargin):
        await hl.place_order(post_only("97000"))
    venue.refuse_next = "exchange_order_error_reduce_only"
    with pytest.raises(OrderRejected) as caught:
        await hl.place_order(post_only("97000").model_copy(update={"reduce_only": True}))
    assert caught.value.reason.value == "reduce_only_violation"
    assert venue.actions[-1]["orders"][0]["r"] is True


async def test_ioc_market_and_minimum_size(hl: Exchange, venue: HyperliquidVenue) -> None:
    ioc = OrderRequest(symbol="ETH", side=Side.BUY, size=Decimal("0.02"), price=Decimal("3650"),
                       time_in_force=TimeInForce.IOC, client_order_id="pd1a2b3c-x-mi3k2x9a010")  # fmt: skip
    expired = await hl.place_order(ioc)  # nothing to take at 3650: expired, unfilled
    assert (expired.status, expired.filled_size, expired.time_in_force) == (OrderStatus.EXPIRED, 0, TimeInForce.IOC)
    market = OrderRequest(symbol="ETH", side=Side.BUY, size=Decimal("0.02"), order_type=OrderType.MARKET,
                          client_order_id="pd1a2b3c-x-mi3k2x9a011")  # fmt: skip
    filled = await hl.place_order(market)
    wire = venue.actions[-1]["orders"][0]
    # the SDK's market_open: an IOC 5% through the best ask (3701.2 x 1.05 = 3886.26 → 5 significant figures, up)
    assert (wire["t"], wire["p"], wire["s"], wire["b"]) == ({"limit": {"tif": "Ioc"}}, "3886.3", "0.02", True)
    assert (filled.status, filled.filled_size, filled.avg_fill_price) == (
        OrderStatus.FILLED,
        Decimal("0.02"),
        Decimal("3701.2"),
    )
    sent = len(venue.actions)
    with pytest.raises(OrderRejected, match="below the minimum"):
        await hl.place_order(post_only("97000", size="0.000004"))
    assert len(venue.actions) == sent  # refused before sending


# --- cancelling and finding -------------------------------------------------------------------------------------------
async def test_cancel_cancel_all_open_orders_and_lookups(hl: Exchange, venue: HyperliquidVenue) -> None:
    first = await hl.place_order(post_only("97000", client_id="pd1a2b3c-o-mi3k2x9a001"))
    second = await hl.place_order(post_only("97100", client_id="pd1a2b3c-o-mi3k2x9a002"))
    await hl.place_order(post_only("97200", client_id="pd1a2b3c-o-mi3k2x9a003"))
    listed = await hl.open_orders("BTC")
    assert [o.client_order_id for o in listed] == [
        "pd1a2b3c-o-mi3k2x9a001",
        "pd1a2b3c-o-mi3k2x9a002",
        "pd1a2b3c-o-mi3k2x9a003",
    ]
    assert all(o.time_in_force is TimeInForce.POST_ONLY and o.status is OrderStatus.OPEN for o in listed)
    await hl.cancel_order("BTC", first.order_id)
    assert venue.actions[-1] == {"type": "cancel", "cancels": [{"a": 0, "o": int(first.order_id)}]}
    with pytest.raises(OrderNotFound):
        await hl.cancel_order("BTC", first.order_id)
    found = await hl.get_order("BTC", first.order_id)
    assert found is not None and found.status is OrderStatus.CANCELED
    assert await hl.get_order("BTC", "1") is None
    # another process (a restarted bot) finds an order by the client id alone, and cancels it by cloid
    assert isinstance(hl, HyperliquidExchange)
    other = registry.create_exchange("hyperliquid", options(venue.server), ENV)
    assert isinstance(other, HyperliquidExchange)
    try:
        again = await other.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a002")
        assert again is not None and (again.order_id, again.client_order_id) == (
            second.order_id,
            "pd1a2b3c-o-mi3k2x9a002",
        )
        assert await other.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a0zz") is None
        await other.cancel_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a002")
        assert venue.actions[-1]["type"] == "cancelByCloid"
        assert venue.actions[-1]["cancels"] == [{"asset": 0, "cloid": PackedIdCodec().encode("pd1a2b3c-o-mi3k2x9a002")}]
        listed = await other.open_orders()
        assert [o.client_order_id for o in listed] == ["pd1a2b3c-o-mi3k2x9a003"]  # the spot order is not listed
    finally:
        await other.close()
    assert await hl.cancel_all("BTC") == 1
    assert await hl.open_orders() == []
    assert await hl.cancel_all() == 0


# --- account ----------------------------------------------------------------------------------------------------------
async def test_positions_and_balance(hl: Exchange) -> None:
    positions = {p.symbol: p for p in await hl.positions()}
    assert set(positions) == {"BTC", "ETH"}  # the flat SOL row is left out
    btc, eth = positions["BTC"], positions["ETH"]
    assert (btc.size, btc.avg_entry_price, btc.unrealized_pnl, btc.liquidation_price, btc.leverage) == (
        Decimal("0.0123"),
        Decimal("96910.2"),
        Decimal("5.7914"),
        Decimal("63120.4"),
        Decimal(20),
    )
    assert btc.mark_price == Decimal("1197.7863") / Decimal("0.0123")
    assert (eth.size, eth.liquidation_price, eth.margin) == (Decimal("-0.5"), None, Decimal("185.055"))
    assert (await hl.position("SOL")).size == 0
    assert (await hl.position("ETH")).size == Decimal("-0.5")
    balance = await hl.balance()
    assert (balance.asset, balance.equity, balance.available, balance.margin_used, balance.unrealized_pnl) == (
        "USDC",
        Decimal("5209.503915"),
        Decimal("4779.504915"),
        Decimal("244.944315"),
        Decimal("11.4414"),
    )


# --- errors -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(429, body="null", headers={"Retry-After": "2"}), RateLimited),
        (Reply(502, body="bad gateway"), TransientNetworkError),
        (Reply(200, body="<html>not json</html>"), Exception),
    ],
)
async def test_http_errors_are_mapped(
    hl: Exchange, venue: HyperliquidVenue, reply: Reply, error: type[Exception]
) -> None:
    venue.server.route("POST", "/exchange", reply)
    with pytest.raises(error) as caught:
        await hl.place_order(post_only("97000"))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 2
    assert AGENT_KEY[2:] not in str(caught.value)


async def test_an_action_signed_by_an_unknown_wallet_is_an_authentication_error(venue: HyperliquidVenue) -> None:
    client = registry.create_exchange("hyperliquid", options(venue.server), ENV)
    await client.connect()
    try:
        venue.signer = "0x" + "77" * 20  # the venue no longer knows our API wallet
        with pytest.raises(AuthenticationError, match="does not exist") as caught:
            await client.place_order(post_only("97000"))
        assert AGENT_KEY[2:] not in str(caught.value)
    finally:
        await client.close()


@pytest.mark.parametrize("role", [{"role": "missing"}, {"role": "agent", "data": {"user": "0x" + "12" * 20}}])
async def test_connect_refuses_an_api_wallet_not_approved_for_the_account(venue: HyperliquidVenue, role: Any) -> None:
    venue.role = role
    client = registry.create_exchange("hyperliquid", options(venue.server), ENV)
    with pytest.raises(AuthenticationError, match="HYPERLIQUID_ACCOUNT_ADDRESS") as caught:
        await client.connect()
    await client.close()
    assert AGENT_KEY[2:] not in str(caught.value)


async def test_submit_order_after_a_timeout_finds_the_order_instead_of_resending(
    hl: Exchange, venue: HyperliquidVenue
) -> None:
    handler = venue.exchange
    calls = 0

    def lost_answer(request: RecordedRequest) -> Any:  # the venue applies the action, the answer is lost
        nonlocal calls
        calls += 1
        handler(request)
        return Reply(503, body="upstream timed out")

    venue.server.route("POST", "/exchange", lost_answer)
    order = await hl.submit_order(post_only("97000", client_id="pd1a2b3c-o-mi3k2x9a0aa"))
    assert calls == 1 and len(venue.orders) == 1
    assert (order.client_order_id, order.status) == ("pd1a2b3c-o-mi3k2x9a0aa", OrderStatus.OPEN)


# --- the account stream -----------------------------------------------------------------------------------------------
async def test_subscriptions_and_fills_over_the_stream(hl: Exchange, venue: HyperliquidVenue) -> None:
    conn = await venue.ws.wait_for_connections(1)
    await conn.wait_for_message(lambda m: m.get("subscription", {}).get("type") == "userEvents")
    assert venue.subscriptions(conn) == ["orderUpdates", "userEvents"]
    assert all(m["subscription"]["user"] == ACCOUNT for m in conn.received if "subscription" in m)
    updates = hl.order_updates()
    order = await hl.place_order(post_only("97000", size="0.01"))
    venue.fill(int(order.order_id), Decimal("0.004"))
    partial = await asyncio.wait_for(anext(updates), 5)
    assert partial.fill is not None and partial.fill.size == Decimal("0.004")
    assert (partial.order.status, partial.order.filled_size) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"))
    assert (partial.fill.fee, partial.fill.liquidity.value, partial.fill.client_order_id) == (
        Decimal("-0.000302"),
        "maker",
        "pd1a2b3c-o-mi3k2x9a00f",
    )
    venue.fill(int(order.order_id), Decimal("0.006"))
    full = await asyncio.wait_for(anext(updates), 5)
    assert full.fill is not None and (full.order.status, full.order.filled_size) == (
        OrderStatus.FILLED,
        Decimal("0.01"),
    )
    with pytest.raises(TimeoutError):  # the orderUpdates "filled" that follows says nothing new
        await asyncio.wait_for(anext(updates), 0.3)


async def test_a_cancel_by_the_venue_arrives_over_the_stream(hl: Exchange, venue: HyperliquidVenue) -> None:
    updates = hl.order_updates()
    order = await hl.place_order(post_only("97000"))
    venue.orders[int(order.order_id)]["status"] = "marginCanceled"
    await venue.ws.broadcast({"channel": "orderUpdates", "data": [venue._ws_order(venue.orders[int(order.order_id)])]})
    update = await asyncio.wait_for(anext(updates), 5)
    assert (update.order.status, update.order.cancel_reason.value if update.order.cancel_reason else None) == (
        OrderStatus.CANCELED,
        "insufficient_balance",
    )
    assert update.order.time_in_force is TimeInForce.POST_ONLY  # kept from what was placed


async def test_dropped_stream_resubscribes_and_recovers_the_missed_fill_over_rest(
    hl: Exchange, venue: HyperliquidVenue
) -> None:
    updates = hl.order_updates()
    order = await hl.place_order(post_only("97000", size="0.01"))
    venue.fill(
        int(order.order_id), Decimal("0.001"), time_ms=int(time.time() * 1000) - 3_600_000
    )  # before the client started
    await venue.ws.drop_all()
    missed = venue.fill(int(order.order_id), Decimal("0.009"), push=False)  # during the gap: never pushed
    conn = await venue.ws.wait_for_connections(2, within=5)
    update = await asyncio.wait_for(anext(updates), 5)
    assert update.fill is not None and update.fill.trade_id == str(missed["tid"])
    assert update.order.status is OrderStatus.FILLED
    await conn.wait_for_message(lambda m: m.get("subscription", {}).get("type") == "userEvents")
    assert venue.subscriptions(conn) == ["orderUpdates", "userEvents"]
    # the same fill arriving over the stream later is not delivered twice; the old fill never is
    await venue.push_fill(missed, venue.orders[int(order.order_id)])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_price_stream(hl: Exchange, venue: HyperliquidVenue) -> None:
    stream = hl.price_stream("BTC")
    first = asyncio.ensure_future(anext(stream))
    conns = await venue.ws.wait_for_connections(2)
    await conns.wait_for_message(lambda m: m.get("subscription", {}).get("type") == "bbo")
    assert conns.received[0]["subscription"] == {"type": "bbo", "coin": "BTC"}
    await conns.send_json(fx("ws_bbo"))
    quote = await asyncio.wait_for(first, 5)
    assert (quote.bid, quote.ask, quote.bid_size) == (Decimal("97380.0"), Decimal("97381.0"), Decimal("1.20547"))
    await stream.aclose()
    top = await hl.best_bid_ask("ETH")
    assert (top.bid, top.ask) == (Decimal("3701.0"), Decimal("3701.2"))


# --- credentials ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({}, ["HYPERLIQUID_API_PRIVATE_KEY", "HYPERLIQUID_ACCOUNT_ADDRESS"]),
        ({**ENV, "HYPERLIQUID_API_PRIVATE_KEY": "your_private_key_here"}, ["HYPERLIQUID_API_PRIVATE_KEY"]),
        ({**ENV, "HYPERLIQUID_API_PRIVATE_KEY": "0x" + "zz" * 32}, ["HYPERLIQUID_API_PRIVATE_KEY"]),
        ({**ENV, "HYPERLIQUID_API_PRIVATE_KEY": "0x" + "ff" * 32}, ["HYPERLIQUID_API_PRIVATE_KEY"]),
        ({**ENV, "HYPERLIQUID_ACCOUNT_ADDRESS": "0x1234"}, ["HYPERLIQUID_ACCOUNT_ADDRESS"]),
    ],
)
def test_credentials_are_checked_by_name_never_echoed(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("hyperliquid", {}, env)
    assert caught.value.keys == keys
    for value in env.values():
        if len(value) > 12:
            assert value not in str(caught.value) and value[2:] not in str(caught.value)


def test_the_client_repr_holds_no_key(venue: HyperliquidVenue) -> None:
    client = registry.create_exchange("hyperliquid", options(venue.server), ENV)
    assert isinstance(client, HyperliquidExchange)
    assert AGENT_KEY[2:] not in repr(client._signer) and client.signer_address == AGENT
    assert client.user == ACCOUNT


# --- venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment ------------------
OID = fx("order_status_order")["order"]["order"]["oid"]


def stored_order(venue: HyperliquidVenue, status: str, **changes: Any) -> dict[str, Any]:
    """order_status_order.json's frontend order (``orderStatus`` → ``order.order``) with ``changes`` (None drops the
    key), served by ``orderStatus`` under ``status``."""
    order = {k: v for k, v in (fx("order_status_order")["order"]["order"] | changes).items() if v is not None}
    venue.orders[OID] = {"order": order, "status": status, "status_time": START_MS}
    return venue._ws_order(venue.orders[OID])


async def test_unknown_order_status_is_an_error_not_open(hl: Exchange, venue: HyperliquidVenue) -> None:
    stored_order(venue, "frozenByValidator")
    with pytest.raises(MalformedResponse, match="unknown order status 'frozenByValidator'"):
        await hl.get_order("BTC", str(OID))
    # the same in orderUpdates (ws_order_updates.json's shape): no update is published from it
    updates = hl.order_updates()
    await venue.ws.broadcast({"channel": "orderUpdates", "data": [stored_order(venue, "frozenByValidator")]})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


async def test_filled_without_remaining_size_is_the_whole_order(hl: Exchange, venue: HyperliquidVenue) -> None:
    # "filled" is filled completely: origSz, whether sz is left out or still says the original size
    for sz in (None, "0.0104"):
        stored_order(venue, "filled", sz=sz)
        order = await hl.get_order("BTC", str(OID))
        assert order is not None and (order.status, order.filled_size) == (OrderStatus.FILLED, Decimal("0.0104"))
    # an open (possibly partly filled) order without sz: unreadable, never 0
    stored_order(venue, "open", sz=None)
    with pytest.raises(MalformedResponse, match="without a filled size"):
        await hl.get_order("BTC", str(OID))


@pytest.mark.parametrize("field", ["origSz", "oid", "side", "coin"])
async def test_missing_order_field_is_an_exchange_error(hl: Exchange, venue: HyperliquidVenue, field: str) -> None:
    stored_order(venue, "open")
    venue.orders[OID]["order"].pop(field)
    with pytest.raises(MalformedResponse, match=field):
        await hl.get_order("BTC", str(OID))
    with pytest.raises(MalformedResponse, match=field):
        await hl.open_orders("BTC")


@pytest.mark.parametrize(
    ("bid", "ask"),
    [(Decimal(0), Decimal("97381")), (Decimal("97380"), Decimal(0)), (Decimal("97382"), Decimal("97381"))],
)
async def test_zero_or_crossed_quote_is_refused(
    hl: Exchange, venue: HyperliquidVenue, monkeypatch: pytest.MonkeyPatch, bid: Decimal, ask: Decimal
) -> None:
    # l2_book.json with its best levels replaced
    monkeypatch.setitem(venue.BOOK, "BTC", (bid, ask))
    with pytest.raises(MalformedResponse):
        await hl.best_bid_ask("BTC")
