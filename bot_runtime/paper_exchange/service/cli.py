"""``perpdex paper-exchange serve|migrate|status``: the paper venues' service (FastAPI) and its database schema.

- ``serve``: uvicorn on ``PERPDEX_PX_HOST``/``PERPDEX_PX_PORT`` (or ``--host``/``--port``); ``--migrate`` applies
  pending migrations first.
- ``migrate``: apply pending migrations (waits up to ``--wait`` seconds for the database, e.g. in an initContainer
  started before PostgreSQL is ready); exit 0 when current, 1 on a migration error, 2 when unreachable.
- ``status``: print the migration status; exit 0 when current, 1 otherwise.

FastAPI, uvicorn and asyncpg are imported only here and below (the ``paper-exchange`` extra), never by a bot pod.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from typing import TYPE_CHECKING

from bot_runtime.paper_exchange.service.settings import Settings

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("paper_exchange")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpdex paper-exchange", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP/WebSocket API (uvicorn)")
    serve.add_argument("--host", default=None, help="listen address (default PERPDEX_PX_HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="listen port (default PERPDEX_PX_PORT or 8100)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations at start")
    migrate = sub.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the database (default 60)")
    sub.add_parser("status", help="show which migrations are applied")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
        settings.venues()
    except Exception as exc:  # never echo secret values: name the problem
        print(f"perpdex paper-exchange: invalid configuration: {_config_error(exc)}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.migrate)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings, args.wait))
    return asyncio.run(_status(settings))


def _config_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"PERPDEX_PX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
    if isinstance(exc, (ValueError, OSError)):
        return str(exc)
    return type(exc).__name__


def _serve(settings: Settings, host: str | None, port: int | None, migrate: bool) -> int:
    import uvicorn

    from bot_runtime.paper_exchange.service.app import create_app

    if migrate:
        settings = settings.model_copy(update={"auto_migrate": True})
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


async def _connect(settings: Settings, wait: float) -> asyncpg.Connection:
    import asyncpg

    from bot_runtime.db.pool import is_connection_error

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


async def _migrate(settings: Settings, wait: float) -> int:
    import asyncpg

    from bot_runtime.db.migrator import MigrationError, migrate
    from bot_runtime.paper_exchange.service.store import MIGRATIONS

    try:
        conn = await _connect(settings, wait)
    except Exception as exc:
        print(f"database {settings.redacted_dsn()} unreachable: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        applied = await migrate(conn, MIGRATIONS)
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


async def _status(settings: Settings) -> int:
    from bot_runtime.db.migrator import migration_status
    from bot_runtime.paper_exchange.service.store import MIGRATIONS

    try:
        conn = await _connect(settings, 0)
    except Exception as exc:
        print(f"database {settings.redacted_dsn()} unreachable: {type(exc).__name__}", file=sys.stderr)
        return 2
    try:
        status = await migration_status(conn, MIGRATIONS)
    finally:
        await conn.close()
    print(f"applied: {status.applied or 'none'}")
    print(f"pending: {[m.filename for m in status.pending] or 'none'}")
    if status.mismatched:
        print(f"CHANGED after being applied: {status.mismatched}")
    return 0 if status.current else 1
