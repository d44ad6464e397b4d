"""Wire values → exact Python values: numbers as :class:`~decimal.Decimal` (never through a binary float) and
epoch timestamps (seconds, milliseconds, microseconds, nanoseconds) as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def dec(value: Any) -> Decimal:
    """A wire number (string, int, float or Decimal) as an exact Decimal; a float goes through ``repr``."""
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
    """Like :func:`dec`, but ``None``, ``""`` and anything unparseable give ``None``."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return dec(value)
    except ValueError:
        return None


def from_seconds(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def from_us(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1_000_000, tz=UTC)


def from_ns(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1_000_000_000, tz=UTC)
