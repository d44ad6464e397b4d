"""The Backpack trading client (:class:`~bot_runtime.exchanges.base.Exchange`).

Every private request is built and ED25519-signed by bpx-py's ``BaseAccount`` (instruction + sorted parameters +
timestamp + window) and sent with httpx. bpx-py has no WebSocket: the ``account.orderUpdate`` subscription is
signed here with the same key and scheme (instruction ``subscribe``). After every reconnect the client reconciles
over REST (fills since the last one seen, open orders, the final state of orders that left the book).

Client ids: Backpack's ``clientId`` is a uint32. Our ``pd<tag>-<role>-<unique>`` ids are packed into it (and read
back after a restart) by :class:`~bot_runtime.exchanges._shared.tagged_ids.TaggedClientIds` with the ``BACKPACK``
layout (20 bits of the bot tag, the role, an allocated sequence); a numeric id is sent as it is, any other string is
hashed into the ids that are not ours.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from bpx.base.base_account import BaseAccount

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.tagged_ids import BACKPACK, TaggedClientIds
from bot_runtime.exchanges._shared.values import dec
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.backpack import parsing
from bot_runtime.exchanges.backpack.errors import map_error
from bot_runtime.exchanges.backpack.settings import BackpackSettings
from bot_runtime.exchanges.backpack.wire import (
    BookTickerEvent,
    CollateralResp,
    FillResp,
    MarketInfo,
    OrderEvent,
    OrderResp,
    PositionResp,
    parse_time,
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
    OrderType,
    OrderUpdate,
    Position,
    Quote,
    TimeInForce,
    utcnow,
)
from bot_runtime.exchanges.registry import require_credentials
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)


def _num(value: Decimal) -> str:
    return format(value, "f")


class BackpackExchange(Exchange):
    def __init__(self, name: str, settings: BackpackSettings, env: Mapping[str, str]) -> None:
        credentials = require_credentials(name, env)
        self.name = name
        self.settings = settings
        secret = credentials["BACKPACK_SECRET_KEY"]
        try:
            if len(base64.b64decode(secret, validate=True)) != 32:
                raise ValueError("length")
            self._signer: Any = BaseAccount(credentials["BACKPACK_PUBLIC_KEY"], secret, settings.window, False)
        except (ValueError, binascii.Error):
            raise CredentialsError(
                name, ["BACKPACK_SECRET_KEY"], "is not a base64-encoded 32-byte ED25519 secret"
            ) from None
        # bpx-py reads its base URL from a class attribute (trailing slash required): set it on this instance only
        self._signer.BPX_API_URL = settings.base_url + "/"
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._by_venue: dict[str, Market] = {}
        self._client_ids = TaggedClientIds(BACKPACK)
        self._post_only: set[str] = set()
        self._hub = OrderUpdateHub(name)
        self._stream: ReconnectingWebSocket | None = None

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await self.markets()
        await self.balance()  # proves the key pair before anything trades
        for order in await self.open_orders():
            self._hub.track(order)
        if self._stream is None:
            self._stream = self.settings.websocket(
                f"{self.name} account stream",
                self._on_account_message,
                on_connect=self._subscribe_account,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._stream.start()

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._hub.close()
        await self._http.aclose()

    # HTTP ---------------------------------------------------------------------------------------------------------
    def _map(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError:
        return map_error(status, body, headers, self.name)

    async def _send(self, method: str, config: Any) -> Any:
        """Send a bpx-py ``RequestConfiguration`` (already signed)."""
        if method == "GET":
            return await request_json(
                self._http, "GET", config.url, exchange=self.name, error_mapper=self._map,
                params=config.params, headers=config.headers,
            )  # fmt: skip
        body = json.dumps(config.data if config.data is not None else {}, default=str)
        return await request_json(
            self._http, method, config.url, exchange=self.name, error_mapper=self._map,
            content=body, headers=config.headers,
        )  # fmt: skip

    async def _public(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await request_json(
            self._http, "GET", f"/{path}", exchange=self.name, error_mapper=self._map, params=dict(params or {})
        )

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            markets: dict[str, Market] = {}
            for raw in await self._public("api/v1/markets"):
                with reading(self.name, "markets"):
                    info = MarketInfo.model_validate(raw)
                    if info.market_type != "PERP" or info.order_book_state == "Closed":
                        continue
                    market = parsing.market_from_info(info)
                self._by_venue[market.venue_symbol] = market
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _canonical(self, venue_symbol: str) -> str:
        market = self._by_venue.get(venue_symbol)
        return market.symbol if market else normalize(self.name, venue_symbol).base

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        depth = await self._public("api/v1/depth", {"symbol": market.venue_symbol})
        with reading(self.name, "depth"):
            bids = [(dec(p), dec(q)) for p, q in depth.get("bids", [])]
            asks = [(dec(p), dec(q)) for p, q in depth.get("asks", [])]
        if not bids or not asks:
            raise ExchangeError(f"{self.name}: empty order book for {market.venue_symbol}", exchange=self.name)
        bid, ask = max(bids), min(asks)
        return checked_quote(self.name, symbol, bid[0], ask[0], bid_size=bid[1], ask_size=ask[1])

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        stream = f"bookTicker.{market.venue_symbol}"
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(ws: ReconnectingWebSocket) -> None:
            await ws.send_json({"method": "SUBSCRIBE", "params": [stream]})

        async def on_message(message: Any) -> None:
            if isinstance(message, Mapping) and message.get("stream") == stream:
                with reading(self.name, "bookTicker event"):
                    event = BookTickerEvent.model_validate(message["data"])
                quotes.put(  # a bad book raises: the socket logs it and the queue keeps the last good quote
                    checked_quote(
                        self.name,
                        symbol,
                        event.bid,
                        event.ask,
                        bid_size=event.bid_size,
                        ask_size=event.ask_size,
                        timestamp=parse_time(event.event_time) or utcnow(),
                    )
                )

        socket = self.settings.websocket(f"{self.name} {stream}", on_message, on_connect=subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _our_client_id(self, venue_id: int | None) -> str | None:
        return self._client_ids.decode(venue_id)

    def _order(self, raw: Any) -> Order:
        """An order answer (``order``, ``orders``, order history rows) read strictly."""
        with reading(self.name, "order"):
            resp = OrderResp.model_validate(raw)
            order = parsing.order_from_resp(resp, self._canonical(resp.symbol), self._our_client_id(resp.client_id))
        if resp.post_only:
            self._post_only.add(resp.id)
        return order

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        client_id = self._client_ids.encode(request.client_order_id, self._hub.open_orders())
        self._client_ids.ensure_free(client_id, request.client_order_id, self._hub.open_orders())
        price = None
        if request.order_type is OrderType.LIMIT:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = _num(market.round_price(request.price, request.side))
        config = self._signer.execute_order(
            symbol=market.venue_symbol,
            side=parsing.side_to_wire(request.side),
            order_type="Market" if request.order_type is OrderType.MARKET else "Limit",
            time_in_force="IOC" if request.time_in_force is TimeInForce.IOC else "GTC",
            quantity=_num(size),
            price=price,
            client_id=client_id,
            post_only=request.post_only or None,
            reduce_only=request.reduce_only or None,
        )
        order = self._order(await self._send("POST", config))
        if request.post_only:
            self._post_only.add(order.order_id)
        order = order.model_copy(update={"client_order_id": request.client_order_id})
        self._hub.track(order)
        return order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        market = await self.market(symbol)
        data = await self._send("DELETE", self._signer.cancel_order(symbol=market.venue_symbol, order_id=order_id))
        self._hub.publish(OrderUpdate(order=self._order(data)))

    async def cancel_all(self, symbol: str | None = None) -> int:
        if symbol is not None:
            venue_symbols = [(await self.market(symbol)).venue_symbol]
        else:
            markets = await self.markets()
            venue_symbols = sorted(
                {markets[o.symbol].venue_symbol for o in await self.open_orders() if o.symbol in markets}
            )
        cancelled = 0
        for venue_symbol in venue_symbols:
            data = await self._send("DELETE", self._signer.cancel_all_orders(symbol=venue_symbol))
            cancelled += len(data) if isinstance(data, list) else 0
        return cancelled

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        venue_symbol = (await self.market(symbol)).venue_symbol if symbol is not None else None
        data = await self._send("GET", self._signer.get_open_orders(market_type="PERP", symbol=venue_symbol))
        return [self._order(row) for row in data or []]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        market = await self.market(symbol)
        try:
            data = await self._send("GET", self._signer.get_open_order(symbol=market.venue_symbol, order_id=order_id))
            return self._order(data)
        except OrderNotFound:
            pass
        history = await self._send(
            "GET", self._signer.get_order_history(limit=1, offset=0, order_id=order_id, symbol=market.venue_symbol)
        )
        with reading(self.name, "order history"):
            return next((self._order(row) for row in history or [] if str(row.get("id")) == order_id), None)

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        market = await self.market(symbol)
        client_id = self._client_ids.encode(client_order_id)
        try:
            data = await self._send("GET", self._signer.get_open_order(symbol=market.venue_symbol, client_id=client_id))
            return self._order(data)
        except OrderNotFound:
            pass
        history = await self._send(
            "GET", self._signer.get_order_history(limit=100, offset=0, symbol=market.venue_symbol, market_type="PERP")
        )
        with reading(self.name, "order history"):
            mine = (row for row in history or [] if str(row.get("clientId")) == str(client_id))
            return next((self._order(row) for row in mine), None)

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        data = await self._send("GET", self._signer.get_open_positions())
        with reading(self.name, "position"):
            rows = [PositionResp.model_validate(r) for r in data or []]
            return [parsing.position_from_resp(r, self._canonical(r.symbol)) for r in rows if r.net_quantity != 0]

    async def position(self, symbol: str) -> Position:
        for position in await self.positions():
            if position.symbol == symbol:
                return position
        return Position(symbol=symbol, size=Decimal(0))

    async def balance(self) -> Balance:
        raw = await self._send("GET", self._signer.get_collateral())
        with reading(self.name, "collateral"):
            data = CollateralResp.model_validate(raw)
        return Balance(
            asset="USDC",
            equity=data.net_equity,
            available=data.net_equity_available,
            margin_used=data.net_equity_locked,
            unrealized_pnl=data.pnl_unrealized,
        )

    # account stream -----------------------------------------------------------------------------------------------
    async def _subscribe_account(self, ws: ReconnectingWebSocket) -> None:
        timestamp = int(time.time() * 1000)
        window = self.settings.window
        signature = self._signer._sign({}, "subscribe", timestamp, window)  # bpx-py's ED25519 scheme
        await ws.send_json(
            {
                "method": "SUBSCRIBE",
                "params": ["account.orderUpdate"],
                "signature": [self._signer.public_key, signature, str(timestamp), str(window)],
            }
        )

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        if "error" in message:
            log.warning("%s: account stream error: %s", self.name, message["error"])
            return
        if str(message.get("stream", "")).startswith("account.orderUpdate"):
            with reading(self.name, "orderUpdate event"):  # raised to the socket: it logs and catches up over REST
                event = OrderEvent.model_validate(message["data"])
            self._on_order_event(event)

    def _on_order_event(self, event: OrderEvent) -> None:
        symbol = self._canonical(event.symbol)
        client_id = self._our_client_id(event.client_id)
        known = self._hub.known_order(event.order_id)
        post_only = event.order_id in self._post_only or (
            known is not None and known.time_in_force is TimeInForce.POST_ONLY
        )
        with reading(self.name, "orderUpdate event"):
            order = parsing.order_from_event(event, symbol, client_id, post_only)
            fill = parsing.fill_from_event(event, symbol, client_id)
        self._hub.publish(OrderUpdate(order=order, fill=fill))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        data = await self._send(
            "GET",
            self._signer.get_fill_history(
                limit=1000, offset=0, from_=int(since.timestamp() * 1000), market_type="PERP"
            ),
        )
        fills = []
        for row in data or []:
            with reading(self.name, "fills"):
                resp = FillResp.model_validate(row)
                fills.append(
                    parsing.fill_from_resp(resp, self._canonical(resp.symbol), self._our_client_id(resp.client_id))
                )
        return fills
