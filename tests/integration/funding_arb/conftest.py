"""Fixtures of the funding-arb integration tests: the real funding service on the REAL PostgreSQL of
``tests/conftest.py`` (a fresh migrated database for the module), in-process through ``httpx.ASGITransport`` as in
tests/integration/funding_service, and a rig of paper venues + their paper collector on one virtual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from funding_service.db.migrator import migrate
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_service.fs_helpers import Service, close_service, database_name, open_service


@pytest.fixture(scope="module")
async def farb_dsn(postgres: PostgresCluster, request: pytest.FixtureRequest) -> str:
    dsn = postgres.create_database(database_name(request))
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="module")
async def farb_service(farb_dsn: str) -> AsyncIterator[Service]:
    svc = await open_service(farb_dsn)
    try:
        yield svc
    finally:
        await close_service(svc)


@pytest.fixture
async def service(farb_service: Service) -> AsyncIterator[Service]:
    """The module's service with empty data tables (each test feeds its own cycles)."""
    await farb_service.reset()
    yield farb_service
