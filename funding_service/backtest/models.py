"""The backtest's request and answer (``POST /api/v1/backtest/funding-arb``; the CLI prints the same answer)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot_runtime.funding_api.models import Dec


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot: dict[str, Any] = Field(
        description="a TradingBot manifest or its spec (camelCase, as in bot.yaml) with strategy fundingArb"
    )
    start: datetime = Field(alias="from", description="first step (ISO 8601; UTC when no offset)")
    end: datetime = Field(alias="to", description="last step; pairs still open then are closed at its marks")
    step_minutes: int = Field(default=60, ge=1, le=1440, description="time between two strategy cycles")


class PairResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    long_dex: str
    short_dex: str
    opened_at: datetime
    closed_at: datetime
    exit_reason: str = Field(description="the bot's ExitReason (shutdown: still open at the end)")
    exit_detail: str
    base_size: Dec = Field(description="base units on each leg")
    entry_notional_usd: Dec = Field(description="one leg's notional at entry")
    entry_net_apr: Dec
    funding_payments: int = Field(description="funding settlements booked (both legs)")
    funding_usd: Dec = Field(description="funding received (+) or paid (−), both legs")
    fees_usd: Dec = Field(description="entry and exit fees, both legs")
    price_pnl_usd: Dec = Field(description="both legs' price PnL between entry and exit marks")
    net_pnl_usd: Dec


class Totals(BaseModel):
    model_config = ConfigDict(frozen=True)

    pairs: int
    funding_usd: Dec
    fees_usd: Dec
    price_pnl_usd: Dec
    net_pnl_usd: Dec
    capital_usd: Dec = Field(
        description="maxPositions × 2 legs × positionSizeUsd (sizing.mode margin: × sizing.marginUsd)"
    )
    apr_on_capital: Dec = Field(description="net PnL / capital, annualised over the replayed hours")
    max_concurrent_pairs: int
    turnover_usd: Dec = Field(description="notional traded: entries and exits, both legs")
    hours: Dec
    steps: int
    history_rows: int


class CurvePoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    time: datetime
    pnl_usd: Dec = Field(description="closed pairs' net PnL + open pairs' funding − fees + price PnL at the marks")


class BacktestResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    step_minutes: int
    exchanges: list[str]
    pairs: list[PairResult]
    totals: Totals
    curve: list[CurvePoint]
    assumptions: list[str]
