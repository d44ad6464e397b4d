"""The funding service's database: the shared outage-proof pool (:mod:`bot_runtime.db.pool`) on its settings."""

from __future__ import annotations

from bot_runtime.db.pool import CONNECTION_ERRORS, DatabaseUnavailable, is_connection_error
from bot_runtime.db.pool import Database as _Database
from funding_service.settings import Settings

__all__ = ["CONNECTION_ERRORS", "Database", "DatabaseUnavailable", "is_connection_error"]


class Database(_Database):
    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, application_name="perpdex-funding-service")
