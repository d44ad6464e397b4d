"""Funding service configuration from the environment (prefix ``PERPDEX_FS_``).

The database is given either as one URL (``PERPDEX_FS_DATABASE_URL``, e.g. from a Secret of an external PostgreSQL)
or as parts (``PERPDEX_FS_DB_HOST``/``_PORT``/``_USER``/``_PASSWORD``/``_NAME``, e.g. the chart's bundled database
with a generated password Secret). Secrets are :class:`~pydantic.SecretStr`: never printed by ``repr`` or logs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from bot_runtime.db.settings import DatabaseSettings, redact_dsn

__all__ = ["FeeMode", "Settings", "redact_dsn"]

FeeMode = Literal["taker", "maker"]


class Settings(DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="PERPDEX_FS_", extra="ignore", frozen=True)

    # database: DatabaseSettings's fields (URL or parts, pool sizes, timeouts) -----------------------------------

    # HTTP ----------------------------------------------------------------------------------------------------------
    host: str = "0.0.0.0"  # noqa: S104 - a container listens on every interface
    port: int = Field(default=8000, ge=0, le=65535)
    ingest_token: SecretStr | None = Field(default=None, description="bearer token of POST /api/v1/ingest/*")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated allowed origins; empty = CORS off"
    )
    log_level: str = "info"
    ui_enabled: bool = Field(
        default=True, description="serve the funding dashboard at /ui/ (false: API only, / stays the JSON service info)"
    )
    max_ingest_rows: int = Field(default=50_000, ge=1)
    max_ingest_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    # opportunity defaults ----------------------------------------------------------------------------------------
    stale_after_seconds: int = Field(default=600, ge=1, description="latest rates older than this are stale")
    fee_mode: FeeMode = "taker"
    default_hold_hours: Decimal = Field(default=Decimal(24), gt=0)
    default_position_size_usd: Decimal = Field(default=Decimal(1000), gt=0)
    snapshot_top_n: int = Field(default=100, ge=0, description="opportunities stored per ingested cycle")
    latest_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        description="the in-process latest rates are re-checked against the database (a cheap fingerprint) at most "
        "this often; an ingest through this process drops them at once",
    )
    response_cache_entries: int = Field(
        default=256,
        ge=0,
        le=100_000,
        description="answers of /opportunities and /funding-rates kept per (query, data snapshot); 0 disables",
    )
    response_cache_megabytes: int = Field(default=32, ge=1, le=4096, description="bound of those answers' bytes")
    paper_maker_fee: Decimal = Decimal("0.0002")
    paper_taker_fee: Decimal = Decimal("0.0005")

    # retention -----------------------------------------------------------------------------------------------------
    retention_rates_days: int = Field(default=90, ge=1)
    retention_opportunities_days: int = Field(default=7, ge=1)
    retention_logs_days: int = Field(default=30, ge=1)
    cleanup_interval_seconds: float = Field(default=3600, ge=0, description="0 disables the periodic cleanup")
    auto_migrate: bool = Field(default=False, description="apply pending migrations at start (else `migrate`)")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value
