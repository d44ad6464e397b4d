"""GRVT trading client on the official ``grvt-pysdk`` (``GrvtCcxtPro``: REST, API-key login, EIP-712 order signing).

* Orders are built and signed by the SDK (``create_order`` → ``get_order_payload``: EIP-712 over the instrument hash,
  size x 10^base_decimals, price x 10^9, with the sub-account, nonce and expiration).
* The SDK's WebSocket module needs websockets < 14; the streams here are our own on websockets 15, speaking GRVT's
  JSON-RPC format on ``/ws/full``: ``{"jsonrpc":"2.0","method":"subscribe","params":{"stream":"v1.order",
  "selectors":["<sub account>"]},"id":n}`` with the session cookie and ``X-Grvt-Account-Id`` headers; feeds arrive
  as ``{"stream","selector","sequence_number","feed":{...}}``.
* Post-only rejection is asynchronous (order state ``REJECTED``/``FAIL_POST_ONLY``): ``place_order`` waits
  ``confirmTimeout`` for the verdict from the stream or ``full/v1/order`` by client order id.
* After a reconnect: fills since the last one seen come from ``full/v1/fill_history``, orders from
  ``full/v1/open_orders`` (and ``full/v1/order`` for the ones that vanished).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pysdk.grvt_ccxt_types import GrvtInvalidOrder

from bot_runtime.exchanges._shared.client_ids import GRVT, IntegerClientIds
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.values import dec, dec_or_none
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    ZERO,
    AuthenticationError,
    Balance,
    CancelReason,
    Exchange,
    ExchangeError,
    Fill,
    InsufficientMargin,
    Market,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    PostOnlyWouldCross,
    Quote,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from bot_runtime.exchanges.grvt.config import GrvtConfig
from bot_runtime.exchanges.grvt.mapping import parse_fill, parse_market, parse_order, parse_position
from bot_runtime.exchanges.grvt.sdk import GrvtRest, SdkLogGuard, install_log_guard, remove_log_guard, use_base_url

log = logging.getLogger(__name__)

T = TypeVar("T")
CONFIRM_POLL = 0.2
NS = 1_000_000_000


class GrvtExchange(Exchange):
    name = "grvt"

    def __init__(self, config: GrvtConfig, *, name: str = "grvt") -> None:
        self.name = name
        self._cfg = config
        self._rest: GrvtRest | None = None
        self._guard: SdkLogGuard | None = None
        self._markets: dict[str, Market] = {}
        self._by_instrument: dict[str, Market] = {}
        self._instruments: dict[str, dict[str, Any]] = {}
        self._client_ids = IntegerClientIds(GRVT)
        self._hub = OrderUpdateHub(name)
        self._stream: ReconnectingWebSocket | None = None
        self._request_id = 0

    # lifecycle --------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._rest is None:
            self._guard = install_log_guard(
                [self._cfg.api_key.get_secret_value(), self._cfg.private_key.get_secret_value()]
            )
            use_base_url(self._cfg.environment, self._cfg.base_url)
            self._rest = GrvtRest(
                self._cfg.environment,
                trading_account_id=self._cfg.trading_account_id,
                private_key=self._cfg.private_key.get_secret_value(),
                api_key=self._cfg.api_key.get_secret_value(),
                timeout=self._cfg.request_timeout,
            )
        self._hub.mark_started()
        if not await self._rest.login():
            raise AuthenticationError(f"{self.name}: login with GRVT_API_KEY was refused", exchange=self.name)
        await self._load_markets()
        if self._cfg.stream and self._stream is None:
            self._stream = ReconnectingWebSocket(
                self._cfg.trade_ws_url,
                name=f"{self.name}:trades",
                on_message=self._on_trade_message,
                on_connect=self._subscribe_trades,
                on_reconnect=rest_catch_up(
                    self._hub, self, self._fills_since, lambda order: self._order_by_id(order.order_id)
                ),
                before_connect=self._refresh_login,
                headers=self._rest.cookie_headers,
            )
            self._stream.start()
            await self._stream.wait_connected(timeout=self._cfg.request_timeout)

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._hub.close()
        if self._rest is not None:
            await self._rest.close()
            self._rest = None
        if self._guard is not None:
            remove_log_guard(self._guard)
            self._guard = None

    async def _refresh_login(self) -> None:
        if self._rest is not None:
            await self._rest.refresh_cookie()

    def _sdk(self) -> GrvtRest:
        if self._rest is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        return self._rest

    async def _call(self, what: str, factory: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(factory(), self._cfg.request_timeout + 1)
        except GrvtInvalidOrder as exc:
            raise OrderRejected(f"{self.name}: {what}: {exc}"[:300], exchange=self.name) from None
        except TimeoutError:
            raise TransientNetworkError(f"{self.name}: {what} timed out", exchange=self.name) from None

    # market data ------------------------------------------------------------------------------------------------
    async def _load_markets(self) -> None:
        rest = self._sdk()
        await self._call("instruments", rest.load_markets)
        markets: dict[str, Market] = {}
        for instrument in rest.markets.values():
            if instrument.get("kind") != "PERPETUAL":
                continue
            with reading(self.name, "instrument"):
                market = parse_market(instrument)
            markets[market.symbol] = market
            self._instruments[market.venue_symbol] = instrument
        self._markets = markets
        self._by_instrument = {m.venue_symbol: m for m in markets.values()}

    async def markets(self) -> dict[str, Market]:
        if not self._markets:
            await self._load_markets()
        return dict(self._markets)

    def _symbol_of(self, instrument: str) -> str:
        market = self._by_instrument.get(instrument)
        return market.symbol if market else instrument

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        ticker = await self._call("mini", lambda: self._sdk().fetch_mini_ticker(market.venue_symbol))
        return self._quote(symbol, ticker)

    def _quote(self, symbol: str, ticker: dict[str, Any]) -> Quote:
        """A mini ticker's top of book (``MiniTicker.best_bid_price`` / ``best_ask_price``), only 0 < bid < ask."""
        with reading(self.name, "mini ticker"):
            bid, ask = dec_or_none(ticker.get("best_bid_price")), dec_or_none(ticker.get("best_ask_price"))
            bid_size, ask_size = dec_or_none(ticker.get("best_bid_size")), dec_or_none(ticker.get("best_ask_size"))
        return checked_quote(self.name, symbol, bid, ask, bid_size=bid_size, ask_size=ask_size)

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(ws: ReconnectingWebSocket) -> None:
            await ws.send_json(
                self._rpc("subscribe", {"stream": "v1.mini.s", "selectors": [f"{market.venue_symbol}@500"]})
            )

        async def on_message(message: Any) -> None:
            if not isinstance(message, dict) or "feed" not in message:
                return
            if str(message.get("stream", "")).endswith("mini.s") or str(message.get("stream", "")).endswith("mini.d"):
                quotes.put(self._quote(symbol, message["feed"]))  # a bad book raises: logged, the last quote stays

        ws = ReconnectingWebSocket(
            self._cfg.market_ws_url, name=f"{self.name}:mini:{symbol}", on_message=on_message, on_connect=subscribe
        )
        async for quote in relay(ws, quotes):
            yield quote

    # orders -----------------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        size = market.round_size(request.size)
        if size <= 0 or size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} below the minimum {market.min_size} of {market.symbol}",
                exchange=self.name,
            )
        cid = self._client_ids.encode(request.client_order_id)
        self._client_ids.ensure_free(cid, request.client_order_id, self._hub.open_orders())
        params: dict[str, Any] = {
            "client_order_id": cid,
            "post_only": request.post_only,
            "reduce_only": request.reduce_only,
            "order_duration_secs": self._cfg.order_duration_secs,
        }
        price: Decimal | None = None
        if request.order_type is OrderType.MARKET:
            kind = "market"
            params["time_in_force"] = "IMMEDIATE_OR_CANCEL"
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            kind = "limit"
            price = market.round_price(request.price, request.side)
            if request.time_in_force is TimeInForce.IOC:
                params["time_in_force"] = "IMMEDIATE_OR_CANCEL"
        side = "buy" if request.side is Side.BUY else "sell"
        result = await self._call(
            "create_order",
            lambda: self._sdk().create_order(
                market.venue_symbol, kind, side, str(size), str(price) if price else None, params
            ),
        )
        order = self._parse_order(result, market.symbol) if result else None
        if order is not None and order.status is not OrderStatus.PENDING and order.order_id not in ("", "0x00"):
            self._hub.remember(order)  # the answer already carries the verdict
        verdict = await self._hub.settle(
            lambda: self._order_by_client_id(cid),
            client_order_id=request.client_order_id,
            timeout=self._cfg.confirm_timeout,
            interval=CONFIRM_POLL,
        )
        final = verdict or order
        if final is None:
            raise ExchangeError(f"{self.name}: create_order returned no order", exchange=self.name)
        if final.status is OrderStatus.REJECTED:
            if final.cancel_reason is CancelReason.POST_ONLY_VIOLATION:
                raise PostOnlyWouldCross(
                    f"{self.name}: post-only order {request.client_order_id} would cross", exchange=self.name
                )
            if final.cancel_reason is CancelReason.INSUFFICIENT_BALANCE:
                raise InsufficientMargin(
                    f"{self.name}: order {request.client_order_id} refused for margin", exchange=self.name
                )
            raise OrderRejected(
                f"{self.name}: order {request.client_order_id} rejected",
                reason=final.cancel_reason or CancelReason.REJECTED,
                exchange=self.name,
            )
        return final

    async def _order_by_client_id(self, cid: int) -> Order | None:
        try:
            return await self._fetch_order(client=cid)
        except OrderNotFound:
            return None

    async def _order_by_id(self, order_id: str) -> Order | None:
        try:
            return await self._fetch_order(order_id=order_id)
        except OrderNotFound:
            return None

    async def _fetch_order(self, *, order_id: str | None = None, client: int | None = None) -> Order | None:
        params = {"client_order_id": client} if client is not None else {}
        response = await self._call("order", lambda: self._sdk().fetch_order(id=order_id, params=params))
        raw = response.get("result") if isinstance(response, dict) else None
        if not raw:
            return None
        return self._parse_order(raw)

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        opens = {o.order_id for o in await self.open_orders(symbol)}
        if order_id not in opens:
            raise OrderNotFound(f"{self.name}: order {order_id} is not open on {symbol}", exchange=self.name)
        acked = await self._call("cancel_order", lambda: self._sdk().cancel_order(id=order_id))
        if not acked:
            raise OrderNotFound(f"{self.name}: cancel of {order_id} not acknowledged", exchange=self.name)

    async def cancel_all(self, symbol: str | None = None) -> int:
        opens = await self.open_orders(symbol)
        if not opens:
            return 0
        params: dict[str, Any] = {"kind": "PERPETUAL"}
        if symbol is not None:
            instrument = self._instruments[(await self.market(symbol)).venue_symbol]
            params.update(base=instrument["base"], quote=instrument["quote"])
        acked = await self._call("cancel_all_orders", lambda: self._sdk().cancel_all_orders(params))
        if not acked:
            raise ExchangeError(f"{self.name}: cancel-all not acknowledged", exchange=self.name)
        return len(opens)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        instrument = (await self.market(symbol)).venue_symbol if symbol else None
        raws = await self._call(
            "open_orders", lambda: self._sdk().fetch_open_orders(symbol=instrument, params={"kind": "PERPETUAL"})
        )
        return [self._parse_order(raw) for raw in raws]

    def _parse_order(self, raw: Any, symbol: str | None = None) -> Order:
        """An ``Order`` payload read strictly (:func:`~.mapping.parse_order`), its symbol from its first leg."""
        with reading(self.name, "order"):
            if symbol is None:
                symbol = self._symbol_of(str(raw["legs"][0]["instrument"]))
            return parse_order(raw, symbol, self._client_ids)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        order = await self._order_by_id(order_id)
        return order if order is not None and order.symbol == symbol else None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        cid = self._client_ids.encode(client_order_id)
        order = await self._order_by_client_id(cid)
        return order if order is not None and order.symbol == symbol else None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ----------------------------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        raws = await self._call("positions", lambda: self._sdk().fetch_positions(params={"kind": "PERPETUAL"}))
        with reading(self.name, "positions"):
            positions = [parse_position(raw, self._symbol_of(str(raw["instrument"]))) for raw in raws]
        return [p for p in positions if p.size != 0]

    async def position(self, symbol: str) -> Position:
        await self.market(symbol)
        for pos in await self.positions():
            if pos.symbol == symbol:
                return pos
        return Position(symbol=symbol, size=ZERO)

    async def balance(self) -> Balance:
        summary = await self._call("account_summary", lambda: self._sdk().get_account_summary("sub-account"))
        if not summary:
            raise ExchangeError(f"{self.name}: empty account summary", exchange=self.name)
        with reading(self.name, "account summary"):
            return Balance(
                asset=str(summary.get("settle_currency") or "USDT"),
                equity=dec(summary["total_equity"]),
                available=dec(summary["available_balance"]),
                margin_used=dec(summary.get("initial_margin") or "0"),
                unrealized_pnl=dec(summary.get("unrealized_pnl") or "0"),
            )

    # the trade-data stream ----------------------------------------------------------------------------------------
    def _rpc(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._request_id += 1
        return {"jsonrpc": "2.0", "method": method, "params": params, "id": self._request_id}

    async def _subscribe_trades(self, ws: ReconnectingWebSocket) -> None:
        selector = self._cfg.trading_account_id
        for stream in ("v1.order", "v1.fill"):
            await ws.send_json(self._rpc("subscribe", {"stream": stream, "selectors": [selector]}))

    async def _on_trade_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "feed" not in message:
            if message.get("error"):
                log.warning("%s: stream error %s", self.name, str(message.get("error"))[:300])
            return
        stream = str(message.get("stream", ""))
        feed = message["feed"]
        if stream.endswith(".order") or stream == "order":  # unreadable: raised, the socket catches up over REST
            self._hub.publish(OrderUpdate(order=self._parse_order(feed)))
        elif stream.endswith(".fill") or stream == "fill":
            self._hub.publish_fill(self._fill(feed), drop_history=True)

    def _fill(self, raw: dict[str, Any]) -> Fill:
        with reading(self.name, "fill"):
            return parse_fill(raw, self._symbol_of(str(raw["instrument"])), self._client_ids)

    async def _fills_since(self, since: datetime) -> list[Fill]:
        since_ns = int(since.timestamp() * NS)
        response = await self._call(
            "fill_history",
            lambda: self._sdk().fetch_my_trades(since=since_ns, limit=1000, params={"kind": "PERPETUAL"}),
        )
        rows = response.get("result") or [] if isinstance(response, dict) else []
        return [self._fill(raw) for raw in rows]
