"""The Nado trading client (:class:`~bot_runtime.exchanges.base.Exchange`) on the documented gateway API.

Transport: httpx (``POST {gateway}/query`` for reads, ``POST {gateway}/execute`` for signed orders and cancels,
``POST {indexer}`` for fills and closed orders) and one
:class:`~bot_runtime.exchanges._shared.ws.ReconnectingWebSocket` on ``{gateway}/subscribe``, authenticated with a
signed ``StreamAuthentication`` and subscribed to the subaccount's ``fill`` and ``order_update`` streams. The SDK
(``nado-protocol``) is not imported in a pod (it cannot be: :mod:`.signing`); its EIP-712 tables and wire models are
written out (:mod:`.signing`, :mod:`.wire`) and proven against it in the tests.

* Orders are ``place_order`` with an ``Order`` signed for the product's verifying contract; the order id is its
  EIP-712 digest. Post-only is the appendix's order type 3: the engine refuses a crossing one in the execute answer
  ("order is post only, but it crosses book" → :class:`PostOnlyWouldCross`). IOC and market orders (an IOC
  ``marketSlippage`` through the best price) are settled from the stream or, failing it, over REST.
* Client ids: a 32-bit :class:`~bot_runtime.exchanges._shared.tagged_ids.TaggedClientIds` id (the Backpack layout:
  20 tag bits, roles o/c/x, 9 sequence bits) travels in the order's ``expiration`` (:data:`.parsing.EXPIRATION_BASE`
  + id: after the year 2242) and in the request's ``id`` (echoed by the stream); any process reads it back from the
  order (open orders, the indexer's history), so ``find_order_by_client_id`` works across restarts.
* Cancels are ``cancel_orders`` (digests) and ``cancel_product_orders`` (cancel-all), each signed.
* After a reconnect: the indexer's ``matches`` since the last fill, then the orders that left the book, then the
  open orders (:func:`~bot_runtime.exchanges._shared.order_hub.rest_catch_up`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.client_ids import IntIdLayout
from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, rest_catch_up
from bot_runtime.exchanges._shared.payload_checks import checked_quote, reading
from bot_runtime.exchanges._shared.tagged_ids import TaggedClientIds, TaggedIdLayout
from bot_runtime.exchanges._shared.values import from_ns, from_seconds
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
from bot_runtime.exchanges.nado import parsing
from bot_runtime.exchanges.nado.config import ACCOUNT_ENV, KEY_ENV, NadoCredentials, NadoSettings
from bot_runtime.exchanges.nado.errors import map_failure, map_http_error
from bot_runtime.exchanges.nado.signing import (
    AppendixOrderType,
    Domain,
    NadoSigner,
    build_appendix,
    order_nonce,
    subaccount_bytes32,
)
from bot_runtime.exchanges.nado.wire import (
    Answer,
    BestBidOfferEvent,
    Contracts,
    FillEvent,
    IndexerMatches,
    IndexerOrders,
    LinkedSigner,
    MarketPrice,
    MultiProductOrders,
    OrderData,
    OrderUpdateEvent,
    PlaceOrderData,
    SubaccountInfo,
    SubaccountOrders,
    Symbols,
    from_x18,
    to_x18,
)

log = logging.getLogger(__name__)

#: Nado's 32-bit client ids (carried in the order's expiration). The previous-layout slot TaggedIdLayout requires is
#: Backpack's shape: no Nado order ever carried it, it only frames where foreign ids are hashed.
NADO_IDS = TaggedIdLayout(
    "nado",
    bits=32,
    tag_bits=20,
    role_bits=2,
    legacy=IntIdLayout("nado", payload_bits=32, tag_hex=2, role_bits=2, second_bits=17, counter_bits=4),
)
_RECV_WINDOW_MS = 90_000  # the SDK's gen_order_nonce default: the engine refuses the order after now + 90 s
_STREAM_AUTH_TTL_MS = 60_000
_HISTORY_LIMIT = 100
_MATCH_PAGES = 10  # a catch-up reads at most 1,000 fills back


class NadoExchange(Exchange):
    def __init__(self, name: str, settings: NadoSettings, credentials: NadoCredentials) -> None:
        self.name = name
        self.settings = settings
        try:
            self._signer = NadoSigner(credentials.private_key.get_secret_value(), Domain(chain_id=0, endpoint=""))
        except ImportError:
            raise
        except Exception:  # the key library's message may quote the key: never pass it on
            raise CredentialsError(name, [KEY_ENV], "is not a valid secp256k1 private key") from None
        self.owner = credentials.owner or self._signer.address
        self._sender = subaccount_bytes32(self.owner, credentials.subaccount)
        self.subaccount = "0x" + self._sender.hex()
        self._http = httpx.AsyncClient(timeout=settings.request_timeout)
        self._markets: dict[str, Market] | None = None
        self._by_product: dict[int, Market] = {}
        self._ids = TaggedClientIds(NADO_IDS)
        self._hub = OrderUpdateHub(name)
        self._account_ws: ReconnectingWebSocket | None = None
        self._next_id = 0
        self._placed: set[str] = set()  # digests this process placed (their fills are never history)

    @property
    def signer_address(self) -> str:
        return self._signer.address

    # lifecycle ----------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._hub.mark_started()
        contracts_data, _ = await asyncio.gather(self._query({"type": "contracts"}), self.markets())
        with reading(self.name, "contracts"):
            contracts = Contracts.model_validate(contracts_data)
        self._signer.domain = Domain(chain_id=contracts.chain_id, endpoint=contracts.endpoint_addr)
        await self._check_account()
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

    async def _check_account(self) -> None:
        """The private read that proves the key: the subaccount exists, and a key that is not the owner's is the
        subaccount's linked signer."""
        info = await self._subaccount_info()
        if not info.exists:
            raise AuthenticationError(
                f"{self.name}: the subaccount of {ACCOUNT_ENV or KEY_ENV} does not exist (no deposit yet?)",
                exchange=self.name,
            )
        if self.owner.lower() != self._signer.address.lower():
            data = await self._query({"type": "linked_signer", "subaccount": self.subaccount})
            with reading(self.name, "linked_signer"):
                linked = LinkedSigner.model_validate(data)
            if linked.linked_signer.lower() != self._signer.address.lower():
                raise AuthenticationError(
                    f"{self.name}: the key of {KEY_ENV} is not the linked signer of {ACCOUNT_ENV}'s subaccount",
                    exchange=self.name,
                )

    def _signing_domain(self) -> None:
        """Signing needs the chain id and endpoint that ``connect()`` reads (``contracts``): refuse before it."""
        if self._signer.domain.chain_id == 0:
            raise ExchangeError(
                f"{self.name}: connect() first (the signing domain is not known yet)", exchange=self.name
            )

    # HTTP ---------------------------------------------------------------------------------------------------------
    async def _post(self, url: str, body: Mapping[str, Any]) -> Any:
        return await request_json(
            self._http,
            "POST",
            url,
            exchange=self.name,
            error_mapper=lambda status, payload, headers: map_http_error(status, payload, headers, self.name),
            content=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )

    def _answer(self, raw: Any, what: str) -> Answer:
        try:
            return Answer.model_validate(raw)
        except ValueError:
            raise MalformedResponse(f"{self.name}: {what} answered an unknown shape", exchange=self.name) from None

    async def _query(self, body: Mapping[str, Any]) -> Any:
        answer = self._answer(await self._post(f"{self.settings.base_url}/query", body), f"query {body.get('type')}")
        if answer.status == "failure":
            error = map_failure(answer.error or "", answer.error_code, self.name)
            if isinstance(error, OrderNotFound):
                raise error
            raise ExchangeError(f"{self.name}: query {body.get('type')} refused: {error}", exchange=self.name)
        return answer.data

    async def _execute(self, body: Mapping[str, Any]) -> Answer:
        answer = self._answer(await self._post(f"{self.settings.base_url}/execute", body), "execute")
        if answer.status == "failure":
            raise map_failure(answer.error or "", answer.error_code, self.name)
        return answer

    async def _indexer(self, body: Mapping[str, Any]) -> Any:
        return await self._post(self.settings.indexer_url, body)

    # markets ------------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if self._markets is None:
            data = await self._query({"type": "symbols", "product_type": "perp"})
            with reading(self.name, "symbols"):
                symbols = Symbols.model_validate(data)
            markets: dict[str, Market] = {}
            for row in symbols.symbols.values():
                if row.type != "perp":
                    continue
                market = parsing.market_from_symbol(self.name, row)
                self._by_product[row.product_id] = market
                markets.setdefault(market.symbol, market)
            self._markets = markets
        return self._markets

    def _market_of(self, product_id: int) -> Market | None:
        return self._by_product.get(product_id)

    async def best_bid_ask(self, symbol: str) -> Quote:
        market = await self.market(symbol)
        data = await self._query({"type": "market_price", "product_id": int(market.contract_id)})
        with reading(self.name, "market_price"):
            price = MarketPrice.model_validate(data)
        return checked_quote(self.name, symbol, from_x18(price.bid_x18), from_x18(price.ask_x18))

    async def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        market = await self.market(symbol)
        product_id = int(market.contract_id)
        quotes: LatestQueue[Quote] = LatestQueue()

        async def subscribe(socket: ReconnectingWebSocket) -> None:
            await socket.send_json(
                {"method": "subscribe", "stream": {"type": "best_bid_offer", "product_id": product_id}, "id": 1}
            )

        async def on_message(message: Any) -> None:
            if not isinstance(message, Mapping) or message.get("type") != "best_bid_offer":
                return
            with reading(self.name, "best_bid_offer event"):
                event = BestBidOfferEvent.model_validate(message)
            if event.product_id == product_id:
                quotes.put(
                    checked_quote(
                        self.name,
                        symbol,
                        from_x18(event.bid_price),
                        from_x18(event.ask_price),
                        bid_size=from_x18(event.bid_qty),
                        ask_size=from_x18(event.ask_qty),
                        timestamp=from_ns(event.timestamp),
                    )
                )

        socket = self.settings.websocket(f"{self.name} {market.venue_symbol} bbo", on_message, on_connect=subscribe)
        async for quote in relay(socket, quotes):
            yield quote

    # orders -------------------------------------------------------------------------------------------------------
    def _client_id(self, expiration: int | None, digest: str | None = None) -> str | None:
        venue_id = parsing.venue_id_of(expiration) if expiration is not None else None
        if venue_id is not None:
            return self._ids.decode(venue_id)
        known = self._hub.known_order(digest) if digest else None
        return known.client_order_id if known is not None else None

    async def place_order(self, request: OrderRequest) -> Order:
        market = await self.market(request.symbol)
        product_id = int(market.contract_id)
        size = market.round_size(request.size)
        if size < market.min_size or size <= 0:
            raise OrderRejected(
                f"{self.name}: size {request.size} is below the minimum {market.min_size} of {market.venue_symbol}",
                exchange=self.name,
            )
        if request.order_type is OrderType.MARKET:
            quote = await self.best_bid_ask(request.symbol)
            slip = self.settings.market_slippage
            reference = quote.ask * (1 + slip) if request.side is Side.BUY else quote.bid * (1 - slip)
            price = market.round_price(reference, request.side.opposite)  # rounded through, not back
            kind, tif = AppendixOrderType.IOC, TimeInForce.IOC
        else:
            if request.price is None:
                raise OrderRejected(f"{self.name}: a limit order needs a price", exchange=self.name)
            price = market.round_price(request.price, request.side)
            tif = request.time_in_force
            kind = {
                TimeInForce.POST_ONLY: AppendixOrderType.POST_ONLY,
                TimeInForce.IOC: AppendixOrderType.IOC,
            }.get(tif, AppendixOrderType.DEFAULT)
        live = self._hub.open_orders()
        venue_id = self._ids.encode(request.client_order_id, live)
        self._ids.ensure_free(venue_id, request.client_order_id, live)
        order_fields = {
            "sender": self._sender,
            "priceX18": to_x18(price),
            "amount": to_x18(size) * request.side.sign,
            "expiration": parsing.EXPIRATION_BASE + venue_id,
            "nonce": order_nonce(int(time.time() * 1000) + _RECV_WINDOW_MS, secrets.randbelow(1 << 20)),
            "appendix": build_appendix(kind, reduce_only=request.reduce_only),
        }
        self._signing_domain()
        digest, signature = self._signer.order(product_id, order_fields)
        wire = {
            key: ("0x" + value.hex() if isinstance(value, bytes) else str(value)) for key, value in order_fields.items()
        }
        body = {"place_order": {"product_id": product_id, "order": wire, "signature": signature, "id": venue_id}}
        pending = Order(
            order_id=digest,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            order_type=request.order_type,
            time_in_force=tif,
            price=price,
            size=size,
            status=OrderStatus.PENDING if kind is AppendixOrderType.IOC else OrderStatus.OPEN,
            reduce_only=request.reduce_only,
        )
        self._hub.remember(pending)  # the stream may tell of it before the answer comes
        self._placed.add(digest.lower())
        try:
            answer = await self._execute(body)
        except OrderRejected:
            self._hub.publish(OrderUpdate(order=pending.model_copy(update={"status": OrderStatus.REJECTED})))
            raise
        with reading(self.name, "place_order answer"):
            placed = PlaceOrderData.model_validate(answer.data)
        if placed.digest.lower() != digest.lower():
            log.warning("%s: the engine's digest %s differs from the signed one %s", self.name, placed.digest, digest)
        order = self._hub.known_order(digest) or pending
        if kind is AppendixOrderType.IOC:
            settled = await self._hub.settle(
                lambda: self.get_order(request.symbol, digest),
                order_id=digest,
                timeout=self.settings.settle_timeout,
                interval=self.settings.settle_interval,
            )
            order = settled or order
        if order.client_order_id != request.client_order_id:
            order = order.model_copy(update={"client_order_id": request.client_order_id})
            self._hub.remember(order)
        return order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        market = await self.market(symbol)
        product_id = int(market.contract_id)
        nonce = order_nonce(int(time.time() * 1000) + _RECV_WINDOW_MS, secrets.randbelow(1 << 20))
        self._signing_domain()
        try:
            _digest, signature = self._signer.cancel(self._sender, [product_id], [order_id], nonce)
        except ValueError:
            raise OrderNotFound(f"{self.name}: {order_id} is not an order digest", exchange=self.name) from None
        tx = {"sender": self.subaccount, "productIds": [product_id], "digests": [order_id], "nonce": str(nonce)}
        answer = await self._execute({"cancel_orders": {"tx": tx, "signature": signature}})
        cancelled = self._cancelled(answer)
        if order_id.lower() not in {o.digest.lower() for o in cancelled}:
            raise OrderNotFound(f"{self.name}: order {order_id} is not open", exchange=self.name)
        self._publish_cancels(cancelled)

    async def cancel_by_client_id(self, symbol: str, client_order_id: str) -> None:
        """Cancel by the strategy's client id (Nado cancels by digest only): the order this process placed, else the
        open order whose expiration carries that id (any process's); none open → :class:`OrderNotFound`."""
        known = self._hub.known_by_client_id(client_order_id)
        if known is None or known.status.is_final:
            known = next((o for o in await self.open_orders(symbol) if o.client_order_id == client_order_id), None)
        if known is None or known.status.is_final:
            raise OrderNotFound(f"{self.name}: no open order with client id {client_order_id}", exchange=self.name)
        await self.cancel_order(symbol, known.order_id)

    def _cancelled(self, answer: Answer) -> list[OrderData]:
        data = answer.data if isinstance(answer.data, Mapping) else {}
        with reading(self.name, "cancel answer"):
            return [OrderData.model_validate(row) for row in data.get("cancelled_orders") or []]

    def _publish_cancels(self, cancelled: list[OrderData]) -> None:
        for row in cancelled:
            market = self._market_of(row.product_id)
            if market is None:
                continue
            known = self._hub.known_order(row.digest)
            base = known or parsing.order_from_open(row, market.symbol, self._client_id(row.expiration, row.digest))
            if base.status.is_final:
                continue
            filled = abs(from_x18(row.amount)) - abs(from_x18(row.unfilled_amount))
            update = {
                "status": OrderStatus.CANCELED,
                "cancel_reason": CancelReason.USER_CANCELED,
                "filled_size": max(base.filled_size, filled),
            }
            self._hub.publish(OrderUpdate(order=base.model_copy(update=update)))

    async def cancel_all(self, symbol: str | None = None) -> int:
        open_orders = await self.open_orders(symbol)
        if not open_orders:
            return 0
        markets = await self.markets()
        product_ids = sorted({int(markets[o.symbol].contract_id) for o in open_orders})
        nonce = order_nonce(int(time.time() * 1000) + _RECV_WINDOW_MS, secrets.randbelow(1 << 20))
        self._signing_domain()
        _digest, signature = self._signer.cancel_products(self._sender, product_ids, nonce)
        tx = {"sender": self.subaccount, "productIds": product_ids, "nonce": str(nonce)}
        answer = await self._execute({"cancel_product_orders": {"tx": tx, "signature": signature}})
        cancelled = self._cancelled(answer)
        self._publish_cancels(cancelled)
        return len(cancelled)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        markets = await self.markets()
        rows: list[OrderData] = []
        if symbol is not None:
            wanted = await self.market(symbol)
            data = await self._query(
                {"type": "subaccount_orders", "product_id": int(wanted.contract_id), "sender": self.subaccount}
            )
            with reading(self.name, "subaccount_orders"):
                rows = SubaccountOrders.model_validate(data).orders
        else:
            product_ids = sorted(int(m.contract_id) for m in markets.values())
            data = await self._query({"type": "orders", "product_ids": product_ids, "sender": self.subaccount})
            with reading(self.name, "orders"):
                rows = [o for p in MultiProductOrders.model_validate(data).product_orders for o in p.orders]
        orders: list[Order] = []
        for row in rows:
            market = self._market_of(row.product_id)
            if market is None:
                continue
            known = self._hub.known_order(row.digest)
            orders.append(
                parsing.order_from_open(row, market.symbol, self._client_id(row.expiration, row.digest), known=known)
            )
        return orders

    async def _history(self, body: Mapping[str, Any]) -> list[Order]:
        data = await self._indexer({"orders": dict(body)})
        with reading(self.name, "indexer orders"):
            rows = IndexerOrders.model_validate(data).orders
        out: list[Order] = []
        for row in rows:
            market = self._market_of(row.product_id)
            if market is not None:
                out.append(parsing.order_from_history(row, market.symbol, self._client_id(row.expiration, row.digest)))
        return out

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        market = await self.market(symbol)
        try:
            data = await self._query({"type": "order", "product_id": int(market.contract_id), "digest": order_id})
        except OrderNotFound:
            closed = await self._history({"digests": [order_id]})
            return closed[0] if closed else None
        with reading(self.name, "order"):
            row = OrderData.model_validate(data)
        return parsing.order_from_open(
            row, market.symbol, self._client_id(row.expiration, row.digest), known=self._hub.known_order(row.digest)
        )

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        for order in await self.open_orders(symbol):
            if order.client_order_id == client_order_id:
                return order
        market = await self.market(symbol)
        history = await self._history(
            {"subaccounts": [self.subaccount], "product_ids": [int(market.contract_id)], "limit": _HISTORY_LIMIT}
        )
        for order in history:
            if order.client_order_id == client_order_id:
                return order
        return None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._hub.subscribe()

    # account ------------------------------------------------------------------------------------------------------
    async def _subaccount_info(self) -> SubaccountInfo:
        data = await self._query({"type": "subaccount_info", "subaccount": self.subaccount})
        with reading(self.name, "subaccount_info"):
            return SubaccountInfo.model_validate(data)

    async def position(self, symbol: str) -> Position:
        market = await self.market(symbol)
        for position in await self.positions():
            if position.symbol == market.symbol:
                return position
        return Position(symbol=symbol, size=Decimal(0))

    async def positions(self) -> list[Position]:
        await self.markets()
        return self._positions(await self._subaccount_info())

    def _positions(self, info: SubaccountInfo) -> list[Position]:
        oracle = {p.product_id: from_x18(p.oracle_price_x18) for p in info.perp_products}
        out: list[Position] = []
        for row in info.perp_balances:
            market = self._market_of(row.product_id)
            if market is not None and row.balance.amount != 0:
                out.append(parsing.position_from_balance(row, market.symbol, oracle.get(row.product_id)))
        return out

    async def balance(self) -> Balance:
        await self.markets()
        info = await self._subaccount_info()
        if len(info.healths) < 3:
            raise MalformedResponse(f"{self.name}: subaccount_info has fewer than three healths", exchange=self.name)
        initial, _maintenance, unweighted = info.healths[:3]
        equity = from_x18(unweighted.health)
        available = max(from_x18(initial.health), Decimal(0))
        unrealized = sum((p.unrealized_pnl for p in self._positions(info)), Decimal(0))
        return Balance(
            asset="USDT0",
            equity=equity,
            available=available,
            margin_used=max(equity - available, Decimal(0)),
            unrealized_pnl=unrealized,
        )

    # account stream -----------------------------------------------------------------------------------------------
    def _request_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def _subscribe_account(self, socket: ReconnectingWebSocket) -> None:
        expiration = int(time.time() * 1000) + _STREAM_AUTH_TTL_MS
        _digest, signature = self._signer.stream_auth(self._sender, expiration)
        auth_id = self._request_id()
        await socket.send_json(
            {
                "method": "authenticate",
                "id": auth_id,
                "tx": {"sender": self.subaccount, "expiration": str(expiration)},
                "signature": signature,
            }
        )
        reply = await socket.receive_json()
        if isinstance(reply, Mapping) and reply.get("error"):
            raise AuthenticationError(f"{self.name}: the stream refused the authentication", exchange=self.name)
        for kind in ("order_update", "fill"):
            stream = {"type": kind, "subaccount": self.subaccount}
            await socket.send_json({"method": "subscribe", "stream": stream, "id": self._request_id()})

    async def _on_account_message(self, message: Any) -> None:
        if not isinstance(message, Mapping):
            return
        kind = message.get("type")
        if kind == "fill":
            with reading(self.name, "fill event"):
                self._on_fill(FillEvent.model_validate(message))
        elif kind == "order_update":
            with reading(self.name, "order_update event"):
                self._on_order_update(OrderUpdateEvent.model_validate(message))
        elif message.get("error"):
            log.warning("%s: stream error: %s", self.name, str(message.get("error"))[:200])

    def _on_fill(self, event: FillEvent) -> None:
        market = self._market_of(event.product_id)
        if market is None or event.subaccount.lower() != self.subaccount.lower():
            return
        known = self._hub.known_order(event.order_digest)
        client_id = self._ids.decode(event.id) if event.id else (known.client_order_id if known else None)
        fill = parsing.fill_from_event(event, market.symbol, client_id)
        original = abs(from_x18(event.original_qty))
        remaining = abs(from_x18(event.remaining_qty))
        filled = original - remaining
        if known is None:
            known = Order(
                order_id=event.order_digest,
                client_order_id=client_id,
                symbol=market.symbol,
                side=fill.side,
                price=fill.price,
                size=original,
                status=OrderStatus.OPEN,
            )
        filled = max(filled, known.filled_size)
        status = known.status
        if not status.is_final or status is OrderStatus.FILLED:
            status = OrderStatus.FILLED if filled >= known.size else OrderStatus.PARTIALLY_FILLED
        order = known.model_copy(update={"filled_size": filled, "status": status, "updated_at": fill.timestamp})
        self._hub.publish(OrderUpdate(order=order, fill=fill))

    def _on_order_update(self, event: OrderUpdateEvent) -> None:
        known = self._hub.known_order(event.digest)
        if known is None:  # an order of another process: its fills carry what the contract needs
            return
        remaining = abs(from_x18(event.amount))
        reason = event.reason.lower()
        update: dict[str, Any] = {"updated_at": from_ns(event.timestamp)}
        if reason == "placed":
            update["status"] = OrderStatus.OPEN if known.filled_size == 0 else OrderStatus.PARTIALLY_FILLED
        elif reason == "cancelled":
            ioc = known.time_in_force is TimeInForce.IOC
            update["status"] = OrderStatus.EXPIRED if ioc else OrderStatus.CANCELED
            update["cancel_reason"] = CancelReason.EXPIRED if ioc else CancelReason.USER_CANCELED
            update["filled_size"] = max(known.filled_size, known.size - remaining)
        elif reason == "filled":
            filled = max(known.filled_size, known.size - remaining)
            update["filled_size"] = filled
            update["status"] = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
        else:
            return
        self._hub.publish(OrderUpdate(order=known.model_copy(update=update)))

    async def _fills_since(self, since: datetime) -> list[Fill]:
        """The subaccount's fills since ``since``: the indexer's ``matches``, newest first, paged back with ``idx``
        (records at or below that submission index) until a page is short or reaches before ``since``."""
        await self.markets()
        fills: list[Fill] = []
        query: dict[str, Any] = {"subaccounts": [self.subaccount], "limit": _HISTORY_LIMIT}
        for _page in range(_MATCH_PAGES):
            data = await self._indexer({"matches": dict(query)})
            with reading(self.name, "indexer matches"):
                answer = IndexerMatches.model_validate(data)
            reached_since = self._collect_fills(answer, since, fills)
            if len(answer.matches) < _HISTORY_LIMIT or reached_since:
                return fills
            query["idx"] = str(min(int(m.submission_idx) for m in answer.matches) - 1)
        log.warning("%s: more than %d fills since %s: the older ones are not caught up", self.name, len(fills), since)
        return fills

    def _collect_fills(self, answer: IndexerMatches, since: datetime, fills: list[Fill]) -> bool:
        """Add the page's fills since ``since`` to ``fills``; True when the page reaches before ``since``."""
        times = {tx.submission_idx: tx.timestamp for tx in answer.txs}
        products = {tx.submission_idx: tx.product_id for tx in answer.txs}
        reached = False
        for match in answer.matches:
            stamp = match.timestamp or times.get(match.submission_idx)
            when = from_seconds(stamp) if stamp is not None else since
            if when < since and match.digest.lower() in self._placed and since - when < timedelta(seconds=1):
                when = since  # the indexer counts whole seconds: a fill of our own order in the start's second
            if when < since:
                reached = True
                continue
            product_id = products.get(match.submission_idx)
            market = self._market_of(product_id) if product_id is not None else None
            if market is None:
                continue
            client_id = self._client_id(match.order.expiration, match.digest)
            fills.append(parsing.fill_from_match(match, market.symbol, client_id, when))
        return reached
