"""The optimised finder (floats pre-select, Decimal decides) against a straightforward reference: every pair valued
with evaluate(), filtered with the Filters' own checks, sorted with sort_opportunities. Same rows, same order, same
counts, on random legs built to hit ties and thresholds exactly, and at the float/Decimal boundary."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funding_service.core.fees import FeeSchedule
from funding_service.core.opportunities import (
    SORT_FIELDS,
    Filters,
    Leg,
    Opportunity,
    Params,
    Result,
    _may_rank,
    evaluate,
    find,
    find_exact,
    sort_opportunities,
)
from tests.unit.funding_service.test_fs_opportunity_math import FEES, NOW  # the seeded fee table

VENUES = sorted(FEES)
SYMBOLS = ["BTC", "ETH", "SOL", "PEPE"]


def reference(
    legs: Sequence[Leg],
    params: Params,
    now: datetime,
    filters: Filters,
    sort_by: str,
    desc: bool,
    limit: int | None,
) -> tuple[list[Opportunity], int, int]:
    """SPEC §6 the plain way: value every pair, then filter, sort, cut."""
    by_symbol: dict[str, list[Leg]] = defaultdict(list)
    for leg in legs:
        by_symbol[leg.symbol].append(leg)
    accepted: list[Opportunity] = []
    stale = 0
    for group in by_symbol.values():
        for a, b in itertools.combinations(group, 2):
            o = evaluate(a, b, params, now)
            if filters.symbols is not None and o.symbol not in filters.symbols:
                continue
            if not filters.accepts_pair(o.long.dex, o.short.dex):
                continue
            if not filters.profitable(o.divergence, o.net_profit, o.net_apr) or not filters.liquidity_ok(o):
                continue
            if o.stale and not filters.include_stale:
                stale += 1
                continue
            accepted.append(o)
    ranked = sort_opportunities(accepted, sort_by, desc)
    return (ranked[:limit] if limit is not None else ranked), len(ranked), stale


def rows(opps: Sequence[Opportunity]) -> list[tuple[object, ...]]:
    return [
        (
            o.symbol,
            o.long.dex,
            o.short.dex,
            o.spread_hourly,
            o.fees,
            o.net_profit,
            o.net_apr,
            o.stale,
            o.data_age_seconds,
        )
        for o in opps
    ]


def assert_same(result: Result, expected: tuple[list[Opportunity], int, int]) -> None:
    opps, matched, stale = expected
    assert rows(result.opportunities) == rows(opps)
    assert (result.matched, result.stale_excluded) == (matched, stale)


# rates on a coarse grid (ties and exact threshold hits are common), intervals 1/4/8 h
rate_st = st.integers(-40, 40).map(lambda k: D(k) * D("0.00001"))
interval_st = st.sampled_from([D(1), D(4), D(8)])
leg_st = st.tuples(
    st.sampled_from(SYMBOLS),
    st.sampled_from(VENUES),
    rate_st,
    interval_st,
    st.integers(0, 1200),  # age in seconds
    st.none() | st.integers(1, 10).map(lambda k: D(k) * D(100_000)),  # open interest
    st.none() | st.integers(1, 10).map(lambda k: D(k) * D(1_000_000)),  # volume
)


def make_legs(specs: list[tuple[str, str, D, D, int, D | None, D | None]]) -> list[Leg]:
    seen: set[tuple[str, str]] = set()
    legs = []
    for symbol, dex, rate, interval, age, oi, volume in specs:
        if (symbol, dex) in seen:  # one latest rate per (dex, symbol), as latest_funding_rates
            continue
        seen.add((symbol, dex))
        legs.append(
            Leg(
                dex=dex,
                symbol=symbol,
                rate=rate,
                interval_hours=interval,
                fees=FEES[dex],
                collected_at=NOW - timedelta(seconds=age),
                open_interest_usd=oi,
                volume_24h_usd=volume,
            )
        )
    return legs


filters_st = st.builds(
    Filters,
    symbols=st.none() | st.frozensets(st.sampled_from(SYMBOLS), min_size=1),
    dex=st.none() | st.sampled_from(VENUES),
    long_dex=st.none() | st.sampled_from(VENUES),
    exclude_dexes=st.frozensets(st.sampled_from(VENUES), max_size=2),
    min_divergence=st.sampled_from([None, D(0), D("0.0001"), D("0.00008"), D("0.0004")]),
    min_profit=st.sampled_from([None, D(0), D("-0.001"), D("0.0005"), D("0.0012")]),
    min_net_apr=st.sampled_from([None, D(0), D("0.146"), D("0.5")]),
    min_oi=st.sampled_from([None, D(300_000)]),
    min_volume=st.sampled_from([None, D(2_000_000)]),
    include_stale=st.booleans(),
)
params_st = st.builds(
    Params,
    hold_hours=st.sampled_from([D(1), D(8), D(24), D(48), D(1000)]),
    fee_mode=st.sampled_from(["taker", "maker"]),
    stale_after_seconds=st.sampled_from([300, 600, 1200]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=st.lists(leg_st, min_size=0, max_size=24),
    params=params_st,
    filters=filters_st,
    sort_by=st.sampled_from(SORT_FIELDS),
    desc=st.booleans(),
    limit=st.none() | st.integers(1, 12),
)
def test_find_matches_the_reference(
    specs: list[tuple[str, str, D, D, int, D | None, D | None]],
    params: Params,
    filters: Filters,
    sort_by: str,
    desc: bool,
    limit: int | None,
) -> None:
    legs = make_legs(specs)
    expected = reference(legs, params, NOW, filters, sort_by, desc, limit)
    assert_same(find(legs, params, NOW, filters, sort_by=sort_by, desc=desc, limit=limit), expected)
    assert_same(find_exact(legs, params, NOW, filters, sort_by=sort_by, desc=desc, limit=limit), expected)


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(leg_st, min_size=2, max_size=24),
    sort_by=st.sampled_from(SORT_FIELDS),
    desc=st.booleans(),
    limit=st.none() | st.integers(1, 5),
)
def test_find_matches_the_reference_with_the_snapshot_filters(
    specs: list[tuple[str, str, D, D, int, D | None, D | None]], sort_by: str, desc: bool, limit: int | None
) -> None:
    # what the ingest snapshot asks for: every pair, no threshold
    legs = make_legs(specs)
    filters = Filters(min_divergence=None, min_profit=None)
    expected = reference(legs, Params(), NOW, filters, sort_by, desc, limit)
    assert_same(find(legs, Params(), NOW, filters, sort_by=sort_by, desc=desc, limit=limit), expected)


def two_legs(long_rate: str, short_rate: str, symbol: str = "BTC") -> list[Leg]:
    return [
        Leg(
            dex="lighter", symbol=symbol, rate=D(long_rate), interval_hours=D(1), fees=FEES["lighter"], collected_at=NOW
        ),
        Leg(dex="aster", symbol=symbol, rate=D(short_rate), interval_hours=D(1), fees=FEES["aster"], collected_at=NOW),
    ]


def test_thresholds_are_decided_in_decimal_at_the_boundary() -> None:
    # aster's taker fee: fees = 2 x (0 + 0.0004) = 0.0008; hold 8 h: break-even at a hourly spread of exactly 0.0001
    params = Params(hold_hours=D(8))
    filters = Filters(min_divergence=None, min_profit=D(0))
    at = two_legs("0", "0.0001")
    below = two_legs("0", "0.0000999999999999999999999999")  # short of break-even by 8e-28: the same float
    above = two_legs("0", "0.0001000000000000000000000001")
    assert float(below[1].hourly_rate) == float(at[1].hourly_rate) == float(above[1].hourly_rate)
    assert [o.net_profit for o in find(at, params, NOW, filters).opportunities] == [D(0)]  # >= 0: kept
    assert find(below, params, NOW, filters).opportunities == []
    assert find(below, params, NOW, filters).matched == 0
    assert [o.net_profit for o in find(above, params, NOW, filters).opportunities] == [D("8E-28")]
    # min_divergence (per 8 h) exactly met, and missed by 1e-28 per hour
    div = Filters(min_divergence=D("0.0008"), min_profit=None)
    assert len(find(at, params, NOW, div).opportunities) == 1
    assert find(below, params, NOW, div).opportunities == []
    # min_net_apr: 0 at break-even
    apr = Filters(min_divergence=None, min_profit=None, min_net_apr=D(0))
    assert len(find(at, params, NOW, apr).opportunities) == 1
    assert find(below, params, NOW, apr).opportunities == []
    for case in (at, below, above):
        for f in (filters, div, apr):
            assert_same(find(case, params, NOW, f), reference(case, params, NOW, f, "net_profit_percent", True, None))


def test_orientation_of_a_near_tie_is_decided_in_decimal() -> None:
    # hourly rates 1e-28 apart: one float, but aster is the short leg (higher), lighter the long one
    legs = two_legs("0.0001", "0.0001000000000000000000000001")
    found = find(legs, Params(), NOW, Filters(min_divergence=None, min_profit=None)).opportunities
    assert [(o.long.dex, o.short.dex, o.spread_hourly) for o in found] == [("lighter", "aster", D("1E-28"))]
    flipped = two_legs("0.0001000000000000000000000001", "0.0001")
    found = find(flipped, Params(), NOW, Filters(min_divergence=None, min_profit=None)).opportunities
    assert [(o.long.dex, o.short.dex) for o in found] == [("aster", "lighter")]


def test_the_limit_cut_among_values_floats_cannot_tell_apart() -> None:
    # 30 symbols whose net profits differ by 1e-27: equal as floats, ranked exactly in Decimal
    legs = [
        leg
        for k in range(30)
        for leg in two_legs("0", str(D("0.001") + D(k % 7) * D("1E-27") + D(k // 7) * D("1E-9")), symbol=f"S{k}")
    ]
    params = Params()
    filters = Filters()
    for sort_by, desc, limit in itertools.product(
        ("net_profit_percent", "net_apr", "gross_apr"), (True, False), (1, 5)
    ):
        assert_same(
            find(legs, params, NOW, filters, sort_by=sort_by, desc=desc, limit=limit),
            reference(legs, params, NOW, filters, sort_by, desc, limit),
        )


def test_a_venue_listed_twice_keeps_the_exact_order() -> None:
    # not from the database (one latest rate per dex and symbol), but find() stays find_exact() for any input
    legs = [*two_legs("0", "0.001"), *two_legs("0", "0.001")]
    fast = find(legs, Params(), NOW, Filters())
    exact = find_exact(legs, Params(), NOW, Filters())
    assert [(id(o.long), id(o.short)) for o in fast.opportunities] == [
        (id(o.long), id(o.short)) for o in exact.opportunities
    ]
    assert fast.matched == exact.matched == 4


def test_out_of_range_values_take_the_exact_path() -> None:
    huge = [
        Leg(
            dex="lighter",
            symbol="X",
            rate=D(0),
            interval_hours=D(1),
            fees=FeeSchedule(D("1E+400"), D("1E+400")),
            collected_at=NOW,
        ),
        Leg(dex="aster", symbol="X", rate=D("0.001"), interval_hours=D(1), fees=FEES["aster"], collected_at=NOW),
    ]
    assert huge[0].taker_f is None
    filters = Filters(min_divergence=None, min_profit=None)
    assert_same(
        find(huge, Params(), NOW, filters), reference(huge, Params(), NOW, filters, "net_profit_percent", True, None)
    )
    tiny_hold = Params(hold_hours=D("1E-60"))
    legs = two_legs("0", "0.001")
    assert_same(find(legs, tiny_hold, NOW, filters), reference(legs, tiny_hold, NOW, filters, "net_apr", True, None))


def test_a_generator_of_legs_is_read_once() -> None:
    legs = two_legs("0", "0.001")
    assert len(find(iter(legs), Params(), NOW, Filters()).opportunities) == 1


@settings(max_examples=300, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(-50, 50), st.integers(0, 20), st.floats(-1, 1)), min_size=1, max_size=40),
    desc=st.booleans(),
    limit=st.integers(1, 10),
)
def test_the_limit_preselection_keeps_every_row_that_can_make_the_cut(
    data: list[tuple[int, int, float]], desc: bool, limit: int
) -> None:
    # exact value x, a float estimate off by at most its error bound e: whatever the estimates, the rows that rank
    # in the first `limit` exactly (ties included) are all pre-selected
    # a row: (estimate, error scale, ...) with estimate = x + noise x e and error scale e / 1e-9, so that the finder's
    # margin (1e-9 x the scale) is e; the row's own index rides in the leg slots
    rows = [(x + e * noise * 0.999, e / 1e-9, 0.0, 0.0, i, i, None) for i, (x, e, noise) in enumerate(data)]
    kept: set[object] = {r[4] for r in _may_rank(rows, (0, 1, 1.0, False), 1.0, desc, limit)}  # type: ignore[arg-type]
    exact = sorted(data, key=lambda d: d[0], reverse=desc)
    cut = exact[min(limit, len(exact)) - 1][0]
    must = {i for i, (x, _, _) in enumerate(data) if (x >= cut if desc else x <= cut)}
    assert must <= kept
