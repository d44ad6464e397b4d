"""Lighter trading client driven through the real lighter-sdk (and its Go signer) against a local replay server that
answers in Lighter's wire format (fixtures under tests/fixtures/exchanges/lighter, see SOURCES.md there)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

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
from bot_runtime.exchanges.registry import create_exchange
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture
from tests.unit.exchanges.conftest import GridProcess, grid_config, wait_until

pytest.importorskip("lighter")

from lighter.signer_client import create_api_key

from bot_runtime.exchanges._shared.tagged_ids import LIGHTER, TaggedClientIds
from bot_runtime.exchanges.lighter import LighterExchange

ACCOUNT = 7
KEY_INDEX = 3
TX_CREATE, TX_CANCEL, TX_CANCEL_ALL = 14, 15, 16


class LighterVenue:
    """A small stateful Lighter: accepts signed txs, keeps orders and trades, answers REST and the WebSocket."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[int, dict[str, Any]] = {}  # order_index → Order JSON
        self.trades: list[dict[str, Any]] = []
        self.next_order_index = 281475010265089
        self.next_trade_id = 412345678
        self.best_bid, self.best_ask = Decimal("97349.9"), Decimal("97350.5")
        self.txs: list[dict[str, Any]] = []
        self.send_tx_override: list[Reply] = []
        self.ws_trade_snapshot = True  # False: a (re)subscription snapshot carries no trades, only REST has them
        server.route("GET", "/api/v1/orderBooks", load_fixture("lighter", "order_books"))
        server.route("GET", "/api/v1/account", load_fixture("lighter", "account"), query={"by": "index"})
        server.route("GET", "/api/v1/nextNonce", load_fixture("lighter", "next_nonce"))
        server.route("GET", "/api/v1/orderBookOrders", self.book_orders)
        server.route("POST", "/api/v1/sendTx", self.send_tx)
        server.route("GET", "/api/v1/accountActiveOrders", self.active_orders)
        server.route("GET", "/api/v1/accountInactiveOrders", self.inactive_orders)
        server.route("GET", "/api/v1/accountOrders", self.orders_by_client)
        server.route("GET", "/api/v1/trades", self.account_trades)
        self.ws = server.websocket("/stream", on_connect=[{"type": "connected"}], on_message=self.on_ws)

    # REST ---------------------------------------------------------------------------------------------------------
    def book_orders(self, request: RecordedRequest) -> Any:
        book = load_fixture("lighter", "order_book_orders")
        book["asks"][0]["price"] = str(self.best_ask)
        book["bids"][0]["price"] = str(self.best_bid)
        return book

    def _require_auth(self, request: RecordedRequest) -> Reply | None:
        token = request.header("authorization") or ""
        parts = token.split(":")
        if len(parts) != 4 or parts[1] != str(ACCOUNT) or parts[2] != str(KEY_INDEX):
            return Reply(401, {"code": 20001, "message": "invalid auth"})
        return None

    def active_orders(self, request: RecordedRequest) -> Any:
        if (denied := self._require_auth(request)) is not None:
            return denied
        market = request.query.get("market_id")
        live = [o for o in self.orders.values() if o["status"] == "open"]
        return {"code": 200, "orders": [o for o in live if market is None or str(o["market_index"]) == market]}

    def inactive_orders(self, request: RecordedRequest) -> Any:
        if (denied := self._require_auth(request)) is not None:
            return denied
        return {"code": 200, "orders": [o for o in self.orders.values() if o["status"] != "open"], "next_cursor": ""}

    def orders_by_client(self, request: RecordedRequest) -> Any:
        if (denied := self._require_auth(request)) is not None:
            return denied
        wanted = {int(x) for x in request.query["client_order_indexes"].split(",")}
        return {"code": 200, "orders": [o for o in self.orders.values() if o["client_order_index"] in wanted]}

    def account_trades(self, request: RecordedRequest) -> Any:
        if (denied := self._require_auth(request)) is not None:
            return denied
        assert request.query["account_index"] == str(ACCOUNT)
        return {"code": 200, "trades": list(reversed(self.trades)), "next_cursor": ""}

    def send_tx(self, request: RecordedRequest) -> Any:
        if self.send_tx_override:
            return self.send_tx_override.pop(0)
        form = request.form()
        tx_type, info = int(form["tx_type"]), json.loads(form["tx_info"])
        self.txs.append({"type": tx_type, "info": info})
        if tx_type == TX_CREATE:
            self._create(info)
        elif tx_type == TX_CANCEL:
            order = self.orders.get(int(info["Index"]))
            if order is not None and order["status"] == "open":
                order["status"] = "canceled"
        elif tx_type == TX_CANCEL_ALL:
            for order in self.orders.values():
                if order["status"] == "open":
                    order["status"] = "canceled"
        return load_fixture("lighter", "send_tx")

    def _create(self, info: dict[str, Any]) -> None:
        order = load_fixture("lighter", "order")
        index = self.next_order_index
        self.next_order_index += 1
        size_dec, price_dec = (5, 1) if info["MarketIndex"] == 1 else (4, 2)
        price = Decimal(info["Price"]).scaleb(-price_dec)
        is_ask = bool(info["IsAsk"])
        crosses = price <= self.best_bid if is_ask else price >= self.best_ask
        status = "canceled-post-only" if info["TimeInForce"] == 2 and crosses else "open"
        order.update(
            order_index=index,
            order_id=str(index),
            client_order_index=info["ClientOrderIndex"],
            client_order_id=str(info["ClientOrderIndex"]),
            market_index=info["MarketIndex"],
            initial_base_amount=str(Decimal(info["BaseAmount"]).scaleb(-size_dec)),
            remaining_base_amount=str(Decimal(info["BaseAmount"]).scaleb(-size_dec)),
            price=str(price),
            is_ask=is_ask,
            time_in_force={0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}[info["TimeInForce"]],
            type="market" if info["Type"] == 1 else "limit",
            reduce_only=bool(info["ReduceOnly"]),
            nonce=info["Nonce"],
            status=status,
        )
        self.orders[index] = order

    def fill(self, order_index: int, *, at_ms: int) -> dict[str, Any]:
        """The resting order trades completely against someone else (a taker)."""
        order = self.orders[order_index]
        order.update(status="filled", remaining_base_amount="0", filled_base_amount=order["initial_base_amount"])
        order["filled_quote_amount"] = str(Decimal(order["initial_base_amount"]) * Decimal(order["price"]))
        trade: dict[str, Any] = load_fixture("lighter", "trade")
        mine = "ask" if order["is_ask"] else "bid"
        other = "bid" if mine == "ask" else "ask"
        trade.update(
            trade_id=self.next_trade_id,
            trade_id_str=str(self.next_trade_id),
            market_id=order["market_index"],
            size=order["initial_base_amount"],
            price=order["price"],
            usd_amount=order["filled_quote_amount"],
            is_maker_ask=order["is_ask"],
            timestamp=at_ms,
            **{
                f"{mine}_id": order_index,
                f"{mine}_id_str": str(order_index),
                f"{mine}_account_id": ACCOUNT,
                f"{mine}_client_id": order["client_order_index"],
                f"{mine}_client_id_str": str(order["client_order_index"]),
                f"{other}_id": 1,
                f"{other}_id_str": "1",
                f"{other}_account_id": 2304,
                f"{other}_client_id": 0,
                f"{other}_client_id_str": "0",
            },
        )
        self.next_trade_id += 1
        self.trades.append(trade)
        return trade

    # WebSocket ------------------------------------------------------------------------------------------------------
    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("type") != "subscribe":
            return []
        channel = message["channel"]
        kind, _, target = channel.partition("/")
        if kind in ("account_all_orders", "account_all_trades") and not message.get("auth"):
            return [{"type": "error", "data": {"code": 30005, "message": "auth required"}}]
        if kind == "account_all_orders":
            by_market: dict[str, list[Any]] = {}
            for o in self.orders.values():
                by_market.setdefault(str(o["market_index"]), []).append(o)
            return [
                {
                    "type": "subscribed/account_all_orders",
                    "channel": f"account_all_orders:{target}",
                    "orders": by_market,
                }
            ]
        if kind == "account_all_trades":
            by_market = {}
            for t in self.trades if self.ws_trade_snapshot else []:
                by_market.setdefault(str(t["market_id"]), []).append(t)
            return [
                {
                    "type": "subscribed/account_all_trades",
                    "channel": f"account_all_trades:{target}",
                    "trades": by_market,
                    "total_volume": 0,
                    "monthly_volume": 0,
                    "weekly_volume": 0,
                    "daily_volume": 0,
                }
            ]
        if kind == "order_book":
            return [
                {
                    "type": "subscribed/order_book",
                    "channel": f"order_book:{target}",
                    "order_book": {
                        "code": 0,
                        "asks": [{"price": str(self.best_ask), "size": "0.4200"}],
                        "bids": [{"price": str(self.best_bid), "size": "0.3000"}],
                        "offset": 1,
                        "nonce": 100,
                        "begin_nonce": 99,
                    },
                    "timestamp": 1732530000000,
                }
            ]
        return []

    async def push_order(self, order: dict[str, Any]) -> None:
        await self.ws.broadcast(
            {
                "type": "update/account_all_orders",
                "channel": f"account_all_orders:{ACCOUNT}",
                "orders": {str(order["market_index"]): [order]},
            }
        )

    async def push_trade(self, trade: dict[str, Any]) -> None:
        await self.ws.broadcast(
            {
                "type": "update/account_all_trades",
                "channel": f"account_all_trades:{ACCOUNT}",
                "trades": {str(trade["market_id"]): [trade]},
                "total_volume": 0,
                "monthly_volume": 0,
                "weekly_volume": 0,
                "daily_volume": 0,
            }
        )


@pytest.fixture(scope="module")
def api_key() -> str:
    private, _public, err = create_api_key()  # type: ignore[no-untyped-call]
    assert err is None and private
    return str(private)


@pytest.fixture
async def venue() -> AsyncIterator[LighterVenue]:
    async with ReplayServer() as server:
        yield LighterVenue(server)


def make_env(server: ReplayServer, api_key: str) -> dict[str, str]:
    return {
        "API_KEY_PRIVATE_KEY": api_key,
        "LIGHTER_ACCOUNT_INDEX": str(ACCOUNT),
        "LIGHTER_API_KEY_INDEX": str(KEY_INDEX),
        "LIGHTER_BASE_URL": server.url,
        "LIGHTER_WS_URL": server.ws_url + "/stream",
    }


@pytest.fixture
async def client(venue: LighterVenue, api_key: str) -> AsyncIterator[LighterExchange]:
    exchange = create_exchange("lighter", {"chainId": 300, "confirmTimeout": 1.0}, make_env(venue.server, api_key))
    assert isinstance(exchange, LighterExchange)
    await exchange.connect()
    try:
        yield exchange
    finally:
        await exchange.close()


async def next_update(updates: AsyncIterator[OrderUpdate], *, with_fill: bool = False) -> OrderUpdate:
    async def wait() -> OrderUpdate:
        async for update in updates:
            if not with_fill or update.fill is not None:
                return update
        raise AssertionError("stream ended")

    return await asyncio.wait_for(wait(), 8)


def post_only_buy(cid: str, price: str = "97000.0", size: str = "0.01") -> OrderRequest:
    return OrderRequest(
        symbol="BTC",
        side=Side.BUY,
        size=Decimal(size),
        price=Decimal(price),
        time_in_force=TimeInForce.POST_ONLY,
        client_order_id=cid,
    )


async def test_markets_scaling_and_symbols(client: LighterExchange) -> None:
    markets = await client.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # spot and inactive markets skipped
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.contract_id, btc.tick_size, btc.size_step, btc.min_size) == (
        "1",
        Decimal("0.1"),
        Decimal("0.00001"),
        Decimal("0.00020"),
    )
    assert (pepe.venue_symbol, pepe.multiplier, pepe.tick_size, pepe.size_step) == (
        "1000PEPE",
        Decimal(1000),
        Decimal("0.000001"),
        Decimal(1),
    )


async def test_post_only_order_sends_a_well_formed_signed_tx(client: LighterExchange, venue: LighterVenue) -> None:
    order = await client.place_order(post_only_buy("grid-open-1"))
    assert order.status is OrderStatus.OPEN
    assert order.client_order_id == "grid-open-1"
    assert order.order_id == "281475010265089"
    sent = venue.server.requests_to("POST", "/api/v1/sendTx")[-1].form()
    assert sent["tx_type"] == str(TX_CREATE)
    info = json.loads(sent["tx_info"])
    assert info["AccountIndex"] == ACCOUNT and info["ApiKeyIndex"] == KEY_INDEX
    assert info["MarketIndex"] == 1
    assert info["ClientOrderIndex"] == TaggedClientIds(LIGHTER).encode("grid-open-1")
    assert isinstance(info["BaseAmount"], int) and info["BaseAmount"] == 1000  # 0.01 BTC at 5 size decimals
    assert isinstance(info["Price"], int) and info["Price"] == 970000  # 97000.0 at 1 price decimal
    assert (info["IsAsk"], info["Type"], info["TimeInForce"], info["ReduceOnly"]) == (0, 0, 2, 0)
    assert info["Nonce"] == 41  # from /api/v1/nextNonce
    assert info["OrderExpiry"] > info["ExpiredAt"] > 0
    assert len(base64.b64decode(info["Sig"])) == 80  # Schnorr signature from the Go signer
    # the next tx uses the next nonce without asking the venue again
    await client.place_order(post_only_buy("grid-open-2", price="96900.0"))
    second = json.loads(venue.server.requests_to("POST", "/api/v1/sendTx")[-1].form()["tx_info"])
    assert second["Nonce"] == 42
    assert second["Sig"] != info["Sig"]
    assert len(venue.server.requests_to("GET", "/api/v1/nextNonce")) == 1


async def test_post_only_that_would_cross_is_mapped(client: LighterExchange) -> None:
    with pytest.raises(PostOnlyWouldCross):
        await client.place_order(post_only_buy("grid-open-x", price="97400.0"))


async def test_reduce_only_ioc_and_market_orders(client: LighterExchange, venue: LighterVenue) -> None:
    await client.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.SELL,
            size=Decimal("0.01"),
            price=Decimal("97300"),
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            client_order_id="close-1",
        )
    )
    ioc = venue.txs[-1]["info"]
    assert (ioc["IsAsk"], ioc["Type"], ioc["TimeInForce"], ioc["ReduceOnly"], ioc["OrderExpiry"]) == (1, 0, 0, 1, 0)
    await client.place_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=Decimal("0.02"), order_type=OrderType.MARKET, client_order_id="mkt-1"
        )
    )
    market = venue.txs[-1]["info"]
    assert (market["Type"], market["TimeInForce"], market["OrderExpiry"]) == (1, 0, 0)
    # worst acceptable price: best ask 97350.5 + 1 % slippage, rounded up to the 0.1 tick
    assert market["Price"] == int(Decimal("98324.1") * 10)
    assert market["BaseAmount"] == 2000


async def test_cancel_and_cancel_all(client: LighterExchange, venue: LighterVenue) -> None:
    first = await client.place_order(post_only_buy("c-1"))
    await client.place_order(post_only_buy("c-2", price="96000.0"))
    await client.cancel_order("BTC", first.order_id)
    cancel = venue.txs[-1]
    assert cancel["type"] == TX_CANCEL
    assert (cancel["info"]["MarketIndex"], cancel["info"]["Index"]) == (1, int(first.order_id))
    assert cancel["info"]["Sig"]
    with pytest.raises(OrderNotFound):
        await client.cancel_order("BTC", first.order_id)  # already cancelled
    assert [o.client_order_id for o in await client.open_orders("BTC")] == ["c-2"]
    assert await client.cancel_all("BTC") == 1
    assert venue.txs[-1]["type"] == TX_CANCEL_ALL
    assert venue.txs[-1]["info"]["TimeInForce"] == 0
    assert await client.open_orders() == []
    assert await client.cancel_all() == 0


async def test_order_lookups(client: LighterExchange) -> None:
    placed = await client.place_order(post_only_buy("look-1"))
    found = await client.find_order_by_client_id("BTC", "look-1")
    assert found is not None and found.order_id == placed.order_id
    assert await client.find_order_by_client_id("BTC", "never-sent") is None
    await client.cancel_order("BTC", placed.order_id)
    gone = await client.get_order("BTC", placed.order_id)
    assert gone is not None and gone.status is OrderStatus.CANCELED


async def test_positions_balance_and_quote(client: LighterExchange) -> None:
    positions = await client.positions()
    assert [(p.symbol, p.size) for p in positions] == [("BTC", Decimal("-0.01000"))]
    btc = await client.position("BTC")
    assert btc.avg_entry_price == Decimal("97500.0") and btc.unrealized_pnl == Decimal("1.544")
    assert btc.funding_pnl == Decimal("-0.0312") and btc.liquidation_price == Decimal("135000.0")
    assert (await client.position("ETH")).size == 0
    balance = await client.balance()
    assert (balance.equity, balance.available, balance.margin_used) == (
        Decimal("9878.087210"),
        Decimal("8765.432100"),
        Decimal("48.672800"),
    )
    quote = await client.best_bid_ask("BTC")
    assert (quote.bid, quote.ask) == (Decimal("97349.9"), Decimal("97350.5"))


async def test_error_mapping_of_send_tx(client: LighterExchange, venue: LighterVenue) -> None:
    venue.send_tx_override = [Reply(429, load_fixture("lighter", "error_rate_limited"), headers={"Retry-After": "2"})]
    with pytest.raises(RateLimited) as limited:
        await client.place_order(post_only_buy("e-1"))
    assert limited.value.retry_after == 2
    venue.send_tx_override = [Reply(400, load_fixture("lighter", "error_margin"))]
    with pytest.raises(InsufficientMargin):
        await client.place_order(post_only_buy("e-2"))
    venue.send_tx_override = [Reply(503, body="upstream unavailable")]
    with pytest.raises(TransientNetworkError):
        await client.place_order(post_only_buy("e-3"))
    # after an unknown outcome the client re-reads the nonce before signing again
    before = len(venue.server.requests_to("GET", "/api/v1/nextNonce"))
    await client.place_order(post_only_buy("e-4"))
    assert len(venue.server.requests_to("GET", "/api/v1/nextNonce")) == before + 1


async def test_submit_order_recovers_an_order_that_landed_despite_a_timeout(
    client: LighterExchange, venue: LighterVenue
) -> None:
    async def slow_but_landed(request: RecordedRequest) -> Any:
        venue.send_tx(request)  # the venue executes it...
        return Reply(504, body="gateway timeout")  # ...but the answer is lost

    venue.server.route("POST", "/api/v1/sendTx", slow_but_landed)
    order = await client.submit_order(post_only_buy("landed-1"))
    assert order.client_order_id == "landed-1" and order.status is OrderStatus.OPEN
    assert len([t for t in venue.txs if t["type"] == TX_CREATE]) == 1  # never sent twice


async def test_fill_over_websocket_then_drop_and_gap_fill_recovered_over_rest(
    client: LighterExchange, venue: LighterVenue
) -> None:
    updates = client.order_updates()
    conn = await venue.ws.wait_for_connections(1)
    subscribed = {m["channel"]: m for m in conn.received}
    assert set(subscribed) == {f"account_all_orders/{ACCOUNT}", f"account_all_trades/{ACCOUNT}"}
    assert all(m["auth"].startswith(tuple("0123456789")) for m in subscribed.values())

    live = await client.place_order(post_only_buy("ws-1"))
    now_ms = int(time.time() * 1000)
    trade = venue.fill(int(live.order_id), at_ms=now_ms)
    await venue.push_trade(trade)
    update = await next_update(updates, with_fill=True)
    assert update.fill is not None
    assert (update.fill.order_id, update.fill.client_order_id, update.fill.side) == (live.order_id, "ws-1", Side.BUY)
    assert update.fill.liquidity.value == "maker" and update.fill.fee == Decimal("970.000000") * 20 / 1_000_000

    # the venue drops us; while we are away another order of ours fills (only REST knows about it)
    venue.ws_trade_snapshot = False
    gap = await client.place_order(post_only_buy("ws-2", price="96000.0"))
    await conn.drop()
    venue.ws.refuse = True
    await asyncio.sleep(0.3)
    gap_trade = venue.fill(int(gap.order_id), at_ms=now_ms + 1000)
    venue.ws.refuse = False
    second = await venue.ws.wait_for_connections(2, within=10)
    await second.wait_for_message(lambda m: m.get("channel") == f"account_all_trades/{ACCOUNT}")
    recovered = await next_update(updates, with_fill=True)
    assert recovered.fill is not None and recovered.fill.trade_id == str(gap_trade["trade_id"])
    assert recovered.fill.client_order_id == "ws-2"
    assert venue.server.requests_to("GET", "/api/v1/trades"), "reconciliation must read REST trades"
    # the same fill is not delivered twice although both REST and the new snapshot carry it
    await venue.push_trade(gap_trade)
    await venue.push_trade(trade)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(next_update(updates, with_fill=True), 0.5)


async def test_price_stream_from_order_book_channel(client: LighterExchange, venue: LighterVenue) -> None:
    stream = client.price_stream("BTC")
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask) == (Decimal("97349.9"), Decimal("97350.5"))
    book_conn = next(c for c in venue.ws.connections if any(m.get("channel") == "order_book/1" for m in c.received))
    await book_conn.send_json(
        {
            "type": "update/order_book",
            "channel": "order_book:1",
            "order_book": {
                "code": 0,
                "asks": [{"price": "97350.5", "size": "0"}, {"price": "97351.0", "size": "1.2"}],
                "bids": [],
                "offset": 2,
                "nonce": 101,
                "begin_nonce": 100,
            },
        }
    )
    quote = await asyncio.wait_for(anext(stream), 5)
    assert quote.ask == Decimal("97351.0")
    assert isinstance(stream, AsyncGenerator)  # the client's stream is an async generator: it can be closed
    await stream.aclose()


async def test_order_book_gap_resubscribes_and_quotes_resume_from_the_new_snapshot(
    client: LighterExchange, venue: LighterVenue
) -> None:
    """An update whose ``begin_nonce`` is not the previous ``nonce`` means updates were lost: the book is dropped,
    the channel resubscribed, and the next quote comes from the fresh snapshot, not from the broken book."""
    stream = client.price_stream("BTC")
    await asyncio.wait_for(anext(stream), 5)
    book_conn = next(c for c in venue.ws.connections if any(m.get("channel") == "order_book/1" for m in c.received))
    venue.best_bid, venue.best_ask = Decimal("97300.0"), Decimal("97300.4")  # what the new snapshot will say
    await book_conn.send_json(
        {
            "type": "update/order_book",
            "channel": "order_book:1",
            "order_book": {
                "code": 0,
                "asks": [{"price": "97340.0", "size": "9"}],
                "bids": [],
                "offset": 5,
                "nonce": 140,
                "begin_nonce": 130,  # the snapshot ended at nonce 100: 100..130 never arrived
            },
        }
    )
    quote = await asyncio.wait_for(anext(stream), 5)
    assert (quote.bid, quote.ask) == (Decimal("97300.0"), Decimal("97300.4"))
    sent = [m for m in book_conn.received if m.get("channel") == "order_book/1"]
    assert [m["type"] for m in sent] == ["subscribe", "unsubscribe", "subscribe"]
    assert isinstance(stream, AsyncGenerator)  # the client's stream is an async generator: it can be closed
    await stream.aclose()


def test_order_timestamps_in_microseconds_are_read_as_such() -> None:
    """An order without ``updated_at`` falls back to ``transaction_time`` (µs): no 'year out of range'."""
    from datetime import UTC, datetime

    from bot_runtime.exchanges.lighter.mapping import parse_order, timestamp

    raw = load_fixture("lighter", "order")
    raw["updated_at"] = 0
    order = parse_order(raw, "BTC", TaggedClientIds(LIGHTER))
    assert order.updated_at == datetime(2024, 11, 25, 10, 20, 1, 234567, tzinfo=UTC)
    assert timestamp(1732530001) == timestamp(1732530001000) == timestamp(1732530001000000)
    assert timestamp(1732530001234567) == timestamp(1732530001234567000)


async def test_bad_auth_is_an_authentication_error(venue: LighterVenue, api_key: str) -> None:
    env = make_env(venue.server, api_key)
    env["LIGHTER_API_KEY_INDEX"] = "4"  # the venue only knows key 3 for this account
    exchange = create_exchange("lighter", {"chainId": 300, "stream": False}, env)
    await exchange.connect()
    try:
        with pytest.raises(AuthenticationError):
            await exchange.open_orders()
    finally:
        await exchange.close()


def follow_fills(venue: LighterVenue) -> None:
    """The account's BTC position is what the venue's fills made (account.json with the position replaced): a grid
    keeps its position and its take-profits consistent, and a buy grid cannot cover the recorded short."""

    def account(_request: RecordedRequest) -> Any:
        body = load_fixture("lighter", "account")
        held = sum(
            (Decimal(o.get("filled_base_amount") or "0") * (-1 if o["is_ask"] else 1) for o in venue.orders.values()),
            Decimal(0),
        )
        for position in body["accounts"][0]["positions"]:
            if position["symbol"] == "BTC":
                position.update(position=str(abs(held)), sign=-1 if held < 0 else 1)
        return body

    venue.server.route("GET", "/api/v1/account", account, query={"by": "index"})


async def test_grid_session_open_fill_close_then_stop_cancels(client: LighterExchange, venue: LighterVenue) -> None:
    """The grid strategy on this client against the replay venue: post-only open at ask - tick, a fill over the
    stream, the take-profit close placed reduce-only, and the stop (what SIGTERM triggers) cancels it."""
    from bot_runtime.config import OnStop
    from bot_runtime.risk import RiskManager
    from bot_runtime.strategies import build_strategy

    follow_fills(venue)
    config = grid_config("lighter")
    strategy = build_strategy(config, client, RiskManager(config.risk))
    stopping = asyncio.Event()
    task = asyncio.create_task(strategy.run(stopping))
    try:
        opened = await wait_until(
            lambda: next((o for o in venue.orders.values() if not o["is_ask"] and o["status"] == "open"), None)
        )
        assert opened["time_in_force"] == "post-only" and Decimal(opened["price"]) == venue.best_ask - Decimal("0.1")
        trade = venue.fill(opened["order_index"], at_ms=int(time.time() * 1000))
        await venue.push_order(opened)
        await venue.push_trade(trade)
        close = await wait_until(
            lambda: next((o for o in venue.orders.values() if o["is_ask"] and o["status"] == "open"), None)
        )
        assert close["reduce_only"] and close["initial_base_amount"] == opened["initial_base_amount"]
        expected = (Decimal(opened["price"]) * Decimal("1.0002") / Decimal("0.1")).to_integral_value(
            rounding="ROUND_CEILING"
        ) * Decimal("0.1")
        assert Decimal(close["price"]) == expected
    finally:
        stopping.set()
        await asyncio.wait_for(task, 30)
        await strategy.shutdown(OnStop.CANCEL_ORDERS)
    assert [o for o in venue.orders.values() if o["status"] == "open"] == []
    assert any(tx["type"] in (TX_CANCEL, TX_CANCEL_ALL) for tx in venue.txs)


async def test_grid_restart_recognises_its_close_orders(venue: LighterVenue, api_key: str) -> None:
    """A restarted bot (a new client with no memory of the ids it sent) finds its resting take-profit among the open
    orders by the role packed into ``client_order_index``: it neither places it again nor opens at once (the
    cooldown after a restart), and its stop cancels it as the bot's own order."""

    def new_client() -> LighterExchange:
        exchange = create_exchange("lighter", {"chainId": 300, "confirmTimeout": 1.0}, make_env(venue.server, api_key))
        assert isinstance(exchange, LighterExchange)
        return exchange

    follow_fills(venue)
    first = GridProcess(new_client(), "lighter")
    await first.start()
    try:
        opened = await wait_until(
            lambda: next((o for o in venue.orders.values() if not o["is_ask"] and o["status"] == "open"), None)
        )
        trade = venue.fill(opened["order_index"], at_ms=int(time.time() * 1000))
        await venue.push_order(opened)
        await venue.push_trade(trade)
        close = await wait_until(
            lambda: next((o for o in venue.orders.values() if o["is_ask"] and o["status"] == "open"), None)
        )
    finally:
        await first.crash()
    sent_before_restart = len(venue.txs)

    second = GridProcess(new_client(), "lighter")
    await second.start()
    try:
        resting = await wait_until(lambda: second.strategy.close_orders)
        await asyncio.sleep(1.5)  # a few grid iterations
        assert [o.order_id for o in second.strategy.close_orders] == [str(close["order_index"])]
        client_id = resting[0].client_order_id
        assert client_id is not None and client_id.startswith(second.strategy.client_ids.tag + "-c-#")
        assert second.strategy.client_ids.role_of(client_id) == "c"
        assert venue.txs[sent_before_restart:] == []  # no second close, no open during the restart cooldown
    finally:
        await second.stop()
    assert close["status"] == "canceled"  # cancelled on stop: recognised as the bot's own


# venue payloads read strictly (issue 18): each derived from a real fixture, named in the comment -------------------


def lighter_order(**changes: Any) -> dict[str, Any]:
    """order.json (SDK ``Order``) with ``changes``; a value of None drops the key."""
    order = load_fixture("lighter", "order") | changes
    return {k: v for k, v in order.items() if v is not None or k not in changes}


async def test_unknown_order_status_is_an_error_not_open(client: LighterExchange, venue: LighterVenue) -> None:
    # REST: the SDK's own enum check refuses it; our error, not a ValidationError
    order = lighter_order(status="frozen")
    venue.orders[order["order_index"]] = order
    with pytest.raises(MalformedResponse):
        await client.get_order("BTC", order["order_id"])
    # the account_all_orders channel hands us the raw entry: no update is published from it
    updates = client.order_updates()
    await venue.ws.wait_for_connections(1)
    await venue.push_order(order)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)
    await venue.push_order(lighter_order())  # the next readable entry still comes through
    assert (await asyncio.wait_for(anext(updates), 5)).order.status is OrderStatus.OPEN


async def test_filled_without_filled_amount_is_the_whole_order(client: LighterExchange, venue: LighterVenue) -> None:
    # "filled" leaves nothing remaining (an open order carries its partial fills): the whole initial_base_amount
    updates = client.order_updates()
    await venue.ws.wait_for_connections(1)
    await venue.push_order(lighter_order(status="filled", filled_base_amount=None, remaining_base_amount=None))
    update = await asyncio.wait_for(anext(updates), 5)
    assert (update.order.status, update.order.filled_size) == (OrderStatus.FILLED, Decimal("0.01000"))
    # an open entry without either amount may be partly filled: unreadable, no update
    await venue.push_order(lighter_order(filled_base_amount=None, remaining_base_amount=None))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


@pytest.mark.parametrize(
    "fields",
    [["initial_base_amount"], ["status"], ["filled_base_amount", "remaining_base_amount"], ["order_index", "order_id"]],
)
async def test_missing_order_field_is_an_exchange_error(
    client: LighterExchange, venue: LighterVenue, fields: list[str]
) -> None:
    # order.json without the field(s) in accountActiveOrders (REST, through the SDK's models) and on the
    # account_all_orders channel (raw): an error / no update, never an order read with a default
    order = lighter_order()
    for field in fields:
        del order[field]
    venue.server.route("GET", "/api/v1/accountActiveOrders", {"code": 200, "orders": [order]})
    with pytest.raises(MalformedResponse):
        await client.open_orders("BTC")
    updates = client.order_updates()
    await venue.ws.wait_for_connections(1)
    await venue.ws.broadcast(
        {"type": "update/account_all_orders", "channel": f"account_all_orders:{ACCOUNT}", "orders": {"1": [order]}}
    )
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(anext(updates), 0.3)


@pytest.mark.parametrize(("bid", "ask"), [("0", "97350.5"), ("97349.9", "0"), ("-1", "97350.5"), ("97351", "97350.5")])
async def test_zero_negative_or_crossed_quote_is_refused(
    client: LighterExchange, venue: LighterVenue, bid: str, ask: str
) -> None:
    # order_book_orders.json with its best bid/ask replaced
    venue.best_bid, venue.best_ask = Decimal(bid), Decimal(ask)
    with pytest.raises(MalformedResponse):
        await client.best_bid_ask("BTC")
