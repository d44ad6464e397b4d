"""The ApeX Omni trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on the documented REST API and the
private WebSocket, orders signed with the official SDK's zkLink binding (:mod:`.signing`).

Transport (the SDK's ``HttpPrivate`` / ``_websocket_stream``, re-stated because the SDK package cannot import under
the project's pins): httpx to ``{baseUrl}/v3/...``; private requests carry ``APEX-API-KEY``, ``APEX-PASSPHRASE``,
``APEX-TIMESTAMP`` (ms) and ``APEX-SIGNATURE`` over timestamp + METHOD + path (+ the query for a GET, + the sorted
form items for a POST); POST bodies are form-encoded (``requests``' ``data=``: values as ``str()``, None dropped).

* Orders: ``POST /v3/order`` with :meth:`.signing.OrderSigner.order_body` (the byte-proven SDK body). The client id
  is the strategy's (a string; the zkLink nonce and slot derive from it), so ``find_order_by_client_id`` is the
  venue's ``GET /v3/order-by-client-order-id`` from any process. Post-only is ``timeInForce=POST_ONLY``: a crossing
  one that the venue cancels on arrival (before any fill, within the settle window) is :class:`PostOnlyWouldCross`.
* Cancels: ``POST /v3/delete-order`` (``id``), ``/v3/delete-client-order-id`` (``id`` = client id),
  ``/v3/delete-open-orders`` (``symbol``); an order that is no longer open is :class:`OrderNotFound`.
* Stream: ``{wsUrl}/realtime_private?v=2&timestamp=<ms>``, ``{"op": "login", "args": [<json>]}`` for
  ``ws_zk_accounts_v3``, then ``{"topic": "ws_zk_accounts_v3", "type": "snapshot"|"delta", "contents": {...}}``
  with ``orders`` and ``fills``; ``{"op": "ping"}`` is answered ``{"op": "pong", "args": ["<ms>"]}``. After a
  reconnect: ``GET /v3/fills`` since the last fill, then the orders that left the book, then the open orders.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.ws import ReconnectingWebSocket
from bot_runtime.exchanges.apex import parsing
from bot_runtime.exchanges.apex.config import PRIVATE_WS_PATH, ApexCredentials, ApexSettings
from bot_runtime.exchanges.apex.errors import is_refusal, map_http_error, map_refusal
from bot_runtime.exchanges.apex.signing import Contract, OrderSigner, request_signature
from bot_runtime.exchanges.apex.wire import (
    Account,
    AccountBalance,
    AccountPush,
    Depth,
    Envelope,
    FillRow,
    FillsPage,
    OrderRow,
    SymbolsData,
)
from bot_runtime.exchanges.base import (
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
)

log = logging.getLogger(__name__)

ACCOUNT_TOPIC = "ws_zk_accounts_v3"
WS_LOGIN_PATH = "/ws/accounts"  # apexomni/_websocket_stream.py PRIVATE_REQUEST_PATH
_FILLS_LIMIT = 100
_FILL_PAGES = 10
_QUOTE_INTERVAL = 1.0


class ApexExchange(Exchange):
    def __init__(self, name: str, settings: ApexSettings, credentials: ApexCredentials) -> None:
        self.name = name
        self.settings = settings
        self._credentials = credentials
        self._http = httpx.AsyncClient(timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._contracts: dict[str, Contract] = {}
        self._by_venue: dict[str, Market] = {}
        self._signer: OrderSigner | None = None
        self._fees: tuple[Decimal, Decimal] | None = None  # taker, maker
        self._hub = OrderUpdateHub(name)
        self._account_ws: ReconnectingWebSocket | None = None

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await self.markets()
        account = await self._account()  # the private read that proves the key
        self._fees = (account.contract_account.taker_fee_rate, account.contract_account.maker_fee_rate)
        if self._signer is None:
            self._signer = OrderSigner(self._credentials.zk_seeds.get_secret_value(), account.id)
        for order in await self.open_orders():
            self._hub.track(order)
        if self._account_ws is None:
            self._account_ws = self.settings.websocket(
                f"{self.name} account stream",
                self._on_account_message,
                url=self._private_url,
                on_connect=self._login,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
                answer=_answer_ping,
            )
            self._account_ws.start()

    async def close(self) -> None:
        if self._account_ws is not None:
            await self._account_ws.close()
            self._account_ws = None
        self._hub.close()
        await self._http.aclose()

    # HTTP ---------------------------------------------------------------------------------------------------------
    def _mapper(self, status: int, body: Any, headers: Any) -> ExchangeError:
        return map_http_error(status, body, headers, self.name)

    def _auth_headers(self, method: str, path: str, data: Mapping[str, Any]) -> dict[str, str]:
        stamp = str(int(time.time() * 1000))
        signature = request_signature(self._credentials.secret.get_secret_value(), path, method, stamp, data)
        return {
            "APEX-SIGNATURE": signature,
            "APEX-API-KEY": self._credentials.api_key.get_secret_value(),
            "APEX-TIMESTAMP": stamp,
            "APEX-PASSPHRASE": self._credentials.passphrase.get_secret_value(),
        }

    def _sign_path(self, path: str) -> str:
        """The path the signature covers: the base URL's own path (``/api``) + the endpoint's."""
        return httpx.URL(self.settings.base_url).path.rstrip("/") + path

    async def _request(self, method: str, path: str, params: Mapping[str, Any] | None = None, *, private: bool) -> Any:
        items = {k: v for k, v in (params or {}).items() if v is not None}
        url = f"{self.settings.base_url}{path}"
        headers: dict[str, str] = {}
        content: str | None = None
        if method == "GET":
            query = "&".join(f"{k}={v}" for k, v in items.items())
            if query:
                url, path = f"{url}?{query}", f"{path}?{query}"
            if private:
                headers = self._auth_headers("GET", self._sign_path(path), {})
        else:
            form = {k: _form_value(v) for k, v in items.items()}
            content = urlencode(form)
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if private:
                headers |= self._auth_headers("POST", self._sign_path(path), form)
        raw = await request_json(
            self._http, method, url, exchange=self.name, error_mapper=self._mapper, content=content, headers=headers
        )
        if is_refusal(raw):
            raise self._refusal(raw)
        with reading(self.name, path.split("?")[0]):
            return Envelope.model_validate(raw).data

    def _refusal(self, body: Mapping[str, Any]) -> ExchangeError:
        text = f"{body.get('key') or ''} {body.get('msg') or ''}".upper()
        message = str(body.get("key") or body.get("msg") or "")[:200]
        if body.get("code") in (20006, "20006") or ("SIGN" in text and "API" in text):
            return AuthenticationError(f"{self.name}: the API key was refused ({message})", exchange=self.name)
        if "POST_ONLY" in text or "POST ONLY" in text:
            return PostOnlyWouldCross(f"{self.name}: {message}", exchange=self.name)
        if "LIQUIDAT" in text or "INSUFFICIENT" in text or "BALANCE" in text:
            return InsufficientMargin(f"{self.name}: {message}", exchange=self.name)
        if "REDUCE" in text:
            return OrderRejected(
                f"{self.name}: {message}", reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=self.name
            )
        if any(marker in text for marker in ("NOT_FOUND", "NOT FOUND", "NOT_EXIST", "NOT EXIST")):
            return OrderNotFound(f"{self.name}: {message}", exchange=self.name)
        if "ORDER" in text:
            return OrderRejected(f"{self.name}: {message}", exchange=self.name)
        return map_refusal(body, self.name)

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            data = await self._request("GET", "/v3/symbols", private=False)
            with reading(self.name, "/v3/symbols"):
                config = SymbolsData.model_validate(data).contract_config
            decimals = {asset.token: asset.decimals for asset in config.assets}
            markets: dict[str, Market] = {}
            for row in config.perpetual_contract:
                if not row.enable_trade or (row.settle_asset_id or "USDT") not in decimals:
                    continue
                market = parsing.market_from_contract(self.name, row)
                settle = decimals[row.settle_asset_id or "USDT"]
                self._contracts[row.symbol] = Contract(row.symbol, row.l2_pair_id, row.tick_size, settle)
                self._by_venue[row.symbol] = market
                self._by_venue[row.cross_symbol_name] = market
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        data = await self._request(
            "GET", "/v3/depth", {"symbol": market.venue_symbol.replace("-", ""), "limit": 1}, private=False
        )
        with reading(self.name, "/v3/depth"):
            depth = Depth.model_validate(data)
            bid, ask = depth.b[0], depth.a[0]
        return checked_quote(self.name, symbol, bid[0], ask[0], bid_size=bid[1], ask_size=ask[1])

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        """Top of book from ``GET /v3/depth`` once a second (the public depth stream's message shape has no source
        reachable here; docs/exchanges/apex.md)."""
        while True:
            try:
                quote = await self.best_bid_ask(symbol)
            except ExchangeError as exc:
                log.warning("%s: no quote for %s: %s", self.name, symbol, exc)
            else:
                yield quote
            await asyncio.sleep(_QUOTE_INTERVAL)

    def _symbol_of(self, venue_symbol: str) -> str | None:
        market = self._by_venue.get(venue_symbol)
        return market.symbol if market is not None else None

    # orders -------------------------------------------------------------------------------------------------------
    def _ready_signer(self) -> tuple[OrderSigner, Decimal, Decimal]:
        if self._signer is None or self._fees is None:
            raise ExchangeError(f"{self.name}: connect() first (the account id is not known yet)", exchange=self.name)
        return self._signer, self._fees[0], self._fees[1]

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        signer, taker, maker = self._ready_signer()
        size = market.round_size(request.size)
        if size < market.min_size or size <= 0:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        if request.order_type is OrderType.MARKET:
            quote = await self.best_bid_ask(request.symbol)
            slip = Decimal(str(self.settings.market_slippage))
            reference = quote.ask * (1 + slip) if request.side is Side.BUY else quote.bid * (1 - slip)
            price = market.round_price(reference, request.side.opposite)
            tif, wire_type = TimeInForce.IOC, "MARKET"
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = market.round_price(request.price, request.side)
            tif, wire_type = request.time_in_force, "LIMIT"
        body = signer.order_body(
            self._contracts[market.venue_symbol],
            side="BUY" if request.side is Side.BUY else "SELL",
            order_type=wire_type,
            price=price,
            size=size,
            time_in_force=parsing.TIF_WIRE[tif],
            reduce_only=request.reduce_only,
            client_id=request.client_order_id,
            taker_fee_rate=taker,
            maker_fee_rate=maker,
            timestamp_seconds=int(time.time()),
        )
        data = await self._request("POST", "/v3/order", body, private=True)
        with reading(self.name, "/v3/order answer"):
            row = OrderRow.model_validate(data)
        order = parsing.order_from_row(self.name, row, market.symbol)
        if order.client_order_id != request.client_order_id:
            order = order.model_copy(update={"client_order_id": request.client_order_id})
        self._hub.publish(OrderUpdate(order=order))
        if tif in (TimeInForce.POST_ONLY, TimeInForce.IOC):
            settled = await self._hub.settle(
                lambda: self.get_order(request.symbol, order.order_id),
                order_id=order.order_id,
                timeout=self.settings.settle_timeout,
                interval=self.settings.settle_interval,
            )
            order = settled or order
        if tif is TimeInForce.POST_ONLY and order.status is OrderStatus.CANCELED and order.filled_size == 0:
            rejected = order.model_copy(update={"cancel_reason": CancelReason.POST_ONLY_VIOLATION})
            self._hub.publish(OrderUpdate(order=rejected))
            raise PostOnlyWouldCross(
                f"{self.name}: post-only {request.client_order_id} would have crossed", exchange=self.name
            )
        return self._hub.known_order(order.order_id) or order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        current = await self.get_order(symbol, order_id)
        if current is None or current.status.is_final:
            raise OrderNotFound(f"{self.name}: order {order_id} is not open", exchange=self.name)
        await self._request("POST", "/v3/delete-order", {"id": order_id}, private=True)
        await self._after_cancel(symbol, order_id)

    async def cancel_by_client_id(self, symbol: str, client_order_id: str) -> None:
        """Cancel by the strategy's client id (``POST /v3/delete-client-order-id``): any process's order."""
        current = await self.find_order_by_client_id(symbol, client_order_id)
        if current is None or current.status.is_final:
            raise OrderNotFound(f"{self.name}: no open order with client id {client_order_id}", exchange=self.name)
        await self._request("POST", "/v3/delete-client-order-id", {"id": client_order_id}, private=True)
        await self._after_cancel(symbol, current.order_id)

    async def _after_cancel(self, symbol: str, order_id: str) -> None:
        """The venue's state of a cancelled order, published when final (else the stream tells)."""
        latest = await self.get_order(symbol, order_id)
        if latest is not None and latest.status.is_final:
            self._hub.publish(OrderUpdate(order=latest))

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        if not open_orders:
            return 0
        markets = await self.markets()
        venue_symbols = sorted({markets[o.symbol].venue_symbol for o in open_orders})
        await self._request("POST", "/v3/delete-open-orders", {"symbol": ",".join(venue_symbols)}, private=True)
        return len(open_orders)

    def _order(self, row: OrderRow) -> Order | None:
        symbol = self._symbol_of(row.symbol)
        if symbol is None:
            return None
        return parsing.order_from_row(self.name, row, symbol, known=self._hub.known_order(row.id))

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self.markets()
        data = await self._request("GET", "/v3/open-orders", private=True)
        with reading(self.name, "/v3/open-orders"):
            rows = [OrderRow.model_validate(row) for row in data or []]
        wanted = (await self.market(symbol)).symbol if symbol is not None else None
        orders = [order for order in map(self._order, rows) if order is not None]
        return [o for o in orders if wanted is None or o.symbol == wanted]

    async def _one_order(self, path: str, ident: str) -> Order | None:
        await self.markets()
        try:
            data = await self._request("GET", path, {"id": ident}, private=True)
        except OrderNotFound:
            return None
        if not data:
            return None
        with reading(self.name, path):
            row = OrderRow.model_validate(data)
        return self._order(row)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        return await self._one_order("/v3/order", order_id)

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        return await self._one_order("/v3/order-by-client-order-id", client_order_id)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def _account(self) -> Account:
        data = await self._request("GET", "/v3/account", private=True)
        with reading(self.name, "/v3/account"):
            return Account.model_validate(data)

    async def position(self, symbol: str) -> Position:
        market = await self.market(symbol)
        for position in await self.positions():
            if position.symbol == market.symbol:
                return position
        return Position(symbol=market.symbol, size=Decimal(0))

    async def positions(self) -> list[Position]:
        await self.markets()
        out: list[Position] = []
        for row in (await self._account()).positions:
            symbol = self._symbol_of(row.symbol)
            if symbol is not None and row.size != 0:
                out.append(parsing.position_from_row(row, symbol))
        return out

    async def balance(self) -> Balance:
        data = await self._request("GET", "/v3/account-balance", private=True)
        with reading(self.name, "/v3/account-balance"):
            return parsing.balance_from(AccountBalance.model_validate(data))

    # account stream -----------------------------------------------------------------------------------------------
    def _private_url(self) -> str:
        return f"{self.settings.ws_url}{PRIVATE_WS_PATH}&timestamp={int(time.time() * 1000)}"

    async def _login(self, socket: ReconnectingWebSocket) -> None:
        stamp = int(time.time() * 1000)
        secret = self._credentials.secret.get_secret_value()
        login = {
            "type": "login",
            "topics": [ACCOUNT_TOPIC],
            "httpMethod": "GET",
            "requestPath": WS_LOGIN_PATH,
            "apiKey": self._credentials.api_key.get_secret_value(),
            "passphrase": self._credentials.passphrase.get_secret_value(),
            "timestamp": stamp,
            "signature": request_signature(secret, WS_LOGIN_PATH, "GET", str(stamp), {}),
        }
        await socket.send_json({"op": "login", "args": [json.dumps(login)]})

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        request = message.get("request")
        if isinstance(request, Mapping) and request.get("op") == "login":
            if str(message.get("success")).lower() != "true":
                log.warning("%s: the account stream refused the login", self.name)
            return
        if message.get("topic") != ACCOUNT_TOPIC:
            return
        with reading(self.name, f"{ACCOUNT_TOPIC} push"):
            push = AccountPush.model_validate(message)
        snapshot = "snapshot" in push.type.lower()
        for row in push.contents.orders:
            order = self._order(row)
            if order is not None and (not snapshot or self._hub.known_order(order.order_id) is not None):
                self._hub.publish(OrderUpdate(order=order))
        for fill_row in push.contents.fills:
            fill = self._fill(fill_row)
            if fill is not None:
                self._hub.publish_fill(fill, drop_history=True)

    def _fill(self, row: FillRow) -> Fill | None:
        if row.status is not None and row.status.upper() != "SUCCESS":
            return None
        symbol = self._symbol_of(row.symbol)
        if symbol is None:
            return None
        known = self._hub.known_order(row.order_id)
        return parsing.fill_from_row(row, symbol, known.client_order_id if known else None)

    async def _fills_since(self, since: datetime) -> list[Fill]:
        """``GET /v3/fills`` from ``since`` (``beginTimeInclusive``, ms), ``page`` by page until a short one."""
        await self.markets()
        fills: list[Fill] = []
        begin = int(since.timestamp() * 1000)
        for page in range(_FILL_PAGES):
            data = await self._request(
                "GET", "/v3/fills", {"beginTimeInclusive": begin, "limit": _FILLS_LIMIT, "page": page}, private=True
            )
            with reading(self.name, "/v3/fills"):
                rows = FillsPage.model_validate(data or {}).orders
            fills.extend(fill for fill in map(self._fill, rows) if fill is not None)
            if len(rows) < _FILLS_LIMIT:
                return fills
        log.warning("%s: more than %d fills since %s: the older ones are not caught up", self.name, len(fills), since)
        return fills


def _form_value(value: Any) -> str:
    """``requests``' form encoding of the SDK's body: ``str()`` of each value (booleans as ``True`` / ``False``)."""
    return str(value)


def _answer_ping(message: Any) -> Any:
    if isinstance(message, Mapping) and message.get("op") == "ping":
        return {"op": "pong", "args": [str(int(time.time() * 1000))]}
    return None
