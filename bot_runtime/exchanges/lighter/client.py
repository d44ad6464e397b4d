"""Lighter trading client on the official ``lighter-sdk``.

* Signing: ``lighter.SignerClient`` (its bundled Go signer), built inside the running loop with an explicit chain id
  (mainnet 304, testnet 300). Orders carry integer ``base_amount``/``price`` scaled by the market's decimals.
* REST: the SDK's ``OrderApi``/``AccountApi``/``TransactionApi`` on the signer's ``ApiClient`` (base URL configurable).
* Private REST reads take an auth token from ``create_auth_token_with_expiry`` (renewed before it expires).
* Post-only rejection is not an HTTP error on Lighter: ``sendTx`` accepts the tx and the matching engine cancels the
  order with status ``canceled-post-only``. ``place_order`` therefore waits (``confirmTimeout``) for the order's
  verdict - from the WebSocket stream or ``accountOrders`` by client index - and raises
  :class:`PostOnlyWouldCross` / :class:`InsufficientMargin` accordingly.
* Streams: our own asyncio WebSocket (``account_all_orders`` + ``account_all_trades`` with the auth token,
  ``order_book`` per price stream, resubscribed when an update does not continue the book: see
  :mod:`~bot_runtime.exchanges.lighter.book`), reconnecting with backoff; after a reconnect the fills of the gap are fetched
  from ``/api/v1/trades`` and open orders from ``accountActiveOrders``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, TypeVar

from lighter.api.account_api import AccountApi
from lighter.api.order_api import OrderApi
from lighter.signer_client import SignerClient

from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.tagged_ids import LIGHTER, TaggedClientIds
from bot_runtime.exchanges._shared.values import dec
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    ZERO,
    AuthenticationError,
    Balance,
    CancelReason,
    CredentialsError,
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
from bot_runtime.exchanges.lighter.book import LocalBook
from bot_runtime.exchanges.lighter.config import LighterConfig
from bot_runtime.exchanges.lighter.errors import (
    classify_message,
    from_sdk_error_string,
    sdk_call,
)
from bot_runtime.exchanges.lighter.mapping import (
    parse_fills,
    parse_market,
    parse_order,
    scale,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

AUTH_TOKEN_TTL = 600  # seconds: the SDK's default (10 minutes)
CONFIRM_POLL = 0.2
CLIENT_IDS_PER_LOOKUP = 20  # accountOrders accepts at most 20 client order indexes


def _as_dict(model: Any) -> dict[str, Any]:
    if isinstance(model, dict):
        return model
    result: dict[str, Any] = model.to_dict()
    return result


def _pong(message: Any) -> Any:
    """Lighter's application-level keepalive: ``{"type": "ping"}`` is answered with ``{"type": "pong"}``."""
    return {"type": "pong"} if isinstance(message, dict) and message.get("type") == "ping" else None


class LighterExchange(Exchange):
    name = "lighter"

    def __init__(self, config: LighterConfig, *, name: str = "lighter") -> None:
        self.name = name
        self._cfg = config
        self._signer: Any = None
        self._order_api: Any = None
        self._account_api: Any = None
        self._markets: dict[str, Market] = {}
        self._by_market_id: dict[int, Market] = {}
        self._client_ids = TaggedClientIds(LIGHTER)
        self._hub = OrderUpdateHub(name)
        self._stream: ReconnectingWebSocket | None = None
        self._token: str | None = None
        self._token_expiry = 0.0
        self._nonce_dirty = False

    # lifecycle --------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._signer is None:
            try:
                self._signer = SignerClient(
                    url=self._cfg.base_url,
                    account_index=self._cfg.account_index,
                    api_private_keys={self._cfg.api_key_index: self._cfg.private_key.get_secret_value()},
                    chain_id=self._cfg.chain_id,
                )
            except Exception:
                # the signer's message may quote the key material: never pass it on
                raise CredentialsError(
                    self.name, ["API_KEY_PRIVATE_KEY"], "was refused by the Lighter signer"
                ) from None
            self._order_api = OrderApi(self._signer.api_client)
            self._account_api = AccountApi(self._signer.api_client)
        self._hub.mark_started()
        await self._load_markets()
        await self._account()  # the account exists and answers
        self._auth_token()  # the key signs
        if self._cfg.stream and self._stream is None:
            self._stream = self._socket(
                "account",
                self._on_account_message,
                self._subscribe_account,
                on_reconnect=rest_catch_up(self._hub, self, self._fills_since, self._refresh),
            )
            self._stream.start()
            await self._stream.wait_connected(timeout=self._cfg.request_timeout)

    def _socket(
        self,
        what: str,
        on_message: Callable[[Any], Awaitable[None]],
        on_connect: Callable[[ReconnectingWebSocket], Awaitable[None]],
        *,
        on_reconnect: Callable[[ReconnectingWebSocket], Awaitable[None]] | None = None,
    ) -> ReconnectingWebSocket:
        return ReconnectingWebSocket(
            self._cfg.ws_url,
            name=f"{self.name}:{what}",
            on_message=on_message,
            on_connect=on_connect,
            on_reconnect=on_reconnect,
            answer=_pong,
        )

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._hub.close()
        if self._signer is not None:
            await self._signer.close()
            self._signer = None

    # plumbing ---------------------------------------------------------------------------------------------------
    async def _call(self, what: str, factory: Callable[[], Awaitable[T]]) -> T:
        if self._signer is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        return await sdk_call(what, factory(), self._cfg.request_timeout, exchange=self.name)

    def _auth_token(self) -> str:
        now = time.time()
        if self._token is not None and now < self._token_expiry - 60:
            return self._token
        token, err = self._signer.create_auth_token_with_expiry(
            SignerClient.DEFAULT_10_MIN_AUTH_EXPIRY, api_key_index=self._cfg.api_key_index
        )
        if err or not token:
            raise AuthenticationError(
                f"{self.name}: could not create an auth token with this API key", exchange=self.name
            )
        self._token, self._token_expiry = str(token), now + AUTH_TOKEN_TTL
        return self._token

    async def _account(self) -> dict[str, Any]:
        result = await self._call(
            "account", lambda: self._account_api.account(by="index", value=str(self._cfg.account_index))
        )
        accounts = _as_dict(result).get("accounts") or []
        if not accounts:
            raise AuthenticationError(f"{self.name}: account {self._cfg.account_index} not found", exchange=self.name)
        account: dict[str, Any] = accounts[0]
        return account

    # market data ------------------------------------------------------------------------------------------------
    async def _load_markets(self) -> None:
        result = await self._call("orderBooks", self._order_api.order_books)
        markets: dict[str, Market] = {}
        by_id: dict[int, Market] = {}
        for book in _as_dict(result).get("order_books") or []:
            if book.get("market_type", "perp") != "perp" or book.get("status", "active") != "active":
                continue
            with reading(self.name, "order book"):
                market = parse_market(book)
            markets[market.symbol] = market
            by_id[int(market.contract_id)] = market
        self._markets, self._by_market_id = markets, by_id

    async def markets(self) -> dict[str, Market]:
        if not self._markets:
            await self._load_markets()
        return dict(self._markets)

    def _symbol_of(self, market_id: Any) -> str:
        market = self._by_market_id.get(int(market_id))
        return market.symbol if market else f"market-{market_id}"

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        result = await self._call(
            "orderBookOrders", lambda: self._order_api.order_book_orders(int(market.contract_id), 1)
        )
        book = _as_dict(result)
        asks, bids = book.get("asks") or [], book.get("bids") or []
        if not asks or not bids:
            raise ExchangeError(f"{self.name}: empty order book for {symbol}", exchange=self.name)
        with reading(self.name, "orderBookOrders"):
            bid, ask = dec(bids[0]["price"]), dec(asks[0]["price"])
            bid_size, ask_size = dec(bids[0]["remaining_base_amount"]), dec(asks[0]["remaining_base_amount"])
        return checked_quote(self.name, symbol, bid, ask, bid_size=bid_size, ask_size=ask_size)

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        market_id = int(market.contract_id)
        quotes: LatestQueue[Quote] = LatestQueue()
        book = LocalBook()
        channel = f"order_book/{market_id}"

        async def subscribe(ws: ReconnectingWebSocket) -> None:
            book.reset()
            await ws.send_json({"type": "subscribe", "channel": channel})

        async def on_message(message: Any) -> None:
            kind = message.get("type") if isinstance(message, dict) else None
            if kind not in ("subscribed/order_book", "update/order_book"):
                return
            with reading(self.name, "order_book update"):
                continues = book.apply(kind, message.get("order_book") or {})
            if not continues:
                log.warning("%s: order book of %s skipped updates: resubscribing", self.name, symbol)
                await socket.send_json({"type": "unsubscribe", "channel": channel})
                await socket.send_json({"type": "subscribe", "channel": channel})
                return
            best = book.best()
            if best is not None:
                (bid, bid_size), (ask, ask_size) = best
                # a bad book raises: the socket logs it and the queue keeps the last good quote
                quotes.put(checked_quote(self.name, symbol, bid, ask, bid_size=bid_size, ask_size=ask_size))

        socket = self._socket(f"book:{symbol}", on_message, subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -----------------------------------------------------------------------------------------------------
    async def _send(self, what: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        """Sign + sendTx through the SDK (nonce handling included) and turn every failure into a typed error."""
        if self._nonce_dirty:
            await self._call(
                "nextNonce",
                lambda: self._signer.nonce_manager.async_hard_refresh_nonce(self._cfg.api_key_index),
            )
            self._nonce_dirty = False
        try:
            tx, response, err = await self._call(what, factory)
        except ExchangeError as exc:
            if not isinstance(exc, (OrderRejected, AuthenticationError)):
                self._nonce_dirty = True  # unknown outcome: re-read the nonce before the next tx
            raise
        if err:
            raise from_sdk_error_string(str(err))
        code = getattr(response, "code", 200)
        if code != 200:
            raise classify_message(str(getattr(response, "message", "") or "tx refused"), int(code))
        return tx

    def _tx_params(self, market: Market, request: OrderRequest, price: Decimal) -> dict[str, Any]:
        size_decimals = -market.size_step.as_tuple().exponent  # type: ignore[operator]
        price_decimals = -market.tick_size.as_tuple().exponent  # type: ignore[operator]
        size = market.round_size(request.size)
        if size <= 0 or size < market.min_size:
            raise OrderRejected(
                f"{self.name}: size {request.size} below the minimum {market.min_size} of {market.symbol}",
                exchange=self.name,
            )
        if request.order_type is OrderType.MARKET:
            order_type, tif, expiry = (
                SignerClient.ORDER_TYPE_MARKET,
                SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                0,
            )
        elif request.time_in_force is TimeInForce.IOC:
            order_type, tif, expiry = (
                SignerClient.ORDER_TYPE_LIMIT,
                SignerClient.ORDER_TIME_IN_FORCE_IMMEDIATE_OR_CANCEL,
                0,
            )
        elif request.time_in_force is TimeInForce.POST_ONLY:
            order_type, tif, expiry = (
                SignerClient.ORDER_TYPE_LIMIT,
                SignerClient.ORDER_TIME_IN_FORCE_POST_ONLY,
                SignerClient.DEFAULT_28_DAY_ORDER_EXPIRY,
            )
        else:
            order_type, tif, expiry = (
                SignerClient.ORDER_TYPE_LIMIT,
                SignerClient.ORDER_TIME_IN_FORCE_GOOD_TILL_TIME,
                SignerClient.DEFAULT_28_DAY_ORDER_EXPIRY,
            )
        return {
            "market_index": int(market.contract_id),
            "client_order_index": self._client_ids.encode(request.client_order_id, self._hub.open_orders()),
            "base_amount": scale(size, int(size_decimals)),
            "price": scale(price, int(price_decimals)),
            "is_ask": request.side is Side.SELL,
            "order_type": order_type,
            "time_in_force": tif,
            "reduce_only": request.reduce_only,
            "order_expiry": expiry,
        }

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        if request.order_type is OrderType.LIMIT:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = market.round_price(request.price, request.side)
        elif request.price is not None:  # a market order with an explicit worst price
            price = market.round_price(request.price, request.side.opposite)
        else:
            quote = await self.best_bid_ask(request.symbol)
            slip = self._cfg.market_slippage
            raw = quote.ask * (1 + slip) if request.side is Side.BUY else quote.bid * (1 - slip)
            rounding = ROUND_CEILING if request.side is Side.BUY else ROUND_FLOOR
            price = (raw / market.tick_size).to_integral_value(rounding=rounding) * market.tick_size
        params = self._tx_params(market, request, price)
        idx = params["client_order_index"]
        self._client_ids.ensure_free(idx, request.client_order_id, self._hub.open_orders())
        await self._send("createOrder", lambda: self._signer.create_order(**params))
        pending = Order(
            order_id=str(idx),
            client_order_id=request.client_order_id,
            symbol=market.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=request.time_in_force,
            price=price,
            size=market.round_size(request.size),
            status=OrderStatus.PENDING,
            reduce_only=request.reduce_only,
        )
        order = (
            await self._hub.settle(
                lambda: self._lookup_client_index(idx),
                client_order_id=request.client_order_id,
                timeout=self._cfg.confirm_timeout,
                interval=CONFIRM_POLL,
            )
            or pending
        )
        if order.status is OrderStatus.REJECTED or (order.status is OrderStatus.CANCELED and order.filled_size == 0):
            if order.cancel_reason is CancelReason.POST_ONLY_VIOLATION:
                raise PostOnlyWouldCross(
                    f"{self.name}: post-only order {request.client_order_id} would cross", exchange=self.name
                )
            if order.cancel_reason is CancelReason.INSUFFICIENT_BALANCE:
                raise InsufficientMargin(
                    f"{self.name}: order {request.client_order_id} refused for margin", exchange=self.name
                )
            if order.status is OrderStatus.REJECTED:
                raise OrderRejected(
                    f"{self.name}: order {request.client_order_id} rejected ({order.cancel_reason})",
                    reason=order.cancel_reason or CancelReason.REJECTED,
                    exchange=self.name,
                )
        return order

    async def _lookup_client_index(self, idx: int) -> Order | None:
        return (await self._lookup_client_indexes([idx])).get(idx)

    async def _lookup_client_indexes(self, indexes: list[int]) -> dict[int, Order]:
        found: dict[int, Order] = {}
        for start in range(0, len(indexes), CLIENT_IDS_PER_LOOKUP):
            chunk = indexes[start : start + CLIENT_IDS_PER_LOOKUP]
            token = self._auth_token()
            result = await self._call(
                "accountOrders",
                lambda chunk=chunk, token=token: self._order_api.account_orders(  # type: ignore[misc]
                    authorization=token,
                    client_order_indexes=",".join(str(i) for i in chunk),
                    account_index=self._cfg.account_index,
                ),
            )
            for raw in _as_dict(result).get("orders") or []:
                with reading(self.name, "order"):
                    order = parse_order(raw, self._symbol_of(raw["market_index"]), self._client_ids)
                    found[int(raw["client_order_index"])] = order
        return found

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        market = await self.market(symbol)
        open_ids = {o.order_id: o for o in await self.open_orders(symbol)}
        target = open_ids.get(order_id)
        if target is None:
            # maybe a pending id (our client index) that has an exchange order index by now
            by_client = next(
                (
                    o
                    for o in open_ids.values()
                    if o.client_order_id and str(self._client_ids.encode(o.client_order_id)) == order_id
                ),
                None,
            )
            if by_client is None:
                raise OrderNotFound(f"{self.name}: order {order_id} is not open on {symbol}", exchange=self.name)
            target = by_client
        await self._send(
            "cancelOrder",
            lambda: self._signer.cancel_order(market_index=int(market.contract_id), order_index=int(target.order_id)),
        )

    async def cancel_all(self, symbol: str | None = None) -> int:
        opens = await self.open_orders(symbol)
        if not opens:
            return 0
        market_index = SignerClient.NIL_MARKET_INDEX
        if symbol is not None:
            market_index = int((await self.market(symbol)).contract_id)
        await self._send(
            "cancelAllOrders",
            lambda: self._signer.cancel_all_orders(
                time_in_force=SignerClient.CANCEL_ALL_TIF_IMMEDIATE,
                timestamp_ms=0,
                cancel_all_market_index=market_index,
            ),
        )
        return len(opens)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        market_id = int((await self.market(symbol)).contract_id) if symbol else None
        token = self._auth_token()
        result = await self._call(
            "accountActiveOrders",
            lambda: self._order_api.account_active_orders(
                authorization=token, account_index=self._cfg.account_index, market_id=market_id
            ),
        )
        with reading(self.name, "order"):
            orders = [
                parse_order(raw, self._symbol_of(raw["market_index"]), self._client_ids)
                for raw in _as_dict(result).get("orders") or []
            ]
        for order in orders:  # known live: a new client id never takes one of theirs (recovery after a restart)
            self._hub.track(order)
        return [o for o in orders if symbol is None or o.symbol == symbol]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        for order in await self.open_orders(symbol):
            if order.order_id == order_id:
                return order
        market = await self.market(symbol)
        token = self._auth_token()
        result = await self._call(
            "accountInactiveOrders",
            lambda: self._order_api.account_inactive_orders(
                authorization=token,
                account_index=self._cfg.account_index,
                limit=100,
                market_id=int(market.contract_id),
            ),
        )
        for raw in _as_dict(result).get("orders") or []:
            if str(raw.get("order_id") or raw.get("order_index")) == order_id:
                with reading(self.name, "order"):
                    return parse_order(raw, symbol, self._client_ids)
        return None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        idx = self._client_ids.encode(client_order_id)
        order = (await self._lookup_client_indexes([idx])).get(idx)
        return order if order is not None and order.symbol == symbol else None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ----------------------------------------------------------------------------------------------------
    def _parse_position(self, raw: dict[str, Any]) -> Position:
        with reading(self.name, "position"):
            return self._position_of(raw)

    def _position_of(self, raw: dict[str, Any]) -> Position:
        size = Decimal(raw.get("position") or "0") * (-1 if int(raw.get("sign", 1)) < 0 else 1)
        value = Decimal(raw.get("position_value") or "0")
        liq = Decimal(raw.get("liquidation_price") or "0")
        funding = raw.get("total_funding_paid_out")
        return Position(
            symbol=self._symbol_of(raw["market_id"]),
            size=size,
            avg_entry_price=Decimal(raw["avg_entry_price"]) if size != 0 else None,
            mark_price=(value / abs(size)) if size != 0 and value else None,
            unrealized_pnl=Decimal(raw.get("unrealized_pnl") or "0"),
            realized_pnl=Decimal(raw.get("realized_pnl") or "0"),
            funding_pnl=-Decimal(funding) if funding else ZERO,
            liquidation_price=liq if liq > 0 else None,
            margin=Decimal(raw["allocated_margin"]) if raw.get("allocated_margin") else None,
        )

    async def positions(self) -> list[Position]:
        account = await self._account()
        return [p for p in (self._parse_position(raw) for raw in account.get("positions") or []) if p.size != 0]

    async def position(self, symbol: str) -> Position:
        await self.market(symbol)
        for pos in await self.positions():
            if pos.symbol == symbol:
                return pos
        return Position(symbol=symbol, size=ZERO)

    async def balance(self) -> Balance:
        account = await self._account()
        with reading(self.name, "account"):
            unrealized = sum((dec(p.get("unrealized_pnl") or "0") for p in account.get("positions") or []), ZERO)
            equity = dec(account.get("total_asset_value") or account.get("collateral") or "0")
            return Balance(
                asset="USDC",
                equity=equity,
                available=dec(account.get("available_balance") or "0"),
                margin_used=dec(account.get("cross_initial_margin_requirement") or "0"),
                unrealized_pnl=unrealized,
            )

    # the account stream -----------------------------------------------------------------------------------------
    async def _subscribe_account(self, ws: ReconnectingWebSocket) -> None:
        token = self._auth_token()
        acct = self._cfg.account_index
        await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{acct}", "auth": token})
        await ws.send_json({"type": "subscribe", "channel": f"account_all_trades/{acct}", "auth": token})

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        kind = str(message.get("type", ""))
        if kind.endswith("/account_all_orders"):
            self._handle_orders(message.get("orders") or {})
        elif kind.endswith("/account_all_trades"):
            self._handle_trades(message.get("trades") or {})
        elif kind == "error":
            log.warning("%s: stream error %s", self.name, str(message.get("data") or message)[:300])

    def _handle_orders(self, by_market: dict[str, list[dict[str, Any]]]) -> None:
        for market_id, raws in by_market.items():
            symbol = self._symbol_of(market_id)
            for raw in raws or []:  # unreadable: raised, the socket logs it and catches up over REST
                with reading(self.name, "account_all_orders"):
                    order = parse_order(raw, symbol, self._client_ids)
                self._hub.publish(OrderUpdate(order=order))

    def _handle_trades(self, by_market: dict[str, list[dict[str, Any]]]) -> None:
        for market_id, raws in by_market.items():
            for raw in raws or []:
                self._publish_trade(raw, self._symbol_of(market_id))

    def _publish_trade(self, raw: dict[str, Any], symbol: str) -> None:
        with reading(self.name, "trade"):
            fills = parse_fills(raw, self._cfg.account_index, symbol, self._client_ids)
        for fill in fills:
            self._hub.publish_fill(fill, drop_history=True)  # the subscription starts with recent trades

    async def _fills_since(self, since: datetime) -> list[Fill]:
        token = self._auth_token()
        result = await self._call(
            "trades",
            lambda: self._order_api.trades(
                sort_by="timestamp",
                limit=100,
                authorization=token,
                account_index=self._cfg.account_index,
                sort_dir="desc",
            ),
        )
        fills: list[Fill] = []
        for raw in _as_dict(result).get("trades") or []:
            with reading(self.name, "trade"):
                symbol = self._symbol_of(raw["market_id"])
                parsed = parse_fills(raw, self._cfg.account_index, symbol, self._client_ids)
            fills += [f for f in parsed if f.timestamp >= since]
        return fills

    async def _refresh(self, order: Order) -> Order | None:
        """An order's latest state by its client index (works for an order still known by a provisional id)."""
        if order.client_order_id:
            return await self._lookup_client_index(self._client_ids.encode(order.client_order_id))
        return await self.get_order(order.symbol, order.order_id)
