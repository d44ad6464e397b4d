"""Funding periods, statistics, periods, dex health, filters: pure functions with hand-computed answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from funding_service.core.fees import FeeSchedule
from funding_service.core.funding_time import funding_period_end
from funding_service.core.health import dex_health
from funding_service.core.history import parse_period, percentile, summarize
from funding_service.core.opportunities import Filters, Leg, Params, evaluate, find
from funding_service.core.rates import hourly_rate, spread_bps

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ZERO_FEES = FeeSchedule(D(0), D(0))


# --- funding periods ------------------------------------------------------------------------------------------------


def test_period_end_is_venue_next_funding_time_to_the_second() -> None:
    nft = datetime(2026, 1, 1, 16, 0, 0, 999_000, tzinfo=UTC)
    assert funding_period_end(NOW, D(8), nft) == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)


def test_period_end_without_next_time_is_next_interval_boundary() -> None:
    t = datetime(2026, 1, 1, 9, 17, 5, tzinfo=UTC)
    assert funding_period_end(t, D(8)) == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    assert funding_period_end(t, D(1)) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert funding_period_end(t, D(4)) == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    # on a boundary the new period has started
    assert funding_period_end(datetime(2026, 1, 1, 8, 0, tzinfo=UTC), D(8)) == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)
    # two collections in one period share the key (what makes ingest idempotent per period)
    assert funding_period_end(t, D(8)) == funding_period_end(t + timedelta(hours=6), D(8))


def test_period_end_converts_offsets_to_utc() -> None:
    from datetime import timezone

    plus2 = timezone(timedelta(hours=2))
    assert funding_period_end(datetime(2026, 1, 1, 11, 30, tzinfo=plus2), D(1)) == datetime(
        2026, 1, 1, 10, 0, tzinfo=UTC
    )


# --- statistics -----------------------------------------------------------------------------------------------------


def test_percentile_linear_interpolation() -> None:
    values = [D(1), D(2), D(3), D(4)]
    assert percentile(values, 50) == D("2.5")
    assert percentile(values, 25) == D("1.75")
    assert percentile(values, 75) == D("3.25")
    assert percentile(values, 0) == D(1)
    assert percentile(values, 100) == D(4)
    assert percentile([D(7)], 25) == D(7)


def test_summarize_hand_computed() -> None:
    # hourly rates 0.0001, 0.0003, 0.0002, −0.0002: mean 0.0001, sample variance 0.00000004666…
    s = summarize([D("0.0001"), D("0.0003"), D("0.0002"), D("-0.0002")])
    assert s is not None
    assert s.count == 4
    assert s.mean == D("0.0001")
    assert s.median == D("0.00015")
    assert (s.minimum, s.maximum) == (D("-0.0002"), D("0.0003"))
    assert s.p25 == D("0.000025")  # −0.0002 at rank 0, 0.0001 at rank 1: 0.75 of the way
    assert s.p75 == D("0.000225")
    assert s.positive_share == D("0.75")
    assert s.annualized == D("0.876")
    # stdev = sqrt(((0)² + 0.0002² + 0.0001² + 0.0003²) / 3) = sqrt(0.00000014 / 3)
    assert s.stdev == (D("0.00000014") / 3).sqrt()
    assert s.stability == s.stdev / D("0.0001")


def test_summarize_edges() -> None:
    assert summarize([]) is None
    one = summarize([D("0.0001")])
    assert one is not None and one.stdev == 0 and one.stability == 0
    zero_mean = summarize([D("0.0001"), D("-0.0001")])
    assert zero_mean is not None and zero_mean.stability is None


@pytest.mark.parametrize(
    ("text", "span"),
    [("7d", timedelta(days=7)), ("30d", timedelta(days=30)), ("90D", timedelta(days=90)), ("12h", timedelta(hours=12))],
)
def test_parse_period(text: str, span: timedelta) -> None:
    assert parse_period(text) == span


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "400d", "7w", "-7d", "7 days"])
def test_parse_period_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_period(text)


def test_rates_helpers() -> None:
    assert hourly_rate(D("0.0008"), D(8)) == D("0.0001")
    with pytest.raises(ValueError):
        hourly_rate(D("0.0001"), D(0))
    assert spread_bps(D("99.9"), D("100.1")) == D("20")
    assert spread_bps(None, D(1)) is None
    assert spread_bps(D(2), D(1)) is None  # crossed


# --- dex health -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "ago", "errors", "status", "healthy"),
    [
        (True, 30, 0, "healthy", True),
        (True, 30, 2, "degraded", True),
        (True, 30, 3, "unhealthy", False),
        (True, 700, 0, "unhealthy", False),
        (True, None, 0, "no_data", False),
        (True, None, 4, "unhealthy", False),
        (False, 30, 0, "inactive", False),
    ],
)
def test_dex_health(active: bool, ago: int | None, errors: int, status: str, healthy: bool) -> None:
    last = NOW - timedelta(seconds=ago) if ago is not None else None
    state = dex_health(
        is_active=active,
        last_success=last,
        consecutive_errors=errors,
        latest_data_at=last,
        now=NOW,
        stale_after_seconds=600,
    )
    assert (state.status, state.is_healthy) == (status, healthy)
    assert state.time_since_fetch_seconds == (float(ago) if ago is not None else None)


# --- filters --------------------------------------------------------------------------------------------------------


def leg(dex: str, hourly: str, symbol: str = "BTC", **kw: object) -> Leg:
    return Leg(dex=dex, symbol=symbol, rate=D(hourly), interval_hours=D(1), fees=ZERO_FEES, collected_at=NOW, **kw)  # type: ignore[arg-type]


LEGS = [
    leg("lighter", "0.0001", open_interest_usd=D(1_000_000), volume_24h_usd=D(9_000_000)),
    leg("grvt", "0.0003", open_interest_usd=D(4_000_000), volume_24h_usd=D(2_000_000)),
    leg("aster", "0.0006"),  # no liquidity data
]
OPEN = Filters(min_divergence=None, min_profit=None)


def pairs(filters: Filters, legs: list[Leg] = LEGS) -> set[tuple[str, str]]:
    return {(o.long.dex, o.short.dex) for o in find(legs, Params(), NOW, filters).opportunities}


def test_dex_filters() -> None:
    every = {("lighter", "grvt"), ("lighter", "aster"), ("grvt", "aster")}
    assert pairs(OPEN) == every
    assert pairs(Filters(min_divergence=None, min_profit=None, dex="grvt")) == {("lighter", "grvt"), ("grvt", "aster")}
    assert pairs(Filters(min_divergence=None, min_profit=None, dex_pair=frozenset({"aster", "lighter"}))) == {
        ("lighter", "aster")
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, dexes=frozenset({"aster"}))) == {
        ("lighter", "aster"),
        ("grvt", "aster"),
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, whitelist_dexes=frozenset({"lighter", "grvt"}))) == {
        ("lighter", "grvt")
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, exclude_dexes=frozenset({"grvt"}))) == {
        ("lighter", "aster")
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, required_dex="lighter")) == {
        ("lighter", "grvt"),
        ("lighter", "aster"),
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, long_dex="grvt")) == {("grvt", "aster")}
    assert pairs(Filters(min_divergence=None, min_profit=None, short_dex="grvt")) == {("lighter", "grvt")}


def test_liquidity_filters_exclude_unknown_values() -> None:
    # only lighter/grvt has both legs' OI and volume
    assert pairs(Filters(min_divergence=None, min_profit=None, min_oi=D(1))) == {("lighter", "grvt")}
    assert pairs(Filters(min_divergence=None, min_profit=None, min_oi=D(1_000_001))) == set()
    assert pairs(Filters(min_divergence=None, min_profit=None, min_volume=D(2_000_000))) == {("lighter", "grvt")}
    assert pairs(Filters(min_divergence=None, min_profit=None, max_volume=D(1_999_999))) == set()
    assert pairs(Filters(min_divergence=None, min_profit=None, oi_ratio_max=D("0.25"))) == {("lighter", "grvt")}
    assert pairs(Filters(min_divergence=None, min_profit=None, oi_ratio_min=D("0.26"))) == set()
    # max_oi: the smaller OI by default, the required venue's OI when one is required
    assert pairs(Filters(min_divergence=None, min_profit=None, max_oi=D(1_000_000))) == {("lighter", "grvt")}
    assert pairs(Filters(min_divergence=None, min_profit=None, max_oi=D(2_000_000), required_dex="grvt")) == set()
    # grvt's own OI (4M) is what is capped, so grvt/aster passes although aster's OI is unknown
    assert pairs(Filters(min_divergence=None, min_profit=None, max_oi=D(4_000_000), required_dex="grvt")) == {
        ("lighter", "grvt"),
        ("grvt", "aster"),
    }


def test_profit_filters() -> None:
    # spreads per hour: lighter/grvt 0.0002, lighter/aster 0.0005, grvt/aster 0.0003 (no fees): net APR = spread × 8760
    assert pairs(Filters(min_divergence=None, min_net_apr=D("2.628"))) == {("lighter", "aster"), ("grvt", "aster")}
    assert pairs(Filters(min_divergence=D("0.0024"))) == {("lighter", "aster"), ("grvt", "aster")}  # per 8 h


def test_spread_and_price_filters() -> None:
    legs = [
        leg("lighter", "0.0001", best_bid=D("99.9"), best_ask=D("100.1"), mark_price=D(100)),
        leg("grvt", "0.0003", best_bid=D("100.9"), best_ask=D("101.1"), mark_price=D(101)),
    ]
    assert pairs(Filters(min_divergence=None, min_profit=None, max_spread_bps=D(20)), legs) == {("lighter", "grvt")}
    assert pairs(Filters(min_divergence=None, min_profit=None, max_spread_bps=D(19)), legs) == set()
    assert pairs(Filters(min_divergence=None, min_profit=None, max_price_divergence_pct=D(1)), legs) == {
        ("lighter", "grvt")
    }
    assert pairs(Filters(min_divergence=None, min_profit=None, max_price_divergence_pct=D("0.99")), legs) == set()


def test_stale_pairs_are_excluded_and_counted() -> None:
    legs = [leg("lighter", "0.0001"), Leg("grvt", "BTC", D("0.0003"), D(1), ZERO_FEES, NOW - timedelta(minutes=11))]
    result = find(legs, Params(stale_after_seconds=600), NOW, OPEN)
    assert result.opportunities == [] and result.stale_excluded == 1
    flagged = find(
        legs, Params(stale_after_seconds=600), NOW, Filters(min_divergence=None, min_profit=None, include_stale=True)
    )
    assert [o.stale for o in flagged.opportunities] == [True]


def test_symbols_filter_and_limit() -> None:
    legs = [*LEGS, leg("lighter", "0.0001", "ETH"), leg("grvt", "0.0009", "ETH")]
    result = find(legs, Params(), NOW, Filters(min_divergence=None, symbols=frozenset({"ETH"})))
    assert [(o.symbol, o.long.dex, o.short.dex) for o in result.opportunities] == [("ETH", "lighter", "grvt")]
    limited = find(legs, Params(), NOW, OPEN, sort_by="net_apr", limit=2)
    assert limited.matched == 4 and len(limited.opportunities) == 2
    assert limited.opportunities[0].symbol == "ETH"  # the biggest spread
    assert evaluate(legs[3], legs[4], Params(), NOW).spread_hourly == D("0.0008")
