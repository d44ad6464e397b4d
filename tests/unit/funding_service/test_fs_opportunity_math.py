"""Opportunity math, hand-computed: every expected value below was worked out on paper from the SPEC formulas
(hourly = rate / interval; gross APR = spread × 8760; fees = 2 × (long_fee + short_fee);
net APR = (spread × hold − fees) / hold × 8760; break-even = fees / spread) and is asserted exactly in Decimal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from funding_service.core.fees import FeeSchedule, round_trip_fees
from funding_service.core.opportunities import (
    Filters,
    Leg,
    Params,
    break_even_hours,
    evaluate,
    find,
    net_apr,
    oi_imbalance,
    sort_opportunities,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

# the seeded fee table (fractions per trade): (maker, taker)
FEES = {
    "lighter": FeeSchedule(D("0"), D("0")),
    "grvt": FeeSchedule(D("-0.0001"), D("0.00055")),
    "edgex": FeeSchedule(D("0.00015"), D("0.00038")),
    "paradex": FeeSchedule(D("0.00003"), D("0.0002")),
    "backpack": FeeSchedule(D("0.0002"), D("0.0005")),
    "aster": FeeSchedule(D("0.00005"), D("0.0004")),
    "hyperliquid": FeeSchedule(D("0.00015"), D("0.00045")),
}


def leg(dex: str, rate: str, interval: str, symbol: str = "BTC", **kw: object) -> Leg:
    kw.setdefault("collected_at", NOW)
    return Leg(dex=dex, symbol=symbol, rate=D(rate), interval_hours=D(interval), fees=FEES[dex], **kw)  # type: ignore[arg-type]


def test_case01_1h_vs_8h_uses_hourly_rates() -> None:
    # lighter 0.00001 per 1 h (hourly 0.00001) vs aster 0.0004 per 8 h (hourly 0.00005): long lighter, short aster
    o = evaluate(leg("aster", "0.0004", "8"), leg("lighter", "0.00001", "1"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("lighter", "aster")
    assert o.spread_hourly == D("0.00004")
    assert o.divergence == D("0.00032")  # per 8 h; the naive raw difference would say 0.00039
    assert o.gross_apr == D("0.3504")
    assert o.fees == D("0.0008")  # 2 × (0 + 0.0004)
    assert o.net_profit == D("0.00016")  # 0.00004 × 24 − 0.0008
    assert o.net_apr == D("0.0584")  # 0.00016 / 24 × 8760
    assert o.annualized_apy == D("5.84")
    assert o.break_even_hours == D("20")  # 0.0008 / 0.00004
    assert o.long.apr == D("0.0876") and o.short.apr == D("0.438")


def test_case02_equal_raw_rates_different_intervals() -> None:
    # 0.0001 on a 1 h venue is 8× the 0.0001 of an 8 h venue: a raw comparison sees nothing here
    o = evaluate(leg("backpack", "0.0001", "1"), leg("paradex", "0.0001", "8"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("paradex", "backpack")
    assert o.spread_hourly == D("0.0000875")
    assert o.gross_apr == D("0.7665")
    assert o.fees == D("0.0014")  # 2 × (0.0002 + 0.0005)
    assert o.net_profit == D("0.0007")  # 0.0021 − 0.0014
    assert o.net_apr == D("0.2555")
    assert o.break_even_hours == D("16")


def test_case03_negative_long_leg() -> None:
    # grvt −0.0008 per 8 h (hourly −0.0001) vs lighter 0.00001 per 1 h: long grvt (it is paid), short lighter
    o = evaluate(leg("lighter", "0.00001", "1"), leg("grvt", "-0.0008", "8"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("grvt", "lighter")
    assert o.spread_hourly == D("0.00011")
    assert o.gross_apr == D("0.9636")
    assert o.fees == D("0.0011")  # 2 × (0.00055 + 0)
    assert o.net_profit == D("0.00154")  # 0.00264 − 0.0011
    assert o.net_apr == D("0.5621")
    assert o.break_even_hours == D("10")


def test_case04_both_legs_negative_maker_fees() -> None:
    # edgex −0.0004 per 4 h (hourly −0.0001), paradex −0.0002 per 8 h (hourly −0.000025)
    params = Params(hold_hours=D(48), fee_mode="maker")
    o = evaluate(leg("paradex", "-0.0002", "8"), leg("edgex", "-0.0004", "4"), params, NOW)
    assert (o.long.dex, o.short.dex) == ("edgex", "paradex")  # long the more negative
    assert o.spread_hourly == D("0.000075")
    assert o.gross_apr == D("0.657")
    assert (o.long_fee, o.short_fee) == (D("0.00015"), D("0.00003"))
    assert o.fees == D("0.00036")
    assert o.net_profit == D("0.00324")  # 0.0036 − 0.00036
    assert o.net_apr == D("0.5913")  # 0.00324 / 48 × 8760
    assert o.break_even_hours == D("4.8")


def test_case05_fees_larger_than_spread() -> None:
    # aster 0.0001 per 8 h (hourly 0.0000125) vs backpack 0.00002 per 1 h: spread 0.0000075 cannot pay 18 bp of fees
    o = evaluate(leg("aster", "0.0001", "8"), leg("backpack", "0.00002", "1"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("aster", "backpack")
    assert o.spread_hourly == D("0.0000075")
    assert o.fees == D("0.0018")
    assert o.net_profit == D("-0.00162")  # 0.00018 − 0.0018
    assert o.net_apr == D("-0.5913")
    assert o.break_even_hours == D("240")
    # the default filters (min_profit 0) drop it; asking for losing pairs shows it
    legs = [leg("aster", "0.0001", "8"), leg("backpack", "0.00002", "1")]
    assert find(legs, Params(), NOW, Filters(min_divergence=None)).opportunities == []
    shown = find(legs, Params(), NOW, Filters(min_divergence=None, min_profit=None)).opportunities
    assert [o.net_apr for o in shown] == [D("-0.5913")]


def test_case06_1000pepe_multipliers_scale_prices() -> None:
    # aster 1000PEPEUSDT at 0.0125 = 0.0000125 per PEPE; backpack kPEPE at 0.012 = 0.000012 per PEPE
    aster = leg("aster", "0.0002", "8", "PEPE", multiplier=D(1000), mark_price=D("0.0125"), venue_symbol="1000PEPEUSDT")
    backpack = leg(
        "backpack", "0.00003", "1", "PEPE", multiplier=D(1000), mark_price=D("0.012"), venue_symbol="kPEPE_USDC_PERP"
    )
    paradex = leg("paradex", "0.00016", "8", "PEPE", mark_price=D("0.000012"), venue_symbol="PEPE-USD-PERP")
    o = evaluate(aster, backpack, Params(), NOW)
    assert (o.long.dex, o.short.dex) == ("aster", "backpack")  # hourly 0.000025 < 0.00003
    assert o.spread_hourly == D("0.000005")
    assert o.price_spread_pct == D("-4")  # (0.000012 − 0.0000125) / 0.0000125 × 100
    # kPEPE (×1000) against plain PEPE (×1): the same price once scaled, not a 99 900 % gap
    o2 = evaluate(backpack, paradex, Params(), NOW)
    assert (o2.long.dex, o2.short.dex) == ("paradex", "backpack")  # 0.00002 < 0.00003
    assert o2.price_spread_pct == D("0")
    assert o2.long.base_price == o2.short.base_price == D("0.000012")


def test_case07_equal_hourly_rates_no_spread() -> None:
    o = evaluate(leg("paradex", "0.0008", "8"), leg("lighter", "0.0001", "1"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("lighter", "paradex")  # tie: by venue name
    assert o.spread_hourly == D("0")
    assert o.break_even_hours is None
    assert o.fees == D("0.0004")
    assert o.net_profit == D("-0.0004")
    assert o.net_apr == D("-0.146")  # −0.0004 / 24 × 8760


def test_case08_maker_rebate_makes_fees_negative() -> None:
    # grvt pays makers 1 bp: fees = 2 × (0 + −0.0001) = −0.0002, a net rebate
    params = Params(hold_hours=D(24), fee_mode="maker")
    o = evaluate(leg("lighter", "0.00001", "1"), leg("grvt", "0.00016", "8"), params, NOW)
    assert (o.long.dex, o.short.dex) == ("lighter", "grvt")
    assert o.spread_hourly == D("0.00001")
    assert o.fees == D("-0.0002")
    assert o.gross_apr == D("0.0876")
    assert o.net_profit == D("0.00044")  # 0.00024 + 0.0002
    assert o.net_apr == D("0.1606")
    assert o.break_even_hours == D("0")


def test_case09_open_interest_ratio_and_labels() -> None:
    long_heavy = evaluate(
        leg("lighter", "0.00001", "1", open_interest_usd=D(3_000_000)),
        leg("aster", "0.0004", "8", open_interest_usd=D(2_000_000)),
        Params(),
        NOW,
    )
    assert long_heavy.oi_ratio == D("1.5")
    assert long_heavy.oi_imbalance == "long_heavy"
    assert (long_heavy.min_oi_usd, long_heavy.max_oi_usd) == (D(2_000_000), D(3_000_000))
    assert oi_imbalance(D("0.5")) == "short_heavy"
    assert oi_imbalance(D("1.2")) == "balanced"  # strictly above 1.2 is long heavy
    assert oi_imbalance(D("0.8")) == "balanced"
    assert oi_imbalance(None) is None


def test_case10_bid_ask_spreads_in_bps() -> None:
    o = evaluate(
        leg("lighter", "0.00001", "1", best_bid=D("99.9"), best_ask=D("100.1")),
        leg("aster", "0.0004", "8", best_bid=D("199.7"), best_ask=D("200.3")),
        Params(),
        NOW,
    )
    assert o.long.spread_bps == D("20")  # 0.2 / 100 × 10 000
    assert o.short.spread_bps == D("30")  # 0.6 / 200 × 10 000
    assert o.avg_spread_bps == D("25")


def test_case11_next_funding_data_age_and_staleness() -> None:
    o = evaluate(
        leg(
            "lighter",
            "0.00001",
            "1",
            collected_at=NOW - timedelta(seconds=90),
            next_funding_time=NOW + timedelta(minutes=30),
        ),
        leg(
            "aster", "0.0004", "8", collected_at=NOW - timedelta(seconds=30), next_funding_time=NOW + timedelta(hours=2)
        ),
        Params(stale_after_seconds=600),
        NOW,
    )
    assert o.seconds_to_next_funding == 1800.0
    assert o.data_age_seconds == 90.0
    assert o.collected_at == NOW - timedelta(seconds=90)
    assert not o.stale
    old = evaluate(
        leg("lighter", "0.00001", "1", collected_at=NOW - timedelta(seconds=601)),
        leg("aster", "0.0004", "8"),
        Params(stale_after_seconds=600),
        NOW,
    )
    assert old.stale and old.seconds_to_next_funding is None


def test_case12_usd_figures_for_a_position() -> None:
    # case 1 pair, 5000 USD per leg, held 48 h
    o = evaluate(
        leg("lighter", "0.00001", "1"),
        leg("aster", "0.0004", "8"),
        Params(hold_hours=D(48), position_size_usd=D(5000)),
        NOW,
    )
    assert o.net_profit == D("0.00112")  # 0.00004 × 48 − 0.0008
    assert o.net_apr == D("0.2044")  # 0.00112 / 48 × 8760
    assert o.fees_usd == D("4.0000")
    assert o.net_profit_usd == D("5.6")
    assert o.daily_funding_usd == D("4.8")  # 5000 × 0.00004 × 24
    assert o.daily_pnl_usd == D("2.8")  # 5.6 over 48 h = 2.8 a day


def test_case13_4h_vs_1h_negative() -> None:
    # edgex 0.0002 per 4 h (hourly 0.00005) vs lighter −0.00003 per 1 h: long lighter, short edgex
    o = evaluate(leg("edgex", "0.0002", "4"), leg("lighter", "-0.00003", "1"), Params(hold_hours=D(24)), NOW)
    assert (o.long.dex, o.short.dex) == ("lighter", "edgex")
    assert o.spread_hourly == D("0.00008")
    assert o.gross_apr == D("0.7008")
    assert o.fees == D("0.00076")
    assert o.break_even_hours == D("9.5")
    assert o.net_apr == D("0.4234")  # (0.00192 − 0.00076) / 24 × 8760


def test_case14_min_divergence_is_per_8h() -> None:
    # hourly spread 0.00001 is 0.00008 per 8 h: below the original default of 0.0001
    legs = [leg("lighter", "0.00001", "1"), leg("paradex", "0.00016", "8")]
    assert find(legs, Params(hold_hours=D(1000)), NOW).opportunities == []
    found = find(legs, Params(hold_hours=D(1000)), NOW, Filters(min_divergence=D("0.00008")))
    assert [o.divergence for o in found.opportunities] == [D("0.00008")]


def test_case15_pure_formulas() -> None:
    assert round_trip_fees(D("0.0004"), D("0.0005")) == D("0.0018")
    assert net_apr(D("0.0001"), D("0.001"), D("10")) == D("0")  # exactly break-even at 10 h
    assert net_apr(D("0.0001"), D("0.001"), D("20")) == D("0.438")  # (0.002 − 0.001) / 20 × 8760
    assert break_even_hours(D("0.001"), D("0.0001")) == D("10")
    assert break_even_hours(D("0.001"), D("0")) is None
    assert break_even_hours(D("-0.001"), D("0.0001")) == D("0")
    with pytest.raises(ValueError):
        net_apr(D("0.0001"), D("0.001"), D("0"))


def test_case16_long_hold_approaches_gross() -> None:
    # fees amortised over 8760 h: net APR = gross APR − fees
    o = evaluate(leg("lighter", "0.00001", "1"), leg("aster", "0.0004", "8"), Params(hold_hours=D(8760)), NOW)
    assert o.net_apr == o.gross_apr - o.fees == D("0.3496")


def test_case17_three_venues_give_three_pairs_ranked() -> None:
    legs = [leg("lighter", "0.00001", "1"), leg("aster", "0.0004", "8"), leg("backpack", "0.00003", "1")]
    result = find(legs, Params(hold_hours=D(8760)), NOW, Filters(min_divergence=None, min_profit=None))
    pairs = [(o.long.dex, o.short.dex, o.spread_hourly) for o in result.opportunities]
    # hourly: lighter 0.00001, backpack 0.00003, aster 0.00005; best by net profit first
    assert pairs == [
        ("lighter", "aster", D("0.00004")),  # fees 0.0008
        ("lighter", "backpack", D("0.00002")),  # fees 0.001
        ("backpack", "aster", D("0.00002")),  # fees 0.0018
    ]
    assert result.matched == 3


def test_sort_puts_missing_values_last_and_validates_field() -> None:
    a = evaluate(
        leg("lighter", "0.00001", "1", open_interest_usd=D(5)),
        leg("aster", "0.0004", "8", open_interest_usd=D(7)),
        Params(),
        NOW,
    )
    b = evaluate(leg("lighter", "0.00001", "1", symbol="ETH"), leg("aster", "0.0008", "8", symbol="ETH"), Params(), NOW)
    assert sort_opportunities([b, a], "min_oi_usd", desc=True) == [a, b]
    assert sort_opportunities([b, a], "min_oi_usd", desc=False) == [a, b]
    assert sort_opportunities([a, b], "net_apr") == [b, a]
    with pytest.raises(ValueError, match="cannot sort"):
        sort_opportunities([a], "nope")


def test_params_reject_non_positive() -> None:
    with pytest.raises(ValueError):
        Params(hold_hours=D(0))
    with pytest.raises(ValueError):
        Params(position_size_usd=D(-1))


def test_evaluate_rejects_mismatched_legs() -> None:
    with pytest.raises(ValueError, match="different symbols"):
        evaluate(leg("lighter", "0", "1"), leg("aster", "0", "8", symbol="ETH"), Params(), NOW)
    with pytest.raises(ValueError, match="both legs"):
        evaluate(leg("lighter", "0", "1"), leg("lighter", "0", "1"), Params(), NOW)
