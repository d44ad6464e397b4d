"""The read path's caches on a real PostgreSQL: cached answers equal fresh ones byte for byte, an ingest through
this process invalidates them at once, a write through another process is seen within ``latest_cache_seconds``,
and the statistics equal a plain Python reference computed from the rows themselves."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import TypeAdapter

from bot_runtime.funding_api.models import BestOpportunity, LatestRates, Opportunities, RateStats
from funding_service.core.history import percentile
from tests.integration.funding_service.fs_helpers import Service, batch, close_service, open_service, rate

pytestmark = pytest.mark.integration

API = "/api/v1"
T0 = datetime.now(UTC).replace(microsecond=123_456)

QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/opportunities", {}),
    ("/opportunities", {"include_stale": "true", "limit": "100"}),
    ("/opportunities", {"min_profit": "-1", "min_divergence": "0", "sort_by": "data_age_seconds"}),
    ("/opportunities", {"dexes": "aster,grvt", "sort_desc": "false", "min_profit": "-1"}),
    ("/opportunities", {"symbols": "ETH,DOGE", "min_profit": "-1", "min_divergence": "0"}),
    ("/opportunities", {"symbol": "NOPE"}),  # nothing matches: an empty list
    ("/opportunities/best", {}),
    ("/opportunities/best", {"symbol": "NOPE"}),
    ("/funding-rates", {}),
    ("/funding-rates", {"include_metadata": "true"}),
    ("/funding-rates", {"dex": "aster"}),
    ("/funding-rates", {"symbol": "btc", "include_metadata": "true"}),
    ("/funding-rates", {"symbol": "NOPE"}),  # no rows: updated_at is the request's instant
]
MODELS: dict[str, Any] = {
    "/opportunities": Opportunities,
    "/opportunities/best": BestOpportunity,
    "/funding-rates": LatestRates,
}


def cycle(at: datetime, shift: str = "0") -> list[dict[str, Any]]:
    s = D(shift)
    return [
        rate(
            "aster",
            "BTC",
            str(D("0.0004") + s),
            "8",
            at - timedelta(seconds=30),
            next_funding_time=at + timedelta(hours=1),
        ),
        rate("grvt", "BTC", "-0.0008", "8", at - timedelta(seconds=200), next_funding_time=at + timedelta(seconds=40)),
        rate("lighter", "BTC", "0.00001", "1", at - timedelta(seconds=560), open_interest_usd="1000000"),
        rate("paradex", "BTC", "0.0001", "8", at + timedelta(seconds=3)),  # the venue's clock runs ahead
        rate("lighter", "ETH", "0.00002", "1", at - timedelta(seconds=20)),
        rate("backpack", "ETH", "0.00009", "1", at - timedelta(seconds=20)),
        rate("aster", "DOGE", "0.0003", "8", at - timedelta(minutes=15)),  # stale already
        rate("edgex", "DOGE", "-0.0001", "4", at - timedelta(minutes=15)),
    ]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(scope="module")
async def pair(fs_dsn: str) -> AsyncIterator[tuple[Service, Service, Clock]]:
    """Two apps on one database, one clock: ``cached`` (answers cached, the snapshot kept for an hour unless an
    ingest here drops it) and ``fresh`` (no answer cache, the snapshot re-checked on every request)."""
    cached = await open_service(fs_dsn, latest_cache_seconds=3600)
    fresh = await open_service(fs_dsn, latest_cache_seconds=0, response_cache_entries=0)
    clock = Clock(T0)
    for svc in (cached, fresh):
        svc.app.state.service.clock = clock
    await cached.reset()
    r = await cached.ingest(batch("c1", cycle(T0), T0))
    assert r.status_code == 200, r.text
    try:
        yield cached, fresh, clock
    finally:
        await close_service(cached)
        await close_service(fresh)


async def body(svc: Service, path: str, params: dict[str, str]) -> bytes:
    r = await svc.http.get(API + path, params=params)
    assert r.status_code == 200, f"{path} {params}: {r.status_code} {r.text}"
    assert r.headers["content-type"] == "application/json"
    return r.content


async def assert_same_answers(cached: Service, fresh: Service) -> None:
    for path, params in QUERIES:
        expected = await body(fresh, path, params)
        first = await body(cached, path, params)
        again = await body(cached, path, params)
        assert first == expected, f"{path} {params}"
        assert again == expected, f"{path} {params} (served from the cache)"
        # the bytes are the canonical JSON of the response model, as FastAPI itself would send it
        model = MODELS[path]
        assert TypeAdapter(model).dump_json(model.model_validate_json(again)) == again


async def test_cached_answers_equal_fresh_ones_at_every_instant(pair: tuple[Service, Service, Clock]) -> None:
    cached, fresh, clock = pair
    state = cached.app.state.service
    await assert_same_answers(cached, fresh)
    assert len(state.responses) == len({(p, tuple(sorted(q.items()))) for p, q in QUERIES})
    # time passes: ages and times to funding move; paradex's clock is reached (3 s), grvt's funding passes (40 s),
    # lighter BTC turns stale (40 s), DOGE stays stale; every answer still equals a fresh one
    for seconds in (1, 2.5, 3, 3.000001, 10, 39.9, 40, 40.000001, 41, 400, 4000):
        clock.at = T0 + timedelta(seconds=seconds)
        await assert_same_answers(cached, fresh)


async def test_query_order_and_repeats_share_an_entry(pair: tuple[Service, Service, Clock]) -> None:
    cached, fresh, clock = pair
    clock.at = T0
    state = cached.app.state.service
    a = await cached.http.get(f"{API}/opportunities?min_profit=-1&limit=3&sort_by=gross_apr")
    size = len(state.responses)
    b = await cached.http.get(f"{API}/opportunities?sort_by=gross_apr&limit=3&min_profit=-1")
    assert a.content == b.content and len(state.responses) == size
    # a parameter the route does not read is ignored by FastAPI, and by the cache
    c = await cached.http.get(f"{API}/opportunities?sort_by=gross_apr&utm=x&limit=3&min_profit=-1")
    assert a.content == c.content and len(state.responses) == size
    # a repeated parameter: FastAPI reads the last value, so order among repeats matters
    one_two = await cached.http.get(f"{API}/opportunities?limit=1&limit=2")
    two_one = await cached.http.get(f"{API}/opportunities?limit=2&limit=1")
    assert len(one_two.json()["opportunities"]) == 2 and len(two_one.json()["opportunities"]) == 1
    fresh_two_one = await fresh.http.get(f"{API}/opportunities?limit=2&limit=1")
    assert two_one.content == fresh_two_one.content


async def test_cached_answers_skip_routing_and_are_still_counted(pair: tuple[Service, Service, Clock]) -> None:
    cached, fresh, clock = pair
    clock.at = T0
    state = cached.app.state.service
    await body(cached, "/opportunities", {"limit": "4"})  # computed: registers the path
    assert f"{API}/opportunities" in state.fast_paths and f"{API}/funding-rates" in state.fast_paths

    def routed() -> int:
        return int(state.metrics.requests.labels(f"{API}/opportunities", "GET", "200")._value.get())

    before = routed()
    handled = 0
    original = state.latest.get

    async def counting_get() -> Any:  # the routed path asks for the snapshot; the fast path must not need to
        nonlocal handled
        handled += 1
        return await original()

    state.latest.get = counting_get
    try:
        for _ in range(5):
            assert await body(cached, "/opportunities", {"limit": "4"}) == await body(
                fresh, "/opportunities", {"limit": "4"}
            )
    finally:
        del state.latest.get
    assert handled == 0  # served before routing
    assert routed() == before + 5  # and counted under the route's template
    r = await cached.http.head(f"{API}/opportunities", params={"limit": "4"})
    assert r.status_code == 405  # only GET takes the shortcut: the rest is routed as before


async def test_invalid_queries_are_never_cached(pair: tuple[Service, Service, Clock]) -> None:
    cached, _, clock = pair
    clock.at = T0
    state = cached.app.state.service
    state.responses.clear()
    for params in ({"limit": "0"}, {"dex": "nowhere"}, {"sort_by": "nope"}):
        r = await cached.http.get(f"{API}/opportunities", params=params)
        assert r.status_code == 422, r.text
    r = await cached.http.get(f"{API}/funding-rates", params={"dex": "nowhere"})
    assert r.status_code == 422
    assert len(state.responses) == 0


async def test_an_ingest_here_invalidates_at_once(pair: tuple[Service, Service, Clock]) -> None:
    cached, fresh, clock = pair
    clock.at = T0 + timedelta(seconds=60)
    before_opps = await body(cached, *QUERIES[0])
    before_rates = await body(cached, *QUERIES[8])
    t1 = T0 + timedelta(seconds=60)
    r = await cached.ingest(batch("c2", cycle(t1, shift="0.0003"), t1))
    assert r.status_code == 200, r.text
    after_opps = await body(cached, *QUERIES[0])
    after_rates = await body(cached, *QUERIES[8])
    assert after_opps != before_opps and after_rates != before_rates
    assert LatestRates.model_validate_json(after_rates).data["BTC"]["aster"] == D("0.0007")
    # ... and everything equals the fresh answers again, on the new data
    await assert_same_answers(cached, fresh)


async def test_a_write_elsewhere_is_seen_within_the_check_interval(
    fs_dsn: str, pair: tuple[Service, Service, Clock]
) -> None:
    cached, _, clock = pair
    clock.at = T0 + timedelta(seconds=120)
    watcher = await open_service(fs_dsn, latest_cache_seconds=0)  # re-checks its snapshot on every request
    try:
        first = await watcher.http.get(f"{API}/funding-rates", params={"symbol": "ETH"})
        assert first.status_code == 200
        generation = watcher.app.state.service.latest._snapshot.generation
        again = await watcher.http.get(f"{API}/funding-rates", params={"symbol": "ETH"})
        assert again.content == first.content
        # nothing changed: the fingerprint matched and the snapshot was kept (not reloaded)
        assert watcher.app.state.service.latest._snapshot.generation == generation
        t2 = T0 + timedelta(seconds=120)
        r = await cached.ingest(batch("c3", [rate("lighter", "ETH", "0.00005", "1", t2)], t2))  # another process
        assert r.status_code == 200, r.text
        seen = await watcher.http.get(f"{API}/funding-rates", params={"symbol": "ETH"})
        assert LatestRates.model_validate_json(seen.content).data["ETH"]["lighter"] == D("0.00005")
        # a dex switched off by hand also changes the fingerprint
        await watcher.fetch("UPDATE dexes SET is_active = false WHERE name = 'backpack'")
        gone = await watcher.http.get(f"{API}/funding-rates", params={"symbol": "ETH"})
        assert "backpack" not in LatestRates.model_validate_json(gone.content).data["ETH"]
    finally:
        await watcher.fetch("UPDATE dexes SET is_active = true WHERE name = 'backpack'")
        await close_service(watcher)
        cached.app.state.service.invalidate()


# --- statistics against a plain reference ---------------------------------------------------------------------------


def reference_statistics(values: Sequence[D]) -> dict[str, Any]:
    """The statistics as the service computed them before (statistics.stdev, a full sort), as JSON values."""

    def s(x: D | None) -> str | None:
        if x is None:
            return None
        text = format(x.normalize(), "f")
        return "0" if text in {"-0", "0"} else text

    if not values:
        return dict.fromkeys(
            ("average", "median", "min", "max", "stdev", "volatility", "stability", "percentile_25", "percentile_75",
             "positive_share", "annualized_apr", "annualized_apy"),
        )  # fmt: skip
    ordered = sorted(values)
    mean = sum(ordered, D(0)) / len(ordered)
    stdev = statistics.stdev(ordered) if len(ordered) > 1 else D(0)
    stability = stdev / abs(mean) if mean != 0 else None
    return {
        "average": s(mean),
        "median": s(percentile(ordered, 50)),
        "min": s(ordered[0]),
        "max": s(ordered[-1]),
        "stdev": s(stdev),
        "volatility": s(stability),
        "stability": s(stability),
        "percentile_25": s(percentile(ordered, 25)),
        "percentile_75": s(percentile(ordered, 75)),
        "positive_share": s(D(sum(1 for v in ordered if v > 0)) / D(len(ordered))),
        "annualized_apr": s(mean * 8760),
        "annualized_apy": s(mean * 8760 * 100),
    }


async def test_stats_equal_a_python_reference(pair: tuple[Service, Service, Clock]) -> None:
    cached, _, _ = pair
    now = datetime.now(UTC)
    # 3 venues x 60 hourly periods with intervals whose hourly rates do not terminate (3 h, 7 h), negative, zero,
    # repeated values and numbers written with trailing zeros
    venues = {"aster": "3", "grvt": "8", "edgex": "7", "lighter": "1"}
    rows = []
    for h in range(60):
        at = now - timedelta(hours=h, minutes=5)
        for i, (dex, interval) in enumerate(venues.items()):
            value = D((h * 37 + i * 11) % 23 - 9).scaleb(-5) if h % 13 else D("0.000100")
            rows.append(rate(dex, "STATX", str(value), interval, at))
    for h in range(0, 60, 10):  # one ingest per 10 h of data (the ingest takes any mix)
        part = [
            r
            for r in rows
            if now - timedelta(hours=h + 10) < datetime.fromisoformat(r["collected_at"]) <= now - timedelta(hours=h)
        ]
        r = await cached.ingest(batch(f"stats-{h}", part, now - timedelta(hours=h)))
        assert r.status_code == 200, r.text

    stored = await cached.fetch(
        "SELECT dex, rate, interval_hours FROM funding_rates WHERE symbol = 'STATX' AND funding_time >= $1",
        now - timedelta(days=30),
    )
    assert len(stored) >= 90
    by_dex: dict[str, list[D]] = defaultdict(list)
    for r in stored:
        by_dex[r["dex"]].append(r["rate"] / r["interval_hours"])
    every = [v for vs in by_dex.values() for v in vs]

    got = (await cached.http.get(f"{API}/stats/funding-rates/STATX", params={"period": "30d"})).json()
    assert got["sample_size"] == len(every)
    assert got["statistics"] == reference_statistics(every)
    assert got["per_dex"] == {dex: reference_statistics(by_dex[dex]) for dex in sorted(by_dex)}
    one = (await cached.http.get(f"{API}/stats/funding-rates/STATX", params={"period": "30d", "dex": "edgex"})).json()
    assert one["statistics"] == reference_statistics(by_dex["edgex"]) and one["per_dex"] is None
    RateStats.model_validate(got)

    history = (await cached.http.get(f"{API}/history/funding-rates/grvt/STATX", params={"period": "30d"})).json()
    ref = reference_statistics(by_dex["grvt"])
    assert history["stats"] == {
        "average": ref["average"], "median": ref["median"], "min": ref["min"], "max": ref["max"], "volatility": ref["stdev"]
    }  # fmt: skip


async def test_cached_stats_equal_fresh_ones_as_the_window_moves(pair: tuple[Service, Service, Clock]) -> None:
    cached, fresh, clock = pair  # STATX was ingested by the previous test (60 hourly periods per venue)
    now = datetime.now(UTC)
    clock.at = now
    state = cached.app.state.service
    rows = await cached.fetch(
        "SELECT DISTINCT funding_time FROM funding_rates WHERE symbol = 'STATX' AND funding_time >= $1 "
        "ORDER BY funding_time",
        now - timedelta(hours=48),
    )
    first = rows[0]["funding_time"]  # leaves a 48 h window just after first + 48 h
    queries = [
        {"period": "48h"},
        {"period": "48h", "dex": "grvt"},
        {"period": "30d"},
        {"start": (now - timedelta(days=3)).isoformat(), "end": (now - timedelta(hours=5)).isoformat()},
    ]

    async def same() -> None:
        for params in queries:
            expected = await body(fresh, "/stats/funding-rates/STATX", params)
            assert await body(cached, "/stats/funding-rates/STATX", params) == expected, params
            assert await body(cached, "/stats/funding-rates/STATX", params) == expected, params

    state.responses.clear()
    await same()
    assert sum(1 for k in state.responses._entries if k[0].endswith("/STATX")) == len(queries)
    before = json_of(await body(cached, "/stats/funding-rates/STATX", {"period": "48h"}))["sample_size"]
    leave = first + timedelta(hours=48)
    for at in (now + timedelta(seconds=1), leave - timedelta(microseconds=1), leave, leave + timedelta(microseconds=1)):
        clock.at = at
        await same()
    after = json_of(await body(cached, "/stats/funding-rates/STATX", {"period": "48h"}))["sample_size"]
    assert after < before  # the earliest periods left the window: the cached answer was recomputed
    # a fixed start with a moving end is answered fresh every time (the range grows towards its 366-day limit)
    moving_end = {"start": (now - timedelta(days=2)).isoformat()}
    await body(cached, "/stats/funding-rates/STATX", moving_end)
    assert not any(
        dict(k[1]).get("start") == moving_end["start"] and "end" not in dict(k[1]) for k in state.responses._entries
    )


def json_of(raw: bytes) -> Any:
    return RateStats.model_validate_json(raw).model_dump()
