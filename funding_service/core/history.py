"""Statistics of a funding-rate history and the query periods of the history endpoints."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, localcontext

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
    """The statistics of ``values`` in the current decimal context (``statistics.stdev``'s result, computed without
    fractions). Sorting is cheap when ``values`` is a concatenation of sorted runs (one per venue)."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    total = sum(ordered, Decimal(0))  # in order, rounded at each step like any Decimal sum
    mean_value = total / n
    stdev = sample_stdev(ordered) if n > 1 else Decimal(0)
    positive = n - bisect_right(ordered, 0)
    return Summary(
        count=n,
        mean=mean_value,
        median=percentile(ordered, 50),
        stdev=stdev,
        minimum=ordered[0],
        maximum=ordered[-1],
        p25=percentile(ordered, 25),
        p75=percentile(ordered, 75),
        positive_share=Decimal(positive) / Decimal(n),
        annualized=apr(mean_value),
        stability=stdev / abs(mean_value) if mean_value != 0 else None,
    )


# unbounded precision: sums and products of finite decimals are exact (no division is done in it)
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def sample_stdev(values: Sequence[Decimal]) -> Decimal:
    """Sample standard deviation (n − 1): the square root of the exact sample variance, correctly rounded in the
    current context. Equal to ``statistics.stdev`` on Decimals, from exact decimal sums instead of fractions."""
    n = len(values)
    if n < 2:
        raise ValueError("stdev needs at least two values")
    with localcontext(_EXACT):
        sx = sum(values, Decimal(0))
        sxx = sum([v * v for v in values], Decimal(0))
        spread = n * sxx - sx * sx  # n² × the population variance: exact, >= 0
    num, den = spread.as_integer_ratio()
    return sqrt_of_fraction(num, den * n * (n - 1))


def sqrt_of_fraction(num: int, den: int) -> Decimal:
    """√(num / den) correctly rounded in the current context (num >= 0, den > 0); ``Decimal('0.0')`` for 0."""
    if num < 0 or den <= 0:
        raise ValueError("square root of a negative number")
    if num == 0:
        return Decimal("0.0")
    root = (Decimal(num) / Decimal(den)).sqrt()  # within one unit in the last place of the exact root
    r_num, r_den = root.as_integer_ratio()
    up = root.next_plus()
    u_num, u_den = up.as_integer_ratio()
    # num/den above the midpoint of root and up, squared: (r_num/r_den + u_num/u_den)² / 4, in integers
    if 4 * num * (r_den * u_den) ** 2 > den * (r_num * u_den + u_num * r_den) ** 2:
        return up
    down = root.next_minus()
    d_num, d_den = down.as_integer_ratio()
    if 4 * num * (r_den * d_den) ** 2 < den * (r_num * d_den + d_num * r_den) ** 2:
        return down
    return root
