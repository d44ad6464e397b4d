"""The Hyperliquid trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on the official SDK's signing.

Transport: httpx (``POST /info`` for reads - public, keyed by the account address -, ``POST /exchange`` for signed
actions) and one :class:`~bot_runtime.exchanges._shared.ws.ReconnectingWebSocket` (``/ws``) subscribed to the
account's ``orderUpdates`` and ``userEvents``. The SDK's own transport (blocking ``requests``, a websocket-client
thread) is not used; its signing (:mod:`.signing`) and wire rules (:mod:`.mapping`) are.

* Post-only is ``tif: "Alo"``; the venue decides inside the ``/exchange`` answer ("Post only order would have
  immediately matched" → :class:`PostOnlyWouldCross`), there is no later verdict to wait for.
* Market orders are what the SDK's ``market_open`` sends: an IOC limit ``marketSlippage`` through the best price.
* Client ids travel as ``cloid`` (:class:`~bot_runtime.exchanges._shared.packed_ids.PackedIdCodec`); ``find_order_by_client_id`` asks ``orderStatus``
  by cloid, which finds the order in any process, open or not; :meth:`cancel_by_client_id` cancels by cloid.
* After a reconnect: ``userFillsByTime`` since the last fill, then ``orderStatus`` for orders that left the book,
  then ``frontendOpenOrders`` (:func:`~bot_runtime.exchanges._shared.order_hub.rest_catch_up`). The venue closes a
  socket silent for 60 s: a ``{"method": "ping"}`` heartbeat goes out every ``heartbeatInterval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.packed_ids import PackedIdCodec
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
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.hyperliquid import parsing
from bot_runtime.exchanges.hyperliquid.config import (
    ACCOUNT_ENV,
    KEY_ENV,
    HyperliquidCredentials,
    HyperliquidSettings,
)
from bot_runtime.exchanges.hyperliquid.errors import (
    is_ioc_no_match,
    map_action_error,
    map_http_error,
    map_order_error,
)
from bot_runtime.exchanges.hyperliquid.mapping import round_price, to_wire
from bot_runtime.exchanges.hyperliquid.signing import ActionSigner, order_wires_to_order_action
from bot_runtime.exchanges.hyperliquid.wire import (
    AssetCtx,
    BasicOrder,
    Bbo,
    ClearinghouseState,
    ExchangeResponse,
    L2Book,
    Meta,
    NonUserCancel,
    OrderOutcome,
    OrderStatusResponse,
    UserRole,
    WsOrder,
)
from bot_runtime.exchanges.hyperliquid.wire import Fill as WireFill

log = logging.getLogger(__name__)

_TIF_TO_WIRE = {TimeInForce.POST_ONLY: "Alo", TimeInForce.GTC: "Gtc", TimeInForce.IOC: "Ioc"}


class HyperliquidExchange(Exchange):
    def __init__(self, name: str, settings: HyperliquidSettings, credentials: HyperliquidCredentials) -> None:
        self.name = name
        self.settings = settings
        self.user = credentials.account_address
        try:
            self._signer = ActionSigner(credentials.private_key.get_secret_value(), is_mainnet=settings.is_mainnet)
        except ImportError:
            raise
        except Exception:  # the key library's message may quote the key: never pass it on
            raise CredentialsError(name, [KEY_ENV], "is not a valid secp256k1 private key") from None
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._by_coin: dict[str, Market] = {}
        self._sz_decimals: dict[str, int] = {}
        self._cloids = PackedIdCodec()
        self._hub = OrderUpdateHub(name)
        self._filled: dict[str, Decimal] = {}  # order id → size of the fills seen for it
        self._user_ws: ReconnectingWebSocket | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def signer_address(self) -> str:
        return self._signer.address

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await asyncio.gather(self.markets(), self._check_signer())  # two independent reads: one round trip
        for order in await self.open_orders():
            self._hub.track(order)
        if self._user_ws is None:
            self._user_ws = self.settings.websocket(
                f"{self.name} account stream",
                self._on_user_message,
                on_connect=self._subscribe_account,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._user_ws.start()
            self._heartbeat = asyncio.create_task(self._keep_alive(self._user_ws), name=f"{self.name} heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._heartbeat
            self._heartbeat = None
        if self._user_ws is not None:
            await self._user_ws.close()
            self._user_ws = None
        self._hub.close()
        await self._http.aclose()

    async def _check_signer(self) -> None:
        """The private read that proves the key: ``userRole`` of the API wallet must be an agent of the account
        (or the API wallet is the account itself)."""
        if self._signer.address.lower() == self.user.lower():
            answer = await self._info({"type": "userRole", "user": self.user})
            with reading(self.name, "userRole"):
                role = UserRole.model_validate(answer)
            if role.role == "missing":
                raise AuthenticationError(
                    f"{self.name}: {ACCOUNT_ENV} is not a Hyperliquid account", exchange=self.name
                )
            return
        answer = await self._info({"type": "userRole", "user": self._signer.address})
        with reading(self.name, "userRole"):
            role = UserRole.model_validate(answer)
        owner = role.data.user if role.data is not None else None
        if role.role != "agent" or owner is None or owner.lower() != self.user.lower():
            raise AuthenticationError(
                f"{self.name}: the API wallet of {KEY_ENV} is not approved for {ACCOUNT_ENV} (role {role.role!r})",
                exchange=self.name,
            )

    # HTTP ---------------------------------------------------------------------------------------------------------
    async def _post(self, path: str, body: Mapping[str, Any]) -> Any:
        return await request_json(
            self._http,
            "POST",
            path,
            exchange=self.name,
            error_mapper=lambda status, payload, headers: map_http_error(status, payload, headers, self.name),
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    async def _info(self, body: Mapping[str, Any]) -> Any:
        return await self._post("/info", body)

    async def _action(self, action: dict[str, Any]) -> ExchangeResponse:
        answer = await self._post("/exchange", self._signer.payload(action))
        try:
            response = ExchangeResponse.model_validate(answer)
        except ValueError:
            raise MalformedResponse(f"{self.name}: /exchange answered an unknown shape", exchange=self.name) from None
        if response.status == "err":
            raise map_action_error(str(response.response), self.name)
        return response

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            answer = await self._info({"type": "metaAndAssetCtxs"})
            try:
                meta = Meta.model_validate(answer[0])
                ctxs = [AssetCtx.model_validate(ctx) for ctx in answer[1]]
            except (ValueError, IndexError, KeyError, TypeError):
                raise MalformedResponse(
                    f"{self.name}: metaAndAssetCtxs has an unknown shape", exchange=self.name
                ) from None
            markets: dict[str, Market] = {}
            for asset_id, info in enumerate(meta.universe):
                if info.is_delisted:
                    continue
                ctx = ctxs[asset_id] if asset_id < len(ctxs) else None
                market = parsing.market_from_asset(self.name, asset_id, info, ctx.mark_px if ctx else None)
                self._by_coin[info.name] = market
                self._sz_decimals[info.name] = info.sz_decimals
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _market_of(self, coin: str) -> Market | None:
        return self._by_coin.get(coin)

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        answer = await self._info({"type": "l2Book", "coin": market.venue_symbol})
        with reading(self.name, "l2Book"):
            book = L2Book.model_validate(answer)
        bids, asks = book.levels
        if not bids or not asks:
            raise ExchangeError(f"{self.name}: {market.venue_symbol} has an empty side", exchange=self.name)
        return checked_quote(
            self.name,
            symbol,
            bids[0].px,
            asks[0].px,
            bid_size=bids[0].sz,
            ask_size=asks[0].sz,
            timestamp=from_ms(book.time),
        )

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        quotes: LatestQueue[Quote] = LatestQueue()
        subscription = {"method": "subscribe", "subscription": {"type": "bbo", "coin": market.venue_symbol}}

        async def subscribe(socket: ReconnectingWebSocket) -> None:
            await socket.send_json(subscription)

        async def on_message(message: Any) -> None:
            if not isinstance(message, Mapping) or message.get("channel") != "bbo":
                return
            with reading(self.name, "bbo event"):
                data = Bbo.model_validate(message["data"])
            bid, ask = data.bbo
            if data.coin == market.venue_symbol and bid is not None and ask is not None:
                quotes.put(  # a bad book raises: the socket logs it and the queue keeps the last good quote
                    checked_quote(
                        self.name,
                        symbol,
                        bid.px,
                        ask.px,
                        bid_size=bid.sz,
                        ask_size=ask.sz,
                        timestamp=from_ms(data.time),
                    )
                )

        socket = self.settings.websocket(f"{self.name} {market.venue_symbol} bbo", on_message, on_connect=subscribe)
        heartbeat = asyncio.create_task(self._keep_alive(socket))
        try:
            async for quote in relay(socket, quotes):
                yield quote
        finally:
            heartbeat.cancel()

    # orders -------------------------------------------------------------------------------------------------------
    def _client_id(self, cloid: str | None, oid: int | str | None = None) -> str | None:
        if cloid:
            return self._cloids.decode(cloid)
        known = self._hub.known_order(str(oid)) if oid is not None else None
        return known.client_order_id if known is not None else None

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        coin = market.venue_symbol
        sz_decimals = self._sz_decimals[coin]
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {coin}", exchange=self.name
            )
        if request.order_type is OrderType.MARKET:
            quote = await self.best_bid_ask(request.symbol)
            slip = self.settings.market_slippage
            reference = quote.ask * (1 + slip) if request.side is Side.BUY else quote.bid * (1 - slip)
            price = round_price(reference, sz_decimals, request.side.opposite)  # rounded through, not back
            tif = "Ioc"
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = round_price(request.price, sz_decimals, request.side)
            tif = _TIF_TO_WIRE[request.time_in_force]
        cloid = self._cloids.encode(request.client_order_id)
        wire = {
            "a": int(market.contract_id),
            "b": request.side is Side.BUY,
            "p": to_wire(price),
            "s": to_wire(size),
            "r": request.reduce_only,
            "t": {"limit": {"tif": tif}},
            "c": cloid,
        }
        response = await self._action(order_wires_to_order_action([wire]))
        statuses = response.statuses()
        if not statuses:
            raise MalformedResponse(f"{self.name}: the order answer has no status", exchange=self.name)
        with reading(self.name, "order answer"):
            outcome = OrderOutcome.model_validate(statuses[0]) if isinstance(statuses[0], Mapping) else None
        base = Order(
            order_id="",
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=TimeInForce.IOC if tif == "Ioc" else request.time_in_force,
            price=price,
            size=size,
            status=OrderStatus.OPEN,
            reduce_only=request.reduce_only,
        )
        if outcome is None or (outcome.resting is None and outcome.filled is None and outcome.error is None):
            raise MalformedResponse(f"{self.name}: unknown order answer {str(statuses[0])[:100]}", exchange=self.name)
        if outcome.error is not None:
            if is_ioc_no_match(outcome.error):  # an IOC that found nothing: it expired, unfilled
                return base.model_copy(
                    update={
                        "order_id": f"ioc:{cloid}",
                        "status": OrderStatus.EXPIRED,
                        "cancel_reason": CancelReason.EXPIRED,
                    }
                )
            raise map_order_error(outcome.error, self.name)
        if outcome.resting is not None:
            order = base.model_copy(update={"order_id": str(outcome.resting.oid)})
        else:
            assert outcome.filled is not None
            filled = outcome.filled
            complete = filled.total_sz >= size
            order = base.model_copy(
                update={
                    "order_id": str(filled.oid),
                    "filled_size": filled.total_sz,
                    "avg_fill_price": filled.avg_px,
                    "status": OrderStatus.FILLED if complete else OrderStatus.EXPIRED,
                    "cancel_reason": None if complete else CancelReason.EXPIRED,
                }
            )
        # the stream may have told of this order (even filled it) before the answer came: keep the latest state,
        # with the client id the request chose
        self._hub.remember(order)
        known = self._hub.known_order(order.order_id) or order
        if known.client_order_id != request.client_order_id:
            known = known.model_copy(update={"client_order_id": request.client_order_id})
            self._hub.remember(known)
        return known

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        market = await self.market(symbol)
        try:
            oid = int(order_id)
        except ValueError:
            raise OrderNotFound(f"{self.name}: {order_id} is not an order id", exchange=self.name) from None
        action = {"type": "cancel", "cancels": [{"a": int(market.contract_id), "o": oid}]}
        self._cancel_result((await self._action(action)).statuses(), order_id)

    async def cancel_by_client_id(self, symbol: str, client_order_id: str) -> None:
        """Cancel by cloid (the SDK's ``cancel_by_cloid``): works for an order whose id this process never saw."""
        market = await self.market(symbol)
        cloid = self._cloids.encode(client_order_id)
        action = {"type": "cancelByCloid", "cancels": [{"asset": int(market.contract_id), "cloid": cloid}]}
        statuses = (await self._action(action)).statuses()
        known = self._hub.known_by_client_id(client_order_id)
        self._cancel_result(statuses, known.order_id if known else None)

    def _cancel_result(self, statuses: list[Any], order_id: str | None) -> None:
        status = statuses[0] if statuses else None
        if isinstance(status, Mapping) and "error" in status:
            raise map_order_error(str(status["error"]), self.name)
        if status != "success":
            raise ExchangeError(f"{self.name}: unknown cancel status {str(status)[:100]}", exchange=self.name)
        known = self._hub.known_order(order_id) if order_id else None
        if known is not None and not known.status.is_final:
            self._hub.publish(
                OrderUpdate(
                    order=known.model_copy(
                        update={"status": OrderStatus.CANCELED, "cancel_reason": CancelReason.USER_CANCELED}
                    )
                )
            )

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        if not open_orders:
            return 0
        markets = await self.markets()
        cancels = [{"a": int(markets[o.symbol].contract_id), "o": int(o.order_id)} for o in open_orders]
        statuses = (await self._action({"type": "cancel", "cancels": cancels})).statuses()
        cancelled = 0
        for order, status in zip(open_orders, statuses, strict=False):
            if status == "success":
                cancelled += 1
                self._hub.publish(
                    OrderUpdate(
                        order=order.model_copy(
                            update={"status": OrderStatus.CANCELED, "cancel_reason": CancelReason.USER_CANCELED}
                        )
                    )
                )
        return cancelled

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self.markets()
        rows = await self._info({"type": "frontendOpenOrders", "user": self.user})
        orders: list[Order] = []
        for row in rows or []:
            with reading(self.name, "frontendOpenOrders"):
                basic = BasicOrder.model_validate(row)
                market = self._market_of(basic.coin)
                if market is None or (symbol is not None and market.symbol != symbol):
                    continue
                orders.append(
                    parsing.order_from_basic(
                        basic, "open", None, market.symbol, self._client_id(basic.cloid, basic.oid)
                    )
                )
        return orders

    async def _order_status(self, oid: int | str) -> Order | None:
        await self.markets()
        data = await self._info({"type": "orderStatus", "user": self.user, "oid": oid})
        with reading(self.name, "orderStatus"):
            answer = OrderStatusResponse.model_validate(data)
            if answer.status != "order" or answer.order is None:
                return None
            market = self._market_of(answer.order.order.coin)
            if market is None:
                return None
            return self._order_from_ws(answer.order, market)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        try:
            oid = int(order_id)
        except ValueError:
            return self._hub.known_order(order_id)
        return await self._order_status(oid)

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        order = await self._order_status(self._cloids.encode(client_order_id))
        return order.model_copy(update={"client_order_id": client_order_id}) if order is not None else None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def _state(self) -> ClearinghouseState:
        data = await self._info({"type": "clearinghouseState", "user": self.user})
        with reading(self.name, "clearinghouseState"):
            return ClearinghouseState.model_validate(data)

    async def position(self, symbol: str) -> Position:
        market = await self.market(symbol)
        for entry in (await self._state()).asset_positions:
            if entry.position.coin == market.venue_symbol:
                return parsing.position_from_wire(entry.position, symbol)
        return Position(symbol=symbol, size=Decimal(0))

    async def positions(self) -> list[Position]:
        await self.markets()
        result = []
        for entry in (await self._state()).asset_positions:
            market = self._market_of(entry.position.coin)
            if market is not None and entry.position.szi != 0:
                result.append(parsing.position_from_wire(entry.position, market.symbol))
        return result

    async def balance(self) -> Balance:
        state = await self._state()
        unrealized = sum((p.position.unrealized_pnl for p in state.asset_positions), Decimal(0))
        return Balance(
            asset="USDC",
            equity=state.margin_summary.account_value,
            available=state.withdrawable,
            margin_used=state.margin_summary.total_margin_used,
            unrealized_pnl=unrealized,
        )

    # account stream -----------------------------------------------------------------------------------------------
    async def _subscribe_account(self, socket: ReconnectingWebSocket) -> None:
        for kind in ("orderUpdates", "userEvents"):
            await socket.send_json({"method": "subscribe", "subscription": {"type": kind, "user": self.user}})

    async def _keep_alive(self, socket: ReconnectingWebSocket) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            if socket.connected.is_set():
                with contextlib.suppress(ExchangeError, OSError):
                    await socket.send_json({"method": "ping"})

    async def _on_user_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        channel = message.get("channel")
        data = message.get("data")
        # unreadable: raised, the socket logs it and catches up over REST
        if channel == "orderUpdates" and isinstance(data, list):
            for row in data:
                with reading(self.name, "orderUpdates"):
                    self._on_order_update(WsOrder.model_validate(row))
        elif channel == "user" and isinstance(data, Mapping):
            for row in data.get("fills") or []:
                with reading(self.name, "user fills"):
                    self._on_fill(WireFill.model_validate(row))
            for row in data.get("nonUserCancel") or []:
                with reading(self.name, "nonUserCancel"):
                    self._on_non_user_cancel(NonUserCancel.model_validate(row))
        elif channel == "error":
            log.warning("%s: stream error: %s", self.name, str(data)[:200])

    def _order_from_ws(self, ws: WsOrder, market: Market) -> Order:
        oid = str(ws.order.oid)
        known = self._hub.known_order(oid)
        order = parsing.order_from_ws(
            ws,
            market.symbol,
            self._client_id(ws.order.cloid, oid),
            time_in_force=known.time_in_force if known else None,
            reduce_only=known.reduce_only if known else None,
        )
        seen = self._filled.get(oid, Decimal(0))
        if seen > order.filled_size and not order.status.is_final:
            status = OrderStatus.FILLED if seen >= order.size else OrderStatus.PARTIALLY_FILLED
            order = order.model_copy(update={"filled_size": seen, "status": status})
        return order

    def _on_order_update(self, ws: WsOrder) -> None:
        market = self._market_of(ws.order.coin)
        if market is not None:
            self._hub.publish(OrderUpdate(order=self._order_from_ws(ws, market)))

    def _count(self, fill: Fill) -> None:
        """Add a new fill (of this process) to its order's filled size."""
        if not self._hub.seen_trade(fill.trade_id) and not self._hub.is_history(fill):
            self._filled[fill.order_id] = self._filled.get(fill.order_id, Decimal(0)) + fill.size

    def _on_fill(self, wire: WireFill) -> None:
        market = self._market_of(wire.coin)
        if market is None:  # a spot fill
            return
        oid = str(wire.oid)
        fill = parsing.fill_from_wire(wire, market.symbol, self._client_id(wire.cloid, oid))
        self._count(fill)
        known = self._hub.known_order(oid)
        if known is None:
            self._hub.publish_fill(fill)
            return
        filled = max(known.filled_size, self._filled.get(oid, Decimal(0)))
        status = known.status
        if not status.is_final or status is OrderStatus.FILLED:
            status = OrderStatus.FILLED if filled >= known.size else OrderStatus.PARTIALLY_FILLED
        order = known.model_copy(update={"filled_size": filled, "status": status, "updated_at": fill.timestamp})
        if fill.client_order_id is None and known.client_order_id is not None:
            fill = fill.model_copy(update={"client_order_id": known.client_order_id})
        self._hub.publish(OrderUpdate(order=order, fill=fill))

    def _on_non_user_cancel(self, cancel: NonUserCancel) -> None:
        known = self._hub.known_order(str(cancel.oid))
        if known is not None and not known.status.is_final:
            update = {"status": OrderStatus.CANCELED, "cancel_reason": CancelReason.REJECTED}
            self._hub.publish(OrderUpdate(order=known.model_copy(update=update)))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        await self.markets()
        rows = await self._info(
            {
                "type": "userFillsByTime",
                "user": self.user,
                "startTime": int(since.timestamp() * 1000),
                "aggregateByTime": False,
            }
        )
        fills: list[Fill] = []
        for row in rows or []:
            with reading(self.name, "userFillsByTime"):
                wire = WireFill.model_validate(row)
            market = self._market_of(wire.coin)
            if market is not None:
                fill = parsing.fill_from_wire(wire, market.symbol, self._client_id(wire.cloid, wire.oid))
                self._count(fill)
                fills.append(fill)
        return fills
