"""The funding period a collected rate applies to: the key that makes ingest idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def funding_period_end(
    collected_at: datetime, interval_hours: Decimal, next_funding_time: datetime | None = None
) -> datetime:
    """When the period this rate applies to settles.

    The venue's ``next_funding_time`` when it gives one (to the second); otherwise the next interval boundary after
    ``collected_at`` counted from the Unix epoch (the boundary every venue we know aligns to), so both ways of
    keying land on the same settlement time for the same period.
    """
    if next_funding_time is not None:
        return next_funding_time.astimezone(UTC).replace(microsecond=0)
    seconds = int(interval_hours * 3600)
    if seconds <= 0:
        raise ValueError("interval_hours must be at least one second")
    elapsed = int((collected_at.astimezone(UTC) - EPOCH).total_seconds() // 1)
    start = elapsed - elapsed % seconds
    return EPOCH + timedelta(seconds=start + seconds)
