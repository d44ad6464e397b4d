"""Statistics of a funding-rate history and the query periods of the history endpoints."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from funding_service.core.rates import HUNDRED, apr

_PERIOD = re.compile(r"^\s*(\d{1,4})\s*([dh])\s*$", re.IGNORECASE)
MAX_PERIOD = timedelta(days=366)
BUCKETS: dict[str, timedelta] = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1)}


def parse_period(text: str) -> timedelta:
    """``7d`` / ``30d`` / ``90d`` (any whole days or hours, up to 366 days) → timedelta; ValueError otherwise."""
    m = _PERIOD.match(text)
    if not m:
        raise ValueError(f"period must look like 7d, 30d, 90d or 12h, not {text!r}")
    count, unit = int(m.group(1)), m.group(2).lower()
    span = timedelta(days=count) if unit == "d" else timedelta(hours=count)
    if not timedelta(0) < span <= MAX_PERIOD:
        raise ValueError(f"period must be between 1h and 366d, not {text!r}")
    return span


def percentile(ordered: Sequence[Decimal], pct: Decimal | int) -> Decimal:
    """Linear interpolation between closest ranks (``numpy.percentile``'s default), exact in Decimal."""
    if not ordered:
        raise ValueError("percentile of no data")
    rank = (Decimal(len(ordered) - 1) * Decimal(pct)) / HUNDRED
    low = int(rank)
    frac = rank - low
    if low + 1 >= len(ordered):
        return ordered[-1]
    return ordered[low] + (ordered[low + 1] - ordered[low]) * frac


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics of a series of HOURLY rates (so venues with different intervals are comparable)."""

    count: int
    mean: Decimal
    median: Decimal
    stdev: Decimal  # sample standard deviation (n − 1); 0 for one sample
    minimum: Decimal
    maximum: Decimal
    p25: Decimal
    p75: Decimal
    positive_share: Decimal  # fraction of periods with a rate > 0
    annualized: Decimal  # mean hourly × 8760
    stability: Decimal | None  # coefficient of variation stdev / |mean| (lower = steadier); None when the mean is 0


def summarize(values: Sequence[Decimal]) -> Summary | None:
    if not values:
        return None
    ordered = sorted(values)
    total = sum(ordered, Decimal(0))
    mean_value = total / len(ordered)
    stdev = statistics.stdev(ordered) if len(ordered) > 1 else Decimal(0)
    positive = sum(1 for v in ordered if v > 0)
    return Summary(
        count=len(ordered),
        mean=mean_value,
        median=percentile(ordered, 50),
        stdev=stdev,
        minimum=ordered[0],
        maximum=ordered[-1],
        p25=percentile(ordered, 25),
        p75=percentile(ordered, 75),
        positive_share=Decimal(positive) / Decimal(len(ordered)),
        annualized=apr(mean_value),
        stability=stdev / abs(mean_value) if mean_value != 0 else None,
    )
