"""What the dashboard shows, computed by the service's own code paths (never a second implementation):

- the table is the answer of the ``/api/v1/opportunities`` handler for :meth:`PageQuery.api_params`;
- the chart is, per venue listing the symbol, the hourly buckets of ``/history/funding-rates/{dex}/{symbol}`` over
  ``days`` back from now (the current period included, as the API does without ``end``): ``apr = avg(rate /
  interval_hours) x 8760`` per bucket;
- venue health is ``/health``'s per-dex rows.

Each part fails on its own: a bad filter, or a database that is down, is reported in its section of the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg
from fastapi import Request

from bot_runtime.funding_api.models import DexHealthRow, Opportunities
from funding_service.api.answers import snapshot
from funding_service.api.errors import ApiError
from funding_service.api.params import time_range
from funding_service.api.routes import opportunities as opportunities_route
from funding_service.api.state import ServiceState
from funding_service.api.views import dex_health_row
from funding_service.core.rates import apr
from funding_service.db.pool import DatabaseUnavailable
from funding_service.db.repositories import dexes as dex_repo
from funding_service.db.repositories import rates as rates_repo
from funding_service.ui.query import PageQuery

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Series:
    dex: str
    points: list[tuple[datetime, Decimal]]  # (bucket start, APR as a fraction), ascending


@dataclass(frozen=True)
class Chart:
    symbol: str
    start: datetime
    end: datetime  # exclusive bound on the settlement time (the API's query end)
    series: list[Series]


@dataclass
class Dashboard:
    query: PageQuery
    now: datetime
    table: Opportunities | None = None
    table_error: str | None = None
    symbols: list[str] = field(default_factory=list)  # every symbol with a latest rate (the chart's choices)
    chart: Chart | None = None
    chart_error: str | None = None
    venues: list[DexHealthRow] = field(default_factory=list)
    venues_error: str | None = None


async def load(request: Request, state: ServiceState, query: PageQuery) -> Dashboard:
    now = state.clock()
    page = Dashboard(query=query, now=now)
    try:
        snap = await snapshot(request, state)
    except DatabaseUnavailable as exc:
        page.table_error = page.chart_error = page.venues_error = f"the funding database is unavailable ({exc.reason})"
        return page
    page.symbols = sorted(snap.symbols)
    try:
        page.table = await _opportunities(request, state, query)
    except ApiError as exc:
        page.table_error = exc.message
    except DatabaseUnavailable as exc:
        page.table_error = f"the funding database is unavailable ({exc.reason})"
    charted = (
        query.chart
        or query.symbol
        or (page.table.opportunities[0].symbol if page.table and page.table.opportunities else None)
    )
    if charted is not None:
        charted = charted.upper()
        venues = sorted({leg.dex for leg in snap.legs if leg.symbol == charted})
        if not venues:
            page.chart_error = f"no venue lists {charted} (symbols are canonical base assets, e.g. BTC)"
        else:
            try:
                page.chart = await _chart(state, charted, venues, query.days, now)
            except DatabaseUnavailable as exc:
                page.chart_error = f"the funding database is unavailable ({exc.reason})"
    try:
        rows = await state.db.run(dex_repo.fetch_dexes)
        stale = state.settings.stale_after_seconds
        page.venues = [dex_health_row(r, now, stale) for r in rows if r["is_active"]]
    except DatabaseUnavailable as exc:
        page.venues_error = f"the funding database is unavailable ({exc.reason})"
    return page


async def _opportunities(request: Request, state: ServiceState, q: PageQuery) -> Opportunities:
    common = await opportunities_route._common(
        dex=q.dex,
        min_net_apr=q.min_net_apr,
        hold_hours=q.hold_hours,
        position_size_usd=q.position_size_usd,
        include_stale=q.include_stale,
    )
    response = await opportunities_route.opportunities(
        request=request,
        state=state,
        common=common,
        symbol=q.symbol,
        symbols=None,
        limit=q.limit,
        sort_by=q.sort_by,
        sort_desc=q.sort_desc,
    )
    return Opportunities.model_validate_json(bytes(response.body))


async def _chart(state: ServiceState, symbol: str, venues: list[str], days: int, now: datetime) -> Chart:
    span = time_range(f"{days}d", None, None, "7d", now)
    start, end = span.start, span.query_end
    limit = int((end - start) / HOUR) + 2

    async def read(conn: asyncpg.Connection) -> list[Series]:
        out = []
        for dex in venues:
            rows = await rates_repo.history_buckets(
                conn, dex=dex, symbol=symbol, start=start, end=end, bucket=HOUR, limit=limit, desc=False
            )
            out.append(Series(dex=dex, points=[(r["time"], apr(r["hourly"])) for r in rows]))
        return out

    return Chart(symbol=symbol, start=start, end=end, series=await state.db.run(read))
