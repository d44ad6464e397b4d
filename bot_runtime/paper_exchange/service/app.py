"""The paper exchange's HTTP and WebSocket API: ``create_app(settings)`` (routes and models: :mod:`..wire`).

OpenAPI at ``/api/v1/openapi.json`` (docs at ``/api/v1/docs``); ``/health`` answers 200 when the database is
reachable (503 otherwise), ``/ping`` always (liveness).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, FastAPI, Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from bot_runtime.clock import Clock
from bot_runtime.db.migrator import migrate
from bot_runtime.db.pool import Database, DatabaseUnavailable
from bot_runtime.exchanges.base import (
    Balance,
    CancelReason,
    DuplicateClientOrderId,
    Fill,
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
from bot_runtime.paper_exchange.market import MarketSource
from bot_runtime.paper_exchange.service import store
from bot_runtime.paper_exchange.service.runtime import PaperExchangeRuntime, UnknownVenue, synthetic_markets
from bot_runtime.paper_exchange.service.settings import Settings
from bot_runtime.paper_exchange.venue import AccountNotFound, Changes, MarketNotFound, Venue
from bot_runtime.paper_exchange.venues import VenueConfig
from bot_runtime.paper_exchange.wire import (
    API_PREFIX,
    AccountInfo,
    AccountOpen,
    CancelAllAnswer,
    ErrorBody,
    ErrorKind,
    FundingPaymentView,
    FundingRates,
    OrderMessage,
    QuoteMessage,
    ReadyMessage,
    VenueInfo,
)

log = logging.getLogger(__name__)

NO_CHANGES = Changes()
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    422: {"model": ErrorBody},
    503: {"model": ErrorBody},
}


def _version() -> str:
    try:
        return version("perp-dex-operator")
    except PackageNotFoundError:  # pragma: no cover - a source tree without metadata
        return "0.0.0"


def _error(status: int, kind: ErrorKind, message: str) -> JSONResponse:
    headers = {"Retry-After": "2"} if status == 503 else None
    return JSONResponse(ErrorBody(kind=kind, message=message).model_dump(mode="json"), status, headers=headers)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(UnknownVenue)
    @app.exception_handler(MarketNotFound)
    @app.exception_handler(AccountNotFound)
    @app.exception_handler(OrderNotFound)
    async def not_found(_: Request, exc: Exception) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(OrderRejected)
    async def rejected(_: Request, exc: Exception) -> JSONResponse:
        kind: ErrorKind = "rejected"
        if isinstance(exc, PostOnlyWouldCross):
            kind = "post_only_would_cross"
        elif isinstance(exc, InsufficientMargin):
            kind = "insufficient_margin"
        elif isinstance(exc, DuplicateClientOrderId):
            kind = "duplicate_client_order_id"
        elif isinstance(exc, OrderRejected) and exc.reason is CancelReason.REDUCE_ONLY_VIOLATION:
            kind = "reduce_only"
        return _error(409, kind, str(exc))

    @app.exception_handler(DatabaseUnavailable)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        reason = exc.reason if isinstance(exc, DatabaseUnavailable) else "database unavailable"
        return _error(503, "unavailable", f"the paper exchange's database is unavailable ({reason}); retry")

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        detail = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)
        return _error(422, "bad_request", detail or "invalid request")


def _router(rt: PaperExchangeRuntime) -> APIRouter:
    router = APIRouter(prefix=API_PREFIX, responses=ERRORS)

    def now() -> datetime:
        return rt.clock.now()

    @router.get("/venues", response_model=list[VenueInfo])
    async def venues() -> list[VenueInfo]:
        return [await rt.run(name, lambda v: (v.info(), NO_CHANGES)) for name in rt.slots]

    @router.get("/venues/{venue}", response_model=VenueInfo)
    async def venue_info(venue: str) -> VenueInfo:
        return await rt.run(venue, lambda v: (v.info(), NO_CHANGES))

    @router.get("/venues/{venue}/markets", response_model=dict[str, Market])
    async def markets(venue: str) -> dict[str, Market]:
        return await rt.run(venue, lambda v: (dict(v.market.markets), NO_CHANGES))

    @router.get("/venues/{venue}/quotes/{symbol}", response_model=Quote)
    async def quote(venue: str, symbol: str) -> Quote:
        def view(v: Venue) -> tuple[Quote, Changes]:
            v.require_market(symbol)
            return v.market.quote(symbol), NO_CHANGES

        return await rt.run(venue, view)

    @router.get("/venues/{venue}/funding-rates", response_model=FundingRates)
    async def funding_rates(venue: str) -> FundingRates:
        return FundingRates(
            venue=venue, rates=await rt.run(venue, lambda v: (v.funding_rates(rt.clock.time()), NO_CHANGES))
        )

    # accounts -------------------------------------------------------------------------------------------------------
    base = "/venues/{venue}/accounts/{account}"

    @router.put(base, response_model=AccountInfo)
    async def open_account(venue: str, account: str, body: AccountOpen | None = None) -> AccountInfo:
        def op(v: Venue) -> tuple[AccountInfo, Changes]:
            changes = Changes()
            return v.open_account(account, body.starting_balance_usd if body else None, changes), changes

        return await rt.run(venue, op)

    @router.get(base, response_model=AccountInfo)
    async def account_info(venue: str, account: str) -> AccountInfo:
        return await rt.run(venue, lambda v: (v.account_info(account), NO_CHANGES))

    @router.post(base + "/orders", response_model=Order, status_code=201)
    async def place(venue: str, account: str, request: OrderRequest) -> Order:
        return await rt.run(venue, lambda v: v.place(account, request, now()))

    @router.get(base + "/orders", response_model=list[Order])
    async def open_orders(venue: str, account: str, symbol: str | None = None) -> list[Order]:
        return await rt.run(venue, lambda v: (v.account(account).open_orders(symbol), NO_CHANGES))

    @router.get(base + "/orders/by-client-id/{client_order_id}", response_model=Order)
    async def by_client_id(venue: str, account: str, client_order_id: str) -> Order:
        def view(v: Venue) -> tuple[Order, Changes]:
            order = v.account(account).find_by_client_id(client_order_id)
            if order is None:
                raise OrderNotFound(f"{venue}: no order with client id {client_order_id}")
            return order, NO_CHANGES

        return await rt.run(venue, view)

    @router.get(base + "/orders/{order_id}", response_model=Order)
    async def get_order(venue: str, account: str, order_id: str) -> Order:
        def view(v: Venue) -> tuple[Order, Changes]:
            order = v.account(account).orders.get(order_id)
            if order is None:
                raise OrderNotFound(f"{venue}: no order {order_id}")
            return order, NO_CHANGES

        return await rt.run(venue, view)

    @router.delete(base + "/orders/{order_id}", status_code=204, response_class=Response)
    async def cancel(venue: str, account: str, order_id: str, symbol: str) -> Response:
        await rt.run(venue, lambda v: (None, v.cancel(account, symbol, order_id, now())))
        return Response(status_code=204)

    @router.delete(base + "/orders", response_model=CancelAllAnswer)
    async def cancel_all(venue: str, account: str, symbol: str | None = None) -> CancelAllAnswer:
        def op(v: Venue) -> tuple[CancelAllAnswer, Changes]:
            changes = v.cancel_all(account, symbol, now())
            return CancelAllAnswer(canceled=len(changes.updates)), changes

        return await rt.run(venue, op)

    @router.get(base + "/positions", response_model=list[Position])
    async def positions(venue: str, account: str) -> list[Position]:
        return await rt.run(venue, lambda v: (v.account(account).positions(v.marks()), NO_CHANGES))

    @router.get(base + "/positions/{symbol}", response_model=Position)
    async def position(venue: str, account: str, symbol: str) -> Position:
        def view(v: Venue) -> tuple[Position, Changes]:
            engine = v.account(account)
            v.require_market(symbol)
            return engine.position(symbol, v.market.touch(symbol).mid), NO_CHANGES

        return await rt.run(venue, view)

    @router.get(base + "/balance", response_model=Balance)
    async def balance(venue: str, account: str) -> Balance:
        return await rt.run(venue, lambda v: (v.account(account).balance(v.marks()), NO_CHANGES))

    @router.get(base + "/fills", response_model=list[Fill])
    async def fills(venue: str, account: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 500) -> list[Fill]:
        await rt.run(venue, lambda v: (v.account(account), NO_CHANGES))
        return await rt.db.run(lambda c: store.fills(c, venue, account, limit))

    @router.get(base + "/funding-payments", response_model=list[FundingPaymentView])
    async def funding_payments(
        venue: str, account: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 500
    ) -> list[FundingPaymentView]:
        await rt.run(venue, lambda v: (v.account(account), NO_CHANGES))
        rows = await rt.db.run(lambda c: store.funding_payments(c, venue, account, limit))
        return [
            FundingPaymentView(
                symbol=p.symbol, amount=p.amount, rate=p.rate, mark=p.mark, size=p.size, paid_at=p.paid_at.isoformat()
            )
            for p in rows
        ]

    return router


async def _stream(rt: PaperExchangeRuntime, ws: WebSocket, venue: str) -> None:
    """Replay the account's stored updates after ``since``, then the live ones (deduplicated by ``seq``)."""
    account = ws.query_params.get("account") or None
    symbols = frozenset(s.strip().upper() for s in (ws.query_params.get("symbols") or "").split(",") if s.strip())
    try:
        since = int(ws.query_params.get("since") or 0)
        rt.slot(venue)
    except (ValueError, UnknownVenue) as exc:
        await ws.close(code=4404, reason=str(exc)[:120])
        return
    await ws.accept()
    sub = rt.subscribe(venue, account, symbols)  # first: nothing published from now on is missed
    try:
        if account is not None:
            known = await rt.run(venue, lambda v: (account in v.accounts, NO_CHANGES))
            if not known:
                await ws.close(code=4404, reason=f"no account {account!r} on {venue}")
                return
            while True:  # the replay, in pages
                page = await rt.db.run(functools.partial(_events, venue=venue, account=account, since=since))
                for seq, update in page:
                    await ws.send_text(OrderMessage(seq=seq, update=update).model_dump_json())
                    since = seq
                if len(page) < 10_000:
                    break
        current = await rt.run(
            venue, lambda v: ({s: v.market.quote(s) for s in symbols if s in v.market.markets}, NO_CHANGES)
        )
        for q in current.values():
            await ws.send_text(QuoteMessage(quote=q).model_dump_json())
        await ws.send_text(ReadyMessage(seq=since).model_dump_json())
        receiver = asyncio.create_task(_drain_client(ws))
        try:
            while not receiver.done():
                getter = asyncio.ensure_future(sub.queue.get())
                overflow = asyncio.ensure_future(sub.overflowed.wait())
                done, _ = await asyncio.wait({getter, overflow, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    overflow.cancel()
                    if sub.overflowed.is_set():
                        await ws.close(code=4008, reason="too slow: reconnect with since")
                    return
                overflow.cancel()
                number, message = getter.result()
                if number is not None:
                    if number <= since:
                        continue  # already sent by the replay
                    since = number
                await ws.send_text(message)
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await receiver
    except (WebSocketDisconnect, RuntimeError):
        pass
    except DatabaseUnavailable:
        with contextlib.suppress(Exception):
            await ws.close(code=1013, reason="database unavailable; reconnect")
    finally:
        rt.unsubscribe(venue, sub)


async def _events(conn: asyncpg.Connection, *, venue: str, account: str, since: int) -> list[tuple[int, OrderUpdate]]:
    return await store.events_since(conn, venue, account, since)


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends until it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()


def create_app(
    settings: Settings | None = None,
    *,
    venues: list[VenueConfig] | None = None,
    clock: Clock | None = None,
    markets: Callable[[VenueConfig, float, Mapping[str, int] | None, float], MarketSource] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    db = Database(settings, application_name="perpdex-paper-exchange")
    rt = PaperExchangeRuntime(
        db,
        venues if venues is not None else settings.venues(),
        clock=clock,
        markets=markets or synthetic_markets,
        tick_seconds=settings.tick_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            try:
                async with db.connection() as conn:
                    applied = await migrate(conn, store.MIGRATIONS)
                log.info("auto-migrate: %d migration(s) applied", len(applied))
            except DatabaseUnavailable as exc:
                log.warning("auto-migrate skipped, database unavailable: %s", exc.reason)
        await rt.start()
        try:
            yield
        finally:
            await rt.close()
            await db.close()

    app = FastAPI(
        title="perp-dex paper exchange",
        description="Simulated perpetual venues (paper, paper-a, ...) whose accounts, orders, positions, fills and "
        "funding payments live in PostgreSQL: bots trade on them over the network exactly as on a live venue.",
        version=_version(),
        lifespan=lifespan,
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.runtime = rt
    _install_errors(app)
    app.include_router(_router(rt))

    @app.websocket(API_PREFIX + "/venues/{venue}/stream")
    async def stream(ws: WebSocket, venue: str) -> None:
        await _stream(rt, ws, venue)

    @app.get("/ping", include_in_schema=False)
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        try:
            await asyncio.wait_for(db.run(lambda c: c.fetchval("SELECT 1"), retry=False), timeout=3)
        except (DatabaseUnavailable, TimeoutError):
            return _error(503, "unavailable", "database unreachable")
        return JSONResponse({"status": "ok", "time": datetime.now(UTC).isoformat()})

    return app
