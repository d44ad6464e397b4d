"""The database part of a service's settings (the funding service's ``PERPDEX_FS_*``, the paper exchange's
``PERPDEX_PX_*``: each subclass sets its own env prefix).

The database is given either as one URL (``..._DATABASE_URL``, e.g. from a Secret of an external PostgreSQL) or as
parts (``..._DB_HOST``/``_PORT``/``_USER``/``_PASSWORD``/``_NAME``, e.g. the chart's bundled database with a
generated password Secret). Secrets are :class:`~pydantic.SecretStr`: never printed by ``repr`` or logs.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings


class DatabaseSettings(BaseSettings):
    database_url: SecretStr | None = Field(default=None, description="postgresql://user:pass@host:port/db")
    db_host: str = "localhost"
    db_port: int = Field(default=5432, ge=1, le=65535)
    db_user: str = "perpdex"
    db_password: SecretStr | None = None
    db_name: str = "perpdex"
    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=200)
    connect_timeout_seconds: float = Field(default=3.0, gt=0)
    acquire_timeout_seconds: float = Field(default=3.0, gt=0)
    command_timeout_seconds: float = Field(default=15.0, gt=0)

    def dsn(self) -> str:
        """The connection URL (contains the password: never log it; see :meth:`redacted_dsn`)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        auth = quote(self.db_user, safe="")
        if self.db_password is not None:
            auth += ":" + quote(self.db_password.get_secret_value(), safe="")
        return f"postgresql://{auth}@{self.db_host}:{self.db_port}/{quote(self.db_name, safe='')}"

    def redacted_dsn(self) -> str:
        return redact_dsn(self.dsn())


def redact_dsn(dsn: str) -> str:
    """``postgresql://u:secret@h/db`` → ``postgresql://u:***@h/db`` (query parameters dropped: they may hold secrets)."""
    try:
        parts = urlsplit(dsn)
        netloc = parts.netloc
        if "@" in netloc:
            auth, host = netloc.rsplit("@", 1)
            user = auth.split(":", 1)[0]
            netloc = f"{user}:***@{host}" if ":" in auth else f"{user}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparseable dsn>"
