"""Figures for people: rounded decimals, ages like kubectl's (``45s``, ``3m12s``, ``2h``, ``4d``), aligned tables.

Only the display rounds: ``-o json|yaml`` and the resources' status keep full precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

NONE = "-"


def decimal(value: Decimal | None, places: int = 2) -> str:
    """``Decimal('12.3456')`` → ``12.35``; a tiny non-zero value keeps its first significant digits (``0.00042``)."""
    if value is None:
        return NONE
    if value != 0 and abs(value) < Decimal(1).scaleb(-places):
        rounded = value.quantize(Decimal(1).scaleb(value.adjusted() - 1), rounding=ROUND_HALF_EVEN)
        return f"{rounded.normalize():f}"
    return f"{value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):f}"


def size(value: Decimal | None) -> str:
    """A position or order size: its own digits, at most 6 decimals, no trailing zeros (``0.0400`` → ``0.04``)."""
    if value is None:
        return NONE
    if value == 0:
        return "0"
    text = f"{value.quantize(Decimal('0.000001'), rounding=ROUND_HALF_EVEN).normalize():f}"
    return text if text not in {"0", "-0"} else f"{value.normalize():.2E}"


def percent(fraction: Decimal | None, places: int = 1) -> str:
    """An APR given as a fraction: ``0.1534`` → ``15.3%``."""
    return NONE if fraction is None else f"{decimal(fraction * 100, places)}%"


def age(at: datetime | None, now: datetime) -> str:
    """kubectl's short duration of ``now - at``."""
    if at is None:
        return NONE
    seconds = max(int((now - at).total_seconds()), 0)
    if seconds < 120:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 10:
        return f"{minutes}m{sec}s" if sec else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours, mins = divmod(minutes, 60)
    if hours < 8:
        return f"{hours}h{mins}m" if mins else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns aligned as ``kubectl get`` prints them (three spaces apart, upper-case headers)."""
    cells = [[h.upper() for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def clip(text: str | None, width: int = 60) -> str:
    if not text:
        return NONE
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"
