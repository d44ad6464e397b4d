"""The Aster trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on httpx + websockets.

REST: the signed endpoints of the API generation the Secret's keys select (:func:`signer_from_env`): V3
(``/fapi/v3``, EIP-712 signed by the API wallet) or V1 (``/fapi/v1``, HMAC-SHA256 with ``X-MBX-APIKEY``); see
:mod:`~bot_runtime.exchanges.aster.signing`. Public market data is read from ``/fapi/v1`` either way. Order updates:
the user-data stream (``POST <listenKey path>`` → ``<wsUrl>/ws/<listenKey>``, kept alive with ``PUT``), reconnected
with backoff;
after every reconnect the client reconciles over REST (``userTrades`` since the last fill, open orders, the final
state of orders that left the book) so no fill is lost. Post-only orders use ``timeInForce=GTX`` with
``newOrderRespType=RESULT``: a GTX order that would cross comes back ``EXPIRED`` and raises
:class:`~bot_runtime.exchanges.base.PostOnlyWouldCross`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.aster import parsing
from bot_runtime.exchanges.aster.errors import map_error
from bot_runtime.exchanges.aster.settings import AsterSettings
from bot_runtime.exchanges.aster.signing import Eip712Signer, HmacSigner, RequestSigner, is_address
from bot_runtime.exchanges.aster.wire import (
    Account,
    BookTicker,
    ExchangeInfo,
    OrderEvent,
    OrderResp,
    PositionRisk,
    UserTrade,
)
from bot_runtime.exchanges.base import (
    Balance,
    CredentialsError,
    Exchange,
    ExchangeError,
    Fill,
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
from bot_runtime.exchanges.registry import VENUES, credential_set
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)

_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")


def signer_from_env(name: str, env: Mapping[str, str], recv_window: int) -> RequestSigner:
    """V3 when the env holds ``ASTER_USER``, ``ASTER_SIGNER``, ``ASTER_SIGNER_PRIVATE_KEY`` (an API wallet), else V1
    with ``ASTER_API_KEY``, ``ASTER_SECRET_KEY``; a :class:`CredentialsError` naming keys (never values) otherwise."""
    keys = credential_set(name, VENUES["aster"].credential_sets, env)
    if keys[0] != "ASTER_USER":
        return HmacSigner(env["ASTER_API_KEY"].strip(), env["ASTER_SECRET_KEY"].strip(), recv_window)
    user, signer, private_key = (env[k].strip() for k in keys)
    for key, value in (("ASTER_USER", user), ("ASTER_SIGNER", signer)):
        if not is_address(value):
            raise CredentialsError(name, [key], "is not an address (0x + 40 hex digits)")
    try:
        v3 = Eip712Signer(user, signer, private_key)
    except ImportError:
        raise
    except Exception:  # the key library's message may quote the key: never pass it on
        raise CredentialsError(name, ["ASTER_SIGNER_PRIVATE_KEY"], "is not a 32-byte hex private key") from None
    if v3.address.lower() != signer.lower():
        raise CredentialsError(
            name, ["ASTER_SIGNER", "ASTER_SIGNER_PRIVATE_KEY"], "do not match: the key signs for another address"
        )
    return v3


class AsterExchange(Exchange):
    def __init__(self, name: str, settings: AsterSettings, env: Mapping[str, str]) -> None:
        self.name = name
        self.settings = settings
        self._signer = signer_from_env(name, env, settings.recv_window)
        self._paths = self._signer.paths
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._by_venue: dict[str, Market] = {}
        self._client_ids: dict[str, str] = {}
        self._hub = OrderUpdateHub(name)
        self._user_ws: ReconnectingWebSocket | None = None
        self._listen_key: str | None = None
        self._keepalive: asyncio.Task[None] | None = None

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await self.markets()
        await self.balance()  # proves the key and signature before anything trades
        for order in await self.open_orders():
            self._hub.track(order)
        if self._user_ws is None:
            # no subscription message: the listen key in the URL is the subscription
            self._user_ws = self.settings.websocket(
                f"{self.name} user stream",
                self._on_user_message,
                url=self._listen_url,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._user_ws.start()
            self._keepalive = asyncio.create_task(self._keepalive_listen_key(), name=f"{self.name} listenKey")

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive
            self._keepalive = None
        if self._user_ws is not None:
            await self._user_ws.close()
            self._user_ws = None
        self._hub.close()
        await self._http.aclose()

    # HTTP ---------------------------------------------------------------------------------------------------------
    async def _public(self, path: str, params: Mapping[str, object] | None = None) -> Any:
        return await request_json(
            self._http, "GET", path, exchange=self.name, error_mapper=self._map, params=dict(params or {})
        )

    async def _signed(self, method: str, path: str, params: Mapping[str, object]) -> Any:
        payload = self._signer.signed_params(params)
        headers = dict(self._signer.headers)
        if method in {"POST", "PUT"}:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return await request_json(
                self._http, method, path, exchange=self.name, error_mapper=self._map, content=payload, headers=headers
            )
        return await request_json(
            self._http, method, f"{path}?{payload}", exchange=self.name, error_mapper=self._map, headers=headers
        )

    def _map(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError:
        return map_error(status, body, headers, self.name)

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            data = await self._public("/fapi/v1/exchangeInfo")
            with reading(self.name, "exchangeInfo"):
                info = ExchangeInfo.model_validate(data)
                perpetuals = [s for s in info.symbols if s.contract_type == "PERPETUAL" and s.status == "TRADING"]
                parsed = [parsing.market_from_symbol(sym) for sym in perpetuals]
            markets: dict[str, Market] = {}
            for market in parsed:
                self._by_venue[market.venue_symbol] = market
                current = markets.get(market.symbol)
                if current is None or (current.quote != self.settings.quote and market.quote == self.settings.quote):
                    markets[market.symbol] = market
            self._markets = markets
        return self._markets

    def _canonical(self, venue_symbol: str) -> str:
        market = self._by_venue.get(venue_symbol)
        return market.symbol if market else normalize(self.name, venue_symbol).base

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        data = await self._public("/fapi/v1/ticker/bookTicker", {"symbol": market.venue_symbol})
        with reading(self.name, "bookTicker"):
            ticker = BookTicker.model_validate(data)
        return checked_quote(
            self.name, symbol, ticker.bid_price, ticker.ask_price, bid_size=ticker.bid_qty, ask_size=ticker.ask_qty
        )

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        url = f"{self.settings.ws_url}/ws/{market.venue_symbol.lower()}@bookTicker"
        quotes: LatestQueue[Quote] = LatestQueue()

        async def on_message(message: Any) -> None:
            if isinstance(message, Mapping) and message.get("e") == "bookTicker":
                with reading(self.name, "bookTicker event"):
                    ticker = BookTicker.from_stream(dict(message))
                quotes.put(  # a bad book raises: the socket logs it and the queue keeps the last good quote
                    checked_quote(
                        self.name,
                        symbol,
                        ticker.bid_price,
                        ticker.ask_price,
                        bid_size=ticker.bid_qty,
                        ask_size=ticker.ask_qty,
                        timestamp=parsing.ms(ticker.time),
                    )
                )

        socket = self.settings.websocket(f"{self.name} {market.venue_symbol} bookTicker", on_message, url=url)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _venue_client_id(self, client_order_id: str) -> str:
        if _CLIENT_ID.match(client_order_id):
            return client_order_id
        venue_id = "x-" + hashlib.sha256(client_order_id.encode()).hexdigest()[:32]
        self._client_ids[venue_id] = client_order_id
        return venue_id

    def _our_client_id(self, venue_id: str | None) -> str | None:
        if not venue_id:
            return None
        return self._client_ids.get(venue_id, venue_id)

    def _order(self, raw: Any) -> Order:
        """An order answer (``POST/GET/DELETE order``, an ``openOrders`` row) read strictly."""
        with reading(self.name, "order"):
            resp = OrderResp.model_validate(raw)
            return parsing.order_from_resp(
                resp, self._canonical(resp.symbol), self._our_client_id(resp.client_order_id)
            )

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        params: dict[str, object] = {
            "symbol": market.venue_symbol,
            "side": "BUY" if request.side is Side.BUY else "SELL",
            "type": "MARKET" if request.order_type is OrderType.MARKET else "LIMIT",
            "quantity": size,
        }
        if request.order_type is OrderType.LIMIT:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            params["timeInForce"] = parsing.TIF_TO_WIRE[request.time_in_force]
            params["price"] = market.round_price(request.price, request.side)
        if request.reduce_only:
            params["reduceOnly"] = True
        params["newClientOrderId"] = self._venue_client_id(request.client_order_id)
        params["newOrderRespType"] = "RESULT"
        order = self._order(await self._signed("POST", self._paths.order, params))
        order = order.model_copy(update={"client_order_id": request.client_order_id})
        self._hub.track(order)
        if request.time_in_force is TimeInForce.POST_ONLY and order.status is OrderStatus.EXPIRED:
            self._hub.publish(OrderUpdate(order=order))
            raise PostOnlyWouldCross(
                f"{self.name}: post-only {order.side} {market.venue_symbol} @ {params['price']} would cross",
                exchange=self.name,
            )
        return order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        market = await self.market(symbol)
        data = await self._signed("DELETE", self._paths.order, {"symbol": market.venue_symbol, "orderId": order_id})
        self._hub.publish(OrderUpdate(order=self._order(data)))

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        by_symbol: dict[str, int] = defaultdict(int)
        for order in open_orders:
            by_symbol[order.symbol] += 1
        for canonical in by_symbol:
            market = await self.market(canonical)
            await self._signed("DELETE", self._paths.all_open_orders, {"symbol": market.venue_symbol})
        return len(open_orders)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        params: dict[str, object] = {}
        if symbol is not None:
            params["symbol"] = (await self.market(symbol)).venue_symbol
        rows = await self._signed("GET", self._paths.open_orders, params)
        return [self._order(row) for row in rows]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        market = await self.market(symbol)
        try:
            data = await self._signed("GET", self._paths.order, {"symbol": market.venue_symbol, "orderId": order_id})
        except OrderNotFound:
            return None
        return self._order(data)

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        market = await self.market(symbol)
        params = {"symbol": market.venue_symbol, "origClientOrderId": self._venue_client_id(client_order_id)}
        try:
            data = await self._signed("GET", self._paths.order, params)
        except OrderNotFound:
            return None
        return self._order(data)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def position(self, symbol: str) -> Position:
        market = await self.market(symbol)
        rows = await self._signed("GET", self._paths.position_risk, {"symbol": market.venue_symbol})
        with reading(self.name, "positionRisk"):
            return parsing.position_from_risk([PositionRisk.model_validate(r) for r in rows], symbol)

    async def positions(self) -> list[Position]:
        data = await self._signed("GET", self._paths.position_risk, {})
        with reading(self.name, "positionRisk"):
            rows = [PositionRisk.model_validate(r) for r in data]
        grouped: dict[str, list[PositionRisk]] = defaultdict(list)
        for row in rows:
            grouped[row.symbol].append(row)
        result = []
        for venue_symbol, group in grouped.items():
            position = parsing.position_from_risk(group, self._canonical(venue_symbol))
            if position.size != 0:
                result.append(position)
        return result

    async def balance(self) -> Balance:
        data = await self._signed("GET", self._paths.account, {})
        with reading(self.name, "account"):
            account = Account.model_validate(data)
        return Balance(
            asset="USDT",
            equity=account.total_margin_balance,
            available=account.available_balance,
            margin_used=account.total_initial_margin,
            unrealized_pnl=account.total_unrealized_profit,
        )

    # user data stream ---------------------------------------------------------------------------------------------
    async def _listen_key_call(self, method: str) -> Any:
        if self._paths.listen_key_signed:  # V3: USER_STREAM endpoints take signer + signature like the others
            return await self._signed(method, self._paths.listen_key, {})
        return await request_json(
            self._http,
            method,
            self._paths.listen_key,
            exchange=self.name,
            error_mapper=self._map,
            headers=self._signer.headers,
        )

    async def _listen_url(self) -> str:
        data = await self._listen_key_call("POST")
        with reading(self.name, "listenKey"):
            self._listen_key = str(data["listenKey"])
        return f"{self.settings.ws_url}/ws/{self._listen_key}"

    async def _keepalive_listen_key(self) -> None:
        while True:
            await asyncio.sleep(self.settings.listen_key_keepalive)
            if self._listen_key is None:
                continue
            try:
                await self._listen_key_call("PUT")
            except ExchangeError as exc:
                log.warning("%s: listenKey keepalive failed (%s); renewing the stream", self.name, exc)
                if self._user_ws is not None:
                    await self._user_ws.reconnect("listen key keepalive failed")

    async def _on_user_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        event = message.get("e")
        if event == "ORDER_TRADE_UPDATE":
            self._on_order_event(message)
        elif event == "listenKeyExpired" and self._user_ws is not None:
            await self._user_ws.reconnect("listen key expired")

    def _on_order_event(self, message: Mapping[str, Any]) -> None:
        with reading(self.name, "ORDER_TRADE_UPDATE"):  # raised to the socket: it logs and catches up over REST
            event = OrderEvent.model_validate(message["o"])
            symbol = self._canonical(event.symbol)
            client_id = self._our_client_id(event.client_order_id)
            order = parsing.order_from_event(event, symbol, client_id, message.get("E"))
            fill = parsing.fill_from_event(event, symbol, client_id)
        self._hub.publish(OrderUpdate(order=order, fill=fill))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        markets = await self.markets()
        venue_symbols = {markets[o.symbol].venue_symbol for o in self._hub.open_orders() if o.symbol in markets}
        fills: list[Fill] = []
        for venue_symbol in sorted(venue_symbols):
            rows = await self._signed(
                "GET",
                self._paths.user_trades,
                {"symbol": venue_symbol, "startTime": int(since.timestamp() * 1000), "limit": 1000},
            )
            for row in rows:
                with reading(self.name, "userTrades"):
                    trade = UserTrade.model_validate(row)
                    known = self._hub.known_order(str(trade.order_id))
                    fills.append(
                        parsing.fill_from_trade(
                            trade, self._canonical(venue_symbol), known.client_order_id if known else None
                        )
                    )
        return fills
