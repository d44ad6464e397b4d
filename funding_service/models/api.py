"""Response bodies of the read API (pure pydantic: the client parses them without FastAPI).

Units: rates and fees are fractions (``0.0001`` = 1 bp = 0.01 %); ``*_apr`` are simple annualised fractions
(``0.10`` = 10 %/year); ``annualized_apy`` is the original service's percent figure (net APR × 100). Decimals are
serialised as JSON strings so no digit is lost (``Decimal(value)`` on the client side).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from funding_service.core.health import HealthStatus


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorBody(_Out):
    """Every error: a stable code, a human message, the offending parameter when there is one."""

    error: str = Field(description="stable machine-readable code, e.g. invalid_parameter, not_found")
    message: str
    parameter: str | None = Field(default=None, description="the query/path/body field at fault")
    details: list[dict[str, Any]] | None = None
    retry_after_seconds: int | None = None


# --- dexes --------------------------------------------------------------------------------------------------------


class FeeStructure(_Out):
    maker_fee: Decimal = Field(description="fraction per trade; negative = rebate")
    taker_fee: Decimal
    maker_fee_percent: Decimal = Field(description="original field name: the same FRACTION as maker_fee")
    taker_fee_percent: Decimal = Field(description="original field name: the same FRACTION as taker_fee")
    has_fee_tiers: bool = False


class DexHealth(_Out):
    status: HealthStatus
    is_healthy: bool
    last_successful_fetch: datetime | None
    time_since_fetch_seconds: float | None
    consecutive_errors: int
    last_error: str | None
    last_error_at: datetime | None
    last_cycle_at: datetime | None
    last_markets_fetched: int | None
    last_latency_ms: Decimal | None
    latest_data_at: datetime | None
    data_age_seconds: float | None


class DexSummary(_Out):
    name: str
    display_name: str
    is_active: bool
    is_paper: bool
    funding_interval_hours: Decimal = Field(description="default interval; each rate carries its own")
    fee_structure: FeeStructure
    supported_symbols_count: int
    last_successful_fetch: datetime | None
    last_error: str | None
    consecutive_errors: int
    is_healthy: bool


class DexList(_Out):
    dexes: list[DexSummary]
    count: int


class DexDetail(DexSummary):
    api_base_url: str | None
    health: DexHealth
    created_at: datetime
    updated_at: datetime


class DexSymbol(_Out):
    symbol: str
    dex_symbol_format: str = Field(description="the venue's own market name")
    multiplier: Decimal = Field(description="base units per contract unit (1000PEPE → 1000)")
    is_active: bool
    mark_price: Decimal | None
    index_price: Decimal | None
    volume_24h: Decimal | None
    open_interest_usd: Decimal | None
    best_bid: Decimal | None
    best_ask: Decimal | None
    spread_bps: Decimal | None
    last_updated: datetime
    is_stale: bool


class DexSymbols(_Out):
    dex_name: str
    symbols: list[DexSymbol]
    count: int


# --- funding rates -------------------------------------------------------------------------------------------------


class RateDetail(_Out):
    funding_rate: Decimal = Field(description="raw rate per interval")
    interval_hours: Decimal
    hourly_rate: Decimal
    annualized_rate: Decimal = Field(description="APR: hourly × 8760 (fraction)")
    next_funding_time: datetime | None
    timestamp: datetime = Field(description="when the collector read it")
    data_age_seconds: float
    is_stale: bool


class DexMetadata(_Out):
    name: str
    display_name: str
    maker_fee: Decimal
    taker_fee: Decimal
    maker_fee_percent: Decimal = Field(description="original field name: a fraction")
    taker_fee_percent: Decimal = Field(description="original field name: a fraction")
    funding_interval_hours: Decimal


class LatestRates(_Out):
    data: dict[str, dict[str, Decimal]] = Field(description="{SYMBOL: {dex: raw rate}} (the original shape)")
    updated_at: datetime
    count: int
    dex_metadata: dict[str, DexMetadata] | None = Field(default=None, description="with include_metadata=true")
    details: dict[str, dict[str, RateDetail]] | None = Field(
        default=None, description="with include_metadata=true: interval, hourly rate, APR, freshness per rate"
    )


class DexRateEntry(RateDetail):
    venue_symbol: str
    multiplier: Decimal
    mark_price: Decimal | None
    index_price: Decimal | None
    volume_24h: Decimal | None
    open_interest_usd: Decimal | None


class DexRates(_Out):
    dex_name: str
    rates: dict[str, DexRateEntry]
    updated_at: datetime
    count: int


class PairRate(DexRateEntry):
    dex_name: str
    symbol: str
    best_bid: Decimal | None
    best_ask: Decimal | None
    funding_time: datetime = Field(description="settlement time of the period this rate applies to")


class CompareLeg(_Out):
    name: str
    funding_rate: Decimal
    interval_hours: Decimal
    hourly_rate: Decimal
    annualized_rate: Decimal
    mark_price: Decimal | None
    next_funding_time: datetime | None
    timestamp: datetime


class RateComparison(_Out):
    symbol: str
    dex1: CompareLeg
    dex2: CompareLeg
    divergence: Decimal = Field(description="|hourly spread| × 8 (per-8h, the original's unit)")
    divergence_bps: Decimal
    divergence_hourly: Decimal
    long_recommendation: str
    short_recommendation: str
    estimated_net_profit_8h: Decimal = Field(description="funding spread earned per 8 h, before fees")
    gross_apr: Decimal
    fee_mode: str
    estimated_fees: Decimal
    hold_hours: Decimal
    net_apr: Decimal
    break_even_hours: Decimal | None
    price_spread_pct: Decimal | None
    timestamp: datetime


# --- history -------------------------------------------------------------------------------------------------------


class HistoryPoint(_Out):
    time: datetime = Field(description="funding period settlement time (bucket start when bucketed)")
    funding_rate: Decimal = Field(description="raw rate (bucket: mean raw rate)")
    interval_hours: Decimal | None = Field(description="None in a bucket mixing intervals")
    hourly_rate: Decimal
    annualized_rate: Decimal
    min_hourly_rate: Decimal | None = None
    max_hourly_rate: Decimal | None = None
    samples: int = 1
    mark_price: Decimal | None = None
    open_interest_usd: Decimal | None = None


class HistoryStats(_Out):
    average: Decimal | None
    median: Decimal | None
    min: Decimal | None
    max: Decimal | None
    volatility: Decimal | None = Field(description="sample standard deviation of the hourly rate")


class History(_Out):
    symbol: str
    dex_name: str
    period_days: Decimal
    start: datetime
    end: datetime
    bucket: str | None
    data_points: list[HistoryPoint]
    count: int
    stats: HistoryStats
    unit: Literal["hourly"] = "hourly"


class Statistics(_Out):
    average: Decimal | None
    median: Decimal | None
    min: Decimal | None
    max: Decimal | None
    stdev: Decimal | None
    volatility: Decimal | None = Field(description="original: stdev / |mean| (same as stability)")
    stability: Decimal | None = Field(description="coefficient of variation stdev / |mean|; lower = steadier")
    percentile_25: Decimal | None
    percentile_75: Decimal | None
    positive_share: Decimal | None = Field(description="fraction of periods with a positive rate")
    annualized_apr: Decimal | None = Field(description="mean hourly × 8760 (fraction)")
    annualized_apy: Decimal | None = Field(description="the same in percent (original field)")


class RateStats(_Out):
    symbol: str
    dex_name: str | None
    period_days: Decimal
    start: datetime
    end: datetime
    unit: Literal["hourly"] = "hourly"
    statistics: Statistics
    sample_size: int
    per_dex: dict[str, Statistics] | None = Field(default=None, description="when no dex is given")


# --- opportunities -------------------------------------------------------------------------------------------------


class OpportunityRow(_Out):
    symbol: str
    long_dex: str
    short_dex: str
    long_rate: Decimal
    short_rate: Decimal
    long_interval_hours: Decimal
    short_interval_hours: Decimal
    long_hourly_rate: Decimal
    short_hourly_rate: Decimal
    long_apr: Decimal
    short_apr: Decimal
    long_venue_symbol: str | None
    short_venue_symbol: str | None
    long_multiplier: Decimal
    short_multiplier: Decimal
    long_mark_price: Decimal | None
    short_mark_price: Decimal | None
    price_spread_pct: Decimal | None = Field(description="(short − long base-unit mark price) / long × 100")
    divergence: Decimal = Field(description="hourly spread × 8 (per-8h equivalent, the original's unit)")
    divergence_hourly: Decimal
    gross_apr: Decimal
    fee_mode: str
    long_fee: Decimal
    short_fee: Decimal
    estimated_fees: Decimal = Field(description="entry + exit on both legs, fraction of one leg's notional")
    hold_hours: Decimal
    net_profit_percent: Decimal = Field(description="spread × hold − fees: net return over hold_hours (fraction)")
    net_apr: Decimal = Field(description="(spread_hourly × hold − fees) / hold × 8760")
    annualized_apy: Decimal = Field(description="net_apr in percent (original field)")
    break_even_hours: Decimal | None
    position_size_usd: Decimal
    estimated_fees_usd: Decimal
    net_profit_usd: Decimal
    daily_funding_usd: Decimal = Field(description="funding earned per day on the position, before fees")
    daily_pnl_usd: Decimal = Field(description="net of fees amortised over hold_hours, per day")
    long_dex_volume_24h: Decimal | None
    short_dex_volume_24h: Decimal | None
    min_volume_24h: Decimal | None
    long_dex_oi_usd: Decimal | None
    short_dex_oi_usd: Decimal | None
    min_oi_usd: Decimal | None
    max_oi_usd: Decimal | None
    oi_ratio: Decimal | None = Field(description="long OI / short OI")
    oi_imbalance: str | None
    long_dex_spread_bps: Decimal | None
    short_dex_spread_bps: Decimal | None
    avg_spread_bps: Decimal | None
    long_next_funding_time: datetime | None
    short_next_funding_time: datetime | None
    seconds_to_next_funding: float | None
    data_age_seconds: float
    stale: bool
    collected_at: datetime
    discovered_at: datetime


class Opportunities(_Out):
    opportunities: list[OpportunityRow]
    total_count: int = Field(description="rows returned")
    matched_count: int = Field(description="rows matching the filters before the limit")
    stale_excluded: int = Field(description="pairs left out only because their data is older than the stale limit")
    filters_applied: dict[str, Any]
    generated_at: datetime


class BestOpportunity(_Out):
    opportunity: OpportunityRow | None
    rank: int | None
    message: str | None = None
    generated_at: datetime


class SymbolOpportunities(_Out):
    symbol: str
    opportunities: list[OpportunityRow]
    count: int
    generated_at: datetime


# --- health --------------------------------------------------------------------------------------------------------


class SimpleHealth(_Out):
    status: Literal["ok"]
    timestamp: datetime


class DatabaseState(_Out):
    connected: bool
    latency_ms: float | None = None
    migrations_current: bool | None = None
    error: str | None = None


class DexHealthRow(DexHealth):
    dex_name: str
    is_active: bool
    active_symbols: int


class DexHealthSummary(_Out):
    total: int
    active: int
    healthy: int


class DataFreshness(_Out):
    oldest_data_age_seconds: float | None
    latest_update: datetime | None
    total_rates: int
    stale_rates: int


class ServiceHealth(_Out):
    status: Literal["healthy", "degraded", "unhealthy"]
    timestamp: datetime
    database: DatabaseState
    dex_health: list[DexHealthRow]
    dex_summary: DexHealthSummary
    data_freshness: DataFreshness | None


class DatabaseStatistics(_Out):
    symbols: int
    dexes: int
    latest_rates: int
    rates_last_24h: int
    opportunities_last_24h: int


class DatabaseHealth(_Out):
    status: Literal["healthy", "unhealthy"]
    connected: bool
    latency_ms: float | None
    statistics: DatabaseStatistics | None
    timestamp: datetime


class DexHealthDetail(DexHealthRow):
    recent_updates: int = Field(description="rates collected in the last stale window")
    timestamp: datetime


class MigrationsState(_Out):
    current: bool
    applied: list[int]
    pending: list[str]
    mismatched: list[int]
    unknown: list[int]


class Readiness(_Out):
    ready: bool
    database: DatabaseState
    migrations: MigrationsState | None
    timestamp: datetime


class ServiceInfo(_Out):
    service: str
    version: str
    status: str
    docs: str
