"""``perpdex funding-service serve|migrate|status``: the funding-rate API (FastAPI) and its database schema.

- ``serve``: uvicorn on ``PERPDEX_FS_HOST``/``PERPDEX_FS_PORT`` (or ``--host``/``--port``).
- ``migrate``: apply pending migrations (waits up to ``--wait`` seconds for the database, e.g. as a Helm hook or an
  initContainer started before PostgreSQL is ready); exit 0 when current, 1 on a migration error, 2 when unreachable.
- ``status``: print the migration status; exit 0 when current, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot_runtime.logs import RedactionFilter, SecretRedactor
from funding_service.settings import Settings

log = logging.getLogger("funding_service")
# besides the ingest token (bot_runtime.logs.SERVICE_TOKEN_ENV): the database's credentials
SECRET_ENV = ("PERPDEX_FS_DB_PASSWORD", "PERPDEX_FS_DATABASE_URL")


def _parser() -> argparse.ArgumentParser:
    from bot_runtime.db.commands import service_parser

    return service_parser(
        "perpdex funding-service", __doc__.split("\n\n")[0], api="HTTP API", env_prefix="PERPDEX_FS_", default_port=8000
    )


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except Exception as exc:  # pydantic ValidationError: name the variables, never echo secret values
        print(f"perpdex funding-service: invalid configuration: {_config_error(exc)}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.migrate)
    from bot_runtime.db.commands import migrate_command, status_command
    from funding_service.db.migrator import MIGRATIONS

    if args.command == "migrate":
        return asyncio.run(migrate_command(settings, MIGRATIONS, args.wait))
    return asyncio.run(status_command(settings, MIGRATIONS))


def setup_logging(level: str) -> None:
    """Plain lines on stderr, redacted: the ingest token, the database password and URL, JWTs and bearer tokens never
    reach the log."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    redaction = RedactionFilter(SecretRedactor.from_env(extra_names=SECRET_ENV))
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactionFilter) for f in handler.filters):
            handler.addFilter(redaction)


def _config_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(
            f"PERPDEX_FS_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
    return type(exc).__name__


def _serve(settings: Settings, host: str | None, port: int | None, migrate: bool) -> int:
    import uvicorn

    from funding_service.app import create_app

    if migrate:
        settings = settings.model_copy(update={"auto_migrate": True})
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=settings.port if port is None else port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=False,
    )
    return 0
