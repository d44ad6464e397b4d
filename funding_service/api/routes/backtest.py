"""``POST /backtest/funding-arb``: replay the stored history through a funding-arb bot's strategy
(:mod:`funding_service.backtest`).

A backtest takes seconds of CPU (a month of 2,400 markets: about 5 s): one runs at a time per process, and a second
request meanwhile gets 429 with ``Retry-After`` rather than slowing the service the bots read their rates from."""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends

from bot_runtime.config import ConfigError, FundingArbConfig
from bot_runtime.funding_api.models import ErrorBody
from funding_service.api.errors import ERROR_RESPONSES, ApiError, invalid
from funding_service.api.state import ServiceState, get_state
from funding_service.backtest.history import History, load_history
from funding_service.backtest.models import BacktestRequest, BacktestResult
from funding_service.backtest.replay import run_backtest
from funding_service.backtest.run import check_range, funding_arb_config, needs_liquidity, utc

router = APIRouter(tags=["Backtest"], responses=ERROR_RESPONSES)
State = Annotated[ServiceState, Depends(get_state)]
_RUNNING = threading.Lock()  # held while a backtest loads and runs (a thread lock: it is released from any loop)
BUSY_RETRY_SECONDS = 10


@router.post(
    "/backtest/funding-arb",
    response_model=BacktestResult,
    summary="Backtest a funding-arb bot on the stored history",
    responses={
        400: {"model": ErrorBody, "description": "the body is not JSON"},
        429: {"model": ErrorBody, "description": "another backtest is running; retry after `Retry-After` seconds"},
    },
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

    if not _RUNNING.acquire(blocking=False):
        raise ApiError(
            429,
            "busy",
            "another backtest is running in this service",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )
    try:
        return await _run(state, cfg, start, end, step)
    finally:
        _RUNNING.release()


async def _run(
    state: ServiceState, cfg: FundingArbConfig, start: datetime, end: datetime, step: timedelta
) -> BacktestResult:
    async def load(conn: asyncpg.Connection) -> History:
        return await load_history(conn, cfg.exchanges, cfg.symbols or None, start, end, liquidity=needs_liquidity(cfg))

    history = await state.db.run(load)
    return await asyncio.to_thread(run_backtest, cfg, history, start, end, step)  # CPU-bound: off the event loop
