"""Parsing and checking of query/path values: canonical symbols (the shared normaliser), dex names, periods."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot_runtime.exchanges.symbols import normalize
from bot_runtime.funding_api.ingest import SYMBOL_PATTERN
from funding_service.api.errors import invalid, not_found
from funding_service.api.state import ServiceState
from funding_service.core.history import parse_period

_SYMBOL = re.compile(SYMBOL_PATTERN)
_DEX = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


def canonical_symbol(value: str) -> str | None:
    """``btc``, ``BTC-PERP``, ``BTCUSDT``, ``1000PEPE`` → ``BTC``/``PEPE`` via the one shared normaliser; None if not a symbol."""
    text = value.strip()
    if not text or len(text) > 64:
        return None
    try:
        base = normalize("", text).base
    except ValueError:
        return None
    return base if _SYMBOL.match(base) else None


def query_symbol(value: str | None, parameter: str = "symbol") -> str | None:
    if value is None:
        return None
    symbol = canonical_symbol(value)
    if symbol is None:
        raise invalid(parameter, f"{value!r} is not a symbol")
    return symbol


def query_symbols(value: str | None, parameter: str = "symbols") -> frozenset[str] | None:
    if value is None:
        return None
    items = [v for v in (p.strip() for p in value.split(",")) if v]
    if not items:
        raise invalid(parameter, "give at least one symbol")
    out = set()
    for item in items:
        symbol = canonical_symbol(item)
        if symbol is None:
            raise invalid(parameter, f"{item!r} is not a symbol")
        out.add(symbol)
    return frozenset(out)


def path_symbol(value: str) -> str:
    symbol = canonical_symbol(value)
    if symbol is None:
        raise not_found(f"unknown symbol {value!r}", "symbol")
    return symbol


async def path_dex(state: ServiceState, value: str, parameter: str = "dex") -> str:
    """A dex that identifies the resource: unknown → 404."""
    return check_path_dex(await state.dexes(), value, parameter)


def check_path_dex(known: Mapping[str, bool], value: str, parameter: str = "dex") -> str:
    """:func:`path_dex` against a given dex index (name → is_active)."""
    name = value.strip().lower()
    if name not in known:
        raise not_found(f"unknown dex {value!r}", parameter)
    return name


async def query_dex(state: ServiceState, value: str | None, parameter: str) -> str | None:
    """A dex used as a filter: unknown → 422 naming the parameter."""
    if value is None:
        return None
    return check_dex(await state.dexes(), value, parameter)


async def query_dexes(state: ServiceState, value: str | None, parameter: str) -> frozenset[str] | None:
    if value is None:
        return None
    return check_dexes(await state.dexes(), value, parameter)


def check_dex(known: Mapping[str, bool], value: str | None, parameter: str) -> str | None:
    """:func:`query_dex` against a given dex index (name → is_active)."""
    names = check_dexes(known, value, parameter)
    if names is None:
        return None
    if len(names) != 1:
        raise invalid(parameter, "give exactly one dex")
    return next(iter(names))


def check_dexes(known: Mapping[str, bool], value: str | None, parameter: str) -> frozenset[str] | None:
    """:func:`query_dexes` against a given dex index (name → is_active)."""
    if value is None:
        return None
    items = [v for v in (p.strip().lower() for p in value.split(",")) if v]
    if not items:
        raise invalid(parameter, "give at least one dex")
    unknown = sorted({i for i in items if i not in known})
    if unknown:
        bad = ", ".join(repr(u) for u in unknown)
        raise invalid(parameter, f"unknown dex {bad} (known: {', '.join(sorted(known))})")
    return frozenset(items)


# without an explicit end, periods settling up to this far ahead (the current period of any venue) are included
OPEN_END = timedelta(days=8)


@dataclass(frozen=True, slots=True)
class TimeRange:
    start: datetime
    end: datetime  # as reported: the given end, or now
    query_end: datetime  # exclusive bound on funding_time (settlement time)


def time_range(
    period: str | None,
    start: datetime | None,
    end: datetime | None,
    default_period: str,
    now: datetime | None = None,
) -> TimeRange:
    """[start, end) from ``start``/``end`` (UTC when naive) or ``period`` back from ``end`` (default ``now``).

    Rates are keyed by the settlement time of their period, so the current period settles in the future: when no
    ``end`` is given it is included.
    """
    now = now or datetime.now(UTC)
    end_at = _aware(end) if end is not None else now
    if start is not None:
        if period is not None:
            raise invalid("period", "give either period or start/end, not both")
        start_at = _aware(start)
    else:
        try:
            span = parse_period(period or default_period)
        except ValueError as exc:
            raise invalid("period", str(exc)) from None
        try:
            start_at = end_at - span
        except OverflowError:
            raise invalid("end", "out of range") from None
    if start_at >= end_at:
        raise invalid("start", "start must be before end")
    if end_at - start_at > timedelta(days=366):
        raise invalid("start", "the range is limited to 366 days")
    if end is not None:
        return TimeRange(start_at, end_at, end_at)
    return TimeRange(start_at, end_at, end_at + OPEN_END)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def is_dex_name(value: str) -> bool:
    return bool(_DEX.match(value))
