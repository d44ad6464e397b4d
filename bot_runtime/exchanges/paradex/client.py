"""The Paradex trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on paradex-py.

* Signing: paradex-py's typed data for orders, the JWT request and onboarding, hashed by starknet-py and signed with
  the L2 Starknet key by starknet-crypto-py (:mod:`~bot_runtime.exchanges.paradex.signing`, which imports only those
  modules of the SDKs: the whole of paradex-py costs ~5 s and ~90 MB to import).
* REST: the requests paradex-py's ``ParadexApiClient`` sends, over one asynchronous httpx client (no worker thread):
  a JWT from ``POST /auth/{public_key}`` (after ``POST /onboarding`` when Paradex answers ``NOT_ONBOARDED``), renewed
  30 s before it expires, as the bearer token of the private endpoints. No built-in retries: ours apply.
* Placement: Paradex answers ``NEW`` and the matching engine decides later, so after placing we wait (up to
  ``orderConfirmTimeout``) for the order to leave ``NEW`` - from the stream or by polling ``GET /orders/{id}`` - and
  turn a ``CLOSED`` order with ``cancel_reason=POST_ONLY_WOULD_CROSS`` into
  :class:`~bot_runtime.exchanges.base.PostOnlyWouldCross` (the original bot did the same by polling).
* Stream: JSON-RPC WebSocket (``auth`` with a fresh JWT, then ``orders.ALL`` and ``fills.ALL``), reconnected with
  backoff; after a reconnect: REST reconciliation (fills since the last one, open orders, final states).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    AuthenticationError,
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
    Quote,
    Side,
    TransientNetworkError,
    utcnow,
)
from bot_runtime.exchanges.paradex import parsing
from bot_runtime.exchanges.paradex.errors import error_code, map_response_error, rejection_for
from bot_runtime.exchanges.paradex.settings import ParadexSettings
from bot_runtime.exchanges.paradex.signing import ParadexSigner, jwt_expiry
from bot_runtime.exchanges.paradex.signing import sdk as signing_sdk
from bot_runtime.exchanges.paradex.wire import (
    AccountSummaryResp,
    AuthResp,
    BBOResp,
    FillResult,
    MarketResp,
    OrderResp,
    PositionResp,
    ms,
)
from bot_runtime.exchanges.registry import require_credentials
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)

_JSON_HEADERS = {"Content-Type": "application/json"}
_JWT_RENEW_MARGIN = 30.0  # seconds before the JWT expires (paradex-py's _REFRESH_BUFFER_SECONDS)
_OPAQUE_JWT_LIFETIME = 4 * 60.0  # a token without an ``exp`` claim (paradex-py's assumption)
_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{1,64}$")
_ETH_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ParadexExchange(Exchange):
    def __init__(self, name: str, settings: ParadexSettings, env: Mapping[str, str]) -> None:
        credentials = require_credentials(name, env)
        self.name = name
        self.settings = settings
        self._l1_address = credentials["PARADEX_L1_ADDRESS"].strip()
        self._l2_key = credentials["PARADEX_L2_PRIVATE_KEY"].strip()
        self._l2_address = credentials.get("PARADEX_L2_ADDRESS", "").strip() or None
        if not _ETH_ADDRESS.match(self._l1_address):
            raise CredentialsError(name, ["PARADEX_L1_ADDRESS"], "is not a 0x-prefixed Ethereum address")
        if not _HEX_KEY.match(self._l2_key) or int(self._l2_key, 16) == 0:
            raise CredentialsError(name, ["PARADEX_L2_PRIVATE_KEY"], "is not a hex Starknet private key")
        self._signer: ParadexSigner | None = None
        self._jwt: str | None = None
        self._jwt_renew_at = 0.0
        self._auth_lock = asyncio.Lock()
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._by_venue: dict[str, Market] = {}
        self._hub = OrderUpdateHub(name)
        self._stream: ReconnectingWebSocket | None = None
        self._rpc_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"ParadexExchange({self.name!r}, {self.settings.environment}, l1={self._l1_address})"

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        if self._signer is None:
            # importing the signing modules (~1 s of CPU) and deriving the address: off the event loop, the import
            # while the system config and the markets are requested
            imported = asyncio.ensure_future(asyncio.to_thread(signing_sdk))
            try:
                config = self.settings.system_config or await self._public("GET", "/system/config")
                await self.markets()
            finally:
                await asyncio.wait([imported])
            imported.result()
            self._signer = await asyncio.to_thread(self._build_signer, config)
        async with self._auth_lock:
            await self._authenticate()
        await self.markets()
        for order in await self.open_orders():
            self._hub.track(order)
        if self._stream is None:
            self._stream = self.settings.websocket(
                f"{self.name} account stream",
                self._on_account_message,
                on_connect=self._authenticate_and_subscribe,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._stream.start()

    def _build_signer(self, config: Mapping[str, Any]) -> ParadexSigner:
        try:
            signer = ParadexSigner(config, self._l2_key)
        except (KeyError, ValueError) as exc:
            raise ExchangeError(
                f"{self.name}: the system config lacks what signing needs ({type(exc).__name__})", exchange=self.name
            ) from None
        if self._l2_address and int(self._l2_address, 16) != signer.address:
            log.warning("%s: PARADEX_L2_ADDRESS %s differs from the address derived from the key (%s)",
                        self.name, self._l2_address, hex(signer.address))  # fmt: skip
        return signer

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._hub.close()
        await self._http.aclose()

    # calls --------------------------------------------------------------------------------------------------------
    def _error(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError:
        return map_response_error(status, body, headers, exchange=self.name)

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if payload is not None:
            sent.update(_JSON_HEADERS)
        return await request_json(
            self._http,
            method,
            path,
            exchange=self.name,
            error_mapper=self._error,
            params={k: str(v) for k, v in (params or {}).items()},
            content=None if payload is None else json.dumps(payload),
            headers=sent,
        )

    async def _public(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self._request(method, path, params)

    def _signing(self) -> ParadexSigner:
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        return self._signer

    async def _authenticate(self) -> str:
        """A fresh JWT (``POST /auth/{public_key}``), onboarding the account first if Paradex asks for it. The caller
        holds ``_auth_lock``."""
        signer = self._signing()
        path = f"/auth/{hex(signer.public_key)}"
        try:
            body = await self._request("POST", path, headers=signer.auth_headers())
        except AuthenticationError as exc:
            if error_code(str(exc)) != "NOT_ONBOARDED":
                raise
            onboarding = {"public_key": hex(signer.public_key)}
            await self._request("POST", "/onboarding", payload=onboarding,
                                headers=signer.onboarding_headers(self._l1_address))  # fmt: skip
            body = await self._request("POST", path, headers=signer.auth_headers())
        with reading(self.name, "auth answer"):
            token = AuthResp.model_validate(body).jwt_token
        expiry = jwt_expiry(token)
        self._jwt = token
        self._jwt_renew_at = time.time() + _OPAQUE_JWT_LIFETIME if expiry is None else expiry - _JWT_RENEW_MARGIN
        return token

    async def _bearer(self) -> str:
        if self._jwt is None or time.time() >= self._jwt_renew_at:
            async with self._auth_lock:
                if self._jwt is None or time.time() >= self._jwt_renew_at:
                    return await self._authenticate()
        return self._jwt

    async def _private(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, payload: Any = None
    ) -> Any:
        authorization = {"Authorization": f"Bearer {await self._bearer()}"}
        return await self._request(method, path, params, payload, authorization)

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            data = await self._public("GET", "/markets")
            markets: dict[str, Market] = {}
            for raw in data.get("results", []):
                with reading(self.name, "markets"):
                    resp = MarketResp.model_validate(raw)
                    if not parsing.is_perpetual(resp):
                        continue
                    market = parsing.market_from_resp(resp)
                self._by_venue[market.venue_symbol] = market
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _canonical(self, venue_symbol: str) -> str:
        market = self._by_venue.get(venue_symbol)
        return market.symbol if market else normalize(self.name, venue_symbol).base

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        data = await self._public("GET", f"/bbo/{market.venue_symbol}")
        with reading(self.name, "bbo"):
            bbo = BBOResp.model_validate(data)
        return checked_quote(self.name, symbol, bbo.bid, bbo.ask, bid_size=bbo.bid_size, ask_size=bbo.ask_size)

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        channel = f"bbo.{market.venue_symbol}"
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(ws: ReconnectingWebSocket) -> None:
            await ws.send_json(self._rpc_message("subscribe", {"channel": channel}))

        async def on_message(message: Any) -> None:
            params = message.get("params") if isinstance(message, Mapping) else None
            if isinstance(params, Mapping) and params.get("channel") == channel:
                with reading(self.name, "bbo event"):
                    bbo = BBOResp.model_validate(params["data"])
                quotes.put(checked_quote(self.name, symbol, bbo.bid, bbo.ask, bid_size=bbo.bid_size,
                                         ask_size=bbo.ask_size, timestamp=ms(bbo.last_updated_at) or utcnow()))  # fmt: skip

        socket = self.settings.websocket(f"{self.name} {channel}", on_message, on_connect=subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _order(self, raw: Any) -> Order:
        """An order answer or ``orders`` event read strictly."""
        with reading(self.name, "order"):
            resp = OrderResp.model_validate(raw)
            return parsing.order_from_resp(resp, self._canonical(resp.market))

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        price = Decimal(0)
        if request.order_type is OrderType.LIMIT:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = market.round_price(request.price, request.side)
        sdk = signing_sdk()
        sdk_order = sdk.order_cls(
            market=market.venue_symbol,
            order_type=sdk.order_type.Market if request.order_type is OrderType.MARKET else sdk.order_type.Limit,
            order_side=sdk.order_side.Buy if request.side is Side.BUY else sdk.order_side.Sell,
            size=size,
            limit_price=price,
            client_id=request.client_order_id,
            instruction=parsing.TIF_TO_WIRE[request.time_in_force],
            reduce_only=request.reduce_only,
        )
        # hashing the typed data takes ~5-10 ms of CPU (18 Pedersen hashes): in a worker thread, as paradex-py ran
        body = await asyncio.to_thread(self._signing().signed_order, sdk_order)
        order = self._order(await self._private("POST", "/orders", payload=body))
        self._hub.track(order)
        if order.status is OrderStatus.PENDING and self.settings.order_confirm_timeout > 0:
            order = (
                await self._hub.settle(
                    lambda: self.get_order(order.symbol, order.order_id),
                    order_id=order.order_id,
                    timeout=self.settings.order_confirm_timeout,
                    interval=self.settings.order_confirm_poll,
                )
                or order
            )
        if order.status is OrderStatus.REJECTED and order.cancel_reason is not None:
            raise rejection_for(
                order.cancel_reason,
                f"{order.side} {market.venue_symbol} @ {price} closed by the engine: {order.cancel_reason}",
                self.name,
            )
        return order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        await self._private("DELETE", f"/orders/{order_id}")  # queued: the stream reports the final state

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        params = {"market": (await self.market(symbol)).venue_symbol} if symbol is not None else None
        await self._private("DELETE", "/orders", params)
        return len(open_orders)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        params = {"market": (await self.market(symbol)).venue_symbol} if symbol is not None else None
        data = await self._private("GET", "/orders", params)
        return [self._order(row) for row in (data or {}).get("results", [])]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        try:
            return self._order(await self._private("GET", f"/orders/{order_id}"))
        except OrderNotFound:
            return None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        try:
            return self._order(await self._private("GET", f"/orders/by_client_id/{client_order_id}"))
        except OrderNotFound:
            return None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        data = await self._private("GET", "/positions")
        with reading(self.name, "positions"):
            rows = [PositionResp.model_validate(r) for r in (data or {}).get("results", [])]
        return [
            parsing.position_from_resp(r, self._canonical(r.market))
            for r in rows
            if r.size != 0 and (r.status or "OPEN") == "OPEN"
        ]

    async def position(self, symbol: str) -> Position:
        for position in await self.positions():
            if position.symbol == symbol:
                return position
        return Position(symbol=symbol, size=Decimal(0))

    async def balance(self) -> Balance:
        data = await self._private("GET", "/account")
        with reading(self.name, "account"):
            summary = AccountSummaryResp.model_validate(data)
        return Balance(
            asset=summary.settlement_asset or "USDC",
            equity=summary.account_value,
            available=summary.free_collateral,
            margin_used=summary.initial_margin_requirement,
            unrealized_pnl=summary.account_value - summary.total_collateral,
        )

    # account stream -----------------------------------------------------------------------------------------------
    def _rpc_message(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": dict(params), "id": next(self._rpc_ids)}

    async def _rpc(self, ws: ReconnectingWebSocket, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
        request = self._rpc_message(method, params)
        await ws.send_json(request)
        async with asyncio.timeout(self.settings.request_timeout):
            while True:
                reply = await ws.receive_json(self.settings.request_timeout)
                if isinstance(reply, Mapping) and reply.get("id") == request["id"]:
                    return reply

    async def _authenticate_and_subscribe(self, ws: ReconnectingWebSocket) -> None:
        async with self._auth_lock:
            jwt = await self._authenticate()  # a fresh JWT for every (re)connection
        reply = await self._rpc(ws, "auth", {"bearer": jwt})
        if "error" in reply:
            raise AuthenticationError(f"{self.name}: websocket auth refused: {reply['error']}", exchange=self.name)
        for channel in ("orders.ALL", "fills.ALL"):
            reply = await self._rpc(ws, "subscribe", {"channel": channel})
            if "error" in reply:
                raise TransientNetworkError(
                    f"{self.name}: subscribe {channel} failed: {reply['error']}", exchange=self.name
                )

    async def _on_account_message(self, message: Any) -> None:
        params = message.get("params") if isinstance(message, Mapping) else None
        if not isinstance(params, Mapping):
            return
        channel = str(params.get("channel", ""))
        if channel.startswith("orders."):
            self._hub.publish(OrderUpdate(order=self._order(params["data"])))
        elif channel.startswith("fills."):
            with reading(self.name, "fill event"):  # raised to the socket: it logs and catches up over REST
                result = FillResult.model_validate(params["data"])
            await self._on_fill(result)

    async def _on_fill(self, result: FillResult) -> None:
        symbol = self._canonical(result.market)
        order = self._hub.known_order(result.order_id) or await self.get_order(symbol, result.order_id)
        if order is None:
            log.warning("%s: fill %s of unknown order %s", self.name, result.id, result.order_id)
            return
        with reading(self.name, "fill event"):
            fill = parsing.fill_from_result(result, symbol)
        if fill.client_order_id is None and order.client_order_id is not None:
            fill = fill.model_copy(update={"client_order_id": order.client_order_id})
        self._hub.publish(OrderUpdate(order=parsing.order_after_fill(order, result), fill=fill))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        data = await self._private("GET", "/fills", {"start_at": int(since.timestamp() * 1000), "page_size": 1000})
        fills = []
        for row in (data or {}).get("results", []):
            with reading(self.name, "fills"):
                result = FillResult.model_validate(row)
                fills.append(parsing.fill_from_result(result, self._canonical(result.market)))
        return fills
