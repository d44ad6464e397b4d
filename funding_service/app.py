"""The FastAPI application: ``create_app(settings)``.

Routes live under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``); health routes are
served at both ``/health*`` (probes) and ``/api/v1/health*`` (the original's paths); ``/metrics`` is Prometheus.
The funding dashboard is ``/ui/`` (:mod:`funding_service.ui`; a browser asking for ``/`` is sent there) unless
``PERPDEX_FS_UI_ENABLED=false``; API clients get the JSON service info at ``/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot_runtime.funding_api.ingest import IngestBatch
from bot_runtime.funding_api.models import ServiceInfo
from funding_service.api import errors
from funding_service.api.answers import FastAnswers
from funding_service.api.metrics import MetricsMiddleware
from funding_service.api.routes import backtest, dexes, funding_rates, health, history, ingest, opportunities
from funding_service.api.state import ServiceState
from funding_service.db.migrator import migrate
from funding_service.db.pool import Database, DatabaseUnavailable
from funding_service.db.repositories import maintenance
from funding_service.settings import Settings
from funding_service.ui import routes as ui

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def _version() -> str:
    try:
        return version("perp-dex-operator")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "0.0.0"


async def _cleanup_loop(state: ServiceState) -> None:
    s = state.settings
    retention = maintenance.Retention(s.retention_rates_days, s.retention_opportunities_days, s.retention_logs_days)
    while True:
        await asyncio.sleep(s.cleanup_interval_seconds)
        try:
            deleted = await state.db.run(lambda c: maintenance.apply_retention(c, retention))
            log.info("retention: deleted %s", deleted)
            if deleted.rates:
                state.invalidate()  # cached statistics may cover the deleted periods
        except DatabaseUnavailable as exc:
            log.warning("retention skipped: %s", exc.reason)
        except Exception:
            log.exception("retention failed")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    state = ServiceState(settings=settings, db=Database(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            try:
                async with state.db.connection() as conn:
                    applied = await migrate(conn)
                log.info("auto-migrate: %d migration(s) applied", len(applied))
            except DatabaseUnavailable as exc:
                log.warning("auto-migrate skipped, database unavailable: %s", exc.reason)
        cleanup = (
            asyncio.create_task(_cleanup_loop(state), name="retention")
            if settings.cleanup_interval_seconds > 0
            else None
        )
        try:
            yield
        finally:
            if cleanup is not None:
                cleanup.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await cleanup
            await state.db.close()

    app = FastAPI(
        title="perp-dex funding service",
        description="Funding rates of perpetual DEXes, arbitrage opportunities, history and statistics.",
        version=_version(),
        lifespan=lifespan,
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=f"{API_PREFIX}/redoc",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.service = state
    errors.install(app)

    # the busiest read routes first: FastAPI tries the routers in order
    for module in (funding_rates, opportunities, history, dexes, ingest, backtest):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(health.router, include_in_schema=False)  # /health*: the same handlers for probes

    if settings.ui_enabled:
        ui.install(app)

    @app.get("/", response_model=ServiceInfo, include_in_schema=False)
    async def root(request: Request) -> ServiceInfo | RedirectResponse:
        """The service info (JSON); a browser is sent to the dashboard when it is on."""
        if settings.ui_enabled and ui.wants_html(request):
            return RedirectResponse("ui/", status_code=307)  # relative: right under a proxy's path prefix too
        return ServiceInfo(
            service="perp-dex funding service", version=app.version, status="running", docs=f"{API_PREFIX}/docs"
        )

    @app.get("/ping", include_in_schema=False)
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        await _refresh_gauges(state)
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            # the ingest body is parsed by hand (auth first), so publish its schema explicitly
            ingest_schema = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(ingest_schema.pop("$defs", {}))
            components["IngestBatch"] = ingest_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(FastAnswers, state=state)  # inside the metrics: cached answers are counted too
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, prefixes=(API_PREFIX,))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


async def _refresh_gauges(state: ServiceState) -> None:
    """Data age per dex and database reachability, read at scrape time (bounded; a down database is a 0, not an error)."""
    try:
        rows = await asyncio.wait_for(state.db.run(maintenance.data_age_by_dex, retry=False), timeout=2)
    except (DatabaseUnavailable, TimeoutError):
        state.metrics.database_up.set(0)
        return
    except Exception:
        log.exception("metrics: data age query failed")
        state.metrics.database_up.set(0)
        return
    state.metrics.database_up.set(1)
    now = datetime.now(UTC)
    for r in rows:
        if r["latest"] is not None:
            state.metrics.data_age.labels(r["dex"]).set((now - r["latest"]).total_seconds())
