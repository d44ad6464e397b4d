"""The funding service's migrations: ``migrations/NNN_name.sql``, run by the shared migrator
(:mod:`bot_runtime.db.migrator`: advisory lock, checksums, one transaction each) into ``public.schema_migrations``."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from bot_runtime.db.migrator import Migration, MigrationError, MigrationSet, MigrationStatus
from bot_runtime.db.migrator import load_migrations as _load_migrations
from bot_runtime.db.migrator import migrate as _migrate
from bot_runtime.db.migrator import migration_status as _migration_status

__all__ = [
    "LOCK_KEY",
    "MIGRATIONS",
    "MIGRATIONS_DIR",
    "Migration",
    "MigrationError",
    "MigrationStatus",
    "load_migrations",
    "migrate",
    "migration_status",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_lock key: the bytes of "perpdexm" as a signed 64-bit integer (any constant unique to this schema)
LOCK_KEY = int.from_bytes(b"perpdexm", "big", signed=True)
MIGRATIONS = MigrationSet(MIGRATIONS_DIR, LOCK_KEY)


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    return _load_migrations(directory)


async def migration_status(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> MigrationStatus:
    return await _migration_status(conn, MIGRATIONS, migrations)


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration; returns those applied now (empty when already current)."""
    return await _migrate(conn, MIGRATIONS, migrations)
