"""Database rows and core results → response models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial

import asyncpg

from bot_runtime.funding_api.models import (
    DexDetail,
    DexHealth,
    DexHealthRow,
    DexRateEntry,
    DexSummary,
    FeeStructure,
    OpportunityRow,
    RateDetail,
)
from funding_service.api.encoded import Hole, Path
from funding_service.core.health import dex_health
from funding_service.core.opportunities import Opportunity
from funding_service.core.rates import apr, hourly_rate


def fee_structure(r: asyncpg.Record) -> FeeStructure:
    return FeeStructure(
        maker_fee=r["maker_fee"],
        taker_fee=r["taker_fee"],
        maker_fee_percent=r["maker_fee"],
        taker_fee_percent=r["taker_fee"],
        has_fee_tiers=r["has_fee_tiers"],
    )


def health(r: asyncpg.Record, now: datetime, stale_after: int) -> DexHealth:
    state = dex_health(
        is_active=r["is_active"],
        last_success=r["last_success"],
        consecutive_errors=int(r["consecutive_errors"]),
        latest_data_at=r["latest_data_at"],
        now=now,
        stale_after_seconds=stale_after,
    )
    return DexHealth(
        status=state.status,
        is_healthy=state.is_healthy,
        last_successful_fetch=r["last_success"],
        time_since_fetch_seconds=state.time_since_fetch_seconds,
        consecutive_errors=int(r["consecutive_errors"]),
        last_error=r["last_error"],
        last_error_at=r["last_error_at"],
        last_cycle_at=r["last_cycle_at"],
        last_markets_fetched=r["last_markets"],
        last_latency_ms=r["last_latency_ms"],
        latest_data_at=r["latest_data_at"],
        data_age_seconds=state.data_age_seconds,
    )


#: the original's ``supports_websocket``: collectors poll each venue's REST API, no funding data comes by websocket
SUPPORTS_WEBSOCKET = False
#: the original's ``rate_limit_per_minute`` (its dexes table default): the service itself asks no venue anything
ORIGINAL_RATE_LIMIT_PER_MINUTE = 60
#: ``collection_interval_seconds`` before a dex's second cycle: the FundingCollector's default spec.interval
DEFAULT_COLLECTION_INTERVAL_SECONDS = 60


def collection_interval_seconds(gap_seconds: Decimal | float | None) -> int:
    """The original's ``collection_interval_seconds``: the observed mean gap between cycles, in whole seconds."""
    if gap_seconds is None:
        return DEFAULT_COLLECTION_INTERVAL_SECONDS
    return max(int(Decimal(gap_seconds).to_integral_value()), 1)


def dex_summary(r: asyncpg.Record, now: datetime, stale_after: int) -> DexSummary:
    h = health(r, now, stale_after)
    return DexSummary(
        name=r["name"],
        display_name=r["display_name"],
        is_active=r["is_active"],
        is_paper=r["is_paper"],
        funding_interval_hours=r["funding_interval_hours"],
        fee_structure=fee_structure(r),
        supported_symbols_count=int(r["symbols_count"]),
        last_successful_fetch=h.last_successful_fetch,
        last_error=h.last_error,
        consecutive_errors=h.consecutive_errors,
        is_healthy=h.is_healthy,
        supports_websocket=SUPPORTS_WEBSOCKET,
        collection_interval_seconds=collection_interval_seconds(r["cycle_gap_seconds"]),
        rate_limit_per_minute=ORIGINAL_RATE_LIMIT_PER_MINUTE,
    )


def dex_detail(r: asyncpg.Record, now: datetime, stale_after: int) -> DexDetail:
    summary = dex_summary(r, now, stale_after)
    return DexDetail(
        **summary.model_dump(),
        api_base_url=r["api_base_url"],
        health=health(r, now, stale_after),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def dex_health_row(r: asyncpg.Record, now: datetime, stale_after: int) -> DexHealthRow:
    return DexHealthRow(
        **health(r, now, stale_after).model_dump(),
        dex_name=r["name"],
        is_active=r["is_active"],
        active_symbols=int(r["symbols_count"]),
    )


# ---------------------------------------------------------------------------------------------------------------------
# the values that depend on the instant of the request: the holes of a cached answer (funding_service.api.encoded).
# The opportunity ones repeat finder.evaluate's arithmetic; a disagreement is caught when an answer is encoded (that
# answer is then sent as computed and not cached).


def data_age(collected_at: datetime, now: datetime) -> float:
    return max((now - collected_at).total_seconds(), 0.0)


def stale_at(collected_at: datetime, stale_after: int, now: datetime) -> bool:
    return data_age(collected_at, now) > stale_after


def to_next_funding(long_next: datetime | None, short_next: datetime | None, now: datetime) -> float | None:
    upcoming = [(t - now).total_seconds() for t in (long_next, short_next) if t is not None and t > now]
    return min(upcoming) if upcoming else None


def instant(now: datetime) -> datetime:
    return now


def rate_detail_holes(prefix: Path, collected_at: datetime, stale_after: int) -> list[Hole]:
    """The holes of a :func:`rate_detail` at ``prefix``."""
    return [
        ((*prefix, "data_age_seconds"), partial(data_age, collected_at)),
        ((*prefix, "is_stale"), partial(stale_at, collected_at, stale_after)),
    ]


def opportunity_holes(prefix: Path, o: Opportunity, stale_after: int) -> list[Hole]:
    """The holes of an :func:`opportunity_row` at ``prefix``."""
    return [
        (
            (*prefix, "seconds_to_next_funding"),
            partial(to_next_funding, o.long.next_funding_time, o.short.next_funding_time),
        ),
        ((*prefix, "data_age_seconds"), partial(data_age, o.collected_at)),
        ((*prefix, "stale"), partial(stale_at, o.collected_at, stale_after)),
        ((*prefix, "discovered_at"), instant),
    ]


def opportunities_holes(field: str, opps: Sequence[Opportunity], stale_after: int) -> list[Hole]:
    """``generated_at`` and the holes of every row of the list ``field``."""
    holes: list[Hole] = [(("generated_at",), instant)]
    for i, o in enumerate(opps):
        holes.extend(opportunity_holes((field, i), o, stale_after))
    return holes


def rate_detail(r: asyncpg.Record, now: datetime, stale_after: int) -> RateDetail:
    hourly = hourly_rate(r["rate"], r["interval_hours"])
    age = data_age(r["collected_at"], now)
    return RateDetail(
        funding_rate=r["rate"],
        interval_hours=r["interval_hours"],
        hourly_rate=hourly,
        annualized_rate=apr(hourly),
        next_funding_time=r["next_funding_time"],
        timestamp=r["collected_at"],
        data_age_seconds=age,
        is_stale=age > stale_after,
    )


def dex_rate_entry(r: asyncpg.Record, now: datetime, stale_after: int) -> DexRateEntry:
    return DexRateEntry(
        **rate_detail(r, now, stale_after).model_dump(),
        venue_symbol=r["venue_symbol"],
        multiplier=r["multiplier"],
        mark_price=r["mark_price"],
        index_price=r["index_price"],
        volume_24h=r["volume_24h_usd"],
        open_interest_usd=r["open_interest_usd"],
    )


def opportunity_row(o: Opportunity, now: datetime) -> OpportunityRow:
    lo, sh = o.long, o.short
    return OpportunityRow(
        symbol=o.symbol,
        long_dex=lo.dex,
        short_dex=sh.dex,
        long_rate=lo.rate,
        short_rate=sh.rate,
        long_interval_hours=lo.interval_hours,
        short_interval_hours=sh.interval_hours,
        long_hourly_rate=lo.hourly_rate,
        short_hourly_rate=sh.hourly_rate,
        long_apr=lo.apr,
        short_apr=sh.apr,
        long_venue_symbol=lo.venue_symbol,
        short_venue_symbol=sh.venue_symbol,
        long_multiplier=lo.multiplier,
        short_multiplier=sh.multiplier,
        long_mark_price=lo.mark_price,
        short_mark_price=sh.mark_price,
        price_spread_pct=o.price_spread_pct,
        divergence=o.divergence,
        divergence_hourly=o.spread_hourly,
        gross_apr=o.gross_apr,
        fee_mode=o.fee_mode,
        long_fee=o.long_fee,
        short_fee=o.short_fee,
        estimated_fees=o.fees,
        hold_hours=o.hold_hours,
        net_profit_percent=o.net_profit,
        net_apr=o.net_apr,
        annualized_apy=o.annualized_apy,
        break_even_hours=o.break_even_hours,
        position_size_usd=o.position_size_usd,
        estimated_fees_usd=o.fees_usd,
        net_profit_usd=o.net_profit_usd,
        daily_funding_usd=o.daily_funding_usd,
        daily_pnl_usd=o.daily_pnl_usd,
        long_dex_volume_24h=lo.volume_24h_usd,
        short_dex_volume_24h=sh.volume_24h_usd,
        min_volume_24h=o.min_volume_24h,
        long_dex_oi_usd=lo.open_interest_usd,
        short_dex_oi_usd=sh.open_interest_usd,
        min_oi_usd=o.min_oi_usd,
        max_oi_usd=o.max_oi_usd,
        oi_ratio=o.oi_ratio,
        oi_imbalance=o.oi_imbalance,
        long_dex_spread_bps=lo.spread_bps,
        short_dex_spread_bps=sh.spread_bps,
        avg_spread_bps=o.avg_spread_bps,
        long_next_funding_time=lo.next_funding_time,
        short_next_funding_time=sh.next_funding_time,
        seconds_to_next_funding=o.seconds_to_next_funding,
        data_age_seconds=o.data_age_seconds,
        stale=o.stale,
        collected_at=o.collected_at,
        discovered_at=now,
    )


def decimal_or_none(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None
