"""Funding-service fixtures on the REAL PostgreSQL of ``tests/conftest.py`` (one fresh database per test module).

The app runs in-process through ``httpx.ASGITransport`` (same event loop as the tests, so the asyncpg pool lives
there too); schemathesis and the CLI tests start a real uvicorn / a real process instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from funding_service.db.migrator import migrate
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_service.fs_helpers import Service, close_service, database_name, open_service


@pytest.fixture(scope="module")
async def fs_dsn(postgres: PostgresCluster, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database for this test module."""
    dsn = postgres.create_database(database_name(request))
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="module")
async def service(fs_dsn: str) -> AsyncIterator[Service]:
    """The app on this module's database (shared by the module's tests: ``reset()`` between datasets)."""
    svc = await open_service(fs_dsn)
    try:
        yield svc
    finally:
        await close_service(svc)
