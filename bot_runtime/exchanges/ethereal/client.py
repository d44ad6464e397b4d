"""The Ethereal trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on the official SDK's signing.

Transport: httpx for the REST API (``/v1/...``: reads are public, keyed by the subaccount id; orders and cancels
carry an EIP-712 signature made by the SDK, :mod:`.signing`) and one
:class:`~bot_runtime.exchanges._shared.ws.ReconnectingWebSocket` on the native WebSocket gateway subscribed to the
subaccount's ``OrderUpdate`` and ``OrderFill`` streams (``{"event": "subscribe", "data": {"type": ...,
"subaccountId": ...}}``, acknowledged ``{"ok": true}``; WebSocket ping frames keep it alive). The SDK's own
transports (``requests``/httpx clients that build a web3 chain client, its WebSocket client) are not used.

* Post-only is ``LIMIT`` + ``postOnly: true`` (``timeInForce`` GTD). The venue answers ``201`` with ``result``: a
  post-only that would cross comes back ``ImmediateMatchPostOnly`` at once, or - with block execution - as the
  order's later status ``REJECTED`` / ``rejectedReason: ImmediateMatchPostOnly``: the client waits for that verdict
  (:meth:`OrderUpdateHub.settle`, stream first, ``GET /v1/order/{id}`` when the stream is silent).
* Market orders are ``MARKET`` (the SDK's ``create_order(order_type="MARKET")``); IOC limits are ``timeInForce: IOC``.
* Client ids travel as UUID ``clientOrderId`` (:class:`~.mapping.ClientIdCodec`); ``find_order_by_client_id`` asks
  ``GET /v1/order?clientOrderId=``, which finds the order in any process; :meth:`cancel_by_client_id` cancels by it.
* After a reconnect: ``GET /v1/order/fill`` since the last fill, then the orders that left the book, then the open
  orders (:func:`~bot_runtime.exchanges._shared.order_hub.rest_catch_up`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx
from eth_account import Account

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    AuthenticationError,
    Balance,
    CancelReason,
    CredentialsError,
    Exchange,
    ExchangeError,
    Fill,
    MalformedResponse,
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
    TimeInForce,
)
from bot_runtime.exchanges.ethereal import parsing
from bot_runtime.exchanges.ethereal.config import ACCOUNT_ENV, KEY_ENV, EtherealCredentials, EtherealSettings
from bot_runtime.exchanges.ethereal.errors import is_not_found, map_http_error, map_order_code
from bot_runtime.exchanges.ethereal.mapping import EXPIRY_CODES, ClientIdCodec, side_to_wire
from bot_runtime.exchanges.ethereal.signing import OrderSigner
from bot_runtime.exchanges.ethereal.wire import Balance as WireBalance
from bot_runtime.exchanges.ethereal.wire import (
    CancelResults,
    MarketPrices,
    Page,
    Product,
    Signer,
    StreamBatch,
    StreamFill,
    StreamOrder,
    Subaccount,
    SubmitCreated,
    Ticker,
    WireFill,
    WireOrder,
)
from bot_runtime.exchanges.ethereal.wire import Position as WirePosition

log = logging.getLogger(__name__)

_PAGE = 100
_GONE = {"NotFound", "AlreadyCanceled", "AlreadyFilled", "AlreadyExpired"}


class EtherealExchange(Exchange):
    def __init__(self, name: str, settings: EtherealSettings, credentials: EtherealCredentials) -> None:
        self.name = name
        self.settings = settings
        self.account = credentials.account_address
        self._key = credentials.private_key
        try:
            self.signer_address = str(Account.from_key(self._key.get_secret_value()).address)
        except ImportError:
            raise
        except Exception:  # the key library's message may quote the key: never pass it on
            raise CredentialsError(name, [KEY_ENV], "is not a valid secp256k1 private key") from None
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
        self._signer: OrderSigner | None = None  # once the rpc config is read (connect)
        self._subaccount_id: str | None = None
        self._markets: dict[str, Market] | None = None
        self._by_product: dict[str, Market] = {}
        self._by_ticker: dict[str, Market] = {}
        self._onchain_ids: dict[str, int] = {}
        self._ids = ClientIdCodec()
        self._hub = OrderUpdateHub(name)
        self._filled: dict[str, Decimal] = {}  # order id → size of the stream fills seen for it
        self._account_ws: ReconnectingWebSocket | None = None

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await asyncio.gather(self.markets(), self._load_account())  # independent reads: one round trip less
        for order in await self.open_orders():
            self._hub.track(order)
        if self._account_ws is None:
            self._account_ws = self.settings.websocket(
                f"{self.name} account stream",
                self._on_account_message,
                on_connect=self._subscribe_account,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._account_ws.start()

    async def close(self) -> None:
        if self._account_ws is not None:
            await self._account_ws.close()
            self._account_ws = None
        self._hub.close()
        await self._http.aclose()

    async def _load_account(self) -> None:
        """The subaccount (by owner and name), the signing domain, and the proof that the key may trade for it:
        the key *is* the account, or it is a linked signer in state ACTIVE (three independent reads, together)."""
        subaccounts, signer, rpc_config = await asyncio.gather(
            self._get("/v1/subaccount", {"sender": self.account}), self._linked_signer(), self._get("/v1/rpc/config")
        )
        wanted = self.settings.subaccount
        with reading(self.name, "GET /v1/subaccount"):
            page = Page[Subaccount].model_validate(subaccounts)
        self._subaccount_id = next((sub.id for sub in page.data if _decode_name(sub.name) == wanted), None)
        if self._subaccount_id is None:
            raise AuthenticationError(
                f"{self.name}: {ACCOUNT_ENV} has no subaccount named {wanted!r}", exchange=self.name
            )
        if self.signer_address.lower() != self.account.lower() and (signer is None or signer.status != "ACTIVE"):
            state = signer.status if signer is not None else "not linked"
            raise AuthenticationError(
                f"{self.name}: the key of {KEY_ENV} is neither {ACCOUNT_ENV} nor an active linked signer "
                f"of its subaccount ({state})",
                exchange=self.name,
            )
        try:
            self._signer = OrderSigner(self._key.get_secret_value(), rpc_config, subaccount_name=wanted)
        except ValueError:
            raise ExchangeError(f"{self.name}: /v1/rpc/config has an unknown shape", exchange=self.name) from None

    async def _linked_signer(self) -> Signer | None:
        """The key's linked-signer record (None when the key is the account's own, or not linked at all)."""
        if self.signer_address.lower() == self.account.lower():
            return None
        try:
            answer = await self._get(f"/v1/linked-signer/address/{self.signer_address}")
        except ExchangeError as exc:
            if not is_not_found(exc):
                raise
            return None
        with reading(self.name, "GET /v1/linked-signer/address"):
            return Signer.model_validate(answer)

    @property
    def subaccount_id(self) -> str:
        if self._subaccount_id is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        return self._subaccount_id

    # HTTP ---------------------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any = None) -> Any:
        import json

        return await request_json(
            self._http,
            method,
            path,
            exchange=self.name,
            error_mapper=lambda status, payload, headers: map_http_error(status, payload, headers, self.name),
            params=params,
            content=json.dumps(body) if body is not None else None,
            headers={"Content-Type": "application/json"} if body is not None else None,
        )

    async def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self._request("GET", path, params)

    async def _post(self, path: str, body: Any) -> Any:
        return await self._request("POST", path, None, body)

    async def _pages(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row of a ``PageOf...`` endpoint (cursor pagination)."""
        rows: list[dict[str, Any]] = []
        query: dict[str, Any] = {**params, "limit": _PAGE}
        for _ in range(100):
            answer = await self._get(path, query)
            if not isinstance(answer, Mapping) or not isinstance(answer.get("data"), list):
                raise ExchangeError(f"{self.name}: {path} answered an unknown shape", exchange=self.name)
            rows.extend(answer["data"])
            cursor = answer.get("nextCursor")
            if not answer.get("hasNext") or not cursor:
                break
            query["cursor"] = cursor
        return rows

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            markets: dict[str, Market] = {}
            for row in await self._pages("/v1/product", {}):
                with reading(self.name, "GET /v1/product"):
                    product = Product.model_validate(row)
                if not parsing.is_tradable_perp(product):
                    continue
                market = parsing.market_from_product(self.name, product)
                self._by_product[product.id] = market
                self._by_ticker[product.ticker] = market
                self._onchain_ids[product.id] = product.onchain_id
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        answer = await self._get("/v1/product/market-price", {"productIds": [market.contract_id]})
        with reading(self.name, "GET /v1/product/market-price"):
            prices = MarketPrices.model_validate(answer)
        price = next((p for p in prices.data if p.product_id == market.contract_id), None)
        if price is None:
            raise MalformedResponse(f"{self.name}: no market price for {market.venue_symbol}", exchange=self.name)
        return checked_quote(self.name, symbol, price.best_bid_price, price.best_ask_price)

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(socket: ReconnectingWebSocket) -> None:
            await socket.send_json({"event": "subscribe", "data": {"type": "Ticker", "symbol": market.venue_symbol}})

        async def on_message(message: Any) -> None:
            if not isinstance(message, Mapping) or message.get("e") != "Ticker":
                return
            with reading(self.name, "Ticker message"):
                ticker = Ticker.model_validate(message["data"])
            if ticker.s != market.venue_symbol:
                return
            try:
                quote = checked_quote(
                    self.name,
                    symbol,
                    ticker.bid_px,
                    ticker.ask_px,
                    bid_size=ticker.bid_amt,
                    ask_size=ticker.ask_amt,
                    timestamp=from_ms(ticker.t),
                )
            except MalformedResponse:  # an empty or crossed side: no quote to hand out, wait for the next one
                return
            quotes.put(quote)

        socket = self.settings.websocket(f"{self.name} {market.venue_symbol} ticker", on_message, on_connect=subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _client_id(self, wire_id: str | None, order_id: str | None = None) -> str | None:
        if wire_id:
            return self._ids.decode(wire_id)
        known = self._hub.known_order(order_id) if order_id is not None else None
        return known.client_order_id if known is not None else None

    def _order(self, wire: WireOrder) -> Order | None:
        market = self._by_product.get(wire.product_id)
        if market is None:
            return None
        return parsing.order_from_wire(wire, market.symbol, self._client_id(wire.client_order_id, wire.id))

    async def place_order(self, request: OrderRequest) -> Order:
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        market = await self.market(request.symbol)
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        price: Decimal | None = None
        tif: str | None = None
        if request.order_type is OrderType.MARKET:
            order_type = "MARKET"
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            order_type = "LIMIT"
            price = market.round_price(request.price, request.side)
            tif = "IOC" if request.time_in_force is TimeInForce.IOC else "GTD"
        wire_id = self._ids.encode(request.client_order_id)
        body = await self._signer.order(
            onchain_id=self._onchain_ids[market.contract_id],
            side=side_to_wire(request.side),
            quantity=size,
            price=price,
            order_type=order_type,
            time_in_force=tif,
            post_only=request.time_in_force is TimeInForce.POST_ONLY and order_type == "LIMIT",
            reduce_only=request.reduce_only,
            client_order_id=wire_id,
        )
        answer = await self._post("/v1/order", body)
        with reading(self.name, "POST /v1/order"):
            created = SubmitCreated.model_validate(answer)
        base = Order(
            order_id=created.id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=TimeInForce.IOC if order_type == "MARKET" else request.time_in_force,
            price=price,
            size=size,
            status=OrderStatus.PENDING,
            reduce_only=request.reduce_only,
        )
        if created.result != "Ok":
            if created.result in EXPIRY_CODES:  # an IOC or market order that found nothing: expired, unfilled
                expired = base.model_copy(update={"status": OrderStatus.EXPIRED, "cancel_reason": CancelReason.EXPIRED})
                self._hub.publish(OrderUpdate(order=expired))
                return expired
            raise map_order_code(created.result, self.name)
        self._hub.remember(base)
        settled = await self._hub.settle(
            lambda: self.get_order(request.symbol, created.id),
            order_id=created.id,
            timeout=self.settings.settle_timeout,
            interval=self.settings.settle_interval,
        )
        order = settled or base
        if order.client_order_id != request.client_order_id:
            order = order.model_copy(update={"client_order_id": request.client_order_id})
            self._hub.remember(order)
        if order.status is OrderStatus.REJECTED:
            if order.cancel_reason in (None, CancelReason.REJECTED):  # the stream says REJECTED without a reason
                order = await self.get_order(request.symbol, created.id) or order
            reason = order.cancel_reason
            code = "ImmediateMatchPostOnly" if reason is CancelReason.POST_ONLY_VIOLATION else str(reason)
            raise map_order_code(code, self.name)
        return order

    async def _cancel(self, body: dict[str, Any]) -> list[Any]:
        answer = await self._post("/v1/order/cancel", body)
        with reading(self.name, "POST /v1/order/cancel"):
            return CancelResults.model_validate(answer).data

    def _cancelled(self, order_id: str | None) -> None:
        known = self._hub.known_order(order_id) if order_id else None
        if known is not None and not known.status.is_final:
            update = {"status": OrderStatus.CANCELED, "cancel_reason": CancelReason.USER_CANCELED}
            self._hub.publish(OrderUpdate(order=known.model_copy(update=update)))

    def _cancel_result(self, results: list[Any], what: str) -> None:
        result = results[0].result if results else "NotFound"
        if result in _GONE:
            raise OrderNotFound(f"{self.name}: {what} is not open ({result})", exchange=self.name)
        if result != "Ok":
            raise ExchangeError(f"{self.name}: cancel of {what} answered {result[:50]}", exchange=self.name)
        self._cancelled(results[0].id)

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        await self.market(symbol)
        try:
            import uuid

            uuid.UUID(order_id)
        except ValueError:
            raise OrderNotFound(f"{self.name}: {order_id} is not an order id", exchange=self.name) from None
        self._cancel_result(await self._cancel(await self._signer.cancel(order_ids=[order_id])), order_id)

    async def cancel_by_client_id(self, symbol: str, client_order_id: str) -> None:
        """Cancel by client id (``clientOrderIds``): works for an order whose id this process never saw."""
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        await self.market(symbol)
        wire_id = self._ids.encode(client_order_id)
        results = await self._cancel(await self._signer.cancel(client_order_ids=[wire_id]))
        self._cancel_result(results, client_order_id)

    async def cancel_all(self, symbol: str | None = None) -> int:
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        open_orders = await self.open_orders(symbol)
        cancelled = 0
        for start in range(0, len(open_orders), 200):  # the API takes at most 200 ids a request
            chunk = open_orders[start : start + 200]
            results = await self._cancel(await self._signer.cancel(order_ids=[o.order_id for o in chunk]))
            for result in results:
                if result.result == "Ok":
                    cancelled += 1
                    self._cancelled(result.id)
        return cancelled

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self.markets()
        params: dict[str, Any] = {"subaccountId": self.subaccount_id, "isWorking": "true"}
        if symbol is not None:
            params["productIds"] = [(await self.market(symbol)).contract_id]
        orders: list[Order] = []
        for row in await self._pages("/v1/order", params):
            with reading(self.name, "GET /v1/order"):
                order = self._order(WireOrder.model_validate(row))
            if order is not None and parsing.is_open(order) and (symbol is None or order.symbol == symbol):
                orders.append(order)
        return orders

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        await self.markets()
        try:
            answer = await self._get(f"/v1/order/{order_id}")
        except ExchangeError as exc:
            if is_not_found(exc):
                return None
            raise
        with reading(self.name, "GET /v1/order/{id}"):
            return self._order(WireOrder.model_validate(answer))

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        await self.markets()
        params = {"subaccountId": self.subaccount_id, "clientOrderId": self._ids.encode(client_order_id)}
        answer = await self._get("/v1/order", params)
        with reading(self.name, "GET /v1/order?clientOrderId="):
            orders = [self._order(wire) for wire in Page[WireOrder].model_validate(answer).data]
        for order in orders:
            if order is not None:
                return order.model_copy(update={"client_order_id": client_order_id})
        return None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def _positions(self) -> list[Position]:
        await self.markets()
        rows = await self._pages("/v1/position", {"subaccountId": self.subaccount_id, "open": "true"})
        result = []
        for row in rows:
            with reading(self.name, "GET /v1/position"):
                wire = WirePosition.model_validate(row)
                market = self._by_product.get(wire.product_id)
                if market is not None and wire.size != 0:
                    result.append(parsing.position_from_wire(wire, market.symbol))
        return result

    async def position(self, symbol: str) -> Position:
        await self.market(symbol)
        for position in await self._positions():
            if position.symbol == symbol:
                return position
        return Position(symbol=symbol, size=Decimal(0))

    async def positions(self) -> list[Position]:
        return await self._positions()

    async def balance(self) -> Balance:
        rows = await self._pages("/v1/subaccount/balance", {"subaccountId": self.subaccount_id})
        with reading(self.name, "GET /v1/subaccount/balance"):
            balances = [WireBalance.model_validate(row) for row in rows]
        usd = next((b for b in balances if b.token_name.upper().startswith("USD")), None)
        unrealized = sum((p.unrealized_pnl for p in await self._positions()), Decimal(0))
        if usd is None:
            return Balance(asset="USD", equity=unrealized, available=Decimal(0), unrealized_pnl=unrealized)
        return Balance(
            asset=usd.token_name,
            equity=usd.amount + unrealized,
            available=usd.available,
            margin_used=usd.total_used,
            unrealized_pnl=unrealized,
        )

    # account stream -----------------------------------------------------------------------------------------------
    async def _subscribe_account(self, socket: ReconnectingWebSocket) -> None:
        for kind in ("OrderUpdate", "OrderFill"):
            await socket.send_json({"event": "subscribe", "data": {"type": kind, "subaccountId": self.subaccount_id}})

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        if "ok" in message:  # a subscription's acknowledgement
            if message.get("ok") is not True:
                log.warning("%s: subscription refused: %s", self.name, str(message.get("code"))[:100])
            return
        event = message.get("e")
        if event not in {"OrderUpdate", "OrderFill"}:
            return
        with reading(self.name, f"{event} message"):
            batch = StreamBatch.model_validate(message.get("data"))
            entries: list[StreamOrder | StreamFill] = [
                StreamOrder.model_validate(row) if event == "OrderUpdate" else StreamFill.model_validate(row)
                for row in batch.d
            ]
            for entry in entries:
                if isinstance(entry, StreamOrder):
                    self._on_order_update(entry)
                else:
                    self._on_fill(entry)

    def _on_order_update(self, entry: StreamOrder) -> None:
        market = self._by_ticker.get(entry.s)
        if market is None or entry.sid != self._subaccount_id:
            return
        known = self._hub.known_order(entry.id)
        order = parsing.order_from_stream(entry, market.symbol, self._client_id(entry.cloid, entry.id), known)
        self._hub.publish(OrderUpdate(order=order))

    def _on_fill(self, entry: StreamFill) -> None:
        market = self._by_ticker.get(entry.s)
        if market is None or entry.sid != self._subaccount_id:
            return
        fill = parsing.fill_from_stream(entry, market.symbol, self._client_id(entry.cloid, entry.oid))
        known = self._hub.known_order(entry.oid)
        if known is None:
            self._hub.publish_fill(fill)
            return
        if fill.client_order_id is None and known.client_order_id is not None:
            fill = fill.model_copy(update={"client_order_id": known.client_order_id})
        if not self._hub.seen_trade(fill.trade_id) and not self._hub.is_history(fill):
            self._filled[entry.oid] = self._filled.get(entry.oid, Decimal(0)) + fill.size
        filled = min(max(known.filled_size, self._filled.get(entry.oid, Decimal(0))), known.size)
        status = known.status
        if not status.is_final or status is OrderStatus.FILLED:
            status = OrderStatus.FILLED if filled >= known.size else OrderStatus.PARTIALLY_FILLED
        order = known.model_copy(update={"filled_size": filled, "status": status, "updated_at": fill.timestamp})
        self._hub.publish(OrderUpdate(order=order, fill=fill))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        await self.markets()
        params = {"subaccountId": self.subaccount_id, "createdAfter": int(since.timestamp() * 1000), "order": "asc"}
        fills: list[Fill] = []
        for row in await self._pages("/v1/order/fill", params):
            with reading(self.name, "GET /v1/order/fill"):
                wire = WireFill.model_validate(row)
                market = self._by_product.get(wire.product_id)
                if market is not None:
                    client_id = self._client_id(wire.client_order_id, wire.order_id)
                    fills.append(parsing.fill_from_wire(wire, market.symbol, client_id))
        return fills


def _decode_name(hex_name: str) -> str:
    """A subaccount name as the API lists it (bytes32 hex, ``ethereal.rest.util.encode_account_name``) → text."""
    try:
        return bytes.fromhex(hex_name.removeprefix("0x")).decode().rstrip("\x00")
    except ValueError:
        return hex_name
