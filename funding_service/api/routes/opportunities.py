"""``/opportunities``: every filter of the original plus min_net_apr, position_size_usd, hold_hours, symbols."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from bot_runtime.funding_api.models import BestOpportunity, Opportunities, SymbolOpportunities
from funding_service.api.answers import CachedRoute, answer, snapshot
from funding_service.api.encoded import Hole
from funding_service.api.errors import ERROR_RESPONSES, invalid, not_found
from funding_service.api.params import check_dex, check_dexes, path_symbol, query_symbol, query_symbols
from funding_service.api.state import ServiceState, get_state
from funding_service.api.views import instant, opportunities_holes, opportunity_holes, opportunity_row
from funding_service.core import opportunities as finder
from funding_service.core.fees import FeeMode
from funding_service.core.opportunities import SortField
from funding_service.db.repositories import dexes as dex_repo

router = APIRouter(tags=["Opportunities"], responses=ERROR_RESPONSES, route_class=CachedRoute)
State = Annotated[ServiceState, Depends(get_state)]

LIMIT_HELP = "number of rows (1..100)"


@dataclass(frozen=True)
class OpportunityQuery:
    """The filters and valuation parameters shared by the three opportunity endpoints (parsed, not yet checked
    against the registered dexes)."""

    raw: dict[str, Any]


async def _common(
    *,
    dex: Annotated[str | None, Query(description="on either leg", max_length=64)] = None,
    dex_pair: Annotated[
        str | None, Query(description="exactly these two dexes, any direction: a,b", max_length=200)
    ] = None,
    dexes: Annotated[
        str | None, Query(description="at least one leg among these (comma-separated)", max_length=1024)
    ] = None,
    whitelist_dexes: Annotated[str | None, Query(description="both legs among these", max_length=1024)] = None,
    include_dexes: Annotated[
        str | None, Query(description="alias of whitelist_dexes (older clients)", max_length=1024)
    ] = None,
    exclude_dexes: Annotated[str | None, Query(description="no leg among these", max_length=1024)] = None,
    required_dex: Annotated[str | None, Query(description="this dex on one leg", max_length=64)] = None,
    long_dex: Annotated[str | None, Query(description="long leg on this dex", max_length=64)] = None,
    short_dex: Annotated[str | None, Query(description="short leg on this dex", max_length=64)] = None,
    min_divergence: Annotated[
        Decimal, Query(ge=-1, le=1, description="minimum spread per 8 h (hourly spread × 8), original default 0.0001")
    ] = Decimal("0.0001"),
    min_profit: Annotated[
        Decimal, Query(ge=-1, le=1000, description="minimum net return over hold_hours (fraction), default 0")
    ] = Decimal(0),
    min_net_apr: Annotated[
        Decimal | None, Query(ge=-1000, le=1000, description="minimum net APR (0.15 = 15 %)")
    ] = None,
    min_volume: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e15"), description="min 24h volume USD, both legs")
    ] = None,
    max_volume: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e15"), description="max of the smaller 24h volume")
    ] = None,
    min_oi: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e15"), description="min open interest USD, both legs")
    ] = None,
    max_oi: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e15"), description="max OI (of required_dex's leg, else the smaller)")
    ] = None,
    oi_ratio_min: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e9"), description="min long/short OI ratio")
    ] = None,
    oi_ratio_max: Annotated[
        Decimal | None, Query(ge=0, le=Decimal("1e9"), description="max long/short OI ratio")
    ] = None,
    max_spread: Annotated[Decimal | None, Query(ge=0, le=100000, description="max average bid/ask spread, bps")] = None,
    max_price_divergence_pct: Annotated[
        Decimal | None, Query(ge=0, le=100000, description="max |price spread| between the venues, percent")
    ] = None,
    position_size_usd: Annotated[
        Decimal | None, Query(gt=0, le=Decimal("1e12"), description="notional per leg for the USD figures")
    ] = None,
    hold_hours: Annotated[
        Decimal | None, Query(gt=0, le=8760, description="horizon over which fees are amortised")
    ] = None,
    fee_mode: Annotated[FeeMode | None, Query(description="taker (default) or maker fees")] = None,
    include_stale: Annotated[
        bool, Query(description="also pairs with data older than the stale limit (flagged)")
    ] = False,
) -> OpportunityQuery:
    return OpportunityQuery(raw=dict(locals()))


Common = Annotated[OpportunityQuery, Depends(_common)]


def _build(
    state: ServiceState, known: Mapping[str, bool], q: OpportunityQuery, symbols: frozenset[str] | None
) -> tuple[finder.Filters, finder.Params, dict[str, Any]]:
    r = q.raw
    pair = check_dexes(known, r["dex_pair"], "dex_pair")
    if pair is not None and len(pair) != 2:
        raise invalid("dex_pair", "give exactly two different dexes: a,b")
    whitelist = check_dexes(known, r["whitelist_dexes"], "whitelist_dexes")
    include = check_dexes(known, r["include_dexes"], "include_dexes")
    if include is not None:
        whitelist = include if whitelist is None else whitelist & include
    filters = finder.Filters(
        symbols=symbols,
        dex=check_dex(known, r["dex"], "dex"),
        dex_pair=pair,
        dexes=check_dexes(known, r["dexes"], "dexes"),
        whitelist_dexes=whitelist,
        exclude_dexes=check_dexes(known, r["exclude_dexes"], "exclude_dexes") or frozenset(),
        required_dex=check_dex(known, r["required_dex"], "required_dex"),
        long_dex=check_dex(known, r["long_dex"], "long_dex"),
        short_dex=check_dex(known, r["short_dex"], "short_dex"),
        min_divergence=r["min_divergence"],
        min_profit=r["min_profit"],
        min_net_apr=r["min_net_apr"],
        min_volume=r["min_volume"],
        max_volume=r["max_volume"],
        min_oi=r["min_oi"],
        max_oi=r["max_oi"],
        oi_ratio_min=r["oi_ratio_min"],
        oi_ratio_max=r["oi_ratio_max"],
        max_spread_bps=r["max_spread"],
        max_price_divergence_pct=r["max_price_divergence_pct"],
        include_stale=r["include_stale"],
    )
    s = state.settings
    params = finder.Params(
        hold_hours=r["hold_hours"] or s.default_hold_hours,
        position_size_usd=r["position_size_usd"] or s.default_position_size_usd,
        fee_mode=r["fee_mode"] or s.fee_mode,
        stale_after_seconds=s.stale_after_seconds,
    )
    applied = {k: _plain(v) for k, v in r.items() if v is not None}
    applied.update(
        hold_hours=str(params.hold_hours),
        position_size_usd=str(params.position_size_usd),
        fee_mode=params.fee_mode,
        stale_after_seconds=params.stale_after_seconds,
    )
    if symbols is not None:
        applied["symbols"] = sorted(symbols)
    return filters, params, applied


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@router.get("/opportunities", response_model=Opportunities, summary="Ranked funding-arbitrage opportunities")
async def opportunities(
    *,
    request: Request,
    state: State,
    common: Common,
    symbol: Annotated[str | None, Query(description="one symbol", max_length=64)] = None,
    symbols: Annotated[str | None, Query(description="several symbols, comma-separated", max_length=4096)] = None,
    limit: Annotated[int, Query(ge=1, le=100, description=LIMIT_HELP)] = 10,
    sort_by: Annotated[
        SortField, Query(description="sort field (rows without a value go last)")
    ] = "net_profit_percent",
    sort_desc: Annotated[bool, Query(description="descending")] = True,
) -> Response:
    wanted = query_symbols(symbols)
    one = query_symbol(symbol)
    if one is not None:
        wanted = frozenset({one}) if wanted is None else wanted & {one}
    snap = await snapshot(request, state)
    filters, params, applied = _build(state, snap.dexes, common, wanted)
    applied.update(limit=limit, sort_by=sort_by, sort_desc=sort_desc)
    now = state.clock()
    result = finder.find(snap.legs, params, now, filters, sort_by=sort_by, desc=sort_desc, limit=limit)
    model = Opportunities(
        opportunities=[opportunity_row(o, now) for o in result.opportunities],
        total_count=len(result.opportunities),
        matched_count=result.matched,
        stale_excluded=result.stale_excluded,
        filters_applied=applied,
        generated_at=now,
    )
    holes = opportunities_holes("opportunities", result.opportunities, params.stale_after_seconds)
    return answer(request, state, snap, model, holes=holes, now=now, valid_until=snap.next_turn(now))


@router.get("/opportunities/best", response_model=BestOpportunity, summary="The single best opportunity")
async def best(
    *,
    request: Request,
    state: State,
    common: Common,
    symbol: Annotated[str | None, Query(description="one symbol", max_length=64)] = None,
    symbols: Annotated[str | None, Query(description="several symbols, comma-separated", max_length=4096)] = None,
    sort_by: Annotated[SortField, Query(description="what 'best' means")] = "net_profit_percent",
) -> Response:
    wanted = query_symbols(symbols)
    one = query_symbol(symbol)
    if one is not None:
        wanted = frozenset({one}) if wanted is None else wanted & {one}
    snap = await snapshot(request, state)
    filters, params, _ = _build(state, snap.dexes, common, wanted)
    now = state.clock()
    result = finder.find(snap.legs, params, now, filters, sort_by=sort_by, desc=True, limit=1)
    if not result.opportunities:
        model = BestOpportunity(
            opportunity=None, rank=None, message="No opportunity matches the filters", generated_at=now
        )
        holes: list[Hole] = [(("generated_at",), instant)]
    else:
        top = result.opportunities[0]
        model = BestOpportunity(opportunity=opportunity_row(top, now), rank=1, generated_at=now)
        holes = [(("generated_at",), instant), *opportunity_holes(("opportunity",), top, params.stale_after_seconds)]
    return answer(request, state, snap, model, holes=holes, now=now, valid_until=snap.next_turn(now))


@router.get("/opportunities/symbol/{symbol}", response_model=SymbolOpportunities, summary="Opportunities of one symbol")
async def for_symbol(
    *,
    request: Request,
    state: State,
    common: Common,
    symbol: Annotated[str, Path(description="symbol (normalised)", max_length=64)],
    limit: Annotated[int, Query(ge=1, le=100, description=LIMIT_HELP)] = 10,
    sort_by: Annotated[SortField, Query(description="sort field")] = "net_profit_percent",
    sort_desc: Annotated[bool, Query(description="descending")] = True,
) -> SymbolOpportunities:
    sym = path_symbol(symbol)
    snap = await snapshot(request, state)
    filters, params, _ = _build(state, snap.dexes, common, frozenset({sym}))
    legs = snap.legs
    if not any(leg.symbol == sym for leg in legs) and not await state.db.run(lambda c: dex_repo.symbol_exists(c, sym)):
        raise not_found(f"unknown symbol {symbol!r}", "symbol")
    now = state.clock()
    result = finder.find(legs, params, now, filters, sort_by=sort_by, desc=sort_desc, limit=limit)
    rows = [opportunity_row(o, now) for o in result.opportunities]
    return SymbolOpportunities(symbol=sym, opportunities=rows, count=len(rows), generated_at=now)
