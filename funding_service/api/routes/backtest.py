"""``POST /backtest/funding-arb``: replay the stored history through a funding-arb bot's strategy
(:mod:`funding_service.backtest`)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends

from bot_runtime.config import ConfigError
from bot_runtime.funding_api.models import ErrorBody
from funding_service.api.errors import ERROR_RESPONSES, invalid
from funding_service.api.state import ServiceState, get_state
from funding_service.backtest.history import History, load_history
from funding_service.backtest.models import BacktestRequest, BacktestResult
from funding_service.backtest.replay import run_backtest
from funding_service.backtest.run import check_range, funding_arb_config, needs_liquidity, utc

router = APIRouter(tags=["Backtest"], responses=ERROR_RESPONSES)
State = Annotated[ServiceState, Depends(get_state)]


@router.post(
    "/backtest/funding-arb",
    response_model=BacktestResult,
    summary="Backtest a funding-arb bot on the stored history",
    responses={400: {"model": ErrorBody, "description": "the body is not JSON"}},
    description="Each pair's entry, exit, reason, funding, fees and net PnL; totals; the cumulative PnL per step. "
    "The bot's own selection, sizing and exit code runs on the rates the service held at each step.",
)
async def funding_arb(body: BacktestRequest, state: State) -> BacktestResult:
    try:
        cfg = funding_arb_config(body.bot)
    except ConfigError as exc:
        raise invalid("bot", str(exc)) from None
    start, end = utc(body.start), utc(body.end)
    step = timedelta(minutes=body.step_minutes)
    try:
        check_range(start, end, step)
    except ValueError as exc:
        raise invalid("to", str(exc)) from None

    async def load(conn: asyncpg.Connection) -> History:
        return await load_history(conn, cfg.exchanges, cfg.symbols or None, start, end, liquidity=needs_liquidity(cfg))

    history = await state.db.run(load)
    return await asyncio.to_thread(run_backtest, cfg, history, start, end, step)  # CPU-bound: off the event loop
