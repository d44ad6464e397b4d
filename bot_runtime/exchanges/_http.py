"""Shared helpers for venue clients: HTTP status → error hierarchy, wire-value parsing, and keeping secrets out of
logs that venue SDKs write (some SDKs log request payloads or session cookies at INFO level).

No SDK is imported here: every venue module may use this file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot_runtime.exchanges.base import (
    AuthenticationError,
    ExchangeError,
    RateLimited,
    TransientNetworkError,
)

HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500


def error_for_status(
    exchange: str,
    status: int,
    message: str,
    *,
    retry_after: float | None = None,
) -> ExchangeError:
    """Map an HTTP status to the error hierarchy (429 → RateLimited, 5xx → TransientNetworkError,
    401/403 → AuthenticationError, anything else → ExchangeError). ``message`` must already be secret-free."""
    text = f"{exchange}: HTTP {status}: {message}"[:500]
    if status == HTTP_TOO_MANY_REQUESTS:
        return RateLimited(text, retry_after=retry_after, exchange=exchange)
    if status >= HTTP_SERVER_ERROR:
        return TransientNetworkError(text, exchange=exchange)
    if status in (HTTP_UNAUTHORIZED, HTTP_FORBIDDEN):
        return AuthenticationError(text, exchange=exchange)
    return ExchangeError(text, exchange=exchange)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the HTTP-date form is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def dec(value: Any) -> Decimal:
    """A wire number (string, int or float) as an exact Decimal; floats go through ``str`` (never binary)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def dec_or_none(value: Any) -> Decimal | None:
    """Like :func:`dec`, but ``None``/empty/unparseable → ``None``."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return dec(value)
    except ValueError:
        return None


def from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def from_ns(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1_000_000_000, tz=UTC)


def from_seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


class SecretRedactingFilter(logging.Filter):
    """Replace known secret values in log records (message and args) with ``***``.

    Attach it to the loggers a venue SDK writes to *and* to the root logger (some SDKs call ``logging.info``
    directly, which goes through the root logger's filters).
    """

    def __init__(self, secrets: Iterable[str], *, min_length: int = 6) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= min_length}, key=len, reverse=True)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: drop it rather than risk a leak
            return False
        scrubbed = self._scrub(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True


def install_redaction(secrets: Iterable[str], logger_names: Iterable[str]) -> SecretRedactingFilter:
    """Attach one redacting filter to the given loggers and to the root logger; returns it (for removal)."""
    flt = SecretRedactingFilter(secrets)
    for name in (*logger_names, ""):
        logging.getLogger(name).addFilter(flt)
    return flt


def remove_redaction(flt: SecretRedactingFilter, logger_names: Iterable[str]) -> None:
    for name in (*logger_names, ""):
        logging.getLogger(name).removeFilter(flt)


def quiet_loggers(names: Iterable[str], level: int = logging.WARNING) -> None:
    """SDKs that log every request at INFO (payloads, cookies): raise their threshold."""
    for name in names:
        logging.getLogger(name).setLevel(level)
