"""The grid strategy on the real Paradex client (paradex-py, Starknet-signed orders) against a small stateful replay
of Paradex's REST + JSON-RPC WebSocket: open, fill over ``fills.ALL``, take-profit close, stop cancels it.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: none of its waits (the
10 s fill wait, the loop interval, the risk timer) can elapse, so the session only completes when the fill reaches
the strategy over the venue's WebSocket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from decimal import ROUND_CEILING, Decimal
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsConnection, WsEndpoint, load_fixture
from tests.unit.exchanges.conftest import GridProcess, wait_until

L2_KEY = hex(random.Random(11).randrange(1, 2**250))
L1_ADDRESS = "0x" + "cd" * 20
ENV = {"PARADEX_L1_ADDRESS": L1_ADDRESS, "PARADEX_L2_PRIVATE_KEY": L2_KEY, "PARADEX_ENVIRONMENT": "testnet"}
MARKET = "BTC-USD-PERP"


def fx(name: str) -> Any:
    return load_fixture("paradex", name)


JWT = fx("auth")["jwt_token"]
TICK = Decimal(next(m for m in fx("markets")["results"] if m["symbol"] == MARKET)["price_tick_size"])


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


def rpc(conn: WsConnection, message: Any) -> list[Any]:
    """The JSON-RPC answers to ``auth`` and ``subscribe``."""
    if not isinstance(message, dict) or "id" not in message:
        return []
    if message.get("method") == "auth":
        assert message["params"]["bearer"] == JWT
        return [{"jsonrpc": "2.0", "result": {"node_id": "replay"}, "id": message["id"]}]
    return [{"jsonrpc": "2.0", "result": {"channel": message["params"]["channel"]}, "id": message["id"]}]


def now_ms() -> int:
    return int(time.time() * 1000)


class ParadexVenue:
    """A small stateful Paradex for one market: a placed order answers ``NEW`` and the engine then rests it (``OPEN``
    on ``orders.ALL`` and over REST; a post-only that would cross is ``CLOSED`` with ``POST_ONLY_WOULD_CROSS``); it
    fills when the test says so (``fills.ALL`` + ``orders.ALL``); a cancel closes it (``USER_CANCELED``). Every
    private request must carry the JWT the venue issued."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.bodies: dict[str, dict[str, Any]] = {}  # order id → the JSON body that placed it
        self.position = Decimal(0)
        self.entry = Decimal(0)
        self._ids = itertools.count(1764064900000000000000000001)
        self._fill_ids = itertools.count(8615262148007719001)
        self._tasks: set[asyncio.Task[None]] = set()
        bbo = fx("bbo")
        self.best_bid, self.best_ask = Decimal(bbo["bid"]), Decimal(bbo["ask"])
        server.route("GET", "/v1/system/config", fx("system_config"))
        server.route("POST", "/v1/auth/{public_key}", fx("auth"))
        server.route("GET", "/v1/markets", fx("markets"))
        server.route("GET", "/v1/bbo/{market}", bbo)
        server.route("GET", "/v1/account", self.private(lambda _r: fx("account")))
        server.route("GET", "/v1/positions", self.private(self.positions))
        server.route("GET", "/v1/orders", self.private(self.open_orders))
        server.route("POST", "/v1/orders", self.private(self.create))
        server.route("GET", "/v1/orders/{order_id}", self.private(self.lookup))
        server.route("GET", "/v1/orders/by_client_id/{client_id}", self.private(self.lookup_by_client_id))
        server.route("DELETE", "/v1/orders/{order_id}", self.private(self.cancel))
        self.stream: WsEndpoint = server.websocket("/v1/ws", on_message=rpc)

    @staticmethod
    def private(handler: Any) -> Any:
        def checked(request: RecordedRequest) -> Any:
            if request.header("Authorization") != f"Bearer {JWT}":
                return Reply(401, fx("error_invalid_token"))
            return handler(request)

        return checked

    def resting(self, side: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["side"] == side and o["status"] == "OPEN"), None)

    # REST --------------------------------------------------------------------------------------------------------
    def create(self, request: RecordedRequest) -> Any:
        body = request.json()
        assert body["market"] == MARKET, body
        order_id = str(next(self._ids))
        self.bodies[order_id] = body
        order = fx("order_new") | {
            "id": order_id,
            "market": body["market"],
            "side": body["side"],
            "type": body["type"],
            "size": body["size"],
            "remaining_size": body["size"],
            "price": body.get("price", "0"),
            "client_id": body["client_id"],
            "instruction": body["instruction"],
            "flags": body.get("flags", []),
            "created_at": now_ms(),
            "last_updated_at": now_ms(),
        }
        answer = dict(order)  # the REST answer: NEW, the matching engine decides right after
        price = Decimal(order["price"])
        crosses = price >= self.best_ask if order["side"] == "BUY" else price <= self.best_bid
        if order["instruction"] == "POST_ONLY" and crosses:
            order.update(status="CLOSED", cancel_reason="POST_ONLY_WOULD_CROSS")
        else:
            order["status"] = "OPEN"
        order["last_updated_at"] = now_ms()
        self.orders[order_id] = order
        self._push_later(self.push_order(order))
        return answer

    def open_orders(self, request: RecordedRequest) -> Any:
        market = request.query.get("market")
        rows = [o for o in self.orders.values() if o["status"] in {"NEW", "OPEN"} and market in {None, o["market"]}]
        return {"results": rows}

    def lookup(self, request: RecordedRequest) -> Any:
        order = self.orders.get(request.path_params["order_id"])
        return order if order is not None else Reply(404, fx("error_not_found"))

    def lookup_by_client_id(self, request: RecordedRequest) -> Any:
        wanted = request.path_params["client_id"]
        order = next((o for o in self.orders.values() if o["client_id"] == wanted), None)
        return order if order is not None else Reply(404, fx("error_client_id_not_found"))

    def cancel(self, request: RecordedRequest) -> Any:
        order = self.orders.get(request.path_params["order_id"])
        if order is None or order["status"] == "CLOSED":
            return Reply(404, fx("error_not_found"))
        order.update(status="CLOSED", cancel_reason="USER_CANCELED", last_updated_at=now_ms())
        self._push_later(self.push_order(order))
        return Reply(204)

    def positions(self, request: RecordedRequest) -> Any:
        if self.position == 0:
            return {"results": []}
        row = fx("positions")["results"][0] | {
            "market": MARKET,
            "side": "LONG" if self.position > 0 else "SHORT",
            "size": str(self.position),
            "average_entry_price": str(self.entry),
            "unrealized_pnl": "0",
            "unrealized_funding_pnl": "0",
            "realized_positional_pnl": "0",
            "realized_positional_funding_pnl": "0",
        }
        return {"results": [row]}

    # stream ------------------------------------------------------------------------------------------------------
    def _push_later(self, push: Any) -> None:
        """Push after the REST answer is on its way (the engine's verdict follows the ``NEW`` answer)."""
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(push)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, channel: str, data: dict[str, Any]) -> None:
        await self.stream.broadcast({"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel,
                                                                                              "data": dict(data)}})  # fmt: skip

    async def push_order(self, order: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)
        await self._publish("orders.ALL", order)

    async def fill(self, order_id: str) -> dict[str, Any]:
        """The resting order trades completely as maker: ``fills.ALL`` then ``orders.ALL`` say so."""
        order = self.orders[order_id]
        size, price = Decimal(order["size"]), Decimal(order["price"])
        order.update(status="CLOSED", remaining_size="0", avg_fill_price=order["price"], last_updated_at=now_ms())
        signed = size if order["side"] == "BUY" else -size
        self.entry = price if self.position == 0 else self.entry
        self.position += signed
        fill: dict[str, Any] = fx("ws_fill")["params"]["data"] | {
            "id": str(next(self._fill_ids)),
            "market": order["market"],
            "order_id": order_id,
            "client_id": order["client_id"],
            "side": order["side"],
            "size": order["size"],
            "remaining_size": "0",
            "price": order["price"],
            "fee": str(-(size * price * Decimal("0.00001")).quantize(Decimal("0.0001"))),
            "created_at": now_ms(),
        }
        await self._publish("fills.ALL", fill)
        await self._publish("orders.ALL", order)
        return fill


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only open at ask - tick (Starknet signature verifies), a fill over ``fills.ALL``, the reduce-only
    take-profit at fill x (1 + 0.02 %) rounded up to the tick, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = ParadexVenue(server)
        options = {
            "baseUrl": server.url + "/v1",
            "wsUrl": server.ws_url + "/v1/ws",
            "reconnectInitialDelay": 0.01,
            "orderConfirmPoll": 0.05,
            "orderConfirmTimeout": 5,
        }
        exchange = registry.create_exchange("paradex", options, ENV)
        bot = GridProcess(exchange, "paradex", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        bot.run()
        try:
            opened = await wait_until(lambda: venue.resting("BUY"))
            body = venue.bodies[opened["id"]]
            assert (body["market"], body["side"], body["type"], body["instruction"]) == (
                MARKET,
                "BUY",
                "LIMIT",
                "POST_ONLY",
            )
            assert Decimal(body["size"]) == config.grid.quantity and "flags" not in body
            assert Decimal(body["price"]) == venue.best_ask - TICK
            assert ids.role_of(body["client_id"]) == ClientIds.OPEN
            assert verify_order_signature(body)

            # the venue fills the entry while it rests: once placement returned (the strategy reports the order and
            # watches it from then on), as on a live market
            placed = await wait_until(lambda: events.orders)
            assert [(r.client_order_id, r.time_in_force, result) for r, result, _ in placed] == [
                (body["client_id"], TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            fill = await venue.fill(opened["id"])
            close = await wait_until(lambda: venue.resting("SELL"))
            sent = venue.bodies[close["id"]]
            assert (sent["side"], sent["type"], sent["flags"]) == ("SELL", "LIMIT", ["REDUCE_ONLY"])
            assert sent["instruction"] == "GTC" and Decimal(sent["size"]) == Decimal(fill["size"])
            tp = 1 + config.grid.take_profit / 100
            expected = (Decimal(fill["price"]) * tp / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK
            assert Decimal(sent["price"]) == expected
            assert ids.role_of(sent["client_id"]) == ClientIds.CLOSE
            assert verify_order_signature(sent)
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size, f.fee) for f in reported] == [
                (fill["id"], Decimal(fill["price"]), Decimal(fill["size"]), Decimal(fill["fee"]))
            ]
            resting = await wait_until(lambda: strategy.close_orders)  # once placement returned
            assert [o.order_id for o in resting] == [close["id"]]
        finally:
            await bot.stop()
        cancels = server.requests_to("DELETE", "/v1/orders/{order_id}")
        assert [r.path.rsplit("/", 1)[-1] for r in cancels] == [close["id"]]
        assert close["status"] == "CLOSED" and close["cancel_reason"] == "USER_CANCELED"
        assert [o for o in venue.orders.values() if o["status"] != "CLOSED"] == []
        assert strategy.snapshot().open_orders == 0
        assert len(venue.bodies) == 2  # one open, one close: nothing else was sent
        assert server.unmatched == []
