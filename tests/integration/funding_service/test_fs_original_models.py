"""A client written for the original funding service (simbayippy/perp-dex-tools, ``funding_rate_service``) works
unchanged: every endpoint the original served answers, on the real PostgreSQL-backed service, a body that the
original's response models accept.

The models below are re-declared from the original's field lists (its ``models/history.py`` ``FundingRateHistory``
and ``FundingRateStats``, and the dicts its routes in ``api/routes/{funding_rates,dexes,opportunities,health}.py``
return), with the original's field types; extra fields (the project's own) are allowed, as a pydantic client ignores
them. Parsing is pydantic's default (lax) mode, as the original's clients parsed. The fields whose JSON type the
original fixed (numbers, not strings) are checked for that type too.

Dataset: aster BTC at 0.0008 / 8 h and 0.0004 / 8 h (two periods), lighter BTC 0.00002 / 1 h and 0.00003 / 1 h
(two periods), the current period collected in two cycles (at most 10 minutes apart, in one hour). Hand-computed original figures for aster BTC
(rates per 8 h): avg 0.0006, median 0.0006, min 0.0004, max 0.0008, sample stdev √((0.0002² × 2) / 1) = 0.000282842…
Stats over both venues, per 8 h: 0.0008, 0.0004, 0.00016, 0.00024 → mean 0.0004, every sample positive,
avg_annualized_apy = 0.0004 / 8 × 8760 × 100 = 43.8.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.integration.funding_service.fs_helpers import Service, batch, rate

pytestmark = pytest.mark.integration

API = "/api/v1"


class _Original(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- models/history.py ----------------------------------------------------------------------------------------------


class HistoryPoint(_Original):
    time: datetime
    rate: float


class FundingRateHistory(_Original):
    dex_name: str
    symbol: str
    data_points: list[HistoryPoint] = Field(description="List of {time, rate} dictionaries")
    avg_rate: Decimal
    median_rate: Decimal
    std_dev: Decimal
    min_rate: Decimal
    max_rate: Decimal
    period_start: datetime
    period_end: datetime


class FundingRateStats(_Original):
    symbol: str
    dex_name: str | None = None
    period_days: int
    period_start: datetime
    period_end: datetime
    avg_funding_rate: Decimal
    median_funding_rate: Decimal
    std_dev: Decimal
    volatility: Decimal
    min_rate: Decimal
    max_rate: Decimal
    percentile_25: Decimal
    percentile_75: Decimal
    avg_annualized_apy: Decimal
    positive_rate_frequency: float


# --- api/routes/dexes.py ----------------------------------------------------------------------------------------------


class FeeStructure(_Original):
    maker_fee_percent: float
    taker_fee_percent: float
    has_fee_tiers: bool


class DexListItem(_Original):
    name: str
    display_name: str
    is_active: bool
    fee_structure: FeeStructure
    supported_symbols_count: int
    last_successful_fetch: datetime | None
    last_error: str | None  # the original: the error's time; ours: its message (same name, both strings or null)
    consecutive_errors: int
    is_healthy: bool


class DexList(_Original):
    dexes: list[DexListItem]
    count: int


class DexHealth(_Original):
    last_successful_fetch: datetime | None
    last_error: str | None
    consecutive_errors: int
    is_healthy: bool


class DexDetail(_Original):
    name: str
    display_name: str
    api_base_url: str | None
    is_active: bool
    supports_websocket: bool
    fee_structure: FeeStructure
    collection_interval_seconds: int
    rate_limit_per_minute: int
    supported_symbols_count: int
    health: DexHealth
    created_at: datetime
    updated_at: datetime


class DexSymbol(_Original):
    symbol: str
    dex_symbol_format: str
    is_active: bool
    min_order_size: float | None
    volume_24h: float | None
    open_interest_usd: float | None
    spread_bps: float | None  # the original: an integer column read as a number
    last_updated: datetime | None


class DexSymbols(_Original):
    dex_name: str
    symbols: list[DexSymbol]
    count: int


# --- api/routes/funding_rates.py -------------------------------------------------------------------------------------


class DexMetadata(_Original):
    name: str
    display_name: str
    maker_fee_percent: float
    taker_fee_percent: float


class AllLatest(_Original):
    data: dict[str, dict[str, Decimal]]
    updated_at: datetime
    count: int
    dex_metadata: dict[str, DexMetadata] | None = None


class CompareLeg(_Original):
    name: str
    funding_rate: float
    next_funding_time: datetime | None
    timestamp: datetime


class Compare(_Original):
    symbol: str
    dex1: CompareLeg
    dex2: CompareLeg
    divergence: Decimal
    divergence_bps: float
    long_recommendation: str
    short_recommendation: str
    estimated_net_profit_8h: Decimal
    timestamp: datetime


class DexRate(_Original):
    funding_rate: float
    annualized_rate: float
    next_funding_time: datetime | None
    timestamp: datetime


class DexRates(_Original):
    dex_name: str
    rates: dict[str, DexRate]
    updated_at: datetime


class PairRate(_Original):
    dex_name: str
    symbol: str
    funding_rate: float
    annualized_rate: float
    next_funding_time: datetime | None
    timestamp: datetime
    volume_24h: float | None
    open_interest_usd: float | None


# --- api/routes/opportunities.py ------------------------------------------------------------------------------------


class Opportunity(_Original):
    symbol: str
    long_dex: str
    short_dex: str
    long_rate: float
    short_rate: float
    divergence: float
    estimated_fees: float
    net_profit_percent: float
    annualized_apy: float
    long_dex_volume_24h: float | None
    short_dex_volume_24h: float | None
    min_volume_24h: float | None
    long_dex_oi_usd: float | None
    short_dex_oi_usd: float | None
    min_oi_usd: float | None
    max_oi_usd: float | None
    oi_ratio: float | None
    oi_imbalance: str | None
    long_dex_spread_bps: float | None  # the original's model: int bps
    short_dex_spread_bps: float | None
    avg_spread_bps: float | None
    discovered_at: datetime


class Opportunities(_Original):
    opportunities: list[Opportunity]
    total_count: int
    filters_applied: dict[str, Any] | None
    generated_at: datetime


class Best(_Original):
    opportunity: Opportunity | None
    rank: int | None = None
    generated_at: datetime


class SymbolOpportunity(_Original):
    long_dex: str
    short_dex: str
    long_rate: float
    short_rate: float
    divergence: float
    net_profit_percent: float
    annualized_apy: float
    min_oi_usd: float | None


class SymbolOpportunities(_Original):
    symbol: str
    opportunities: list[SymbolOpportunity]
    count: int
    generated_at: datetime


# --- api/routes/health.py -------------------------------------------------------------------------------------------


class HealthDex(_Original):
    dex_name: str
    is_healthy: bool
    is_active: bool
    last_successful_fetch: datetime | None
    time_since_fetch_seconds: float | None
    consecutive_errors: int
    last_error: str | None
    active_symbols: int


class DexSummary(_Original):
    total: int
    active: int
    healthy: int


class Freshness(_Original):
    oldest_data_age_seconds: float | None
    latest_update: datetime | None
    total_rates: int


class Health(_Original):
    status: str
    timestamp: datetime
    database: dict[str, Any]
    dex_health: list[HealthDex]
    dex_summary: DexSummary
    data_freshness: Freshness


class SimpleHealth(_Original):
    status: str
    timestamp: datetime


class DatabaseStatistics(_Original):
    symbols: int
    dexes: int
    latest_rates: int
    rates_last_24h: int


class DatabaseHealth(_Original):
    status: str
    connected: bool
    statistics: DatabaseStatistics
    timestamp: datetime


class DexHealthDetail(_Original):
    dex_name: str
    status: str
    is_active: bool
    last_successful_fetch: datetime | None
    time_since_fetch_seconds: float | None
    consecutive_errors: int
    last_error: str | None
    active_symbols: int
    recent_updates: int
    timestamp: datetime


# every GET endpoint of the original service, with the query its client sends, and the model of its answer
ENDPOINTS: list[tuple[str, dict[str, str], type[BaseModel]]] = [
    ("/funding-rates", {}, AllLatest),
    ("/funding-rates", {"include_metadata": "true"}, AllLatest),
    ("/funding-rates/compare", {"symbol": "BTC", "dex1": "aster", "dex2": "lighter"}, Compare),
    ("/funding-rates/aster", {}, DexRates),
    ("/funding-rates/aster/BTC", {}, PairRate),
    ("/history/funding-rates/aster/BTC", {"period": "7d", "limit": "1000"}, FundingRateHistory),
    ("/stats/funding-rates/BTC", {"period": "30d"}, FundingRateStats),
    ("/stats/funding-rates/BTC", {"dex": "aster", "period": "30d"}, FundingRateStats),
    ("/opportunities", {"min_divergence": "0.0001"}, Opportunities),
    ("/opportunities/best", {}, Best),
    ("/opportunities/symbol/BTC", {}, SymbolOpportunities),
    ("/dexes", {}, DexList),
    ("/dexes/aster", {}, DexDetail),
    ("/dexes/aster/symbols", {}, DexSymbols),
    ("/health", {}, Health),
    ("/health/simple", {}, SimpleHealth),
    ("/health/database", {}, DatabaseHealth),
    ("/health/dex/aster", {}, DexHealthDetail),
]


@pytest.fixture(scope="module")
async def data(service: Service) -> AsyncIterator[datetime]:
    await service.reset()
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)
    earlier = now - min(timedelta(minutes=10), (now - hour) / 2)  # in the same hourly period as now
    old = now - timedelta(hours=8)  # the previous 8-hour period
    rows_old = [
        rate("aster", "BTC", "0.0008", "8", old, venue_symbol="BTCUSDT", mark_price="60000"),
        rate("lighter", "BTC", "0.00002", "1", old, mark_price="60010"),
    ]
    assert (await service.ingest(batch("orig-old", rows_old, old))).status_code == 200
    for cycle, at in (("orig-earlier", earlier), ("orig-now", now)):
        rows = [
            rate(
                "aster",
                "BTC",
                "0.0004",
                "8",
                at,
                venue_symbol="BTCUSDT",
                mark_price="60030",
                open_interest_usd="2000000",
                volume_24h_usd="9000000",
                best_bid="60020",
                best_ask="60040",
                min_order_size="0.001",  # the aster collector reports LOT_SIZE minQty; lighter's rows here carry none
            ),
            rate(
                "lighter",
                "BTC",
                "0.00003",
                "1",
                at,
                mark_price="60000",
                open_interest_usd="1000000",
                volume_24h_usd="5000000",
                best_bid="59990",
                best_ask="60010",
            ),
        ]
        assert (await service.ingest(batch(cycle, rows, at))).status_code == 200, cycle
    yield now


async def test_every_original_endpoint_answers_the_original_models(service: Service, data: datetime) -> None:
    for path, query, model in ENDPOINTS:
        r = await service.http.get(API + path, params=query)
        assert r.status_code == 200, (path, r.text)
        model.model_validate_json(r.content)  # raises with the offending field when a client would break


def _closes(value: Any, expected: str) -> bool:
    return abs(Decimal(str(value)) - Decimal(expected)) < Decimal("1e-15")


async def test_history_original_fields(service: Service, data: datetime) -> None:
    body = (await service.http.get(API + "/history/funding-rates/aster/BTC", params={"order": "asc"})).json()
    assert [p["rate"] for p in body["data_points"]] == [0.0008, 0.0004]  # JSON numbers, per 8 h
    assert body["period_start"] == body["start"] and body["period_end"] == body["end"]
    assert (body["avg_rate"], body["median_rate"]) == ("0.0006", "0.0006")
    assert (body["min_rate"], body["max_rate"]) == ("0.0004", "0.0008")
    assert _closes(body["std_dev"], "0.000282842712474619")
    lighter = (await service.http.get(API + "/history/funding-rates/lighter/BTC", params={"order": "asc"})).json()
    assert [p["rate"] for p in lighter["data_points"]] == [0.00016, 0.00024]  # hourly × 8
    assert lighter["avg_rate"] == "0.0002"
    daily = (await service.http.get(API + "/history/funding-rates/lighter/BTC", params={"bucket": "1d"})).json()
    for point in daily["data_points"]:  # a bucket: its mean hourly rate × 8
        assert point["rate"] == float(Decimal(point["hourly_rate"]) * 8)


async def test_history_of_a_pair_without_data_answers_zeros(service: Service, data: datetime) -> None:
    body = (await service.http.get(API + "/history/funding-rates/paradex/BTC")).json()
    assert body["data_points"] == []
    assert [body[k] for k in ("avg_rate", "median_rate", "std_dev", "min_rate", "max_rate")] == ["0"] * 5
    FundingRateHistory.model_validate(body)


async def test_stats_original_fields(service: Service, data: datetime) -> None:
    body = (await service.http.get(API + "/stats/funding-rates/BTC")).json()
    assert body["period_start"] == body["start"] and body["period_end"] == body["end"]
    assert body["avg_funding_rate"] == "0.0004"
    assert body["median_funding_rate"] == "0.00032"  # (0.00024 + 0.0004) / 2
    assert (body["min_rate"], body["max_rate"]) == ("0.00016", "0.0008")
    assert body["avg_annualized_apy"] == "43.8"
    assert body["positive_rate_frequency"] == 1.0  # a JSON number
    assert _closes(body["volatility"], str(Decimal(body["std_dev"]) / Decimal("0.0004")))
    # p25 / p75 by linear interpolation over 0.00016, 0.00024, 0.0004, 0.0008
    assert (body["percentile_25"], body["percentile_75"]) == ("0.00022", "0.0005")
    empty = (await service.http.get(API + "/stats/funding-rates/BTC", params={"dex": "paradex"})).json()
    assert empty["avg_funding_rate"] == "0" and empty["positive_rate_frequency"] == 0.0
    FundingRateStats.model_validate(empty)


async def test_stats_cached_answer_is_the_fresh_one(service: Service, data: datetime) -> None:
    first = await service.http.get(API + "/stats/funding-rates/BTC", params={"dex": "aster"})
    again = await service.http.get(API + "/stats/funding-rates/BTC", params={"dex": "aster"})
    a, b = first.json(), again.json()
    for body in (a, b):  # the moving window's instants follow the request, the original names with them
        assert body["period_start"] == body["start"] and body["period_end"] == body["end"]
    assert {k: v for k, v in a.items() if "start" not in k and "end" not in k} == {
        k: v for k, v in b.items() if "start" not in k and "end" not in k
    }


async def test_dexes_original_fields(service: Service, data: datetime) -> None:
    listed = {d["name"]: d for d in (await service.http.get(API + "/dexes")).json()["dexes"]}
    aster = listed["aster"]
    assert aster["supports_websocket"] is False
    assert aster["collection_interval_seconds"] == 14400  # the mean gap of its 3 cycles: 8 h / 2
    assert aster["rate_limit_per_minute"] == 60
    assert listed["paradex"]["collection_interval_seconds"] == 60  # no cycle yet: the collector's default interval
    detail = (await service.http.get(API + "/dexes/aster")).json()
    assert detail["collection_interval_seconds"] == 14400
    symbols = (await service.http.get(API + "/dexes/aster/symbols")).json()["symbols"]
    assert [s["min_order_size"] for s in symbols] == [0.001]  # a JSON number, as the original answered it
    unreported = (await service.http.get(API + "/dexes/lighter/symbols")).json()["symbols"]
    assert [s["min_order_size"] for s in unreported] == [None]
