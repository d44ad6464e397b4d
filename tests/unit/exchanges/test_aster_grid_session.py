"""The grid strategy on the real Aster client (HMAC-SHA256 signed REST, listen-key user-data stream) against a small
stateful replay of Aster's futures API: open, fill over the user stream, take-profit close, stop cancels it.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: none of its waits (the
10 s fill wait, the loop interval, the risk timer) can elapse, so the session only completes when the fill reaches
the strategy over the venue's WebSocket.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from typing import Any
from urllib.parse import urlencode

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import RecordedRequest, ReplayServer, Reply, WsEndpoint, load_fixture
from tests.unit.exchanges.conftest import GridProcess, wait_until

API_KEY = "aster-grid-api-key-0123456789"
SECRET = "aster-grid-secret-9876543210"
ENV = {"ASTER_API_KEY": API_KEY, "ASTER_SECRET_KEY": SECRET}
SYMBOL = "BTCUSDT"


def fx(name: str) -> Any:
    return load_fixture("aster", name)


LISTEN_KEY = fx("listen_key")["listenKey"]
_FILTERS = next(s for s in fx("exchange_info")["symbols"] if s["symbol"] == SYMBOL)["filters"]
TICK = Decimal(next(f for f in _FILTERS if f["filterType"] == "PRICE_FILTER")["tickSize"])


def verified_params(request: RecordedRequest) -> dict[str, str] | None:
    """The parameters when the API key is ours and the HMAC-SHA256 over the exact query string / form body verifies
    with the secret (within ``recvWindow``), else None."""
    if request.header("X-MBX-APIKEY") != API_KEY:
        return None
    raw = request.body.decode() if request.method in {"POST", "PUT"} else urlencode(request.query)
    payload, _, signature = raw.rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not payload or not hmac.compare_digest(signature, expected):
        return None
    params = request.form() if request.method in {"POST", "PUT"} else dict(request.query)
    if abs(int(params["timestamp"]) - int(time.time() * 1000)) > int(params["recvWindow"]):
        return None
    return params


class AsterVenue:
    """A small stateful Aster for one symbol: a GTX order that would take comes back ``EXPIRED``, others rest
    (``NEW``), fill when the test says so (``ORDER_TRADE_UPDATE`` with ``x=TRADE`` on the listen-key stream) and cancel;
    orders are listed and looked up over REST. A private request whose signature does not verify is answered 401
    (code -1022) and recorded in :attr:`forged`."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.orders: dict[int, dict[str, Any]] = {}
        self.bodies: dict[int, dict[str, str]] = {}  # order id → the signed parameters that placed it
        self.forged: list[RecordedRequest] = []
        self.position = Decimal(0)
        self.entry = Decimal(0)
        self._ids = itertools.count(22543001)
        self._trade_ids = itertools.count(699001)
        ticker = next(t for t in fx("book_ticker") if t["symbol"] == SYMBOL)
        self.best_bid, self.best_ask = Decimal(ticker["bidPrice"]), Decimal(ticker["askPrice"])
        server.route("GET", "/fapi/v1/exchangeInfo", fx("exchange_info"))
        server.route("GET", "/fapi/v1/ticker/bookTicker", ticker, query={"symbol": SYMBOL})
        server.route("POST", "/fapi/v1/listenKey", self.keyed(fx("listen_key")))
        server.route("PUT", "/fapi/v1/listenKey", self.keyed({}))
        server.route("GET", "/fapi/v4/account", self.signed(lambda _p: fx("account_v4")))
        server.route("GET", "/fapi/v2/positionRisk", self.signed(self.position_risk))
        server.route("GET", "/fapi/v1/openOrders", self.signed(self.open_orders))
        server.route("POST", "/fapi/v1/order", self.signed(self.create))
        server.route("GET", "/fapi/v1/order", self.signed(self.lookup))
        server.route("DELETE", "/fapi/v1/order", self.signed(self.cancel))
        server.route("DELETE", "/fapi/v1/allOpenOrders", self.signed(self.cancel_all))
        server.route("GET", "/fapi/v1/userTrades", self.signed(lambda _p: []))
        self.stream: WsEndpoint = server.websocket(f"/ws/{LISTEN_KEY}")

    def keyed(self, answer: Any) -> Callable[[RecordedRequest], Any]:
        """``USER_STREAM`` endpoints: the API key header only, no signature."""

        def checked(request: RecordedRequest) -> Any:
            if request.header("X-MBX-APIKEY") != API_KEY:
                self.forged.append(request)
                return Reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
            return answer

        return checked

    def signed(self, handler: Callable[[dict[str, str]], Any]) -> Callable[[RecordedRequest], Any]:
        def checked(request: RecordedRequest) -> Any:
            params = verified_params(request)
            if params is None:
                self.forged.append(request)
                return Reply(401, fx("error_signature"))
            return handler(params)

        return checked

    def resting(self, side: str) -> dict[str, Any] | None:
        return next((o for o in self.orders.values() if o["side"] == side and o["status"] == "NEW"), None)

    def _find(self, params: dict[str, str]) -> dict[str, Any] | None:
        if "orderId" in params:
            return self.orders.get(int(params["orderId"]))
        wanted = params.get("origClientOrderId")
        return next((o for o in self.orders.values() if o["clientOrderId"] == wanted), None)

    def create(self, body: dict[str, str]) -> Any:
        assert body["symbol"] == SYMBOL, body
        order_id = next(self._ids)
        self.bodies[order_id] = body
        now = int(time.time() * 1000)
        order = fx("order_new_gtx") | {
            "orderId": order_id,
            "clientOrderId": body["newClientOrderId"],
            "symbol": body["symbol"],
            "side": body["side"],
            "type": body["type"],
            "origType": body["type"],
            "timeInForce": body.get("timeInForce", "GTC"),
            "origQty": body["quantity"],
            "price": body.get("price", "0"),
            "reduceOnly": body.get("reduceOnly") == "true",
            "time": now,
            "updateTime": now,
        }
        price = Decimal(order["price"])
        crosses = price >= self.best_ask if order["side"] == "BUY" else price <= self.best_bid
        if order["timeInForce"] == "GTX" and crosses:
            order["status"] = "EXPIRED"  # what a post-only that would take becomes (nothing executed)
        self.orders[order_id] = order
        return order

    def open_orders(self, query: dict[str, str]) -> Any:
        return [o for o in self.orders.values() if o["status"] == "NEW" and query.get("symbol") in {None, o["symbol"]}]

    def lookup(self, query: dict[str, str]) -> Any:
        order = self._find(query)
        return order if order is not None else Reply(400, {"code": -2013, "msg": "Order does not exist."})

    def cancel(self, query: dict[str, str]) -> Any:
        order = self._find(query)
        if order is None or order["status"] != "NEW":
            return Reply(400, {"code": -2011, "msg": "Unknown order sent."})
        order.update(status="CANCELED", updateTime=int(time.time() * 1000))
        return order

    def cancel_all(self, query: dict[str, str]) -> Any:
        for order in self.orders.values():
            if order["status"] == "NEW" and order["symbol"] == query["symbol"]:
                order.update(status="CANCELED", updateTime=int(time.time() * 1000))
        return fx("cancel_all")

    def position_risk(self, query: dict[str, str]) -> Any:
        row = fx("position_risk")[0] | {
            "symbol": SYMBOL,
            "positionAmt": str(self.position),
            "entryPrice": str(self.entry),
            "unRealizedProfit": "0",
        }
        return [row] if query.get("symbol") in {None, SYMBOL} else []

    async def fill(self, order_id: int) -> dict[str, Any]:
        """The resting order trades completely as maker; the user stream says so (``ORDER_TRADE_UPDATE``,
        ``x=TRADE``, ``X=FILLED``)."""
        order = self.orders[order_id]
        size, price = Decimal(order["origQty"]), Decimal(order["price"])
        now = int(time.time() * 1000)
        order.update(
            status="FILLED", executedQty=order["origQty"], cumQuote=str(size * price), avgPrice=order["price"],
            updateTime=now,
        )  # fmt: skip
        self.entry = price if self.position == 0 else self.entry
        self.position += size if order["side"] == "BUY" else -size
        event = fx("ws_order_trade_update_fill")
        event.update(E=now + 1, T=now)
        event["o"].update(
            s=order["symbol"], c=order["clientOrderId"], S=order["side"], o=order["type"], f=order["timeInForce"],
            q=order["origQty"], p=order["price"], ap=order["price"], x="TRADE", X="FILLED", i=order_id,
            l=order["origQty"], z=order["origQty"], L=order["price"], T=now, t=next(self._trade_ids), m=True,
            R=order["reduceOnly"], n=str((size * price * Decimal("0.0002")).quantize(Decimal("0.00000001"))),
        )  # fmt: skip
        await self.stream.broadcast(event)
        data: dict[str, Any] = event["o"]
        return data


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only (GTX) open at ask - tick (HMAC verifies), a fill over the listen-key stream, the reduce-only
    take-profit at fill x (1 + 0.02 %) rounded up to the tick, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = AsterVenue(server)
        options = {"baseUrl": server.url, "wsUrl": server.ws_url, "reconnectInitialDelay": 0.01}
        exchange = registry.create_exchange("aster", options, ENV)
        bot = GridProcess(exchange, "aster", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.stream.wait_for_connections(1)
        bot.run()
        try:
            opened = await wait_until(lambda: venue.resting("BUY"))
            body = venue.bodies[opened["orderId"]]
            assert (body["symbol"], body["side"], body["type"], body["timeInForce"], body["newOrderRespType"]) == (
                SYMBOL,
                "BUY",
                "LIMIT",
                "GTX",
                "RESULT",
            )
            assert Decimal(body["quantity"]) == config.grid.quantity and "reduceOnly" not in body
            assert Decimal(body["price"]) == venue.best_ask - TICK
            assert ids.role_of(body["newClientOrderId"]) == ClientIds.OPEN

            # the venue fills the entry while it rests: once placement returned (the strategy reports the order and
            # watches it from then on), as on a live market
            placed = await wait_until(lambda: events.orders)
            assert [(r.client_order_id, r.time_in_force, result) for r, result, _ in placed] == [
                (body["newClientOrderId"], TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            fill = await venue.fill(opened["orderId"])
            close = await wait_until(lambda: venue.resting("SELL"))
            sent = venue.bodies[close["orderId"]]
            assert (sent["side"], sent["type"], sent["reduceOnly"], sent["timeInForce"]) == (
                "SELL",
                "LIMIT",
                "true",
                "GTC",
            )
            assert Decimal(sent["quantity"]) == Decimal(fill["l"])
            tp = 1 + config.grid.take_profit / 100
            expected = (Decimal(fill["L"]) * tp / TICK).to_integral_value(rounding=ROUND_CEILING) * TICK
            assert Decimal(sent["price"]) == expected
            assert ids.role_of(sent["newClientOrderId"]) == ClientIds.CLOSE
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size, f.fee) for f in reported] == [
                (f"{SYMBOL}:{fill['t']}", Decimal(fill["L"]), Decimal(fill["l"]), Decimal(fill["n"]))
            ]
            resting = await wait_until(lambda: strategy.close_orders)  # once placement returned
            assert [o.order_id for o in resting] == [str(close["orderId"])]
        finally:
            await bot.stop()
        cancels = [(r.query["symbol"], r.query["orderId"]) for r in server.requests_to("DELETE", "/fapi/v1/order")]
        assert cancels == [(SYMBOL, str(close["orderId"]))]
        assert close["status"] == "CANCELED"
        assert [o for o in venue.orders.values() if o["status"] == "NEW"] == []
        assert strategy.snapshot().open_orders == 0
        assert len(venue.bodies) == 2  # one open, one close: nothing else was placed
        assert venue.forged == [] and server.unmatched == []
