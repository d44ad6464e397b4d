"""The database half of a service's command line, shared by ``perpdex funding-service`` and ``perpdex paper-exchange``:
wait for the database, then ``migrate`` or ``status`` of the service's :class:`~bot_runtime.db.migrator.MigrationSet`.

Exit codes (both services document them): ``migrate`` 0 when the schema is current, 1 on a migration error, 2 when the
database stays unreachable for ``wait`` seconds; ``status`` 0 when current, 1 otherwise, 2 when unreachable. Only the
redacted DSN is ever printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING

from bot_runtime.db.migrator import MigrationError, MigrationSet, migrate, migration_status
from bot_runtime.db.pool import is_connection_error
from bot_runtime.db.settings import DatabaseSettings

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)


def service_parser(
    prog: str, description: str, *, api: str, env_prefix: str, default_port: int
) -> argparse.ArgumentParser:
    """``serve [--host] [--port] [--migrate] | migrate [--wait] | status``: the command line both services share."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help=f"run the {api} (uvicorn)")
    serve.add_argument("--host", default=None, help=f"listen address (default {env_prefix}HOST or 0.0.0.0)")
    serve.add_argument(
        "--port", type=int, default=None, help=f"listen port (default {env_prefix}PORT or {default_port})"
    )
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations at start")
    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the database (default 60)")
    sub.add_parser("status", help="show which migrations are applied")
    return parser


async def connect(settings: DatabaseSettings, wait: float) -> asyncpg.Connection:
    """One connection, retried with backoff on connection errors for up to ``wait`` seconds (a service's
    initContainer may start before PostgreSQL accepts connections)."""
    import asyncpg

    deadline = time.monotonic() + wait
    delay = 0.5
    while True:
        try:
            return await asyncpg.connect(settings.dsn(), timeout=settings.connect_timeout_seconds)
        except Exception as exc:
            if not is_connection_error(exc) or time.monotonic() + delay > deadline:
                raise
            log.info("database %s not reachable yet (%s); retrying", settings.redacted_dsn(), type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _connected(settings: DatabaseSettings, wait: float) -> asyncpg.Connection | None:
    try:
        return await connect(settings, wait)
    except Exception as exc:
        if is_connection_error(exc):
            print(f"database {settings.redacted_dsn()} unreachable: {type(exc).__name__}", file=sys.stderr)
        else:
            print(f"cannot connect to {settings.redacted_dsn()}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


async def migrate_command(settings: DatabaseSettings, migrations: MigrationSet, wait: float) -> int:
    """Apply every pending migration and say which (exit codes in the module docstring)."""
    import asyncpg

    conn = await _connected(settings, wait)
    if conn is None:
        return 2
    try:
        applied = await migrate(conn, migrations)
    except MigrationError as exc:
        print(f"migration error: {exc}", file=sys.stderr)
        return 1
    except asyncpg.PostgresError as exc:
        print(f"migration failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        await conn.close()
    for m in applied:
        print(f"applied {m.filename}")
    if not applied:
        print("database schema is current")
    return 0


async def status_command(settings: DatabaseSettings, migrations: MigrationSet) -> int:
    """Print which migrations are applied, pending, changed after being applied, or unknown to this release."""
    conn = await _connected(settings, 0)
    if conn is None:
        return 2
    try:
        status = await migration_status(conn, migrations)
    finally:
        await conn.close()
    print(f"applied: {status.applied or 'none'}")
    print(f"pending: {[m.filename for m in status.pending] or 'none'}")
    if status.mismatched:
        print(f"CHANGED after being applied: {status.mismatched}")
    if status.unknown:
        print(f"unknown to this release: {status.unknown}")
    return 0 if status.current else 1
