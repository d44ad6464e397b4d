"""The grid strategy on the real Backpack client (bpx-py ED25519 signing) against a small stateful replay of
Backpack's REST API and ``account.orderUpdate`` stream: open, fill over the stream, take-profit close, stop cancels it.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: none of its waits (the
10 s fill wait, the loop interval, the risk timer) can elapse, so the session only completes when the fill reaches
the strategy over the venue's WebSocket.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges._shared.tagged_ids import BACKPACK, TaggedClientIds
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsEndpoint, load_fixture
from tests.unit.exchanges.conftest import GridProcess, wait_until

_KEY = Ed25519PrivateKey.generate()
SECRET = base64.b64encode(_KEY.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()
PUBLIC_KEY = _KEY.public_key()
PUBLIC = base64.b64encode(PUBLIC_KEY.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
ENV = {"BACKPACK_PUBLIC_KEY": PUBLIC, "BACKPACK_SECRET_KEY": SECRET}
SYMBOL = "BTC_USDC_PERP"


def fx(name: str) -> Any:
    return load_fixture("backpack", name)


TICK = Decimal(next(m for m in fx("markets") if m["symbol"] == SYMBOL)["filters"]["price"]["tickSize"])


def signing_string(instruction: str, params: dict[str, Any], timestamp: str, window: str) -> bytes:
    """Backpack's signed message: ``instruction=<x>&<sorted params>&timestamp=<ms>&window=<ms>``."""
    parts = [f"instruction={instruction}"]
    for key, value in sorted(params.items()):
        parts.append(f"{key}={str(value).lower() if isinstance(value, bool) else value}")
    return ("&".join(parts) + f"&timestamp={timestamp}&window={window}").encode()


def verified_params(request: RecordedRequest, instruction: str) -> dict[str, Any] | None:
    """The signed parameters when the ED25519 signature verifies with the account's public key, else None."""
    params: dict[str, Any] = (request.json() or {}) if request.method != "GET" else dict(request.query)
    message = signing_string(instruction, params, request.header("X-Timestamp") or "", request.header("X-Window") or "")
    if request.header("X-API-Key") != PUBLIC:
        return None
    try:
        PUBLIC_KEY.verify(base64.b64decode(request.header("X-Signature") or ""), message)
    except InvalidSignature:
        return None
    return params


class BackpackVenue:
    """A small stateful Backpack for one market: orders rest (a post-only that would take is refused), fill when the
    test says so (an ``orderFill`` event on ``account.orderUpdate``), cancel, and are listed and looked up over REST
    (open ones on ``/api/v1/order(s)``, finished ones in ``/wapi/v1/history/orders``). A request whose ED25519
    signature does not verify is answered 401 and recorded in :attr:`forged`."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[str, dict[str, Any]] = {}
        self.bodies: dict[str, dict[str, Any]] = {}  # order id → the signed parameters that placed it
        self.forged: list[RecordedRequest] = []
        self.position = Decimal(0)
        self.entry = Decimal(0)
        self._ids = itertools.count(4229100001)
        self._trade_ids = itertools.count(9760001)
        book = fx("depth")
        self.best_bid = max(Decimal(p) for p, _ in book["bids"])
        self.best_ask = min(Decimal(p) for p, _ in book["asks"])
        server.route("GET", "/api/v1/markets", fx("markets"))
        server.route("GET", "/api/v1/depth", book)
        server.route("GET", "/api/v1/capital/collateral", self.signed("collateralQuery", lambda _p: fx("collateral")))
        server.route("GET", "/api/v1/position", self.signed("positionQuery", self.positions))
        server.route("GET", "/api/v1/orders", self.signed("orderQueryAll", self.open_orders))
        server.route("POST", "/api/v1/order", self.signed("orderExecute", self.create))
        server.route("GET", "/api/v1/order", self.signed("orderQuery", self.lookup))
        server.route("GET", "/wapi/v1/history/orders", self.signed("orderHistoryQueryAll", self.history))
        server.route("DELETE", "/api/v1/order", self.signed("orderCancel", self.cancel))
        server.route("DELETE", "/api/v1/orders", self.signed("orderCancelAll", self.cancel_all))
        server.route("GET", "/wapi/v1/history/fills", self.signed("fillHistoryQueryAll", lambda _p: []))
        self.stream: WsEndpoint = server.websocket("/")

    def signed(self, instruction: str, handler: Callable[[dict[str, Any]], Any]) -> Callable[[RecordedRequest], Any]:
        def checked(request: RecordedRequest) -> Any:
            params = verified_params(request, instruction)
            if params is None:
                self.forged.append(request)
                return Reply(401, fx("error_signature"))
            return handler(params)

        return checked

    def resting(self, side: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["side"] == side and o["status"] == "New"), None)

    def create(self, body: dict[str, Any]) -> Any:
        assert body["symbol"] == SYMBOL, body
        price = Decimal(body["price"])
        crosses = price >= self.best_ask if body["side"] == "Bid" else price <= self.best_bid
        if body.get("postOnly") and crosses:
            return Reply(400, fx("error_post_only"))
        order_id = str(next(self._ids))
        self.bodies[order_id] = body
        order = fx("order_new_post_only") | {
            "id": order_id,
            "clientId": body["clientId"],
            "symbol": body["symbol"],
            "side": body["side"],
            "orderType": body["orderType"],
            "timeInForce": body.get("timeInForce", "GTC"),
            "price": body["price"],
            "quantity": body["quantity"],
            "postOnly": bool(body.get("postOnly")),
            "reduceOnly": body.get("reduceOnly"),
            "createdAt": int(time.time() * 1000),
        }
        self.orders[order_id] = order
        return order

    def open_orders(self, query: dict[str, Any]) -> Any:
        return [o for o in self.orders.values() if o["status"] == "New" and query.get("symbol") in {None, o["symbol"]}]

    def lookup(self, query: dict[str, Any]) -> Any:
        for order in self.orders.values():
            wanted = order["id"] == query.get("orderId") or str(order["clientId"]) == query.get("clientId")
            if wanted and order["status"] == "New":
                return order
        return Reply(404, fx("error_not_found"))

    def history(self, query: dict[str, Any]) -> Any:
        done = [o for o in self.orders.values() if o["status"] != "New"]
        return [o for o in done if query.get("orderId") in {None, o["id"]}]

    def cancel(self, body: dict[str, Any]) -> Any:
        order = self.orders.get(body["orderId"])
        if order is None or order["status"] != "New":
            return Reply(404, fx("error_not_found"))
        order["status"] = "Cancelled"
        return order

    def cancel_all(self, body: dict[str, Any]) -> Any:
        cancelled = [o for o in self.orders.values() if o["status"] == "New" and o["symbol"] == body["symbol"]]
        for order in cancelled:
            order["status"] = "Cancelled"
        return cancelled

    def positions(self, _query: dict[str, Any]) -> Any:
        if self.position == 0:
            return []
        row = fx("positions")[0] | {
            "symbol": SYMBOL,
            "netQuantity": str(self.position),
            "netExposureQuantity": str(abs(self.position)),
            "entryPrice": str(self.entry),
            "pnlUnrealized": "0",
        }
        return [row]

    async def fill(self, order_id: str) -> dict[str, Any]:
        """The resting order trades completely as maker; the account stream says so (``orderFill``)."""
        order = self.orders[order_id]
        size, price = Decimal(order["quantity"]), Decimal(order["price"])
        quote = size * price
        order.update(status="Filled", executedQuantity=order["quantity"], executedQuoteQuantity=str(quote))
        self.entry = price if self.position == 0 else self.entry
        self.position += size if order["side"] == "Bid" else -size
        now_us = int(time.time() * 1_000_000)
        event = fx("ws_order_fill")
        event["data"].update(
            E=now_us, T=now_us, s=order["symbol"], c=order["clientId"], S=order["side"], q=order["quantity"],
            p=order["price"], i=order_id, l=order["quantity"], L=order["price"], z=order["quantity"], Z=str(quote),
            t=next(self._trade_ids), n=str((quote * Decimal("0.0002")).quantize(Decimal("0.000001"))),
        )  # fmt: skip
        await self.stream.broadcast(event)
        data: dict[str, Any] = event["data"]
        return data


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only open at ask - tick (ED25519 signature verifies, the uint32 ``clientId`` carries the open role), a
    fill over ``account.orderUpdate``, the reduce-only take-profit at fill x (1 + 0.02 %) rounded up to the tick, and
    the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    decoder = TaggedClientIds(BACKPACK)  # a fresh decoder: what any process reads back from the venue
    async with ReplayServer() as server:
        venue = BackpackVenue(server)
        options = {"baseUrl": server.url, "wsUrl": server.ws_url + "/", "reconnectInitialDelay": 0.01}
        exchange = registry.create_exchange("backpack", options, ENV)
        bot = GridProcess(exchange, "backpack", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        subscription = await (await venue.stream.wait_for_connections(1)).wait_for_message(
            lambda m: isinstance(m, dict) and m.get("params") == ["account.orderUpdate"]
        )
        assert subscription["signature"][0] == PUBLIC
        bot.run()
        try:
            opened = await wait_until(lambda: venue.resting("Bid"))
            body = venue.bodies[opened["id"]]
            assert (body["symbol"], body["side"], body["orderType"], body["postOnly"], body["timeInForce"]) == (
                SYMBOL,
                "Bid",
                "Limit",
                True,
                "GTC",
            )
            assert Decimal(body["quantity"]) == config.grid.quantity and "reduceOnly" not in body
            assert Decimal(body["price"]) == venue.best_ask - TICK
            assert 0 < body["clientId"] < 2**32 and ids.role_of(decoder.decode(body["clientId"])) == ClientIds.OPEN

            # the venue fills the entry while it rests: once placement returned (the strategy reports the order and
            # watches it from then on), as on a live market
            placed = await wait_until(lambda: events.orders)
            assert [(ids.role_of(r.client_order_id), r.time_in_force, result) for r, result, _ in placed] == [
                (ClientIds.OPEN, TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            assert (decoder.decode(body["clientId"]) or "").startswith(f"{ids.tag[:7]}-o-#")  # 20 bits of the tag
            fill = await venue.fill(opened["id"])
            close = await wait_until(lambda: venue.resting("Ask"))
            sent = venue.bodies[close["id"]]
            assert (sent["side"], sent["orderType"], sent["reduceOnly"]) == ("Ask", "Limit", True)
            assert "postOnly" not in sent and Decimal(sent["quantity"]) == Decimal(fill["l"])
            tp = 1 + config.grid.take_profit / 100
            expected = (Decimal(fill["L"]) * tp / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK
            assert Decimal(sent["price"]) == expected
            assert ids.role_of(decoder.decode(sent["clientId"])) == ClientIds.CLOSE
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size, f.fee) for f in reported] == [
                (f"{SYMBOL}:{fill['t']}", Decimal(fill["L"]), Decimal(fill["l"]), Decimal(fill["n"]))
            ]
            resting = await wait_until(lambda: strategy.close_orders)  # once placement returned
            assert [o.order_id for o in resting] == [close["id"]]
        finally:
            await bot.stop()
        cancels = [r.json() for r in server.requests_to("DELETE", "/api/v1/order")]
        assert cancels == [{"symbol": SYMBOL, "orderId": close["id"]}]
        assert close["status"] == "Cancelled"
        assert [o for o in venue.orders.values() if o["status"] == "New"] == []
        assert strategy.snapshot().open_orders == 0
        assert len(venue.bodies) == 2  # one open, one close: nothing else was placed
        assert venue.forged == [] and server.unmatched == []
