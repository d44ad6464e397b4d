"""The paper exchange's schema on a real PostgreSQL, next to the funding service's in the same database (the chart's
bundled server serves both): each migrates under its own advisory lock into its own bookkeeping table; re-running is a
no-op; the real CLI answers migrate/status."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from bot_runtime.db.migrator import migrate, migration_status
from bot_runtime.paper_exchange.service.store import MIGRATIONS
from funding_service.db.migrator import load_migrations as load_funding_migrations
from funding_service.db.migrator import migrate as migrate_funding
from perpdex_dev.postgres import PostgresCluster

pytestmark = pytest.mark.integration


async def test_both_services_share_a_database_in_their_own_schemas(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("px_shared_schema")
    conn = await asyncpg.connect(dsn)
    try:
        await migrate_funding(conn)
        applied = await migrate(conn, MIGRATIONS)
        assert [m.filename for m in applied] == ["001_schema.sql"]
        assert await migrate(conn, MIGRATIONS) == []
        assert (await migration_status(conn, MIGRATIONS)).current
        tables = {
            (r["table_schema"], r["table_name"])
            for r in await conn.fetch(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
                "('public', 'paper_exchange')"
            )
        }
        assert ("public", "schema_migrations") in tables and ("paper_exchange", "schema_migrations") in tables
        assert {t for s, t in tables if s == "paper_exchange"} >= {"venues", "accounts", "orders", "order_events"}
        assert await conn.fetchval("SELECT count(*) FROM public.schema_migrations") == len(load_funding_migrations())
        assert await conn.fetchval("SELECT count(*) FROM paper_exchange.schema_migrations") == 1
    finally:
        await conn.close()


def test_the_cli_migrates_and_reports(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("px_cli")
    env = {**os.environ, "PERPDEX_PX_DATABASE_URL": dsn}
    run = [sys.executable, "-m", "bot_runtime.cli", "paper-exchange"]
    before = subprocess.run([*run, "status"], env=env, capture_output=True, text=True, check=False)
    assert before.returncode == 1
    first = subprocess.run([*run, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert (first.returncode, first.stdout.strip()) == (0, "applied 001_schema.sql")
    again = subprocess.run([*run, "migrate"], env=env, capture_output=True, text=True, check=False)
    assert (again.returncode, again.stdout.strip()) == (0, "database schema is current")
    assert subprocess.run([*run, "status"], env=env, capture_output=True, text=True, check=False).returncode == 0
    bad = subprocess.run(
        [*run, "migrate"],
        env={**env, "PERPDEX_PX_VENUES_FILE": "/nonexistent.yaml"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2 and "invalid configuration" in bad.stderr
