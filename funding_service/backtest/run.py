"""A backtest from a bot's spec and a date range: read the stored history, replay it (shared by the CLI and the
API)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bot_runtime.config import ConfigError, FundingArbConfig, parse_config
from funding_service.backtest.history import load_history
from funding_service.backtest.models import BacktestResult
from funding_service.backtest.replay import run_backtest

#: the longest range one backtest replays (the service keeps 90 days of rates by default)
MAX_RANGE = timedelta(days=366)


def funding_arb_config(bot: Mapping[str, Any]) -> FundingArbConfig:
    """The ``fundingArb`` section of a TradingBot manifest or spec; :class:`ConfigError` when it has none."""
    config = parse_config(bot, require_credentials=False)
    if config.funding_arb is None:
        raise ConfigError("spec.fundingArb: a backtest needs a fundingArb bot")
    return config.funding_arb


def needs_liquidity(cfg: FundingArbConfig) -> bool:
    """Does the bot filter on open interest or volume (else the backtest does not read them)?"""
    return cfg.min_oi_usd is not None or cfg.max_oi_usd is not None or cfg.min_volume24h_usd is not None


def utc(value: datetime) -> datetime:
    """A naive instant is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: the most cycles one backtest runs (a year hourly, two weeks minute by minute)
MAX_STEPS = 20_000
YEARS = (2000, 2100)


def check_range(start: datetime, end: datetime, step: timedelta = timedelta(hours=1)) -> None:
    """ValueError unless ``start`` ≤ ``end`` within :data:`MAX_RANGE`, :data:`YEARS` and :data:`MAX_STEPS` steps."""
    if not (YEARS[0] <= start.year <= YEARS[1] and YEARS[0] <= end.year <= YEARS[1]):
        raise ValueError(f"'from' and 'to' must lie within the years {YEARS[0]}-{YEARS[1]}")
    if end < start:
        raise ValueError("'to' is before 'from'")
    if end - start > MAX_RANGE:
        raise ValueError(f"a backtest covers at most {MAX_RANGE.days} days")
    if step <= timedelta(0) or (end - start) / step >= MAX_STEPS:
        raise ValueError(f"a backtest runs at most {MAX_STEPS} cycles: a longer step or a shorter range")


async def backtest(
    conn: asyncpg.Connection, cfg: FundingArbConfig, start: datetime, end: datetime, step: timedelta
) -> BacktestResult:
    """Replay ``[start, end]`` of the history stored in ``conn``'s database through ``cfg``'s strategy."""
    start, end = utc(start), utc(end)
    check_range(start, end, step)
    history = await load_history(conn, cfg.exchanges, cfg.symbols or None, start, end, liquidity=needs_liquidity(cfg))
    return await asyncio.to_thread(run_backtest, cfg, history, start, end, step)  # CPU-bound: off the event loop
