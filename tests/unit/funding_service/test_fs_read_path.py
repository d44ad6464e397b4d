"""The pieces of the read path's caches: encoded answers with time holes, the answers LRU, the snapshot's turning
points, and the statistics computed without fractions (against the plain Python reference they replaced)."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from decimal import localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bot_runtime.funding_api.models import LatestRates, Opportunities
from funding_service.api.encoded import Hole, TemplateMismatch, encode, model_bytes
from funding_service.api.state import CachedAnswer, ResponseCache, Snapshot
from funding_service.api.views import opportunities_holes, opportunity_row
from funding_service.core.fees import FeeSchedule
from funding_service.core.history import Summary, percentile, sample_stdev, sqrt_of_fraction, summarize
from funding_service.core.opportunities import Filters, Leg, Params, find
from funding_service.core.rates import apr

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
FEES = FeeSchedule(D("0.0002"), D("0.0005"))


def leg(dex: str, symbol: str, rate: str, interval: str, collected: datetime, **kw: Any) -> Leg:
    return Leg(
        dex=dex, symbol=symbol, rate=D(rate), interval_hours=D(interval), fees=FEES, collected_at=collected, **kw
    )


LEGS = [
    leg("aster", "BTC", "0.0004", "8", T0 - timedelta(seconds=30), next_funding_time=T0 + timedelta(hours=2)),
    leg("grvt", "BTC", "-0.0008", "8", T0 - timedelta(seconds=90), next_funding_time=T0 + timedelta(seconds=20)),
    leg("lighter", "BTC", "0.00001", "1", T0 - timedelta(seconds=590)),
    leg("aster", "ETH", "0.0009", "8", T0 - timedelta(seconds=10)),
    leg("backpack", "ETH", "-0.0002", "1", T0 + timedelta(seconds=5)),  # a clock a little ahead
]
PARAMS = Params(stale_after_seconds=600)


def opportunities_at(now: datetime, legs: Sequence[Leg] = LEGS, **filters: Any) -> tuple[Opportunities, list[Hole]]:
    result = find(legs, PARAMS, now, Filters(**filters), limit=10)
    model = Opportunities(
        opportunities=[opportunity_row(o, now) for o in result.opportunities],
        total_count=len(result.opportunities),
        matched_count=result.matched,
        stale_excluded=result.stale_excluded,
        filters_applied={"limit": 10, "hold_hours": "24", "include_stale": filters.get("include_stale", False)},
        generated_at=now,
    )
    return model, opportunities_holes("opportunities", result.opportunities, PARAMS.stale_after_seconds)


# --- encoded answers ------------------------------------------------------------------------------------------------


def test_model_bytes_are_what_fastapi_sends() -> None:
    model, _ = opportunities_at(T0)
    assert model_bytes(model) == TypeAdapter(Opportunities).dump_json(model, by_alias=True)


@pytest.mark.parametrize("include_stale", [False, True])
def test_template_renders_the_answer_computed_at_each_instant(include_stale: bool) -> None:
    model, holes = opportunities_at(T0, include_stale=include_stale)
    assert model.opportunities, "the dataset must select rows"
    template = encode(model, holes, T0)
    assert template.render(T0) == model_bytes(model)
    snap = snapshot_of(LEGS)
    later = T0
    # up to (not including) the next turning point the selection is the same: only the time fields move
    for step in (timedelta(microseconds=1), timedelta(seconds=3), timedelta(seconds=4, microseconds=999_998)):
        later = T0 + step
        assert snap.next_turn(T0) is not None and later < snap.next_turn(T0)  # type: ignore[operator]
        fresh, _ = opportunities_at(later, include_stale=include_stale)
        assert template.render(later) == model_bytes(fresh)


def test_template_without_holes_is_the_bytes() -> None:
    model = LatestRates(data={"BTC": {"aster": D("0.0001")}}, updated_at=T0, count=1)
    template = encode(model, [], T0)
    assert template.render(T0 + timedelta(days=1)) == model_bytes(model)


def test_a_hole_that_disagrees_with_the_model_is_refused() -> None:
    model, holes = opportunities_at(T0)
    wrong = [
        (path, (lambda now: now + timedelta(seconds=1)) if path == ("generated_at",) else fill) for path, fill in holes
    ]
    with pytest.raises(TemplateMismatch):
        encode(model, wrong, T0)
    with pytest.raises(TemplateMismatch):
        encode(model, [(("no_such_field",), lambda now: now)], T0)


def test_strings_in_the_data_never_look_like_holes() -> None:
    model = LatestRates(data={'A"\\,"': {"x": D(1)}}, updated_at=T0, count=1)
    template = encode(model, [(("updated_at",), lambda now: now)], T0)
    assert template.render(T0) == model_bytes(model)
    assert len(template.parts) == 2


# --- the answers LRU ------------------------------------------------------------------------------------------------


def entry(generation: int, valid_until: datetime | None = None, size: int = 0) -> CachedAnswer[str]:
    return CachedAnswer(
        generation=generation, computed_at=T0, valid_until=valid_until, value=f"g{generation}", size=size
    )


def test_cache_serves_only_its_generation_and_window() -> None:
    cache: ResponseCache[str] = ResponseCache(4)
    key = ("/x", (("a", "1"),))
    cache.put(key, entry(1, T0 + timedelta(seconds=10)))
    assert cache.get(key, 1, T0) is not None
    assert cache.get(key, 1, T0 + timedelta(seconds=9)) is not None
    assert cache.get(key, 1, T0 + timedelta(seconds=10)) is None  # the window is half-open
    assert cache.get(key, 1, T0 - timedelta(seconds=1)) is None  # a clock stepping back never reuses it
    assert cache.get(key, 2, T0) is None  # another snapshot: dropped
    assert len(cache) == 0


def test_cache_is_bounded_lru_and_can_be_off() -> None:
    cache: ResponseCache[str] = ResponseCache(2)
    keys = [("/x", (("n", str(i)),)) for i in range(3)]
    cache.put(keys[0], entry(1))
    cache.put(keys[1], entry(1))
    assert cache.get(keys[0], 1, T0) is not None  # now the most recent
    cache.put(keys[2], entry(1))
    assert cache.get(keys[1], 1, T0) is None and cache.get(keys[0], 1, T0) is not None and len(cache) == 2
    off: ResponseCache[str] = ResponseCache(0)
    off.put(keys[0], entry(1))
    assert len(off) == 0


def test_cache_keeps_to_its_byte_budget() -> None:
    cache: ResponseCache[str] = ResponseCache(100, max_bytes=1000)
    keys = [("/x", (("n", str(i)),)) for i in range(4)]
    for key in keys[:3]:
        cache.put(key, entry(1, size=400))
    assert len(cache) == 2 and cache.bytes == 800 and cache.get(keys[0], 1, T0) is None
    cache.put(keys[1], entry(1, size=100))  # replacing an entry releases its bytes
    assert cache.bytes == 500
    cache.put(keys[3], entry(1, size=5000))  # larger than the whole budget: not kept
    assert cache.get(keys[3], 1, T0) is None and cache.bytes == 500
    cache.clear()
    assert cache.bytes == 0 and len(cache) == 0


def snapshot_of(legs: Sequence[Leg]) -> Snapshot:
    return Snapshot(
        generation=1, fingerprint="f", rows=[], legs=list(legs), dex_rows=[], dexes={}, stale_after_seconds=600
    )


def test_snapshot_turning_points() -> None:
    snap = snapshot_of(LEGS)
    # backpack's collected_at is 5 s ahead: its age stops being clamped to 0 then
    assert snap.next_turn(T0) == T0 + timedelta(seconds=5)
    assert snap.next_turn(T0 + timedelta(seconds=5)) == T0 + timedelta(seconds=5)  # at a turning point: itself
    # lighter turns stale 600 s after T0 − 590 s
    assert snap.next_turn(T0 + timedelta(seconds=5, microseconds=1)) == T0 + timedelta(seconds=10)
    assert snap.next_turn(T0 + timedelta(days=1)) is None
    assert snap.symbols == {"BTC", "ETH"}


def test_answers_agree_across_a_turning_point_only_after_recomputing() -> None:
    before, _ = opportunities_at(T0 + timedelta(seconds=9))
    after, _ = opportunities_at(T0 + timedelta(seconds=11))
    # lighter BTC turned stale in between: the selection itself changed, which is why answers expire there
    assert before.stale_excluded != after.stale_excluded or before.matched_count != after.matched_count


# --- statistics -----------------------------------------------------------------------------------------------------


def reference_summary(values: Sequence[D]) -> Summary | None:
    """The implementation the service used before (statistics.stdev on Fractions, a generator count)."""
    if not values:
        return None
    ordered = sorted(values)
    total = sum(ordered, D(0))
    mean_value = total / len(ordered)
    stdev = statistics.stdev(ordered) if len(ordered) > 1 else D(0)
    positive = sum(1 for v in ordered if v > 0)
    return Summary(
        count=len(ordered),
        mean=mean_value,
        median=percentile(ordered, 50),
        stdev=stdev,
        minimum=ordered[0],
        maximum=ordered[-1],
        p25=percentile(ordered, 25),
        p75=percentile(ordered, 75),
        positive_share=D(positive) / D(len(ordered)),
        annualized=apr(mean_value),
        stability=stdev / abs(mean_value) if mean_value != 0 else None,
    )


rates = st.integers(min_value=-(10**7), max_value=10**7).map(lambda n: D(n).scaleb(-8))
intervals = st.sampled_from([D(1), D(2), D(3), D(4), D(6), D(8), D("0.5"), D(7)])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(rates, intervals), min_size=0, max_size=60))
def test_summarize_equals_the_reference(rows: list[tuple[D, D]]) -> None:
    hourly = [r / i for r, i in rows]
    assert summarize(hourly) == reference_summary(hourly)
    if len(hourly) > 1:
        assert str(sample_stdev(hourly)) == str(statistics.stdev(hourly))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.decimals(allow_nan=False, allow_infinity=False, places=12, min_value=-5, max_value=5), min_size=2))
def test_sample_stdev_equals_statistics_stdev(values: list[D]) -> None:
    assert str(sample_stdev(values)) == str(statistics.stdev(values))


def test_stdev_follows_the_current_context() -> None:
    values = [D(1), D(2), D(4)]
    with localcontext(prec=10):
        assert sample_stdev(values) == statistics.stdev(values)
        assert len(sample_stdev(values).as_tuple().digits) == 10


def test_sqrt_of_fraction_is_correctly_rounded() -> None:
    assert sqrt_of_fraction(0, 5) == D("0.0")
    assert sqrt_of_fraction(9, 4) == D("1.5")
    assert sqrt_of_fraction(2, 1) == D(2).sqrt()
    with pytest.raises(ValueError):
        sqrt_of_fraction(-1, 2)
    with pytest.raises(ValueError):
        sample_stdev([D(1)])
