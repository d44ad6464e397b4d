"""Health: ``/health`` (database, per-dex health, freshness), ``/health/simple`` (process only, for liveness),
``/health/database``, ``/health/dex/{dex}``, ``/health/ready`` (database reachable and migrations current)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from bot_runtime.funding_api.models import (
    DatabaseHealth,
    DatabaseState,
    DatabaseStatistics,
    DataFreshness,
    DexHealthDetail,
    DexHealthSummary,
    MigrationsState,
    Readiness,
    ServiceHealth,
    SimpleHealth,
)
from funding_service.api.errors import ERROR_RESPONSES, SCHEMA_MISSING, not_found
from funding_service.api.params import path_dex
from funding_service.api.state import ServiceState, get_state
from funding_service.api.views import dex_health_row
from funding_service.db.migrator import MigrationStatus, migration_status
from funding_service.db.pool import DatabaseUnavailable
from funding_service.db.repositories import dexes as dex_repo
from funding_service.db.repositories import maintenance

router = APIRouter(tags=["Health"])
State = Annotated[ServiceState, Depends(get_state)]


def _json(model: ServiceHealth | DatabaseHealth | Readiness, status: int) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status)


@router.get("/health/simple", response_model=SimpleHealth, summary="Process is up (no database query)")
async def simple() -> SimpleHealth:
    return SimpleHealth(status="ok", timestamp=datetime.now(UTC))


@router.get(
    "/health",
    response_model=ServiceHealth,
    summary="Database, per-dex health and data freshness",
    responses={503: {"model": ServiceHealth, "description": "database unavailable"}},
)
async def health(state: State) -> ServiceHealth | JSONResponse:
    now = datetime.now(UTC)
    stale = state.settings.stale_after_seconds

    async def load(
        conn: asyncpg.Connection,
    ) -> tuple[float, list[asyncpg.Record], MigrationStatus, list[asyncpg.Record]]:
        started = time.perf_counter()
        await conn.fetchval("SELECT 1")
        latency = (time.perf_counter() - started) * 1000
        return latency, await dex_repo.fetch_dexes(conn), await migration_status(conn), await _freshness(conn, stale)

    try:
        latency, rows, migrations, fresh = await state.db.run(load)
    except asyncpg.UndefinedTableError:
        exc = DatabaseUnavailable(SCHEMA_MISSING)
        body = ServiceHealth(
            status="unhealthy",
            timestamp=now,
            database=DatabaseState(connected=True, migrations_current=False, error=exc.reason),
            dex_health=[],
            dex_summary=DexHealthSummary(total=0, active=0, healthy=0),
            data_freshness=None,
        )
        return _json(body, 503)
    except DatabaseUnavailable as exc:
        body = ServiceHealth(
            status="unhealthy",
            timestamp=now,
            database=DatabaseState(connected=False, error=exc.reason),
            dex_health=[],
            dex_summary=DexHealthSummary(total=0, active=0, healthy=0),
            data_freshness=None,
        )
        return _json(body, 503)
    dexes = [dex_health_row(r, now, stale) for r in rows]
    active = [d for d in dexes if d.is_active]
    collected = [d for d in active if d.status != "no_data"]
    healthy = [d for d in active if d.is_healthy]
    status = "healthy" if migrations.current and all(d.is_healthy for d in collected) else "degraded"
    f = fresh[0]
    return ServiceHealth(
        status=status,
        timestamp=now,
        database=DatabaseState(connected=True, latency_ms=round(latency, 3), migrations_current=migrations.current),
        dex_health=dexes,
        dex_summary=DexHealthSummary(total=len(dexes), active=len(active), healthy=len(healthy)),
        data_freshness=DataFreshness(
            oldest_data_age_seconds=(now - f["oldest"]).total_seconds() if f["oldest"] else None,
            latest_update=f["newest"],
            total_rates=int(f["total"]),
            stale_rates=int(f["stale"]),
        ),
    )


async def _freshness(conn: asyncpg.Connection, stale_after: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT min(l.collected_at) AS oldest, max(l.collected_at) AS newest, count(*) AS total,
               count(*) FILTER (WHERE l.collected_at < now() - make_interval(secs => $1)) AS stale
        FROM latest_funding_rates l JOIN dexes d ON d.name = l.dex WHERE d.is_active
        """,
        float(stale_after),
    )
    return rows


@router.get(
    "/health/database",
    response_model=DatabaseHealth,
    summary="Database connectivity and row counts",
    responses={503: {"model": DatabaseHealth, "description": "database unavailable"}},
)
async def database(state: State) -> DatabaseHealth | JSONResponse:
    now = datetime.now(UTC)

    async def load(conn: asyncpg.Connection) -> tuple[float, asyncpg.Record]:
        started = time.perf_counter()
        await conn.fetchval("SELECT 1")
        latency = (time.perf_counter() - started) * 1000
        return latency, await maintenance.database_statistics(conn)

    try:
        latency, stats = await state.db.run(load)
    except (DatabaseUnavailable, asyncpg.UndefinedTableError):
        return _json(
            DatabaseHealth(status="unhealthy", connected=False, latency_ms=None, statistics=None, timestamp=now), 503
        )
    return DatabaseHealth(
        status="healthy",
        connected=True,
        latency_ms=round(latency, 3),
        statistics=DatabaseStatistics(**{k: int(v) for k, v in stats.items()}),
        timestamp=now,
    )


@router.get("/health/dex/{dex}", response_model=DexHealthDetail, summary="Health of one dex", responses=ERROR_RESPONSES)
async def dex_health(dex: Annotated[str, Path(max_length=64)], state: State) -> DexHealthDetail:
    name = await path_dex(state, dex)
    stale = state.settings.stale_after_seconds

    async def load(conn: asyncpg.Connection) -> tuple[list[asyncpg.Record], int]:
        return await dex_repo.fetch_dexes(conn, name), await dex_repo.recent_updates(conn, name, stale)

    rows, recent = await state.db.run(load)
    if not rows:
        raise not_found(f"unknown dex {dex!r}", "dex")
    now = datetime.now(UTC)
    return DexHealthDetail(**dex_health_row(rows[0], now, stale).model_dump(), recent_updates=recent, timestamp=now)


@router.get(
    "/health/ready",
    response_model=Readiness,
    summary="Ready: database reachable and migrations current",
    responses={503: {"model": Readiness, "description": "not ready"}},
)
async def ready(state: State) -> Readiness | JSONResponse:
    now = datetime.now(UTC)
    try:
        status = await state.db.run(migration_status)
    except DatabaseUnavailable as exc:
        return _json(
            Readiness(
                ready=False, database=DatabaseState(connected=False, error=exc.reason), migrations=None, timestamp=now
            ),
            503,
        )
    migrations = MigrationsState(
        current=status.current,
        applied=status.applied,
        pending=[m.filename for m in status.pending],
        mismatched=status.mismatched,
        unknown=status.unknown,
    )
    body = Readiness(
        ready=status.current,
        database=DatabaseState(connected=True, migrations_current=status.current),
        migrations=migrations,
        timestamp=now,
    )
    return body if status.current else _json(body, 503)
