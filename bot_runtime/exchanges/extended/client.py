"""The Extended trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on the official SDK's signing.

Transport: httpx for REST (``X-Api-Key`` on the private endpoints) and
:class:`~bot_runtime.exchanges._shared.ws.ReconnectingWebSocket` for the account stream (``/account`` with the same
header) and the top-of-book stream (``/orderbooks/{market}?depth=1``). The SDK's transport (aiohttp; a stream client
written for the websockets < 14 API) is not used: its order signing (:mod:`.signing`) and its pydantic models are.

* Placement is asynchronous on Extended: ``POST /user/order`` answers the order's id, the matching engine decides
  afterwards. The client waits up to ``orderConfirmTimeout`` for the verdict (the stream, else ``GET
  /user/orders/{id}``) and turns ``REJECTED`` + ``POST_ONLY_FAILED`` into :class:`PostOnlyWouldCross`.
* Client ids travel whole as the order's ``id`` field (the venue's ``externalId``);
  ``find_order_by_client_id`` asks ``GET /user/orders/external/{externalId}``, which finds the order in any process,
  open or not; :meth:`cancel_by_client_id` cancels by ``externalId``.
* The account stream numbers its messages (``seq``): a gap closes the connection, and every reconnect catches up
  over REST (trades since the last fill, orders that left the book, open orders).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    AuthenticationError,
    Balance,
    CancelReason,
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
    utcnow,
)
from bot_runtime.exchanges.extended import parsing
from bot_runtime.exchanges.extended.config import (
    API_KEY_ENV,
    PUBLIC_KEY_ENV,
    VAULT_ENV,
    ExtendedCredentials,
    ExtendedSettings,
)
from bot_runtime.exchanges.extended.errors import envelope_error, map_error, map_http_error, rejection_for
from bot_runtime.exchanges.extended.signing import OrderSigner

if TYPE_CHECKING:
    from x10.models.market import MarketModel

log = logging.getLogger(__name__)

USER_AGENT = "perp-dex-operator (x10-python-trading-starknet signing)"
DEFAULT_TAKER_FEE = Decimal("0.0005")  # x10.signing.order_object.DEFAULT_TAKER_FEE: the fee signed when unknown
TRADES_PAGE = 100


class ExtendedExchange(Exchange):
    def __init__(self, name: str, settings: ExtendedSettings, credentials: ExtendedCredentials) -> None:
        self.name = name
        self.settings = settings
        self._signer = OrderSigner(credentials, is_mainnet=settings.is_mainnet, name=name)
        self._api_key = credentials.api_key
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            timeout=settings.request_timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._markets: dict[str, Market] | None = None
        self._models: dict[str, MarketModel] = {}  # venue name → the SDK's market (signing needs its L2 config)
        self._by_name: dict[str, Market] = {}
        self._taker_fees: dict[str, Decimal] = {}
        self._hub = OrderUpdateHub(name)
        self._filled: dict[str, Decimal] = {}  # order id → size of the fills seen for it
        self._account_ws: ReconnectingWebSocket | None = None
        self._seq: int | None = None

    def __repr__(self) -> str:
        return f"ExtendedExchange(name={self.name!r}, base_url={self.settings.base_url!r}, signer={self._signer!r})"

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        await asyncio.gather(self._load_fees(), self._check_account())  # the private reads that prove the keys
        await self.markets()
        for order in await self.open_orders():
            self._hub.track(order)
        if self._account_ws is None:
            self._account_ws = self._socket(
                f"{self.name} account stream",
                self._on_account_message,
                path="/account",
                on_connect=self._on_account_connect,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since),
            )
            self._account_ws.start()

    async def close(self) -> None:
        if self._account_ws is not None:
            await self._account_ws.close()
            self._account_ws = None
        self._hub.close()
        await self._http.aclose()

    def _socket(self, name: str, on_message: Any, *, path: str, **hooks: Any) -> ReconnectingWebSocket:
        return self.settings.websocket(
            name, on_message, url=self.settings.ws_url + path, headers=self._private_headers, **hooks
        )

    def _private_headers(self) -> dict[str, str]:
        return {"X-Api-Key": self._api_key.get_secret_value(), "User-Agent": USER_AGENT}

    async def _check_account(self) -> None:
        """``GET /user/account/info``: the API key's sub-account must be the one the Stark key and vault sign for
        (else every order would be refused with 1100/1102)."""
        from x10.models.account import AccountModel

        data = await self._get("/user/account/info", private=True)
        with reading(self.name, "GET /user/account/info"):
            account = AccountModel.model_validate(data)
        if int(account.l2_key, 16) != int(self._signer.public_key, 16):
            raise AuthenticationError(
                f"{self.name}: {PUBLIC_KEY_ENV} is not the Stark key of the sub-account of {API_KEY_ENV}",
                exchange=self.name,
            )
        if account.l2_vault != self._signer.vault:
            raise AuthenticationError(
                f"{self.name}: {VAULT_ENV} is not the vault of the sub-account of {API_KEY_ENV}", exchange=self.name
            )

    async def _load_fees(self) -> None:
        from x10.models.fee import TradingFeeModel

        rows = await self._get("/user/fees", private=True)
        with reading(self.name, "GET /user/fees"):
            for row in rows or []:
                fee = TradingFeeModel.model_validate(row)
                self._taker_fees[fee.market] = fee.taker_fee_rate + fee.builder_fee_rate

    # HTTP ---------------------------------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        private: bool = False,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        order: bool = False,
    ) -> Any:
        headers = self._private_headers() if private else {}
        if body is not None:
            headers["Content-Type"] = "application/json"
        answer = await request_json(
            self._http,
            method,
            path,
            exchange=self.name,
            error_mapper=lambda status, payload, hdrs: map_http_error(status, payload, hdrs, self.name, order=order),
            params=params,
            content=json.dumps(body) if body is not None else None,
            headers=headers,
        )
        if not isinstance(answer, Mapping) or answer.get("status") not in {"OK", "ERROR"}:
            raise MalformedResponse(f"{self.name}: {method} {path} answered an unknown shape", exchange=self.name)
        if answer["status"] == "ERROR":
            code, message = envelope_error(answer)
            raise map_error(code, message, self.name) or ExchangeError(
                f"{self.name}: error {code}: {message}", exchange=self.name
            )
        return answer.get("data")

    async def _get(self, path: str, *, private: bool = False, params: Mapping[str, Any] | None = None) -> Any:
        return await self._request("GET", path, private=private, params=params)

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            from x10.models.market import MarketModel

            markets: dict[str, Market] = {}
            for row in await self._get("/info/markets") or []:
                try:
                    model = MarketModel.model_validate(row)
                except ValueError:  # a market of a kind this SDK does not know: not one we can sign for
                    log.info(
                        "%s: skipping market %s",
                        self.name,
                        str(row.get("name") if isinstance(row, Mapping) else row)[:40],
                    )
                    continue
                if not parsing.is_perpetual(model):
                    continue
                taker = self._taker_fees.get(model.name)
                market = parsing.market_from_model(self.name, model, None, taker)
                self._models[model.name] = model
                self._by_name[model.name] = market
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _symbol_of(self, venue_symbol: str) -> str | None:
        market = self._by_name.get(venue_symbol)
        return market.symbol if market is not None else None

    async def best_bid_ask(self, symbol: str) -> Quote:
        from x10.models.orderbook import OrderbookUpdateModel

        market = await self.market(symbol)
        data = await self._get(f"/info/markets/{market.venue_symbol}/orderbook")
        with reading(self.name, "GET /info/markets/{market}/orderbook"):
            book = OrderbookUpdateModel.model_validate(data)
        bid, ask = (book.bid[0] if book.bid else None), (book.ask[0] if book.ask else None)
        return checked_quote(
            self.name,
            symbol,
            bid.price if bid else None,
            ask.price if ask else None,
            bid_size=bid.qty if bid else None,
            ask_size=ask.qty if ask else None,
        )

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        from x10.models.orderbook import OrderbookUpdateModel

        market = await self.market(symbol)
        quotes: LatestQueue[Quote] = LatestQueue()
        top: dict[str, tuple[Decimal, Decimal]] = {}

        async def on_message(message: Any) -> None:
            if not isinstance(message, Mapping) or not isinstance(message.get("data"), Mapping):
                return
            with reading(self.name, "order book message"):
                book = OrderbookUpdateModel.model_validate(message["data"])
            if book.market != market.venue_symbol:
                return
            # depth=1: every message carries the best level of each side it changes
            if book.bid:
                top["bid"] = (book.bid[0].price, book.bid[0].qty)
            if book.ask:
                top["ask"] = (book.ask[0].price, book.ask[0].qty)
            if "bid" in top and "ask" in top:
                timestamp = message.get("ts")
                quotes.put(
                    checked_quote(
                        self.name,
                        symbol,
                        top["bid"][0],
                        top["ask"][0],
                        bid_size=top["bid"][1],
                        ask_size=top["ask"][1],
                        timestamp=from_ms(timestamp) if isinstance(timestamp, int) else utcnow(),
                    )
                )

        socket = self._socket(f"{self.name} {market.venue_symbol} book", on_message,
                              path=f"/orderbooks/{market.venue_symbol}?depth=1")  # fmt: skip
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _order(self, row: Any) -> Order | None:
        from x10.models.order import OpenOrderModel

        with reading(self.name, "order"):
            model = OpenOrderModel.model_validate(row)
            symbol = self._symbol_of(model.market)
            if symbol is None:  # a market we do not trade (spot, inactive)
                return None
            order = parsing.order_from_model(self.name, model, symbol)
        seen = self._filled.get(order.order_id, Decimal(0))
        if seen > order.filled_size and not order.status.is_final:
            status = OrderStatus.FILLED if seen >= order.size else OrderStatus.PARTIALLY_FILLED
            order = order.model_copy(update={"filled_size": seen, "status": status})
        return order

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        model = self._models[market.venue_symbol]
        size = market.round_size(request.size)
        if size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        tif = request.time_in_force
        if request.order_type is OrderType.MARKET:
            quote = await self.best_bid_ask(request.symbol)
            slip = self.settings.market_slippage
            worst = quote.ask * (1 + slip) if request.side is Side.BUY else quote.bid * (1 - slip)
            rounding = ROUND_CEILING if request.side is Side.BUY else ROUND_FLOOR  # through the book, not back
            price = (worst / market.tick_size).to_integral_value(rounding=rounding) * market.tick_size
            tif = TimeInForce.IOC
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = market.round_price(request.price, request.side)
        expire = utcnow() + (
            timedelta(hours=1) if tif is TimeInForce.IOC else timedelta(days=self.settings.order_expiry_days)
        )
        body = self._signer.signed_order(
            model,
            side="BUY" if request.side is Side.BUY else "SELL",
            size=size,
            price=price,
            order_type="MARKET" if request.order_type is OrderType.MARKET else "LIMIT",
            time_in_force="IOC" if tif is TimeInForce.IOC else "GTT",
            post_only=tif is TimeInForce.POST_ONLY,
            reduce_only=request.reduce_only,
            external_id=request.client_order_id,
            expire_time=expire,
            taker_fee=self._taker_fees.get(market.venue_symbol, DEFAULT_TAKER_FEE),
        )
        placed = await self._request("POST", "/user/order", private=True, body=body)
        with reading(self.name, "POST /user/order answer"):  # unreadable: the outcome is unknown, looked up by id
            order_id = str(int(placed["id"]))
        pending = Order(
            order_id=order_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=tif,
            price=price,
            size=size,
            status=OrderStatus.PENDING,
            reduce_only=request.reduce_only,
        )
        self._hub.track(pending)
        order = pending
        if self.settings.order_confirm_timeout > 0:
            order = (
                await self._hub.settle(
                    lambda: self.get_order(request.symbol, order_id),
                    order_id=order_id,
                    timeout=self.settings.order_confirm_timeout,
                    interval=self.settings.order_confirm_poll,
                )
                or pending
            )
        if order.client_order_id != request.client_order_id:
            order = order.model_copy(update={"client_order_id": request.client_order_id})
        if order.status is OrderStatus.REJECTED or order.cancel_reason is CancelReason.POST_ONLY_VIOLATION:
            raise rejection_for(
                order.cancel_reason or CancelReason.REJECTED,
                f"{request.side} {market.venue_symbol} @ {price} rejected by the engine: {order.cancel_reason}",
                self.name,
            )
        return order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        if not order_id.isdigit():
            raise OrderNotFound(f"{self.name}: {order_id} is not an order id", exchange=self.name)
        known = self._hub.known_order(order_id)
        if known is not None and known.status.is_final:
            raise OrderNotFound(f"{self.name}: order {order_id} is {known.status}", exchange=self.name)
        await self._request("DELETE", f"/user/order/{order_id}", private=True, order=True)
        # queued: the stream reports the final state

    async def cancel_by_client_id(self, symbol: str, client_order_id: str) -> None:
        """Cancel by ``externalId`` (the SDK's ``cancel_order_by_external_id``): works for an order whose id this
        process never saw."""
        await self._request("DELETE", "/user/order", private=True, params={"externalId": client_order_id}, order=True)

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        if not open_orders:
            return 0
        body: dict[str, Any] = (
            {"markets": [(await self.market(symbol)).venue_symbol]} if symbol is not None else {"cancelAll": True}
        )
        await self._request("POST", "/user/order/massCancel", private=True, body=body)
        return len(open_orders)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self.markets()
        params = {"market": (await self.market(symbol)).venue_symbol} if symbol is not None else None
        rows = await self._get("/user/orders", private=True, params=params)
        orders = [self._order(row) for row in rows or []]
        return [o for o in orders if o is not None and (symbol is None or o.symbol == symbol)]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        if not order_id.isdigit():
            return self._hub.known_order(order_id)
        await self.markets()
        try:
            row = await self._request("GET", f"/user/orders/{order_id}", private=True, order=True)
        except OrderNotFound:
            return None
        return self._order(row) if row else None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        await self.markets()
        try:
            rows = await self._request("GET", f"/user/orders/external/{client_order_id}", private=True, order=True)
        except OrderNotFound:
            return None
        orders = [o for o in (self._order(row) for row in rows or []) if o is not None]
        return max(orders, key=lambda o: o.created_at) if orders else None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def _positions(self) -> list[Position]:
        from x10.models.position import PositionModel

        await self.markets()
        out = []
        for row in await self._get("/user/positions", private=True) or []:
            with reading(self.name, "position"):
                model = PositionModel.model_validate(row)
            symbol = self._symbol_of(model.market)
            if symbol is not None and model.size != 0 and str(model.status) != "CLOSED":
                out.append(parsing.position_from_model(model, symbol))
        return out

    async def position(self, symbol: str) -> Position:
        await self.market(symbol)
        for position in await self._positions():
            if position.symbol == symbol:
                return position
        return Position(symbol=symbol, size=Decimal(0))

    async def positions(self) -> list[Position]:
        return await self._positions()

    async def balance(self) -> Balance:
        from x10.models.balance import BalanceModel

        try:
            data = await self._request("GET", "/user/balance", private=True, order=True)
        except OrderNotFound:  # a sub-account that never held collateral has no balance record
            return Balance(asset="USD", equity=Decimal(0), available=Decimal(0))
        with reading(self.name, "GET /user/balance"):
            model = BalanceModel.model_validate(data)
        return Balance(
            asset=model.collateral_name,
            equity=model.equity,
            available=model.available_for_trade,
            margin_used=model.initial_margin,
            unrealized_pnl=model.unrealised_pnl,
        )

    # account stream -----------------------------------------------------------------------------------------------
    async def _on_account_connect(self, _socket: ReconnectingWebSocket) -> None:
        self._seq = None  # the numbering starts again on every connection

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        seq = message.get("seq")
        if isinstance(seq, int):
            if self._seq is not None and seq != self._seq + 1 and self._account_ws is not None:
                log.warning("%s: account stream skipped from seq %d to %d: resyncing", self.name, self._seq, seq)
                self._seq = None
                await self._account_ws.reconnect("sequence gap")
                return
            self._seq = seq
        if message.get("error"):
            log.warning("%s: stream error: %s", self.name, str(message["error"])[:200])
        data = message.get("data")
        if not isinstance(data, Mapping):
            return
        for row in data.get("orders") or []:
            order = self._order(row)
            if order is not None:
                self._hub.publish(OrderUpdate(order=order))
        for row in data.get("trades") or []:
            await self._on_trade(row)

    def _count(self, fill: Fill) -> None:
        """Add a new fill (of this process) to its order's filled size."""
        if not self._hub.seen_trade(fill.trade_id) and not self._hub.is_history(fill):
            self._filled[fill.order_id] = self._filled.get(fill.order_id, Decimal(0)) + fill.size

    def _fill(self, row: Any) -> Fill | None:
        from x10.models.trade import AccountTradeModel

        with reading(self.name, "trade"):
            trade = AccountTradeModel.model_validate(row)
        symbol = self._symbol_of(trade.market)
        if symbol is None:
            return None
        known = self._hub.known_order(str(trade.order_id))
        return parsing.fill_from_trade(trade, symbol, known.client_order_id if known else None)

    async def _on_trade(self, row: Any) -> None:
        fill = self._fill(row)
        if fill is None:
            return
        self._count(fill)
        known = self._hub.known_order(fill.order_id)
        if known is None:  # an order of another process (or of before the start): its state over REST
            order = await self.get_order(fill.symbol, fill.order_id)
            if order is not None and fill.client_order_id is None:
                fill = fill.model_copy(update={"client_order_id": order.client_order_id})
            self._hub.publish_fill(fill, order, drop_history=True)
            return
        filled = max(known.filled_size, self._filled.get(fill.order_id, Decimal(0)))
        status = known.status
        if not status.is_final or status is OrderStatus.FILLED:
            status = OrderStatus.FILLED if filled >= known.size else OrderStatus.PARTIALLY_FILLED
        order = known.model_copy(update={"filled_size": filled, "status": status, "updated_at": fill.timestamp})
        self._hub.publish(OrderUpdate(order=order, fill=fill), drop_history=True)

    async def _fills_since(self, since: datetime) -> list[Fill]:
        """``GET /user/trades`` (newest first, one page): the account's trades at or after ``since``."""
        await self.markets()
        rows = await self._get("/user/trades", private=True, params={"limit": TRADES_PAGE})
        fills: list[Fill] = []
        for row in rows or []:
            fill = self._fill(row)
            if fill is not None and fill.timestamp >= since:
                self._count(fill)
                fills.append(fill)
        return fills
