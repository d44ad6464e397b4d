"""Dex health from the collection logs: last success, consecutive errors, data age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot_runtime.funding_api.models import HealthStatus

UNHEALTHY_AFTER_ERRORS = 3


@dataclass(frozen=True, slots=True)
class DexHealthState:
    status: HealthStatus
    is_healthy: bool
    time_since_fetch_seconds: float | None
    data_age_seconds: float | None


def dex_health(
    *,
    is_active: bool,
    last_success: datetime | None,
    consecutive_errors: int,
    latest_data_at: datetime | None,
    now: datetime,
    stale_after_seconds: int,
) -> DexHealthState:
    """healthy: a recent success and no error since; degraded: recent success but errors since (fewer than 3);
    unhealthy: no success within the stale window, or 3+ consecutive errors; no_data: never collected."""
    since = (now - last_success).total_seconds() if last_success is not None else None
    age = (now - latest_data_at).total_seconds() if latest_data_at is not None else None
    if not is_active:
        return DexHealthState("inactive", False, since, age)
    if last_success is None:
        return DexHealthState("no_data" if consecutive_errors == 0 else "unhealthy", False, since, age)
    assert since is not None
    if since > stale_after_seconds or consecutive_errors >= UNHEALTHY_AFTER_ERRORS:
        return DexHealthState("unhealthy", False, since, age)
    if consecutive_errors > 0:
        return DexHealthState("degraded", True, since, age)
    return DexHealthState("healthy", True, since, age)
