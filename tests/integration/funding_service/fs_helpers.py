"""Helpers of the funding-service integration tests: the in-process service, settings, batch builders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from funding_service.app import create_app
from funding_service.settings import Settings

TOKEN = "test-ingest-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DATA_TABLES = (
    "opportunities",
    "collection_logs",
    "collection_cycles",
    "latest_funding_rates",
    "funding_rates",
    "dex_symbols",
    "symbols",
)


def database_name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    module = request.module.__name__.rsplit(".", 1)[-1]
    return ("fs_" + re.sub(r"\W", "_", module) + suffix)[:60].lower()


def make_settings(dsn: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": dsn,
        "ingest_token": TOKEN,
        "cleanup_interval_seconds": 0,
        "latest_cache_seconds": 0,
        "connect_timeout_seconds": 2,
        "acquire_timeout_seconds": 2,
        "pool_min_size": 1,
        "pool_max_size": 4,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Service:
    app: FastAPI
    http: httpx.AsyncClient
    dsn: str

    async def ingest(self, batch: dict[str, Any], *, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(
            "/api/v1/ingest/funding-rates", json=batch, headers=AUTH if headers is None else headers
        )

    async def reset(self) -> None:
        """Empty every data table (the seeded dexes stay; self-registered paper venues go)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")
            await conn.execute("DELETE FROM dexes WHERE is_paper")
        finally:
            await conn.close()
        self.app.state.service.invalidate()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()


async def open_service(dsn: str, **overrides: Any) -> Service:
    app = create_app(make_settings(dsn, **overrides))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://funding.test")
    return Service(app=app, http=http, dsn=dsn)


async def close_service(svc: Service) -> None:
    await svc.http.aclose()
    await svc.app.state.service.db.close()


# --- batch builders -------------------------------------------------------------------------------------------------


def rate(exchange: str, symbol: str, rate_: str, interval: str, at: datetime, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "exchange": exchange,
        "symbol": symbol,
        "venue_symbol": kw.pop("venue_symbol", symbol),
        "rate": rate_,
        "interval_hours": interval,
        "collected_at": at.isoformat(),
    }
    for key, value in kw.items():
        row[key] = value.isoformat() if isinstance(value, datetime) else value
    return row


def batch(
    cycle_id: str,
    rates: list[dict[str, Any]],
    at: datetime | None = None,
    exchanges: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    at = at or datetime.now(UTC)
    if exchanges is None:
        names = sorted({r["exchange"] for r in rates})
        exchanges = [
            {"name": n, "ok": True, "markets": sum(1 for r in rates if r["exchange"] == n), "latency_ms": 12.5}
            for n in names
        ]
    return {
        "cycle_id": cycle_id,
        "started_at": at.isoformat(),
        "finished_at": at.isoformat(),
        "rates": rates,
        "exchanges": exchanges,
    }
