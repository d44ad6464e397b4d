"""Versioned SQL migrations: ``NNN_name.sql`` files applied in order, each in its own transaction, under a PostgreSQL
advisory lock (a second migrator waits), recorded in a ``schema_migrations`` table with a checksum.

One :class:`MigrationSet` per service: its directory, its advisory lock key and the schema of its bookkeeping table
(``None``: the connection's search path, the funding service's ``public.schema_migrations``; ``paper_exchange``:
``paper_exchange.schema_migrations``, created with the schema), so two services can share one database.

Idempotent: applied versions are skipped. A file whose content changed after it was applied is an error (write a
new migration instead); a version in the database that this code does not know is reported, not touched.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

_FILE = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    version      integer PRIMARY KEY,
    name         text        NOT NULL,
    checksum     text        NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    execution_ms numeric
)
"""


class MigrationError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class MigrationSet:
    directory: Path
    lock_key: int  # pg_advisory_lock key: any constant unique to this set
    schema: str | None = None  # the bookkeeping table's schema (created when missing); None: the search path

    @property
    def table(self) -> str:
        return f"{self.schema}.schema_migrations" if self.schema else "schema_migrations"

    def load(self) -> list[Migration]:
        return load_migrations(self.directory)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def filename(self) -> str:
        return f"{self.version:03d}_{self.name}.sql"


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    applied: list[int] = field(default_factory=list)
    pending: list[Migration] = field(default_factory=list)
    mismatched: list[int] = field(default_factory=list)  # applied, but the file changed since
    unknown: list[int] = field(default_factory=list)  # in the database, not in this code

    @property
    def current(self) -> bool:
        return not self.pending and not self.mismatched


def load_migrations(directory: Path) -> list[Migration]:
    """Every ``NNN_name.sql`` of ``directory`` in version order; anything else ending in .sql is an error."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _FILE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} also used by {found[version].filename}")
        raw = path.read_bytes()
        found[version] = Migration(version, m.group(2), raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
    return [found[v] for v in sorted(found)]


async def migration_status(
    conn: asyncpg.Connection, target: MigrationSet, migrations: list[Migration] | None = None
) -> MigrationStatus:
    migrations = target.load() if migrations is None else migrations
    exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", target.table)
    rows = await conn.fetch(f"SELECT version, checksum FROM {target.table} ORDER BY version") if exists else []  # noqa: S608 - a constant
    applied = {r["version"]: r["checksum"] for r in rows}
    known = {m.version for m in migrations}
    return MigrationStatus(
        applied=sorted(applied),
        pending=[m for m in migrations if m.version not in applied],
        mismatched=[m.version for m in migrations if m.version in applied and applied[m.version] != m.checksum],
        unknown=sorted(set(applied) - known),
    )


async def migrate(
    conn: asyncpg.Connection, target: MigrationSet, migrations: list[Migration] | None = None
) -> list[Migration]:
    """Apply every pending migration; returns those applied now (empty when already current)."""
    migrations = target.load() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock($1)", target.lock_key)
    try:
        if target.schema:
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {target.schema}")
        await conn.execute(_CREATE_TABLE.format(table=target.table))
        status = await migration_status(conn, target, migrations)
        if status.mismatched:
            names = ", ".join(m.filename for m in migrations if m.version in status.mismatched)
            raise MigrationError(
                f"already-applied migration(s) changed since they were applied: {names}; "
                "never edit an applied migration, add a new one"
            )
        if status.unknown:
            log.warning("database has migration version(s) %s unknown to this code (newer release?)", status.unknown)
        done: list[Migration] = []
        for migration in status.pending:
            if status.unknown and migration.version < max(status.unknown):
                raise MigrationError(
                    f"{migration.filename} is older than applied version {max(status.unknown)} unknown to this code"
                )
            started = time.perf_counter()
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    f"INSERT INTO {target.table} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)",  # noqa: S608
                    migration.version,
                    migration.name,
                    migration.checksum,
                    Decimal(f"{(time.perf_counter() - started) * 1000:.3f}"),
                )
            log.info("applied migration %s", migration.filename)
            done.append(migration)
        return done
    finally:
        if not conn.is_closed():  # a lost session releases its advisory locks by itself
            await conn.execute("SELECT pg_advisory_unlock($1)", target.lock_key)
