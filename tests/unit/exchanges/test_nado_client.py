"""The Nado trading client against a local replay of Nado's gateway (``/v1/query``, ``/v1/execute``,
``/v1/subscribe``) and archive indexer (``POST /archive/v1``) in their wire format (fixtures: SOURCES.md).

:class:`NadoVenue` is a small stateful venue. It checks every signed message with the official SDK (nado-protocol,
imported under the test-only shim of :mod:`tests.support.nado_sdk_oracle`): the typed data is rebuilt by the SDK's
``build_eip712_typed_data`` from the fields that arrived and the signer recovered from it must be the account's key
(else the engine's "invalid signature" failure); the order id it answers is the SDK's digest. Orders rest, fill on
command (pushed as ``fill`` + ``order_update`` events and kept for the indexer's ``matches``), cancel, and are listed
(open: the gateway; closed: the indexer)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from eth_account import Account

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    ExchangeError,
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
)
from bot_runtime.exchanges.nado.client import NadoExchange
from bot_runtime.exchanges.nado.parsing import EXPIRATION_BASE
from tests.support import nado_sdk_oracle
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, load_fixture

SDK = nado_sdk_oracle.sdk()
pytestmark = pytest.mark.skipif(SDK is None, reason="nado-protocol (the test oracle) is not installed")

KEY = "0x" + "4c" * 32
OWNER = str(Account.from_key(KEY).address)
ENV = {"NADO_PRIVATE_KEY": KEY}
LINKED_KEY = "0x" + "5d" * 32  # a linked signer of the owner's subaccount
LINKED = str(Account.from_key(LINKED_KEY).address)
X = 10**18
CHAIN_ID = 57073
ENDPOINT = "0x05ec92d78ed421f3d3ada77ffde167106565974e"
SUBACCOUNT = "0x" + (bytes.fromhex(OWNER[2:]) + b"default" + b"\x00" * 5).hex()


def fx(name: str) -> Any:
    return load_fixture("nado", name)


def tx_type(name: str) -> Any:
    assert SDK is not None
    return getattr(SDK.contract_types.NadoTxType, name)


class NadoVenue:
    """Nado as the client sees it (see the module docstring). BTC (product 2): 97380 / 97381; ETH (4): 3700 / 3701.
    A post-only order at or through the other side is refused; an IOC that crosses fills at once at the touch, one
    that does not is cancelled unfilled."""

    BOOK: ClassVar[dict[int, tuple[Decimal, Decimal]]] = {
        2: (Decimal(97380), Decimal(97381)),
        4: (Decimal(3700), Decimal(3701)),
        20: (Decimal("0.020"), Decimal("0.021")),
    }

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}  # digest → {"row": OrderData, "status": open|filled|cancelled, ...}
        self.matches: list[dict[str, Any]] = []
        self.txs: list[dict[str, Any]] = []
        self.positions: dict[int, Decimal] = {}
        self.refuse_next: str | None = None
        self.refuse_auth = False
        self.live_positions = False  # True: subaccount_info's positions are the fills here (none at first)
        self.funding: dict[
            str, str
        ] = {}  # ticker_id → the hourly rate /v2/contracts reports (x 24), else the fixture's
        self.now_ms: Callable[[], int] = lambda: int(time.time() * 1000)  # the venue's clock (orders, fills, events)
        self.linked: str | None = None  # the subaccount's linked signer (it signs like the owner)
        self.subaccount_exists = True  # False: subaccount_info answers exists: false (no such subaccount)
        self.executes: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._idx = itertools.count(3_300_000)
        server.route("POST", "/v1/query", self.query)
        server.route("POST", "/v1/execute", self.execute)
        server.route("POST", "/archive/v1", self.indexer)
        server.route("GET", "/archive/v2/contracts", self.contracts)
        self.ws = server.websocket("/v1/subscribe", on_message=self.on_ws)

    # signatures (the SDK rebuilds what was signed) -----------------------------------------------------------------
    @staticmethod
    def signer_of(tx: str, message: dict[str, Any], contract: str, signature: str) -> str:
        return nado_sdk_oracle.recover_signer(tx_type(tx), message, contract, CHAIN_ID, signature).lower()

    @staticmethod
    def sdk_digest(product_id: int, message: dict[str, Any]) -> str:
        assert SDK is not None
        typed = SDK.sign.build_eip712_typed_data(
            tx_type("PLACE_ORDER"), message, SDK.order.gen_order_verifying_contract(product_id), CHAIN_ID
        )
        return str(SDK.sign.get_eip712_typed_data_digest(typed))

    def accepts(self, signer: str) -> bool:
        """The engine takes the owner's signature or its linked signer's (else "invalid signature")."""
        return signer.lower() in {OWNER.lower(), (self.linked or OWNER).lower()}

    # /v1/query -----------------------------------------------------------------------------------------------------
    def query(self, request: RecordedRequest) -> Any:
        body = request.json()
        kind = body["type"]
        if kind in ("contracts", "symbols"):
            return fx(f"query_{kind}")
        if kind == "linked_signer":
            answer = fx("query_linked_signer")
            if self.linked is not None:
                answer["data"]["linked_signer"] = self.linked
            return answer
        if kind == "market_price":
            bid, ask = self.BOOK[body["product_id"]]
            answer = fx("query_market_price")
            answer["data"].update(
                {"product_id": body["product_id"], "bid_x18": str(int(bid * X)), "ask_x18": str(int(ask * X))}
            )
            return answer
        if kind == "subaccount_info":
            assert body["subaccount"] == SUBACCOUNT
            answer = fx("query_subaccount_info")
            answer["data"]["exists"] = self.subaccount_exists
            balances = answer["data"]["perp_balances"]
            if self.positions or self.live_positions:
                template = balances[0]
                answer["data"]["perp_balances"] = [
                    {**template, "product_id": pid, "balance": {**template["balance"], "amount": str(int(size * X))}}
                    for pid, size in self.positions.items()
                ]
            return answer
        if kind == "subaccount_orders":
            assert body["sender"] == SUBACCOUNT
            rows = [o["row"] for o in self.orders.values() if o["status"] == "open"]
            answer = fx("query_subaccount_orders")
            answer["data"]["orders"] = [r for r in rows if r["product_id"] == body["product_id"]]
            return answer
        if kind == "orders":
            answer = fx("query_orders")
            answer["data"]["product_orders"] = [
                {"product_id": pid, "orders": [o["row"] for o in self.orders.values()
                                               if o["status"] == "open" and o["row"]["product_id"] == pid]}
                for pid in body["product_ids"]
            ]  # fmt: skip
            return answer
        if kind == "order":
            entry = self.orders.get(body["digest"])
            if entry is None or entry["status"] != "open":
                return fx("error_order_not_found")
            return {**fx("query_order"), "data": entry["row"]}
        raise AssertionError(f"unexpected query {kind}")

    # /v1/execute ---------------------------------------------------------------------------------------------------
    def execute(self, request: RecordedRequest) -> Any:
        body = request.json()
        self.executes.append(body)
        if "place_order" in body:
            return self._place(body["place_order"])
        if "cancel_orders" in body:
            return self._cancel(body["cancel_orders"], by_digest=True)
        if "cancel_product_orders" in body:
            return self._cancel(body["cancel_product_orders"], by_digest=False)
        raise AssertionError(f"unexpected execute {list(body)}")

    def _place(self, place: dict[str, Any]) -> Any:
        order, product_id = place["order"], place["product_id"]
        assert set(order) == {"sender", "priceX18", "amount", "expiration", "nonce", "appendix"}
        assert all(isinstance(order[k], str) for k in order), "x18 integers travel as decimal strings"
        message = {
            "sender": bytes.fromhex(order["sender"][2:]),
            **{k: int(order[k]) for k in ("priceX18", "amount", "expiration", "nonce", "appendix")},
        }
        assert SDK is not None
        contract = SDK.order.gen_order_verifying_contract(product_id)
        if not self.accepts(self.signer_of("PLACE_ORDER", message, contract, place["signature"])):
            return {"status": "failure", "error": "invalid signature", "error_code": 2028}
        recv_ms = message["nonce"] >> 20
        assert 0 < recv_ms - time.time() * 1000 <= 91_000, "the nonce's recv time is now + 90 s"
        if self.refuse_next is not None:
            name, self.refuse_next = self.refuse_next, None
            return fx(name)
        digest = self.sdk_digest(product_id, message)
        price, amount = Decimal(message["priceX18"]) / X, Decimal(message["amount"]) / X
        bid, ask = self.BOOK[product_id]
        crosses = price >= ask if amount > 0 else price <= bid
        kind = SDK.order.order_execution_type(message["appendix"])
        if kind == SDK.expiration.OrderType.POST_ONLY and crosses:
            return fx("error_post_only")
        row = {**fx("query_order")["data"], "product_id": product_id, "sender": order["sender"],
               "price_x18": order["priceX18"], "amount": order["amount"], "expiration": order["expiration"],
               "nonce": order["nonce"], "unfilled_amount": order["amount"], "digest": digest,
               "placed_at": str(self.now_ms() // 1000), "appendix": order["appendix"]}  # fmt: skip
        self.orders[digest] = {"row": row, "status": "open", "id": place.get("id"), "fills": Decimal(0)}
        answer = fx("execute_place_order")
        answer["data"]["digest"] = digest
        answer["id"] = place.get("id")
        loop = asyncio.get_running_loop()
        if kind == SDK.expiration.OrderType.IOC:
            if crosses:
                loop.call_later(0.01, self.fill, digest, abs(amount), ask if amount > 0 else bid, True)
            else:
                self.orders[digest]["status"] = "cancelled"
                self.tasks.add(loop.create_task(self.push_update(digest, "cancelled")))
        else:
            self.tasks.add(loop.create_task(self.push_update(digest, "placed")))
        return answer

    def _cancel(self, cancel: dict[str, Any], *, by_digest: bool) -> Any:
        tx = cancel["tx"]
        message: dict[str, Any] = {"sender": bytes.fromhex(tx["sender"][2:]), "productIds": tx["productIds"],
                                   "nonce": int(tx["nonce"])}  # fmt: skip
        if by_digest:
            message["digests"] = [bytes.fromhex(d[2:]) for d in tx["digests"]]
        kind = "CANCEL_ORDERS" if by_digest else "CANCEL_PRODUCT_ORDERS"
        if not self.accepts(self.signer_of(kind, message, ENDPOINT, cancel["signature"])):
            return {"status": "failure", "error": "invalid signature", "error_code": 2028}
        if by_digest:
            hits = [d for d in tx["digests"] if self.orders.get(d, {}).get("status") == "open"]
            if not hits:
                return fx("error_order_not_found")
        else:
            hits = [d for d, o in self.orders.items()
                    if o["status"] == "open" and o["row"]["product_id"] in tx["productIds"]]  # fmt: skip
        for digest in hits:
            self.orders[digest]["status"] = "cancelled"
        answer = fx("execute_cancel_orders")
        answer["data"]["cancelled_orders"] = [self.orders[d]["row"] for d in hits]
        return answer

    # the archive indexer -------------------------------------------------------------------------------------------
    def indexer(self, request: RecordedRequest) -> Any:
        body = request.json()
        if "matches" in body:  # newest first; ``idx``: at or below that submission index; ``limit`` per page
            query = body["matches"]
            assert query["subaccounts"] == [SUBACCOUNT]
            below = int(query.get("idx", 2**63))
            page = sorted(
                (m for m in self.matches if int(m["submission_idx"]) <= below),
                key=lambda m: -int(m["submission_idx"]),
            )[: int(query.get("limit", 500))]
            idxs = {m["submission_idx"] for m in page}
            return {"matches": page, "txs": [tx for tx in self.txs if tx["submission_idx"] in idxs]}
        if "orders" in body:
            query = body["orders"]
            closed = [o for d, o in self.orders.items() if o["status"] != "open"]
            if "digests" in query:
                closed = [o for o in closed if o["row"]["digest"] in query["digests"]]
            rows = []
            for entry in closed:
                row = entry["row"]
                filled = entry["fills"]
                rows.append({**fx("indexer_orders")["orders"][0], "digest": row["digest"],
                             "product_id": row["product_id"], "amount": row["amount"], "price_x18": row["price_x18"],
                             "expiration": row["expiration"], "nonce": row["nonce"], "appendix": row["appendix"],
                             "base_filled": str(int(filled * X) * (1 if int(row["amount"]) > 0 else -1)),
                             "quote_filled": str(-int(filled * Decimal(row["price_x18"])))})  # fmt: skip
            return {"orders": rows}
        raise AssertionError(f"unexpected indexer query {list(body)}")

    def contracts(self, request: RecordedRequest) -> Any:
        answer = fx("v2_contracts")
        for ticker, hourly in self.funding.items():
            answer[ticker]["funding_rate"] = float(Decimal(hourly) * 24)  # the indexer quotes the 24 h rate
        return answer

    # fills and the stream ------------------------------------------------------------------------------------------
    def fill(self, digest: str, size: Decimal, price: Decimal | None = None, taker: bool = False,
             *, push: bool = True) -> dict[str, Any]:  # fmt: skip
        entry = self.orders[digest]
        row = entry["row"]
        amount = Decimal(row["amount"]) / X
        sign = 1 if amount > 0 else -1
        entry["fills"] += size
        remaining = abs(amount) - entry["fills"]
        row["unfilled_amount"] = str(int(remaining * X) * sign)
        if remaining <= 0:
            entry["status"] = "filled"
        pid = row["product_id"]
        self.positions[pid] = self.positions.get(pid, Decimal(0)) + size * sign
        px = price if price is not None else Decimal(row["price_x18"]) / X
        idx = str(next(self._idx))
        match = {**fx("indexer_matches")["matches"][0], "digest": digest,
                 "order": {"sender": row["sender"], "priceX18": row["price_x18"], "amount": row["amount"],
                           "expiration": row["expiration"], "nonce": row["nonce"]},
                 "base_filled": str(int(size * X) * sign), "quote_filled": str(-int(size * px * X) * sign),
                 "fee": str(int(size * px * X) // 5000 if taker else 0), "submission_idx": idx}  # fmt: skip
        tx = {**fx("indexer_matches")["txs"][0], "submission_idx": idx, "timestamp": str(self.now_ms() // 1000)}
        tx["tx"] = {"match_orders": {**tx["tx"]["match_orders"], "product_id": pid}}
        self.matches.append(match)
        self.txs.append(tx)
        event = {**fx("ws_fill"), "timestamp": str(self.now_ms() * 1_000_000), "product_id": pid, "subaccount": row["sender"],
                 "order_digest": digest, "filled_qty": str(int(size * X)), "remaining_qty": str(int(remaining * X)),
                 "original_qty": str(int(abs(amount) * X)), "price": str(int(px * X)), "is_taker": taker,
                 "is_bid": sign > 0, "fee": match["fee"], "submission_idx": idx, "id": entry["id"]}  # fmt: skip
        if push:
            self.tasks.add(asyncio.get_running_loop().create_task(self.push_fill(event, digest)))
        return event

    async def push_fill(self, event: dict[str, Any], digest: str) -> None:
        await self.ws.broadcast(event)
        await self.push_update(digest, "filled")

    async def push_update(self, digest: str, reason: str) -> None:
        entry = self.orders[digest]
        row = entry["row"]
        event = {**fx("ws_order_update"), "timestamp": str(self.now_ms() * 1_000_000), "product_id": row["product_id"],
                 "digest": digest, "amount": row["unfilled_amount"], "reason": reason, "id": entry["id"]}  # fmt: skip
        await self.ws.broadcast(event)

    def on_ws(self, conn: WsConnection, message: Any) -> list[Any]:
        if message.get("method") == "authenticate":
            tx = message["tx"]
            signed = {"sender": bytes.fromhex(tx["sender"][2:]), "expiration": int(tx["expiration"])}
            ok = self.accepts(self.signer_of("AUTHENTICATE_STREAM", signed, ENDPOINT, message["signature"]))
            if self.refuse_auth or not ok:
                return [{**fx("ws_error"), "id": message["id"]}]
            return [{**fx("ws_result"), "id": message["id"]}]
        if message.get("method") == "subscribe":
            return [{**fx("ws_result"), "id": message["id"]}]
        return []

    @staticmethod
    def subscriptions(conn: WsConnection) -> list[str]:
        return [m["stream"]["type"] for m in conn.received if m.get("method") == "subscribe"]


def options(server: ReplayServer, **extra: Any) -> dict[str, Any]:
    return {
        "baseUrl": server.url + "/v1",
        "wsUrl": server.ws_url + "/v1/subscribe",
        "indexerUrl": server.url + "/archive/v1",
        "reconnectInitialDelay": 0.01,
        "reconnectMaxDelay": 0.05,
        "settleInterval": 0.05,
        **extra,
    }


@pytest.fixture
async def venue() -> AsyncIterator[NadoVenue]:
    async with ReplayServer() as server:
        yield NadoVenue(server)


@pytest.fixture
async def nado(venue: NadoVenue) -> AsyncIterator[Exchange]:
    client = registry.create_exchange("nado", options(venue.server), ENV)
    await client.connect()
    await venue.ws.wait_for_connections(1)
    yield client
    await client.close()


def post_only(
    price: str, *, side: Side = Side.BUY, size: str = "0.01", client_id: str = "pd1a2b3c-o-mi3k2x9a00f"
) -> OrderRequest:
    return OrderRequest(symbol="BTC", side=side, size=Decimal(size), price=Decimal(price),
                        time_in_force=TimeInForce.POST_ONLY, client_order_id=client_id)  # fmt: skip


async def next_update(stream: Any, within: float = 5.0) -> Any:
    return await asyncio.wait_for(anext(stream), within)


# --- markets ----------------------------------------------------------------------------------------------------------
async def test_markets_perpetuals_ticks_steps_and_multipliers(nado: Exchange) -> None:
    markets = await nado.markets()
    assert set(markets) == {"BTC", "ETH", "PEPE"}  # KBTC is a spot product
    btc, pepe = markets["BTC"], markets["PEPE"]
    assert (btc.venue_symbol, btc.contract_id, btc.tick_size, btc.size_step, btc.min_size, btc.quote) == (
        "BTC-PERP", "2", Decimal(1), Decimal("0.00005"), Decimal("0.001"), "USDT0",
    )  # fmt: skip
    assert (btc.maker_fee, btc.taker_fee) == (Decimal(0), Decimal("0.0002"))
    assert (pepe.venue_symbol, pepe.contract_id, pepe.multiplier, pepe.tick_size) == (
        "kPEPE-PERP", "20", Decimal(1000), Decimal("0.000001"),
    )  # fmt: skip


# --- placing ----------------------------------------------------------------------------------------------------------
async def test_post_only_order_is_signed_as_the_sdk_signs_it(nado: Exchange, venue: NadoVenue) -> None:
    order = await nado.place_order(post_only("97012.37"))
    place = venue.executes[-1]["place_order"]
    sent = place["order"]
    assert SDK is not None
    assert place["product_id"] == 2 and sent["sender"] == SUBACCOUNT
    assert (sent["priceX18"], sent["amount"]) == (str(97012 * X), str(10**16))  # rounded down to the tick for a buy
    appendix = int(sent["appendix"])
    assert appendix == SDK.order.build_appendix(SDK.expiration.OrderType.POST_ONLY)
    assert not SDK.order.order_reduce_only(appendix)
    # the client id travels in the expiration (a date after 2242) and as the request's id
    assert int(sent["expiration"]) == EXPIRATION_BASE + place["id"]
    message = {"sender": bytes.fromhex(sent["sender"][2:]),
               **{k: int(sent[k]) for k in ("priceX18", "amount", "expiration", "nonce", "appendix")}}  # fmt: skip
    contract = SDK.order.gen_order_verifying_contract(2)
    assert venue.signer_of("PLACE_ORDER", message, contract, place["signature"]) == OWNER.lower()
    assert order.order_id == venue.sdk_digest(2, message)  # the order id is the SDK's digest
    assert (order.status, order.time_in_force, order.client_order_id, order.price, order.size) == (
        OrderStatus.OPEN, TimeInForce.POST_ONLY, "pd1a2b3c-o-mi3k2x9a00f", Decimal(97012), Decimal("0.01"),
    )  # fmt: skip


async def test_post_only_that_would_cross_raises(nado: Exchange, venue: NadoVenue) -> None:
    with pytest.raises(PostOnlyWouldCross, match="crosses book"):
        await nado.place_order(post_only("97381"))
    with pytest.raises(PostOnlyWouldCross):
        await nado.place_order(post_only("97380", side=Side.SELL))
    assert venue.orders == {}


async def test_margin_refusal_and_minimum_size(nado: Exchange, venue: NadoVenue) -> None:
    venue.refuse_next = "error_unhealthy"
    with pytest.raises(InsufficientMargin):
        await nado.place_order(post_only("97000"))
    sent = len(venue.executes)
    with pytest.raises(OrderRejected, match="below the minimum"):
        await nado.place_order(post_only("97000", size="0.0009"))
    assert len(venue.executes) == sent  # refused before sending


async def test_ioc_reduce_only_and_market_orders_settle_from_the_stream(nado: Exchange, venue: NadoVenue) -> None:
    assert SDK is not None
    ioc = OrderRequest(symbol="ETH", side=Side.SELL, size=Decimal("0.5"), price=Decimal("3705"),
                       time_in_force=TimeInForce.IOC, reduce_only=True,
                       client_order_id="pd1a2b3c-x-mi3k2x9a010")  # fmt: skip
    expired = await nado.place_order(ioc)  # nothing to take at 3705: expired, unfilled
    appendix = int(venue.executes[-1]["place_order"]["order"]["appendix"])
    assert SDK.order.order_reduce_only(appendix)
    assert SDK.order.order_execution_type(appendix) == SDK.expiration.OrderType.IOC
    assert int(venue.executes[-1]["place_order"]["order"]["amount"]) == -5 * 10**17
    assert (expired.status, expired.filled_size, expired.time_in_force) == (OrderStatus.EXPIRED, 0, TimeInForce.IOC)
    market = OrderRequest(symbol="ETH", side=Side.BUY, size=Decimal("0.02"), order_type=OrderType.MARKET,
                          client_order_id="pd1a2b3c-x-mi3k2x9a011")  # fmt: skip
    filled = await nado.place_order(market)
    sent = venue.executes[-1]["place_order"]["order"]
    # an IOC 5% through the best ask: 3701 x 1.05 = 3886.05 → 3886.1 on the 0.1 tick (rounded through, up)
    assert sent["priceX18"] == str(38861 * 10**17)
    assert (filled.status, filled.filled_size) == (OrderStatus.FILLED, Decimal("0.02"))


# --- cancelling and finding -------------------------------------------------------------------------------------------
async def test_cancel_cancel_all_open_orders_and_lookups(nado: Exchange, venue: NadoVenue) -> None:
    first = await nado.place_order(post_only("97000", client_id="pd1a2b3c-o-mi3k2x9a001"))
    second = await nado.place_order(post_only("97100", client_id="pd1a2b3c-o-mi3k2x9a002"))
    await nado.place_order(post_only("97200", client_id="pd1a2b3c-o-mi3k2x9a003"))
    listed = await nado.open_orders("BTC")
    assert sorted(o.client_order_id or "" for o in listed) == [
        "pd1a2b3c-o-mi3k2x9a001", "pd1a2b3c-o-mi3k2x9a002", "pd1a2b3c-o-mi3k2x9a003",
    ]  # fmt: skip
    assert all(o.time_in_force is TimeInForce.POST_ONLY and o.status is OrderStatus.OPEN for o in listed)
    assert [o.order_id for o in await nado.open_orders()] == [o.order_id for o in listed]
    await nado.cancel_order("BTC", first.order_id)
    assert venue.executes[-1]["cancel_orders"]["tx"]["digests"] == [first.order_id]
    with pytest.raises(OrderNotFound):
        await nado.cancel_order("BTC", first.order_id)
    found = await nado.get_order("BTC", first.order_id)  # closed: from the indexer
    assert found is not None and (found.status, found.client_order_id) == (
        OrderStatus.CANCELED,
        "pd1a2b3c-o-mi3k2x9a001",
    )
    assert await nado.get_order("BTC", "0x" + "99" * 32) is None
    open_second = await nado.get_order("BTC", second.order_id)
    assert open_second is not None and open_second.status is OrderStatus.OPEN
    # another process (a restarted bot) reads the client id back from the order itself (its expiration)
    other = registry.create_exchange("nado", options(venue.server), ENV)
    try:
        await other.markets()
        assert isinstance(other, NadoExchange)
        reread = {o.order_id: o.client_order_id for o in await other.open_orders("BTC")}
        assert all(cid is not None and cid.startswith("pd1a2b3-o-#") for cid in reread.values())
        again = await other.find_order_by_client_id("BTC", reread[second.order_id] or "")
        assert again is not None and again.order_id == second.order_id
    finally:
        await other.close()
    found_here = await nado.find_order_by_client_id("BTC", "pd1a2b3c-o-mi3k2x9a002")
    assert found_here is not None and found_here.order_id == second.order_id
    third = next(o for o in listed if o.client_order_id == "pd1a2b3c-o-mi3k2x9a003")
    other = registry.create_exchange("nado", options(venue.server), ENV)
    with pytest.raises(ExchangeError, match="connect"):  # no signing before the domain is known
        await other.cancel_order("BTC", third.order_id)
    try:  # another process cancels by the client id it reads back from the order (Nado cancels by digest)
        await other.connect()
        assert isinstance(other, NadoExchange)
        decoded = {o.order_id: o.client_order_id for o in await other.open_orders("BTC")}[third.order_id]
        await other.cancel_by_client_id("BTC", decoded or "")
        assert venue.executes[-1]["cancel_orders"]["tx"]["digests"] == [third.order_id]
        with pytest.raises(OrderNotFound):
            await other.cancel_by_client_id("BTC", decoded or "")
    finally:
        await other.close()
    assert await nado.cancel_all("BTC") == 1  # the second: the first and the third were cancelled above
    assert "cancel_product_orders" in venue.executes[-1]
    assert await nado.open_orders("BTC") == []
    assert await nado.cancel_all() == 0


# --- account ----------------------------------------------------------------------------------------------------------
async def test_positions_and_balance(nado: Exchange) -> None:
    positions = {p.symbol: p for p in await nado.positions()}
    assert set(positions) == {"BTC", "ETH"}  # the zero PEPE balance is left out
    btc, eth = positions["BTC"], positions["ETH"]
    assert (btc.size, btc.mark_price, btc.unrealized_pnl) == (Decimal("0.02"), Decimal(97400), Decimal(8))
    assert (eth.size, eth.mark_price, eth.unrealized_pnl) == (Decimal(-3), Decimal(3700), Decimal(0))
    assert (await nado.position("PEPE")).size == 0
    balance = await nado.balance()
    assert (balance.asset, balance.equity, balance.available, balance.margin_used) == (
        "USDT0", Decimal(11000), Decimal(8000), Decimal(3000),
    )  # fmt: skip


# --- errors -----------------------------------------------------------------------------------------------------------
async def test_rate_limit_and_server_errors_are_mapped(nado: Exchange, venue: NadoVenue) -> None:
    venue.server.clear_routes("POST", "/v1/query")
    venue.server.route("POST", "/v1/query", Reply(429, {"error": "rate limited"}, headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited) as caught:
        await nado.best_bid_ask("BTC")
    assert caught.value.retry_after == 2
    assert KEY[2:] not in str(caught.value)


async def test_a_refused_stream_authentication_is_retried_not_fatal(venue: NadoVenue) -> None:
    venue.refuse_auth = True
    client = registry.create_exchange("nado", options(venue.server), ENV)
    await client.connect()
    try:
        await venue.ws.wait_for_connections(2)  # the refused session ended and the client came back
        venue.refuse_auth = False
        count = 2
        while True:  # the refused session ends; the next one authenticates and subscribes
            conn = await venue.ws.wait_for_connections(count)
            with contextlib.suppress(TimeoutError):
                await conn.wait_for_message(lambda m: m.get("method") == "subscribe", within=1)
                break
            count += 1
        assert sorted(NadoVenue.subscriptions(conn)) == ["fill", "order_update"]
    finally:
        await client.close()


async def test_connect_refuses_a_key_that_is_not_the_subaccounts_linked_signer(venue: NadoVenue) -> None:
    other_owner = "0x8d1a2B3c4D5e6F708192a3B4c5D6e7F8091A2b3C"
    client = registry.create_exchange("nado", options(venue.server), {**ENV, "NADO_ACCOUNT_ADDRESS": other_owner})
    venue.server.clear_routes("POST", "/v1/query")

    def query(request: RecordedRequest) -> Any:
        if request.json()["type"] == "subaccount_info":
            return fx("query_subaccount_info")
        return venue.query(request)

    venue.server.route("POST", "/v1/query", query)
    with pytest.raises(AuthenticationError, match="linked signer"):
        await client.connect()
    await client.close()


async def test_a_linked_signer_trades_for_the_owner_and_a_revoked_one_is_refused(venue: NadoVenue) -> None:
    venue.linked = LINKED
    client = registry.create_exchange("nado", options(venue.server), {"NADO_PRIVATE_KEY": LINKED_KEY,
                                                                      "NADO_ACCOUNT_ADDRESS": OWNER})  # fmt: skip
    await client.connect()
    try:
        order = await client.place_order(post_only("97000"))
        place = venue.executes[-1]["place_order"]
        assert place["order"]["sender"] == SUBACCOUNT  # the owner's subaccount, signed by the linked key
        assert SDK is not None
        message = {
            "sender": bytes.fromhex(place["order"]["sender"][2:]),
            **{k: int(place["order"][k]) for k in ("priceX18", "amount", "expiration", "nonce", "appendix")},
        }
        contract = SDK.order.gen_order_verifying_contract(2)  # fmt: skip
        assert venue.signer_of("PLACE_ORDER", message, contract, place["signature"]) == LINKED.lower()
        assert order.status is OrderStatus.OPEN
        venue.linked = None  # revoked in the app: the engine refuses the signature
        with pytest.raises(AuthenticationError) as caught:
            await client.place_order(post_only("96000", client_id="pd1a2b3c-o-mi3k2x9a0cc"))
        assert "signature" in str(caught.value) and LINKED_KEY[2:] not in str(caught.value)
    finally:
        await client.close()


async def test_submit_order_after_a_lost_answer_finds_the_order_instead_of_resending(
    nado: Exchange, venue: NadoVenue
) -> None:
    calls = 0

    def lose_first(request: RecordedRequest) -> Any:
        nonlocal calls
        calls += 1
        answer = venue.execute(request)
        return Reply(502, "bad gateway") if calls == 1 else answer

    venue.server.clear_routes("POST", "/v1/execute")
    venue.server.route("POST", "/v1/execute", lose_first)
    order = await nado.submit_order(post_only("97000", client_id="pd1a2b3c-o-mi3k2x9a0aa"))
    assert calls == 1 and len(venue.orders) == 1  # found, not sent twice
    assert order.client_order_id == "pd1a2b3c-o-mi3k2x9a0aa"


# --- the stream -------------------------------------------------------------------------------------------------------
async def test_authenticated_subscriptions_partial_fill_and_fill_over_the_stream(
    nado: Exchange, venue: NadoVenue
) -> None:
    conn = venue.ws.connections[0]
    await conn.wait_for_message(lambda m: m.get("stream", {}).get("type") == "fill")
    auth = next(m for m in conn.received if m.get("method") == "authenticate")
    assert auth["tx"]["sender"] == SUBACCOUNT and int(auth["tx"]["expiration"]) > time.time() * 1000
    assert sorted(NadoVenue.subscriptions(conn)) == ["fill", "order_update"]
    updates = nado.order_updates()
    order = await nado.place_order(post_only("97000"))
    venue.fill(order.order_id, Decimal("0.004"))
    update = await next_update(updates)
    while update.fill is None:
        update = await next_update(updates)
    assert update.fill.size == Decimal("0.004") and update.fill.price == Decimal(97000)
    assert update.fill.client_order_id == "pd1a2b3c-o-mi3k2x9a00f" and update.fill.liquidity.value == "maker"
    assert (update.order.status, update.order.filled_size) == (OrderStatus.PARTIALLY_FILLED, Decimal("0.004"))
    venue.fill(order.order_id, Decimal("0.006"))
    update = await next_update(updates)
    while update.fill is None:
        update = await next_update(updates)
    assert (update.order.status, update.order.filled_size) == (OrderStatus.FILLED, Decimal("0.01"))
    await updates.aclose()


async def test_dropped_stream_reauthenticates_and_recovers_the_missed_fill_over_rest(
    nado: Exchange, venue: NadoVenue
) -> None:
    updates = nado.order_updates()
    order = await nado.place_order(post_only("97000"))
    await venue.ws.drop_all()
    missed = venue.fill(order.order_id, Decimal("0.01"), push=False)  # while the stream is down
    conn = await venue.ws.wait_for_connections(2)
    fills = []
    while not fills:
        update = await next_update(updates)
        if update.fill is not None:
            fills.append(update)
    assert fills[0].fill.trade_id == f"{missed['submission_idx']}:{order.order_id}"
    assert fills[0].order.status is OrderStatus.FILLED
    assert any(m.get("method") == "authenticate" for m in conn.received)
    await venue.push_fill(missed, order.order_id)  # the same fill arriving late over the stream: not twice
    second = await nado.place_order(post_only("96000", client_id="pd1a2b3c-o-mi3k2x9a0bb"))
    venue.fill(second.order_id, Decimal("0.01"))
    update = await next_update(updates)
    while update.fill is None:
        update = await next_update(updates)
    assert update.fill.order_id == second.order_id
    await updates.aclose()


async def test_a_long_gap_is_caught_up_page_by_page(nado: Exchange, venue: NadoVenue) -> None:
    """150 fills while the stream is down: the indexer answers 100 a page, newest first; the catch-up pages back with
    ``idx`` and delivers every one, once."""
    updates = nado.order_updates()
    order = await nado.place_order(post_only("97000", size="0.15"))
    await venue.ws.drop_all()
    missed = [venue.fill(order.order_id, Decimal("0.001"), push=False) for _ in range(150)]
    await venue.ws.wait_for_connections(2)
    delivered = []
    while len(delivered) < 150:
        update = await next_update(updates)
        if update.fill is not None:
            delivered.append(update.fill.trade_id)
    assert sorted(delivered) == sorted(f"{m['submission_idx']}:{order.order_id}" for m in missed)
    pages = [r.json()["matches"] for r in venue.server.requests_to("POST", "/archive/v1") if "matches" in r.json()]
    assert [p.get("idx") for p in pages[-2:]] == [None, str(int(missed[50]["submission_idx"]) - 1)]
    assert update.order.status is OrderStatus.FILLED and update.order.filled_size == Decimal("0.15")
    await updates.aclose()


async def test_price_stream(nado: Exchange, venue: NadoVenue) -> None:
    stream = nado.price_stream("BTC")
    waiter = asyncio.ensure_future(anext(stream))
    conn = await venue.ws.wait_for_connections(2)
    await conn.wait_for_message(lambda m: m.get("method") == "subscribe")
    assert conn.received[-1]["stream"] == {"type": "best_bid_offer", "product_id": 2}
    await conn.send_json(fx("ws_best_bid_offer"))
    quote = await asyncio.wait_for(waiter, 5)
    assert (quote.bid, quote.ask, quote.bid_size, quote.ask_size) == (
        Decimal(97380), Decimal(97381), Decimal("1.2"), Decimal("0.8"),
    )  # fmt: skip
    await stream.aclose()


# --- credentials ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ({}, ["NADO_PRIVATE_KEY"]),
        ({"NADO_PRIVATE_KEY": "your_key_here"}, ["NADO_PRIVATE_KEY"]),
        ({"NADO_PRIVATE_KEY": "0x1234"}, ["NADO_PRIVATE_KEY"]),
        ({**ENV, "NADO_ACCOUNT_ADDRESS": "0xnot-an-address"}, ["NADO_ACCOUNT_ADDRESS"]),
        ({**ENV, "NADO_SUBACCOUNT_NAME": "far-too-long-a-name"}, ["NADO_SUBACCOUNT_NAME"]),
    ],
)
def test_credentials_are_checked_by_name_never_echoed(env: dict[str, str], keys: list[str]) -> None:
    with pytest.raises(CredentialsError) as caught:
        registry.create_exchange("nado", {"baseUrl": "http://127.0.0.1:9"}, env)
    assert caught.value.keys == keys
    for value in env.values():
        assert value not in str(caught.value)


def test_the_client_repr_holds_no_key() -> None:
    client = registry.create_exchange("nado", {"baseUrl": "http://127.0.0.1:9"}, ENV)
    assert isinstance(client, NadoExchange)
    assert KEY[2:] not in repr(client._signer) and KEY[2:] not in repr(client.__dict__)
