"""The Paradex trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on paradex-py.

* REST + signing: paradex-py (``submit_order`` signs the order's typed data with the L2 Starknet key; ``auth`` signs
  the JWT request). Its client is synchronous httpx, so every call runs in a worker thread; its built-in retries are
  off (``retry_strategy=None``: ``time.sleep`` in a thread would hide the outcome), ours apply.
* Placement: Paradex answers ``NEW`` and the matching engine decides later, so after placing we wait (up to
  ``orderConfirmTimeout``) for the order to leave ``NEW`` - from the stream or by polling ``GET /orders/{id}`` - and
  turn a ``CLOSED`` order with ``cancel_reason=POST_ONLY_WOULD_CROSS`` into
  :class:`~bot_runtime.exchanges.base.PostOnlyWouldCross` (the original bot did the same by polling).
* Stream: JSON-RPC WebSocket (``auth`` with the JWT, then ``orders.ALL`` and ``fills.ALL``), reconnected with
  backoff and a fresh JWT; after a reconnect: REST reconciliation (fills since the last one, open orders, final
  states).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
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
from bot_runtime.exchanges.paradex.errors import map_sdk_error, rejection_for
from bot_runtime.exchanges.paradex.settings import ParadexSettings
from bot_runtime.exchanges.paradex.wire import BBOResp, FillResult, MarketResp, OrderResp, PositionResp, ms
from bot_runtime.exchanges.registry import require_credentials
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)

T = TypeVar("T")
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
        self._local = threading.local()
        self._sdk: Any = None
        self._public_http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
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
        config = self.settings.system_config or await self._public("GET", "/system/config")
        self._sdk = await self._in_thread(lambda: self._build_sdk(config))
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

    def _build_sdk(self, raw_config: Mapping[str, Any]) -> Any:
        from paradex_py import Paradex
        from paradex_py.api.http_client import HttpClient
        from paradex_py.api.models import SystemConfigSchema

        config_data = dict(raw_config)
        if "starknet_fullnode_rpc_base_url" not in config_data and "starknet_fullnode_rpc_url" in config_data:
            config_data["starknet_fullnode_rpc_base_url"] = re.sub(
                r"/rpc/v\d+[._]\d+.*$", "", str(config_data["starknet_fullnode_rpc_url"])
            )
        config = SystemConfigSchema().load(config_data, unknown="exclude")
        http = httpx.Client(timeout=self.settings.request_timeout, event_hooks={"response": [self._record_response]})
        sdk = Paradex(
            env=self.settings.environment,
            l1_address=self._l1_address,
            l2_private_key=self._l2_key,
            api_base_url=self.settings.base_url,
            config=config,
            http_client=HttpClient(http_client=http),
            retry_strategy=None,
            auto_start_ws_reader=False,
            ws_url_override=self.settings.ws_url,
            logger=logging.getLogger("paradex_py"),
        )
        account = sdk.account
        if account is None:
            raise AuthenticationError(f"{self.name}: paradex-py did not initialise the account", exchange=self.name)
        derived = hex(account.l2_address)
        if self._l2_address and int(self._l2_address, 16) != account.l2_address:
            log.warning("%s: PARADEX_L2_ADDRESS %s differs from the address derived from the key (%s)",
                        self.name, self._l2_address, derived)  # fmt: skip
        return sdk

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._hub.close()
        await self._public_http.aclose()
        if self._sdk is not None:
            await asyncio.to_thread(self._sdk.api_client.client.close)

    # calls --------------------------------------------------------------------------------------------------------
    def _record_response(self, response: httpx.Response) -> None:
        self._local.status = response.status_code
        self._local.retry_after = response.headers.get("retry-after")

    async def _in_thread(self, call: Callable[[], T]) -> T:
        def run() -> T:
            self._local.status = None
            self._local.retry_after = None
            try:
                return call()
            except ExchangeError:
                raise
            except httpx.TimeoutException as exc:
                raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name) from exc
            except httpx.TransportError as exc:
                raise TransientNetworkError(f"{self.name}: {type(exc).__name__}", exchange=self.name) from exc
            except ValueError as exc:
                retry_after = self._local.retry_after
                raise map_sdk_error(
                    str(exc),
                    self._local.status,
                    exchange=self.name,
                    retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
                ) from None

        return await asyncio.to_thread(run)

    async def _api(self, method: str, *args: Any) -> Any:
        if self._sdk is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        api = self._sdk.api_client
        return await self._in_thread(lambda: getattr(api, method)(*args))

    async def _public(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        def mapper(status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError:
            return map_sdk_error(json.dumps(body, default=str) if not isinstance(body, str) else body, status,
                                 exchange=self.name)  # fmt: skip

        return await request_json(
            self._public_http, method, path, exchange=self.name, error_mapper=mapper, params=dict(params or {})
        )

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            data = await self._public("GET", "/markets")
            markets: dict[str, Market] = {}
            for raw in data.get("results", []):
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
        bbo = BBOResp.model_validate(await self._public("GET", f"/bbo/{market.venue_symbol}"))
        return Quote(symbol=symbol, bid=bbo.bid, ask=bbo.ask, bid_size=bbo.bid_size, ask_size=bbo.ask_size)

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        channel = f"bbo.{market.venue_symbol}"
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(ws: ReconnectingWebSocket) -> None:
            await ws.send_json(self._rpc_message("subscribe", {"channel": channel}))

        async def on_message(message: Any) -> None:
            params = message.get("params") if isinstance(message, Mapping) else None
            if isinstance(params, Mapping) and params.get("channel") == channel:
                bbo = BBOResp.model_validate(params["data"])
                quotes.put(Quote(symbol=symbol, bid=bbo.bid, ask=bbo.ask, bid_size=bbo.bid_size,
                                 ask_size=bbo.ask_size, timestamp=ms(bbo.last_updated_at) or utcnow()))  # fmt: skip

        socket = self.settings.websocket(f"{self.name} {channel}", on_message, on_connect=subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _order(self, raw: Any) -> Order:
        resp = OrderResp.model_validate(raw)
        return parsing.order_from_resp(resp, self._canonical(resp.market))

    async def place_order(self, request: OrderRequest) -> Order:
        from paradex_py.common.order import Order as SdkOrder
        from paradex_py.common.order import OrderSide as SdkSide
        from paradex_py.common.order import OrderType as SdkType

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
        sdk_order = SdkOrder(
            market=market.venue_symbol,
            order_type=SdkType.Market if request.order_type is OrderType.MARKET else SdkType.Limit,
            order_side=SdkSide.Buy if request.side is Side.BUY else SdkSide.Sell,
            size=size,
            limit_price=price,
            client_id=request.client_order_id,
            instruction=parsing.TIF_TO_WIRE[request.time_in_force],
            reduce_only=request.reduce_only,
        )
        order = self._order(await self._api("submit_order", sdk_order))
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
        await self._api("cancel_order", order_id)  # queued: the stream reports the final state

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        params = {"market": (await self.market(symbol)).venue_symbol} if symbol is not None else None
        await self._api("cancel_all_orders", params)
        return len(open_orders)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        params = {"market": (await self.market(symbol)).venue_symbol} if symbol is not None else None
        data = await self._api("fetch_orders", params)
        return [self._order(row) for row in (data or {}).get("results", [])]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        try:
            return self._order(await self._api("fetch_order", order_id))
        except OrderNotFound:
            return None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        try:
            return self._order(await self._api("fetch_order_by_client_id", client_order_id))
        except OrderNotFound:
            return None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def positions(self) -> list[Position]:
        data = await self._api("fetch_positions")
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
        summary = await self._api("fetch_account_summary")
        equity = Decimal(summary.account_value)
        return Balance(
            asset=summary.settlement_asset or "USDC",
            equity=equity,
            available=Decimal(summary.free_collateral),
            margin_used=Decimal(summary.initial_margin_requirement),
            unrealized_pnl=equity - Decimal(summary.total_collateral),
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
        def fresh_jwt() -> str:
            self._sdk.api_client.auth()
            return str(self._sdk.account.jwt_token)

        jwt = await self._in_thread(fresh_jwt)
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
            await self._on_fill(FillResult.model_validate(params["data"]))

    async def _on_fill(self, result: FillResult) -> None:
        symbol = self._canonical(result.market)
        order = self._hub.known_order(result.order_id) or await self.get_order(symbol, result.order_id)
        if order is None:
            log.warning("%s: fill %s of unknown order %s", self.name, result.id, result.order_id)
            return
        fill = parsing.fill_from_result(result, symbol)
        if fill.client_order_id is None and order.client_order_id is not None:
            fill = fill.model_copy(update={"client_order_id": order.client_order_id})
        self._hub.publish(OrderUpdate(order=parsing.order_after_fill(order, result), fill=fill))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        data = await self._api("fetch_fills", {"start_at": int(since.timestamp() * 1000), "page_size": 1000})
        fills = []
        for row in (data or {}).get("results", []):
            result = FillResult.model_validate(row)
            fills.append(parsing.fill_from_result(result, self._canonical(result.market)))
        return fills
