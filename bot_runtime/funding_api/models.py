"""Response bodies of the funding service's read API: the contract the service writes and the bots' client reads
(pure pydantic, so a bot pod parses them without FastAPI or asyncpg).

Units: rates and fees are fractions (``0.0001`` = 1 bp = 0.01 %); ``*_apr`` are simple annualised fractions
(``0.10`` = 10 %/year); ``annualized_apy`` is the original service's percent figure (net APR × 100). Decimals are
serialised as JSON strings so no digit is lost (``Decimal(value)`` on the client side).

The original service's field names (perp-dex-tools' ``funding_rate_service``) are answered next to the project's own
where the two differ, so a client written for the original works unchanged: history ``avg_rate``, ``median_rate``,
``std_dev``, ``min_rate``, ``max_rate``, ``period_start``, ``period_end`` and points ``{time, rate}``; stats
``avg_funding_rate`` … ``positive_rate_frequency``; ``/dexes``' ``supports_websocket``,
``collection_interval_seconds``, ``rate_limit_per_minute``; ``/dexes/{dex}/symbols``' ``min_order_size``. Their rates
are in the original's unit, a rate per 8 h (the hourly rate × 8, whatever the venue's own interval), their JSON types
are the original's (``rate``, ``positive_rate_frequency`` and ``min_order_size`` are numbers), and they are 0 where the
original answered 0 for no data (the project's own fields are null then).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

#: a venue's health as ``/health`` and ``/dexes`` report it (computed by ``funding_service.core.health``)
HealthStatus = Literal["healthy", "degraded", "unhealthy", "no_data", "inactive"]


def plain_decimal(value: Decimal) -> str:
    """Exact positional notation without trailing zeros: ``9.00E+6`` → ``9000000``, ``0.43800`` → ``0.438``."""
    text = format(value.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


# a Decimal that travels as an exact string in positional notation (asyncpg may hand back 9.00E+6 for 9000000)
Dec = Annotated[Decimal, PlainSerializer(plain_decimal, return_type=str, when_used="json")]
# a Decimal that travels as a JSON number: an original field the original answered as a number
DecNumber = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]


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
    maker_fee: Dec = Field(description="fraction per trade; negative = rebate")
    taker_fee: Dec
    maker_fee_percent: Dec = Field(description="original field name: the same FRACTION as maker_fee")
    taker_fee_percent: Dec = Field(description="original field name: the same FRACTION as taker_fee")
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
    last_latency_ms: Dec | None
    latest_data_at: datetime | None
    data_age_seconds: float | None


class DexSummary(_Out):
    name: str
    display_name: str
    is_active: bool
    is_paper: bool
    funding_interval_hours: Dec = Field(description="default interval; each rate carries its own")
    fee_structure: FeeStructure
    supported_symbols_count: int
    last_successful_fetch: datetime | None
    last_error: str | None
    consecutive_errors: int
    is_healthy: bool
    # defaults: a bot's client still parses the answer of a service older than these fields (during an upgrade)
    supports_websocket: bool = Field(
        default=False, description="original field: always false (collectors poll REST APIs)"
    )
    collection_interval_seconds: int = Field(
        default=60,
        description="original field: the mean gap between the dex's last 11 collection cycles, whole seconds "
        "(60, the FundingCollector's default interval, before the second cycle)",
    )
    rate_limit_per_minute: int = Field(
        default=60,
        description="original field: 60, the original's default (the service makes no venue request of its own)",
    )


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
    multiplier: Dec = Field(description="base units per contract unit (1000PEPE → 1000)")
    is_active: bool
    mark_price: Dec | None
    index_price: Dec | None
    volume_24h: Dec | None
    open_interest_usd: Dec | None
    best_bid: Dec | None
    best_ask: Dec | None
    spread_bps: Dec | None
    last_updated: datetime
    is_stale: bool
    min_order_size: DecNumber | None = Field(
        default=None,
        description="original field (a JSON number): the market's minimum order size in base units of `symbol`, as "
        "the venue's collector last reported it (the trading client's minimum x multiplier); null when not reported",
    )


class DexSymbols(_Out):
    dex_name: str
    symbols: list[DexSymbol]
    count: int


# --- funding rates -------------------------------------------------------------------------------------------------


class RateDetail(_Out):
    funding_rate: Dec = Field(description="raw rate per interval")
    interval_hours: Dec
    hourly_rate: Dec
    annualized_rate: Dec = Field(description="APR: hourly × 8760 (fraction)")
    next_funding_time: datetime | None
    timestamp: datetime = Field(description="when the collector read it")
    data_age_seconds: float
    is_stale: bool


class DexMetadata(_Out):
    name: str
    display_name: str
    maker_fee: Dec
    taker_fee: Dec
    maker_fee_percent: Dec = Field(description="original field name: a fraction")
    taker_fee_percent: Dec = Field(description="original field name: a fraction")
    funding_interval_hours: Dec


class LatestRates(_Out):
    data: dict[str, dict[str, Dec]] = Field(description="{SYMBOL: {dex: raw rate}} (the original shape)")
    updated_at: datetime
    count: int
    dex_metadata: dict[str, DexMetadata] | None = Field(default=None, description="with include_metadata=true")
    details: dict[str, dict[str, RateDetail]] | None = Field(
        default=None, description="with include_metadata=true: interval, hourly rate, APR, freshness per rate"
    )


class DexRateEntry(RateDetail):
    venue_symbol: str
    multiplier: Dec
    mark_price: Dec | None
    index_price: Dec | None
    volume_24h: Dec | None
    open_interest_usd: Dec | None


class DexRates(_Out):
    dex_name: str
    rates: dict[str, DexRateEntry]
    updated_at: datetime
    count: int


class PairRate(DexRateEntry):
    dex_name: str
    symbol: str
    best_bid: Dec | None
    best_ask: Dec | None
    funding_time: datetime = Field(description="settlement time of the period this rate applies to")


class CompareLeg(_Out):
    name: str
    funding_rate: Dec
    interval_hours: Dec
    hourly_rate: Dec
    annualized_rate: Dec
    mark_price: Dec | None
    next_funding_time: datetime | None
    timestamp: datetime


class RateComparison(_Out):
    symbol: str
    dex1: CompareLeg
    dex2: CompareLeg
    divergence: Dec = Field(description="|hourly spread| × 8 (per-8h, the original's unit)")
    divergence_bps: Dec
    divergence_hourly: Dec
    long_recommendation: str
    short_recommendation: str
    estimated_net_profit_8h: Dec = Field(description="funding spread earned per 8 h, before fees")
    gross_apr: Dec
    fee_mode: str
    estimated_fees: Dec
    hold_hours: Dec
    net_apr: Dec
    break_even_hours: Dec | None
    price_spread_pct: Dec | None
    timestamp: datetime


# --- history -------------------------------------------------------------------------------------------------------


class HistoryPoint(_Out):
    time: datetime = Field(description="funding period settlement time (bucket start when bucketed)")
    funding_rate: Dec = Field(description="raw rate (bucket: mean raw rate)")
    interval_hours: Dec | None = Field(description="None in a bucket mixing intervals")
    hourly_rate: Dec
    annualized_rate: Dec
    min_hourly_rate: Dec | None = None
    max_hourly_rate: Dec | None = None
    samples: int = 1
    mark_price: Dec | None = None
    open_interest_usd: Dec | None = None
    rate: float = Field(description="original field: the rate per 8 h (hourly × 8; a bucket's mean), a JSON number")


class HistoryStats(_Out):
    average: Dec | None
    median: Dec | None
    min: Dec | None
    max: Dec | None
    volatility: Dec | None = Field(description="sample standard deviation of the hourly rate")


class History(_Out):
    symbol: str
    dex_name: str
    period_days: Dec
    start: datetime
    end: datetime
    bucket: str | None
    data_points: list[HistoryPoint]
    count: int
    stats: HistoryStats
    unit: Literal["hourly"] = "hourly"
    # the original's FundingRateHistory: statistics of the period's rates per 8 h (0 when there is none)
    avg_rate: Dec
    median_rate: Dec
    std_dev: Dec
    min_rate: Dec
    max_rate: Dec
    period_start: datetime = Field(description="original field: the same instant as start")
    period_end: datetime = Field(description="original field: the same instant as end")


class Statistics(_Out):
    average: Dec | None
    median: Dec | None
    min: Dec | None
    max: Dec | None
    stdev: Dec | None
    volatility: Dec | None = Field(description="original: stdev / |mean| (same as stability)")
    stability: Dec | None = Field(description="coefficient of variation stdev / |mean|; lower = steadier")
    percentile_25: Dec | None
    percentile_75: Dec | None
    positive_share: Dec | None = Field(description="fraction of periods with a positive rate")
    annualized_apr: Dec | None = Field(description="mean hourly × 8760 (fraction)")
    annualized_apy: Dec | None = Field(description="the same in percent (original field)")


class RateStats(_Out):
    symbol: str
    dex_name: str | None
    period_days: Dec
    start: datetime
    end: datetime
    unit: Literal["hourly"] = "hourly"
    statistics: Statistics
    sample_size: int
    per_dex: dict[str, Statistics] | None = Field(default=None, description="when no dex is given")
    # the original's FundingRateStats: rates per 8 h over every sample (0 when there is none)
    period_start: datetime = Field(description="original field: the same instant as start")
    period_end: datetime = Field(description="original field: the same instant as end")
    avg_funding_rate: Dec
    median_funding_rate: Dec
    std_dev: Dec
    volatility: Dec = Field(description="original field: std_dev / |avg_funding_rate| (0 when the mean is 0)")
    min_rate: Dec
    max_rate: Dec
    percentile_25: Dec
    percentile_75: Dec
    avg_annualized_apy: Dec = Field(description="original field: mean hourly rate × 8760 × 100 (percent)")
    positive_rate_frequency: float = Field(description="original field: fraction of samples with a rate > 0")


# --- opportunities -------------------------------------------------------------------------------------------------


class OpportunityRow(_Out):
    symbol: str
    long_dex: str
    short_dex: str
    long_rate: Dec
    short_rate: Dec
    long_interval_hours: Dec
    short_interval_hours: Dec
    long_hourly_rate: Dec
    short_hourly_rate: Dec
    long_apr: Dec
    short_apr: Dec
    long_venue_symbol: str | None
    short_venue_symbol: str | None
    long_multiplier: Dec
    short_multiplier: Dec
    long_mark_price: Dec | None
    short_mark_price: Dec | None
    price_spread_pct: Dec | None = Field(description="(short − long base-unit mark price) / long × 100")
    divergence: Dec = Field(description="hourly spread × 8 (per-8h equivalent, the original's unit)")
    divergence_hourly: Dec
    gross_apr: Dec
    fee_mode: str
    long_fee: Dec
    short_fee: Dec
    estimated_fees: Dec = Field(description="entry + exit on both legs, fraction of one leg's notional")
    hold_hours: Dec
    net_profit_percent: Dec = Field(description="spread × hold − fees: net return over hold_hours (fraction)")
    net_apr: Dec = Field(description="(spread_hourly × hold − fees) / hold × 8760")
    annualized_apy: Dec = Field(description="net_apr in percent (original field)")
    break_even_hours: Dec | None
    position_size_usd: Dec
    estimated_fees_usd: Dec
    net_profit_usd: Dec
    daily_funding_usd: Dec = Field(description="funding earned per day on the position, before fees")
    daily_pnl_usd: Dec = Field(description="net of fees amortised over hold_hours, per day")
    long_dex_volume_24h: Dec | None
    short_dex_volume_24h: Dec | None
    min_volume_24h: Dec | None
    long_dex_oi_usd: Dec | None
    short_dex_oi_usd: Dec | None
    min_oi_usd: Dec | None
    max_oi_usd: Dec | None
    oi_ratio: Dec | None = Field(description="long OI / short OI")
    oi_imbalance: str | None
    long_dex_spread_bps: Dec | None
    short_dex_spread_bps: Dec | None
    avg_spread_bps: Dec | None
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
