"""``/dexes``: venues, fees, collection health, listed symbols."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from bot_runtime.funding_api.models import DexDetail, DexList, DexSymbol, DexSymbols
from funding_service.api.errors import ERROR_RESPONSES, not_found
from funding_service.api.params import path_dex
from funding_service.api.state import ServiceState, get_state
from funding_service.api.views import dex_detail, dex_summary
from funding_service.db.repositories import dexes as repo

router = APIRouter(tags=["DEXes"], responses=ERROR_RESPONSES)
State = Annotated[ServiceState, Depends(get_state)]
DexPath = Annotated[str, Path(description="dex name, e.g. lighter", max_length=64)]


@router.get("/dexes", response_model=DexList, summary="Every dex: fees, funding interval, health")
async def list_dexes(state: State) -> DexList:
    rows = await state.db.run(repo.fetch_dexes)
    now = datetime.now(UTC)
    stale = state.settings.stale_after_seconds
    return DexList(dexes=[dex_summary(r, now, stale) for r in rows], count=len(rows))


@router.get("/dexes/{dex}", response_model=DexDetail, summary="One dex with its collection health")
async def get_dex(dex: DexPath, state: State) -> DexDetail:
    name = await path_dex(state, dex)
    rows = await state.db.run(lambda c: repo.fetch_dexes(c, name))
    if not rows:
        raise not_found(f"unknown dex {dex!r}", "dex")
    return dex_detail(rows[0], datetime.now(UTC), state.settings.stale_after_seconds)


@router.get("/dexes/{dex}/symbols", response_model=DexSymbols, summary="Markets of a dex (venue format, liquidity)")
async def dex_symbols(dex: DexPath, state: State) -> DexSymbols:
    name = await path_dex(state, dex)
    rows = await state.db.run(lambda c: repo.fetch_dex_symbols(c, name))
    now = datetime.now(UTC)
    stale = state.settings.stale_after_seconds
    symbols = [
        DexSymbol(
            symbol=r["symbol"],
            dex_symbol_format=r["venue_symbol"],
            multiplier=r["multiplier"],
            is_active=r["is_active"],
            mark_price=r["mark_price"],
            index_price=r["index_price"],
            volume_24h=r["volume_24h_usd"],
            open_interest_usd=r["open_interest_usd"],
            best_bid=r["best_bid"],
            best_ask=r["best_ask"],
            spread_bps=r["spread_bps"],
            min_order_size=r["min_order_size"],
            last_updated=r["updated_at"],
            is_stale=(now - r["updated_at"]).total_seconds() > stale,
        )
        for r in rows
    ]
    return DexSymbols(dex_name=name, symbols=symbols, count=len(symbols))
