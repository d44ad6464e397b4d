"""``/funding-rates``: latest rates (the original's shapes), per dex, per pair, and a two-venue comparison."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from bot_runtime.funding_api.models import (
    CompareLeg,
    DexMetadata,
    DexRates,
    LatestRates,
    PairRate,
    RateComparison,
    RateDetail,
)
from funding_service.api.answers import CachedRoute, answer, snapshot
from funding_service.api.encoded import Hole
from funding_service.api.errors import ERROR_RESPONSES, invalid, not_found
from funding_service.api.params import check_dex, check_path_dex, path_symbol, query_symbol
from funding_service.api.state import ServiceState, get_state
from funding_service.api.views import dex_rate_entry, instant, rate_detail, rate_detail_holes
from funding_service.core import opportunities as finder
from funding_service.core.fees import FeeMode
from funding_service.core.rates import BPS, ORIGINAL_INTERVAL_HOURS
from funding_service.db.repositories import rates as repo

# every route reads the in-process latest rates (funding_service.api.state); ``/funding-rates`` caches its answers
router = APIRouter(tags=["Funding rates"], responses=ERROR_RESPONSES, route_class=CachedRoute)
State = Annotated[ServiceState, Depends(get_state)]
DexPath = Annotated[str, Path(description="dex name, e.g. lighter", max_length=64)]
SymbolPath = Annotated[str, Path(description="symbol: BTC, btc, BTC-PERP, 1000PEPE… (normalised)", max_length=64)]


@router.get("/funding-rates", response_model=LatestRates, summary="Latest rate of every (symbol, dex)")
async def latest_rates(
    request: Request,
    state: State,
    dex: Annotated[str | None, Query(description="only this dex", max_length=64)] = None,
    symbol: Annotated[str | None, Query(description="only this symbol", max_length=64)] = None,
    include_metadata: Annotated[bool, Query(description="add dex fees and per-rate interval/APR/freshness")] = False,
) -> Response:
    snap = await snapshot(request, state)
    dex_name = check_dex(snap.dexes, dex, "dex")
    sym = query_symbol(symbol)
    rows = snap.rows
    if dex_name is not None or sym is not None:
        rows = [r for r in rows if (dex_name is None or r["dex"] == dex_name) and (sym is None or r["symbol"] == sym)]
    now = state.clock()
    stale = state.settings.stale_after_seconds
    data: dict[str, dict[str, Decimal]] = {}
    details: dict[str, dict[str, RateDetail]] = {}
    holes: list[Hole] = []
    for r in rows:
        data.setdefault(r["symbol"], {})[r["dex"]] = r["rate"]
        if include_metadata:
            details.setdefault(r["symbol"], {})[r["dex"]] = rate_detail(r, now, stale)
            holes.extend(rate_detail_holes(("details", r["symbol"], r["dex"]), r["collected_at"], stale))
    if not rows:
        holes.append((("updated_at",), instant))
    updated = max((r["collected_at"] for r in rows), default=now)
    metadata: dict[str, DexMetadata] | None = None
    if include_metadata:
        metadata = {
            d["name"]: DexMetadata(
                name=d["name"],
                display_name=d["display_name"],
                maker_fee=d["maker_fee"],
                taker_fee=d["taker_fee"],
                maker_fee_percent=d["maker_fee"],
                taker_fee_percent=d["taker_fee"],
                funding_interval_hours=d["funding_interval_hours"],
            )
            for d in snap.dex_rows
            if d["is_active"]
        }
    model = LatestRates(
        data=data,
        updated_at=updated,
        count=len(rows),
        dex_metadata=metadata,
        details=details if include_metadata else None,
    )
    return answer(request, state, snap, model, holes=holes, now=now, valid_until=None)


@router.get("/funding-rates/compare", response_model=RateComparison, summary="Compare one symbol on two dexes")
async def compare(
    *,
    request: Request,
    state: State,
    symbol: Annotated[str, Query(description="symbol to compare, e.g. BTC", max_length=64)],
    dex1: Annotated[str, Query(description="first dex", max_length=64)],
    dex2: Annotated[str, Query(description="second dex", max_length=64)],
    hold_hours: Annotated[Decimal | None, Query(gt=0, le=8760, description="fee amortisation horizon")] = None,
    fee_mode: Annotated[FeeMode | None, Query(description="taker (default) or maker fees")] = None,
) -> RateComparison:
    snap = await snapshot(request, state)
    name1 = check_path_dex(snap.dexes, dex1, "dex1")
    name2 = check_path_dex(snap.dexes, dex2, "dex2")
    if name1 == name2:
        raise invalid("dex2", "must differ from dex1")
    sym = path_symbol(symbol)
    rows = {r["dex"]: r for r in snap.rows if r["symbol"] == sym and r["dex"] in (name1, name2)}
    for name, param in ((name1, "dex1"), (name2, "dex2")):
        if name not in rows:
            raise not_found(f"no funding rate for {sym} on {name}", param)
    legs = {name: repo.leg_from_record(rows[name]) for name in (name1, name2)}
    s = state.settings
    params = finder.Params(
        hold_hours=hold_hours or s.default_hold_hours,
        position_size_usd=s.default_position_size_usd,
        fee_mode=fee_mode or s.fee_mode,
        stale_after_seconds=s.stale_after_seconds,
    )
    now = state.clock()
    opp = finder.evaluate(legs[name1], legs[name2], params, now)

    def leg(name: str) -> CompareLeg:
        lg = legs[name]
        return CompareLeg(
            name=name,
            funding_rate=lg.rate,
            interval_hours=lg.interval_hours,
            hourly_rate=lg.hourly_rate,
            annualized_rate=lg.apr,
            mark_price=lg.mark_price,
            next_funding_time=lg.next_funding_time,
            timestamp=lg.collected_at,
        )

    return RateComparison(
        symbol=sym,
        dex1=leg(name1),
        dex2=leg(name2),
        divergence=opp.divergence,
        divergence_bps=opp.divergence * BPS,
        divergence_hourly=opp.spread_hourly,
        long_recommendation=opp.long.dex,
        short_recommendation=opp.short.dex,
        estimated_net_profit_8h=opp.spread_hourly * ORIGINAL_INTERVAL_HOURS,
        gross_apr=opp.gross_apr,
        fee_mode=opp.fee_mode,
        estimated_fees=opp.fees,
        hold_hours=opp.hold_hours,
        net_apr=opp.net_apr,
        break_even_hours=opp.break_even_hours,
        price_spread_pct=opp.price_spread_pct,
        timestamp=now,
    )


@router.get("/funding-rates/{dex}", response_model=DexRates, summary="Latest rates of one dex")
async def dex_rates(request: Request, dex: DexPath, state: State) -> DexRates:
    snap = await snapshot(request, state)
    name = check_path_dex(snap.dexes, dex)
    rows = [r for r in snap.rows if r["dex"] == name]
    now = state.clock()
    stale = state.settings.stale_after_seconds
    return DexRates(
        dex_name=name,
        rates={r["symbol"]: dex_rate_entry(r, now, stale) for r in rows},
        updated_at=max((r["collected_at"] for r in rows), default=now),
        count=len(rows),
    )


@router.get("/funding-rates/{dex}/{symbol}", response_model=PairRate, summary="Latest rate of one symbol on one dex")
async def pair_rate(request: Request, dex: DexPath, symbol: SymbolPath, state: State) -> PairRate:
    snap = await snapshot(request, state)
    name = check_path_dex(snap.dexes, dex)
    sym = path_symbol(symbol)
    rows = [r for r in snap.rows if r["dex"] == name and r["symbol"] == sym]
    if not rows:
        raise not_found(f"no funding rate for {sym} on {name}", "symbol")
    r = rows[0]
    now = state.clock()
    return PairRate(
        **dex_rate_entry(r, now, state.settings.stale_after_seconds).model_dump(),
        dex_name=name,
        symbol=sym,
        best_bid=r["best_bid"],
        best_ask=r["best_ask"],
        funding_time=r["funding_time"],
    )
