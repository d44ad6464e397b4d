"""Paper exchange configuration from the environment (prefix ``PERPDEX_PX_``).

Database as the funding service's (:class:`~bot_runtime.db.settings.DatabaseSettings`: ``PERPDEX_PX_DATABASE_URL`` or
``PERPDEX_PX_DB_HOST``/``_PORT``/``_USER``/``_PASSWORD``/``_NAME``); the chart's bundled PostgreSQL serves both, the
paper exchange keeping to its own schema ``paper_exchange``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bot_runtime.db.settings import DatabaseSettings
from bot_runtime.paper_exchange.venues import VenueConfig, load_venues


class Settings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERPDEX_PX_", extra="ignore", frozen=True)

    host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    port: int = Field(default=8100, ge=0, le=65535)
    log_level: str = "info"
    venues_file: Path | None = Field(default=None, description="YAML list of venues; default paper, paper-a..c")
    tick_seconds: float = Field(default=1.0, gt=0, description="how often the market advances without requests")
    auto_migrate: bool = Field(default=False, description="apply pending migrations at start (else `migrate`)")

    def venues(self) -> list[VenueConfig]:
        return load_venues(self.venues_file)
