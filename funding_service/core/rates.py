"""Funding-rate arithmetic: every rate is stored raw with its own interval; nothing assumes 8 h."""

from __future__ import annotations

from decimal import Decimal

HOURS_PER_YEAR = Decimal(8760)
HOURS_PER_DAY = Decimal(24)
ORIGINAL_INTERVAL_HOURS = Decimal(8)  # the unit of the original service's "divergence" fields
BPS = Decimal(10000)
HUNDRED = Decimal(100)


def hourly_rate(rate: Decimal, interval_hours: Decimal) -> Decimal:
    """The rate per hour: ``rate / interval_hours``."""
    if interval_hours <= 0:
        raise ValueError("interval_hours must be positive")
    return rate / interval_hours


def apr(hourly: Decimal) -> Decimal:
    """Simple annualised rate of an hourly rate: ``hourly × 8760`` (a fraction; 0.10 = 10 %)."""
    return hourly * HOURS_PER_YEAR


def spread_bps(best_bid: Decimal | None, best_ask: Decimal | None) -> Decimal | None:
    """Bid/ask spread in basis points of the mid, or None when the book is unknown or crossed."""
    if best_bid is None or best_ask is None or best_bid <= 0 or best_ask < best_bid:
        return None
    mid = (best_bid + best_ask) / 2
    return (best_ask - best_bid) / mid * BPS
