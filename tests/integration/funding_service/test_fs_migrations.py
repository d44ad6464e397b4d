"""Migrations on a real PostgreSQL: from empty, re-run is a no-op, a concurrent migrator waits on the advisory lock,
an edited applied migration is refused, the seed holds the facts' fees; and the real CLI."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path

import asyncpg
import pytest

from funding_service.db.migrator import (
    LOCK_KEY,
    MIGRATIONS_DIR,
    MigrationError,
    load_migrations,
    migrate,
    migration_status,
)
from perpdex_dev.postgres import PostgresCluster

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "schema_migrations",
    "dexes",
    "symbols",
    "dex_symbols",
    "funding_rates",
    "latest_funding_rates",
    "opportunities",
    "collection_cycles",
    "collection_logs",
}


async def fresh(postgres: PostgresCluster, name: str) -> asyncpg.Connection:
    return await asyncpg.connect(postgres.create_database(name))


async def tables(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r["tablename"] for r in rows}


async def test_from_empty_then_rerun_is_noop(postgres: PostgresCluster) -> None:
    conn = await fresh(postgres, "fs_mig_empty")
    try:
        assert await tables(conn) == set()
        status = await migration_status(conn)
        known = load_migrations()  # the schema and the venue seeds, one file per venue added later
        assert not status.current and [m.version for m in status.pending] == [m.version for m in known]
        applied = await migrate(conn)
        assert [m.filename for m in applied] == [m.filename for m in known]
        assert [m.filename for m in applied[:4]] == [
            "001_schema.sql",
            "002_seed_dexes.sql",
            "003_hot_updates.sql",
            "004_seed_hyperliquid.sql",
        ]
        seeds = {"005_seed_extended.sql", "006_seed_ethereal.sql", "011_seed_nado.sql", "012_seed_apex.sql"}
        assert seeds <= {m.filename for m in applied}
        assert await tables(conn) == EXPECTED_TABLES
        recorded = await conn.fetch(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        )
        assert [(r["version"], r["name"]) for r in recorded] == [(m.version, m.name) for m in known]
        assert [r["checksum"] for r in recorded] == [m.checksum for m in load_migrations()]
        assert all(r["applied_at"] is not None for r in recorded)
        before = await conn.fetch("SELECT * FROM schema_migrations ORDER BY version")
        assert await migrate(conn) == []  # re-run: nothing to do, nothing touched
        assert await conn.fetch("SELECT * FROM schema_migrations ORDER BY version") == before
        assert (await migration_status(conn)).current
    finally:
        await conn.close()


async def test_seed_holds_the_live_venues_with_fee_fractions(postgres: PostgresCluster) -> None:
    conn = await fresh(postgres, "fs_mig_seed")
    try:
        await migrate(conn)
        rows = await conn.fetch("SELECT name, maker_fee, taker_fee, funding_interval_hours, is_paper FROM dexes")
        got = {r["name"]: (r["maker_fee"], r["taker_fee"], r["funding_interval_hours"], r["is_paper"]) for r in rows}
        assert got == {
            "lighter": (D("0"), D("0"), D(1), False),
            "grvt": (D("-0.0001"), D("0.00055"), D(8), False),
            "edgex": (D("0.00015"), D("0.00038"), D(4), False),
            "paradex": (D("0.00003"), D("0.0002"), D(8), False),
            "backpack": (D("0.0002"), D("0.0005"), D(1), False),
            "aster": (D("0.00005"), D("0.0004"), D(8), False),
            "hyperliquid": (D("0.00015"), D("0.00045"), D(1), False),
            "extended": (D("0"), D("0.00025"), D(1), False),
            "ethereal": (D("0.00005"), D("0.00025"), D(1), False),
            "nado": (D("0"), D("0.0002"), D(1), False),
            "apex": (D("0.0002"), D("0.0005"), D(1), False),
        }
        numeric = await conn.fetch(
            """
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND column_name IN ('rate', 'mark_price', 'maker_fee', 'open_interest_usd')
              AND data_type <> 'numeric'
            """
        )
        assert numeric == []  # money and rates are numeric everywhere
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_once(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("fs_mig_concurrent")
    a, b = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        first, second = await asyncio.gather(migrate(a), migrate(b))
        known = [m.version for m in load_migrations()]
        assert sorted(m.version for m in [*first, *second]) == known  # each applied exactly once
        assert {len(first), len(second)} == {0, len(known)}
        assert await a.fetchval("SELECT count(*) FROM schema_migrations") == len(known)
        venue_seeds = [m for m in load_migrations() if m.name.startswith("seed_") and m.version > 2]
        assert await a.fetchval("SELECT count(*) FROM dexes") == 6 + len(venue_seeds)  # 002 six, seed_<venue> one
    finally:
        await a.close()
        await b.close()


async def test_second_migrator_waits_on_the_lock(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("fs_mig_lock")
    holder, waiter, observer = [await asyncpg.connect(dsn) for _ in range(3)]
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)  # a migrator in progress
        task = asyncio.create_task(migrate(waiter))
        waiting_pid = waiter.get_server_pid()
        for _ in range(100):
            blocked = await observer.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1", waiting_pid
            )
            if blocked:
                break
            await asyncio.sleep(0.05)
        assert blocked == 1, "the second migrator should be waiting on the advisory lock"
        assert not task.done()
        assert await observer.fetchval("SELECT to_regclass('schema_migrations')") is None  # it did nothing yet
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        applied = await asyncio.wait_for(task, timeout=30)
        assert [m.version for m in applied] == [m.version for m in load_migrations()]
        assert (
            await observer.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", waiting_pid
            )
            == 0
        )  # released when done
    finally:
        for conn in (holder, waiter, observer):
            await conn.close()


async def test_edited_applied_migration_is_refused(postgres: PostgresCluster, tmp_path: Path) -> None:
    conn = await fresh(postgres, "fs_mig_changed")
    try:
        await migrate(conn)
        for f in MIGRATIONS_DIR.glob("*.sql"):
            shutil.copy(f, tmp_path / f.name)
        seed = tmp_path / "002_seed_dexes.sql"
        seed.write_text(seed.read_text().replace("0.00055", "0.00050"))
        with pytest.raises(MigrationError, match=r"002_seed_dexes\.sql"):
            await migrate(conn, load_migrations(tmp_path))
        assert (await migration_status(conn, load_migrations(tmp_path))).mismatched == [2]
        # a NEW migration is the way to change data
        (tmp_path / "002_seed_dexes.sql").write_text((MIGRATIONS_DIR / "002_seed_dexes.sql").read_text())
        (tmp_path / "099_grvt_fee.sql").write_text("UPDATE dexes SET taker_fee = 0.0005 WHERE name = 'grvt';\n")
        assert [m.version for m in await migrate(conn, load_migrations(tmp_path))] == [99]
        assert await conn.fetchval("SELECT taker_fee FROM dexes WHERE name = 'grvt'") == D("0.0005")
        # this release's files do not know 099: reported as unknown, not an error
        status = await migration_status(conn)
        assert status.current and status.unknown == [99]
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_failed_migration_rolls_back_and_is_not_recorded(postgres: PostgresCluster, tmp_path: Path) -> None:
    conn = await fresh(postgres, "fs_mig_failed")
    try:
        for f in MIGRATIONS_DIR.glob("*.sql"):
            shutil.copy(f, tmp_path / f.name)
        (tmp_path / "099_broken.sql").write_text("CREATE TABLE half_done (x int);\nSELECT no_such_function();\n")
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await migrate(conn, load_migrations(tmp_path))
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        last = max(m.version for m in load_migrations())  # every real migration applied, the broken one not
        assert await conn.fetchval("SELECT max(version) FROM schema_migrations") == last
        assert await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    finally:
        await conn.close()


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_FS_")}
    env["PERPDEX_FS_DATABASE_URL"] = dsn
    return subprocess.run(
        [sys.executable, "-m", "bot_runtime.cli", "funding-service", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_migrate_and_status(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("fs_mig_cli")
    out = _cli("status", dsn=dsn)
    assert out.returncode == 1 and "001_schema.sql" in out.stdout
    out = _cli("migrate", dsn=dsn)
    assert out.returncode == 0, out.stderr
    assert "applied 001_schema.sql" in out.stdout and "applied 002_seed_dexes.sql" in out.stdout
    out = _cli("migrate", dsn=dsn)
    assert out.returncode == 0 and "current" in out.stdout
    assert _cli("status", dsn=dsn).returncode == 0


def test_cli_unreachable_database_fails_fast_without_the_password(postgres: PostgresCluster) -> None:
    from perpdex_dev.control_plane import free_port

    dsn = f"postgresql://perpdex:hunter2secret@127.0.0.1:{free_port()}/nope"
    out = _cli("migrate", "--wait", "0", dsn=dsn)
    assert out.returncode == 2
    assert "unreachable" in out.stderr
    assert "hunter2secret" not in out.stderr + out.stdout
