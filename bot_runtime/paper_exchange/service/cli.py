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

from bot_runtime.paper_exchange.service.settings import Settings

log = logging.getLogger("paper_exchange")


def _parser() -> argparse.ArgumentParser:
    from bot_runtime.db.commands import service_parser

    return service_parser(
        "perpdex paper-exchange",
        __doc__.split("\n\n")[0],
        api="HTTP/WebSocket API",
        env_prefix="PERPDEX_PX_",
        default_port=8100,
    )


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
    from bot_runtime.db.commands import migrate_command, status_command
    from bot_runtime.paper_exchange.service.store import MIGRATIONS

    if args.command == "migrate":
        return asyncio.run(migrate_command(settings, MIGRATIONS, args.wait))
    return asyncio.run(status_command(settings, MIGRATIONS))


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
