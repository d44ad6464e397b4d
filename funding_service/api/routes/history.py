"""``/history`` and ``/stats``: time series (raw or bucketed) and statistics of hourly rates, with the original
service's fields next to them (rates per 8 h: :data:`ORIGINAL_RATE_HOURS`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from bot_runtime.funding_api.models import History, HistoryPoint, HistoryStats, RateStats, Statistics
from funding_service.api.answers import CachedRoute, answer, snapshot
from funding_service.api.encoded import Hole
from funding_service.api.errors import ERROR_RESPONSES, not_found
from funding_service.api.params import OPEN_END, check_dex, path_dex, path_symbol, time_range
from funding_service.api.state import ServiceState, get_state
from funding_service.api.views import instant
from funding_service.core.history import BUCKETS, Summary, summarize
from funding_service.core.rates import HUNDRED, apr, hourly_rate
from funding_service.db.repositories import dexes as dex_repo
from funding_service.db.repositories import rates as repo

# /stats caches its answers (funding_service.api.answers); /history does not
router = APIRouter(tags=["History"], responses=ERROR_RESPONSES, route_class=CachedRoute)
State = Annotated[ServiceState, Depends(get_state)]
PERIOD_HELP = "7d, 30d, 90d (any Nd up to 366d, or Nh); ignored when start is given"
DAY_SECONDS = Decimal(86400)
#: the original service's rates are per 8 h: its fields carry the hourly figures × 8
ORIGINAL_RATE_HOURS = Decimal(8)
ZERO = Decimal(0)


def _per_8h(hourly: Decimal) -> Decimal:
    return hourly * ORIGINAL_RATE_HOURS


def _original_history_stats(summary: Summary | None) -> dict[str, Decimal]:
    """The original's FundingRateHistory statistics (0 when there is no data, as the original answered)."""
    if summary is None:
        return {"avg_rate": ZERO, "median_rate": ZERO, "std_dev": ZERO, "min_rate": ZERO, "max_rate": ZERO}
    return {
        "avg_rate": _per_8h(summary.mean),
        "median_rate": _per_8h(summary.median),
        "std_dev": _per_8h(summary.stdev),
        "min_rate": _per_8h(summary.minimum),
        "max_rate": _per_8h(summary.maximum),
    }


def _original_stats(summary: Summary | None) -> dict[str, Any]:
    """The original's FundingRateStats figures (0 when there is no data, as the original answered)."""
    if summary is None:
        zero: dict[str, Any] = dict.fromkeys(
            ("avg_funding_rate", "median_funding_rate", "std_dev", "volatility", "min_rate", "max_rate"), ZERO
        )
        return zero | {
            "percentile_25": ZERO,
            "percentile_75": ZERO,
            "avg_annualized_apy": ZERO,
            "positive_rate_frequency": 0.0,
        }
    return {
        "avg_funding_rate": _per_8h(summary.mean),
        "median_funding_rate": _per_8h(summary.median),
        "std_dev": _per_8h(summary.stdev),
        "volatility": summary.stability if summary.stability is not None else ZERO,
        "min_rate": _per_8h(summary.minimum),
        "max_rate": _per_8h(summary.maximum),
        "percentile_25": _per_8h(summary.p25),
        "percentile_75": _per_8h(summary.p75),
        "avg_annualized_apy": summary.annualized * HUNDRED,
        "positive_rate_frequency": float(summary.positive_share),
    }


def _period_days(start: datetime, end: datetime) -> Decimal:
    return (Decimal((end - start).total_seconds()) / DAY_SECONDS).quantize(Decimal("0.0001")).normalize()


def _statistics(summary: Summary | None) -> Statistics:
    if summary is None:
        return Statistics(
            average=None,
            median=None,
            min=None,
            max=None,
            stdev=None,
            volatility=None,
            stability=None,
            percentile_25=None,
            percentile_75=None,
            positive_share=None,
            annualized_apr=None,
            annualized_apy=None,
        )
    return Statistics(
        average=summary.mean,
        median=summary.median,
        min=summary.minimum,
        max=summary.maximum,
        stdev=summary.stdev,
        volatility=summary.stability,
        stability=summary.stability,
        percentile_25=summary.p25,
        percentile_75=summary.p75,
        positive_share=summary.positive_share,
        annualized_apr=summary.annualized,
        annualized_apy=summary.annualized * HUNDRED,
    )


async def _require_symbol(state: ServiceState, symbol: str) -> str:
    sym = path_symbol(symbol)
    if sym in (await state.latest.get()).symbols:  # a latest rate references it (foreign key): it exists
        return sym

    async def exists(conn: asyncpg.Connection) -> bool:
        return await dex_repo.symbol_exists(conn, sym)

    if not await state.db.run(exists):
        raise not_found(f"unknown symbol {symbol!r}", "symbol")
    return sym


@router.get("/history/funding-rates/{dex}/{symbol}", response_model=History, summary="Funding-rate history of one pair")
async def history(
    *,
    state: State,
    dex: Annotated[str, Path(max_length=64)],
    symbol: Annotated[str, Path(max_length=64)],
    period: Annotated[str | None, Query(description=PERIOD_HELP, max_length=16)] = None,
    start: Annotated[datetime | None, Query(description="range start (ISO 8601; UTC when no offset)")] = None,
    end: Annotated[datetime | None, Query(description="range end, exclusive (default now)")] = None,
    bucket: Annotated[Literal["1h", "4h", "1d"] | None, Query(description="aggregate into time buckets")] = None,
    limit: Annotated[int, Query(ge=1, le=10000, description="max points (most recent first by default)")] = 1000,
    order: Annotated[Literal["desc", "asc"], Query(description="time order of the points")] = "desc",
) -> History:
    name = await path_dex(state, dex)
    sym = await _require_symbol(state, symbol)
    span = time_range(period, start, end, "7d")
    start_at, end_at = span.start, span.end
    desc = order == "desc"

    async def load(conn: asyncpg.Connection) -> tuple[list[asyncpg.Record], repo.HourlySeries]:
        if bucket is None:
            points = await repo.history_points(
                conn, dex=name, symbol=sym, start=start_at, end=span.query_end, limit=limit, desc=desc
            )
        else:
            points = await repo.history_buckets(
                conn,
                dex=name,
                symbol=sym,
                start=start_at,
                end=span.query_end,
                bucket=BUCKETS[bucket],
                limit=limit,
                desc=desc,
            )
        series = await repo.hourly_series(conn, sym, start_at, span.query_end, name)
        return points, series

    points, hourly_series = await state.db.run(load)
    out: list[HistoryPoint] = []
    for p in points:
        if bucket is None:
            hourly = hourly_rate(p["rate"], p["interval_hours"])
            out.append(
                HistoryPoint(
                    time=p["time"],
                    funding_rate=p["rate"],
                    interval_hours=p["interval_hours"],
                    hourly_rate=hourly,
                    annualized_rate=apr(hourly),
                    mark_price=p["mark_price"],
                    open_interest_usd=p["open_interest_usd"],
                    rate=float(_per_8h(hourly)),
                )
            )
        else:
            out.append(
                HistoryPoint(
                    time=p["time"],
                    funding_rate=p["rate"],
                    interval_hours=p["interval_hours"],
                    hourly_rate=p["hourly"],
                    annualized_rate=apr(p["hourly"]),
                    min_hourly_rate=p["min_hourly"],
                    max_hourly_rate=p["max_hourly"],
                    samples=int(p["samples"]),
                    mark_price=p["mark_price"],
                    open_interest_usd=p["open_interest_usd"],
                    rate=float(_per_8h(p["hourly"])),
                )
            )
    summary = summarize([v for hourly in hourly_series.by_dex.values() for v in hourly])
    stats = HistoryStats(
        average=summary.mean if summary else None,
        median=summary.median if summary else None,
        min=summary.minimum if summary else None,
        max=summary.maximum if summary else None,
        volatility=summary.stdev if summary else None,
    )
    return History(
        symbol=sym,
        dex_name=name,
        period_days=_period_days(start_at, end_at),
        start=start_at,
        end=end_at,
        bucket=bucket,
        data_points=out,
        count=len(out),
        stats=stats,
        period_start=start_at,
        period_end=end_at,
        **_original_history_stats(summary),
    )


@router.get("/stats/funding-rates/{symbol}", response_model=RateStats, summary="Statistics of a symbol's rates")
async def stats(
    *,
    request: Request,
    state: State,
    symbol: Annotated[str, Path(max_length=64)],
    dex: Annotated[str | None, Query(description="one dex (default: every active dex)", max_length=64)] = None,
    period: Annotated[str | None, Query(description=PERIOD_HELP, max_length=16)] = None,
    start: Annotated[datetime | None, Query(description="range start (ISO 8601)")] = None,
    end: Annotated[datetime | None, Query(description="range end, exclusive (default now)")] = None,
) -> Response:
    snap = await snapshot(request, state)
    name = check_dex(snap.dexes, dex, "dex")
    sym = await _require_symbol(state, symbol)
    now = state.clock()
    span = time_range(period, start, end, "30d", now)
    start_at, end_at = span.start, span.end
    moving = end is None  # the window follows the clock: [now − period, now + OPEN_END)

    async def load(conn: asyncpg.Connection) -> tuple[repo.HourlySeries, datetime | None]:
        series = await repo.hourly_series(conn, sym, start_at, span.query_end, name)
        upcoming = await repo.first_period_from(conn, sym, span.query_end) if moving else None
        return series, upcoming

    series, upcoming = await state.db.run(load)
    values: list[Decimal] = []
    for hourly in series.by_dex.values():
        values.extend(hourly)  # sorted runs: summarize() sorts them in about one pass
    summary = summarize(values)
    model = RateStats(
        symbol=sym,
        dex_name=name,
        period_days=_period_days(start_at, end_at),
        start=start_at,
        end=end_at,
        statistics=_statistics(summary),
        sample_size=len(values),
        per_dex={d: _statistics(summarize(v)) for d, v in sorted(series.by_dex.items())} if name is None else None,
        period_start=start_at,
        period_end=end_at,
        **_original_stats(summary),
    )
    if not moving:  # a fixed window: the answer holds until the data changes
        return answer(request, state, snap, model, holes=[], now=now, valid_until=None)
    if start is not None:  # a fixed start and a moving end: not cached (the range also grows towards its limit)
        return answer(request, state, snap, model, holes=[], now=now, valid_until=None, store=False)
    # a moving window: the same rows until its start passes the earliest period in it (that one leaves just after)
    # or its end reaches the next period (that one enters just after)
    width = end_at - start_at
    turns = [t for t in (series.first_period and series.first_period + width, upcoming and upcoming - OPEN_END) if t]
    holes: list[Hole] = [
        (("start",), partial(_minus, width)),
        (("end",), instant),
        (("period_start",), partial(_minus, width)),
        (("period_end",), instant),
    ]
    return answer(request, state, snap, model, holes=holes, now=now, valid_until=min(turns, default=None))


def _minus(width: timedelta, now: datetime) -> datetime:
    return now - width
