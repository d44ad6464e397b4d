"""The bot's client of the paper exchange service (:mod:`bot_runtime.paper_exchange`): a paper venue reached over the
network like a live one, whose account outlives the bot.

Written like the live venue clients: REST for requests (httpx; timeouts and 5xx are
:class:`~bot_runtime.exchanges.base.TransientNetworkError`, so :meth:`Exchange.submit_order` looks a lost order up by
client id before resending), one :class:`~bot_runtime.exchanges._shared.ws.ReconnectingWebSocket` for order updates
and quotes. Resync after a dropped stream is the service's numbering: every order update of the account has a
``seq``, the socket reconnects with ``since`` = the last one received and gets exactly what it missed first (even
across a restart of the service), then the live ones; a repeated ``seq`` is dropped.

Options: ``baseUrl`` (default ``PERPDEX_PAPER_EXCHANGE_URL``), ``account`` (default ``<namespace>.<bot name>`` from
``PERPDEX_NAMESPACE``/``PERPDEX_BOT_NAME``, else ``local``), ``startingBalanceUsd`` (the account's balance when this
client opens it; an existing account keeps its own), ``ticker`` (whose quotes stream from the start). The venue's
markets, prices, fees and funding are the service's (its venue configuration), not the bot's ``spec.paper``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bot_runtime.exchanges._shared.http import HTTP_NOT_FOUND, JSON, error_for_status, request_json, retry_after
from bot_runtime.exchanges._shared.ws import ReconnectingWebSocket
from bot_runtime.exchanges.base import (
    Balance,
    CancelReason,
    DuplicateClientOrderId,
    Exchange,
    ExchangeError,
    FundingRate,
    FundingSource,
    InsufficientMargin,
    Market,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderUpdate,
    Position,
    PostOnlyWouldCross,
    Quote,
)
from bot_runtime.exchanges.paper.streams import Hub
from bot_runtime.paper_exchange.wire import API_PREFIX, AccountInfo, FundingRates, VenueInfo

log = logging.getLogger(__name__)

URL_ENV = "PERPDEX_PAPER_EXCHANGE_URL"
HTTP_CONFLICT = 409
HTTP_UNPROCESSABLE = 422


def service_url(options: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """The paper exchange's base URL for a venue, or None (then the venue runs in-process)."""
    url = options.get("baseUrl") or options.get("base_url") or env.get(URL_ENV)
    return str(url).rstrip("/") if url else None


def account_name(options: Mapping[str, Any], env: Mapping[str, str]) -> str:
    if options.get("account"):
        return str(options["account"])
    name, namespace = env.get("PERPDEX_BOT_NAME", "").strip(), env.get("PERPDEX_NAMESPACE", "").strip()
    if name:
        return f"{namespace}.{name}" if namespace else name
    return "local"


def _mapper(exchange: str) -> Any:
    def mapper(status: int, body: JSON, headers: Mapping[str, str]) -> ExchangeError:
        kind = body.get("kind") if isinstance(body, dict) else None
        message = str(body.get("message")) if isinstance(body, dict) else str(body)[:300]
        text = f"{exchange}: {message}"
        if status == HTTP_CONFLICT:
            if kind == "post_only_would_cross":
                return PostOnlyWouldCross(text, exchange=exchange)
            if kind == "insufficient_margin":
                return InsufficientMargin(text, exchange=exchange)
            if kind == "duplicate_client_order_id":
                return DuplicateClientOrderId(text, exchange=exchange)
            if kind == "reduce_only":
                return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
            return OrderRejected(text, exchange=exchange)
        if status == HTTP_NOT_FOUND:
            return OrderNotFound(text, exchange=exchange)
        if status == HTTP_UNPROCESSABLE:
            return OrderRejected(text, exchange=exchange)
        return error_for_status(exchange, status, message, retry_after=retry_after(headers))

    return mapper


class PaperServiceExchange(Exchange):
    def __init__(
        self,
        name: str,
        options: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``: the REST requests' (default: httpx's own; tests put a fault-injecting one in between)."""
        url = service_url(options, env)
        if url is None:
            raise ValueError(f"{name}: no paper exchange URL (option baseUrl or {URL_ENV})")
        self.name = name
        self.base_url = url
        self.account = account_name(options, env)
        balance = options.get("startingBalanceUsd") or options.get("starting_balance_usd")
        self._starting_balance = Decimal(str(balance)) if balance is not None else None
        self._symbols: set[str] = {str(options["ticker"]).upper()} if options.get("ticker") else set()
        self._timeout = float(options.get("timeoutSeconds", 10))
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._ws: ReconnectingWebSocket | None = None
        self._markets: dict[str, Market] = {}
        self._seq = 0
        self._updates: Hub[OrderUpdate] = Hub()
        self._quotes: dict[str, Hub[Quote]] = {}
        self._error = _mapper(name)
        self.info: VenueInfo | None = None

    @property
    def _account_path(self) -> str:
        return f"{API_PREFIX}/venues/{quote(self.name, safe='')}/accounts/{quote(self.account, safe='')}"

    # lifecycle ------------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self._timeout, transport=self._transport)
        body = {"starting_balance_usd": str(self._starting_balance)} if self._starting_balance else {}
        opened = AccountInfo.model_validate(await self._request("PUT", self._account_path, json_body=body))
        self.info = VenueInfo.model_validate(await self._request("GET", f"{API_PREFIX}/venues/{self.name}"))
        self._markets = dict(self.info.markets)
        if self._ws is None:
            self._seq = opened.seq  # history before this connection is read over REST, as on a live venue
            self._ws = ReconnectingWebSocket(
                self._stream_url, name=f"{self.name}-stream", on_message=self._on_message, stable_after=5.0
            )
            self._ws.start()
            await self._ws.wait_connected(self._timeout)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self._updates.end_all()
        for hub in self._quotes.values():
            hub.end_all()

    def _stream_url(self) -> str:
        ws_base = "ws" + self.base_url.removeprefix("http")
        query = {"account": self.account, "since": str(self._seq), "symbols": ",".join(sorted(self._symbols))}
        return f"{ws_base}{API_PREFIX}/venues/{quote(self.name, safe='')}/stream?{urlencode(query)}"

    async def _on_message(self, message: JSON) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "order":
            seq = int(message["seq"])
            if seq <= self._seq:
                return  # already delivered before a reconnect
            self._seq = seq
            self._updates.publish(OrderUpdate.model_validate(message["update"]))
        elif kind == "quote":
            q = Quote.model_validate(message["quote"])
            hub = self._quotes.get(q.symbol)
            if hub is not None:
                hub.publish(q)

    # HTTP -----------------------------------------------------------------------------------------------------------
    async def _request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None
    ) -> JSON:
        if self._http is None:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)
        content = None if json_body is None else httpx.Request("POST", "/", json=json_body).content
        return await request_json(
            self._http,
            method,
            path,
            exchange=self.name,
            error_mapper=self._error,
            params=params,
            content=content,
            headers={"Content-Type": "application/json"} if content is not None else None,
        )

    async def _maybe(self, path: str) -> JSON | None:
        try:
            return await self._request("GET", path)
        except OrderNotFound:
            return None

    # market data ----------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        if not self._markets:
            info = VenueInfo.model_validate(await self._request("GET", f"{API_PREFIX}/venues/{self.name}"))
            self._markets = dict(info.markets)
        return dict(self._markets)

    async def best_bid_ask(self, symbol: str) -> Quote:
        return Quote.model_validate(await self._request("GET", f"{API_PREFIX}/venues/{self.name}/quotes/{symbol}"))

    def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        symbol = symbol.upper()
        hub = self._quotes.setdefault(symbol, Hub())
        sub = hub.subscribe(latest_only=True)
        if symbol not in self._symbols:
            self._symbols.add(symbol)
            if self._ws is not None:  # resubscribe: the socket reconnects with the new symbol list (and since)
                task = asyncio.get_running_loop().create_task(self._ws.reconnect("new quote subscription"))
                task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)
        return sub

    # orders ---------------------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> Order:
        body = request.model_dump(mode="json")
        return Order.model_validate(await self._request("POST", self._account_path + "/orders", json_body=body))

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        await self._request(
            "DELETE", self._account_path + f"/orders/{quote(order_id, safe='')}", params={"symbol": symbol}
        )

    async def cancel_all(self, symbol: str | None = None) -> int:
        params = {"symbol": symbol} if symbol else None
        answer = await self._request("DELETE", self._account_path + "/orders", params=params)
        return int(answer["canceled"])

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        params = {"symbol": symbol} if symbol else None
        rows = await self._request("GET", self._account_path + "/orders", params=params)
        return [Order.model_validate(r) for r in rows]

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        row = await self._maybe(self._account_path + f"/orders/{quote(order_id, safe='')}")
        order = Order.model_validate(row) if row is not None else None
        return order if order is not None and order.symbol == symbol else None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        row = await self._maybe(self._account_path + f"/orders/by-client-id/{quote(client_order_id, safe='')}")
        order = Order.model_validate(row) if row is not None else None
        return order if order is not None and order.symbol == symbol else None

    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        return self._updates.subscribe()

    # account --------------------------------------------------------------------------------------------------------
    async def position(self, symbol: str) -> Position:
        return Position.model_validate(await self._request("GET", self._account_path + f"/positions/{symbol}"))

    async def positions(self) -> list[Position]:
        return [Position.model_validate(p) for p in await self._request("GET", self._account_path + "/positions")]

    async def balance(self) -> Balance:
        return Balance.model_validate(await self._request("GET", self._account_path + "/balance"))


class PaperServiceFundingSource(FundingSource):
    """A paper venue's funding data as the paper exchange pays it (what a FundingCollector of ``paper-a`` reports):
    the one source of truth, so a paper funding-arb bot trades exactly the spreads the funding service ranks."""

    def __init__(self, name: str, base_url: str, *, timeout: float = 10.0) -> None:
        self.name = name
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout)

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        body = await request_json(
            self._http,
            "GET",
            f"{API_PREFIX}/venues/{quote(self.name, safe='')}/funding-rates",
            exchange=self.name,
            error_mapper=_mapper(self.name),
        )
        rates = FundingRates.model_validate(body).rates
        wanted = {s.upper() for s in symbols} if symbols else None
        return [r for r in rates if wanted is None or r.symbol in wanted]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._http.aclose()
