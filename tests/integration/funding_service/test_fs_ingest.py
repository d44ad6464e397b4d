"""Ingest on a real PostgreSQL: bearer auth, all-or-nothing batches, idempotency, funding-period keying, paper
venues, collection logs → dex health, the per-cycle opportunity snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from tests.integration.funding_service.fs_helpers import AUTH, TOKEN, Service, batch, close_service, open_service, rate

pytestmark = pytest.mark.integration

SNAPSHOT_TABLES = (
    "SELECT dex, symbol, funding_time, rate, interval_hours, mark_price, open_interest_usd, collected_at, cycle_id"
    " FROM funding_rates ORDER BY 1, 2, 3",
    "SELECT * FROM latest_funding_rates ORDER BY dex, symbol",
    "SELECT * FROM dex_symbols ORDER BY dex, symbol",
    "SELECT * FROM symbols ORDER BY symbol",
    "SELECT * FROM collection_cycles ORDER BY cycle_id",
    "SELECT * FROM collection_logs ORDER BY cycle_id, dex",
    "SELECT * FROM opportunities ORDER BY id",
    "SELECT * FROM dexes ORDER BY name",
)


async def snapshot(svc: Service) -> list[list[Any]]:
    return [[tuple(r) for r in await svc.fetch(q)] for q in SNAPSHOT_TABLES]


@pytest.fixture
async def svc(service: Service) -> AsyncIterator[Service]:
    await service.reset()
    yield service


def sample(at: datetime, cycle: str = "cycle-1") -> dict[str, Any]:
    nft = at.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return batch(
        cycle,
        [
            rate(
                "lighter",
                "BTC",
                "0.00001",
                "1",
                at,
                mark_price="60000",
                open_interest_usd="1000000",
                next_funding_time=nft,
            ),
            rate(
                "aster", "BTC", "0.0004", "8", at, venue_symbol="BTCUSDT", mark_price="60030", volume_24h_usd="9000000"
            ),
            rate(
                "aster", "PEPE", "0.0002", "8", at, venue_symbol="1000PEPEUSDT", multiplier="1000", mark_price="0.0125"
            ),
            rate(
                "backpack",
                "PEPE",
                "0.00003",
                "1",
                at,
                venue_symbol="kPEPE_USDC_PERP",
                multiplier="1000",
                mark_price="0.012",
                best_bid="0.01194",
                best_ask="0.01206",
            ),
        ],
        at,
    )


# --- auth ------------------------------------------------------------------------------------------------------------


async def test_ingest_requires_the_bearer_token(svc: Service) -> None:
    body = sample(datetime.now(UTC))
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        r = await svc.ingest(body, headers=headers)
        assert r.status_code == 401, headers
        assert r.json()["error"] == "unauthorized"
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in r.text
    assert await svc.fetch("SELECT 1 FROM funding_rates") == []
    r = await svc.ingest(body)
    assert r.status_code == 200, r.text


async def test_auth_is_checked_before_the_body_is_read(svc: Service) -> None:
    r = await svc.http.post(
        "/api/v1/ingest/funding-rates", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 401  # not a 422 leaking parser details to an unauthenticated caller
    r = await svc.http.post("/api/v1/ingest/funding-rates", content=b"{not json", headers=AUTH)
    assert r.status_code == 422 and r.json()["parameter"] == "body"


async def test_no_token_configured_means_ingest_disabled(fs_dsn: str) -> None:
    other = await open_service(fs_dsn, ingest_token=None)
    try:
        r = await other.ingest(sample(datetime.now(UTC)))
        assert r.status_code == 503
        assert r.json()["error"] == "ingest_disabled"
    finally:
        await close_service(other)


# --- writes ----------------------------------------------------------------------------------------------------------


async def test_batch_is_written_and_replay_changes_nothing(svc: Service) -> None:
    at = datetime.now(UTC)
    body = sample(at)
    r = await svc.ingest(body)
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["rates_received"] == 4 and result["rates_stored"] == 4 and result["latest_updated"] == 4
    assert result["exchanges_logged"] == 3 and result["dexes_registered"] == []
    assert result["opportunities_recorded"] >= 1
    rows = await svc.fetch(
        "SELECT dex, symbol, rate, interval_hours, multiplier, venue_symbol FROM latest_funding_rates ORDER BY 1, 2"
    )
    assert [tuple(r) for r in rows] == [
        ("aster", "BTC", D("0.0004"), D(8), D(1), "BTCUSDT"),
        ("aster", "PEPE", D("0.0002"), D(8), D(1000), "1000PEPEUSDT"),
        ("backpack", "PEPE", D("0.00003"), D(1), D(1000), "kPEPE_USDC_PERP"),
        ("lighter", "BTC", D("0.00001"), D(1), D(1), "BTC"),
    ]
    spread = await svc.fetch("SELECT spread_bps FROM dex_symbols WHERE dex = 'backpack'")
    assert spread[0]["spread_bps"] == D(100)  # (0.01206 − 0.01194) / 0.012 × 10 000

    before = await snapshot(svc)
    again = await svc.ingest(body)
    assert again.status_code == 200
    assert again.json()["rates_stored"] == 0 and again.json()["latest_updated"] == 0
    assert again.json()["opportunities_recorded"] == result["opportunities_recorded"]
    assert await snapshot(svc) == before  # same batch twice → the very same rows


async def test_funding_period_key_keeps_the_latest_observation(svc: Service) -> None:
    t0 = datetime(2026, 1, 1, 9, 5, tzinfo=UTC)
    first = batch("p-1", [rate("aster", "BTC", "0.0001", "8", t0)], t0)
    later = batch("p-2", [rate("aster", "BTC", "0.0003", "8", t0 + timedelta(hours=3))], t0 + timedelta(hours=3))
    next_period = batch("p-3", [rate("aster", "BTC", "0.0005", "8", t0 + timedelta(hours=7))], t0 + timedelta(hours=7))
    for b in (first, later, next_period):
        assert (await svc.ingest(b)).status_code == 200
    rows = await svc.fetch("SELECT funding_time, rate FROM funding_rates ORDER BY funding_time")
    # 09:05 and 12:05 are both in the 08:00-16:00 period (settles 16:00); 16:05 is the next one
    assert [(r["funding_time"], r["rate"]) for r in rows] == [
        (datetime(2026, 1, 1, 16, tzinfo=UTC), D("0.0003")),
        (datetime(2026, 1, 2, 0, tzinfo=UTC), D("0.0005")),
    ]
    # an older batch arriving late changes neither the history nor the latest rate
    assert (
        await svc.ingest(batch("p-0", [rate("aster", "BTC", "0.0009", "8", t0 - timedelta(minutes=1))], t0))
    ).status_code == 200
    assert [r["rate"] for r in await svc.fetch("SELECT rate FROM funding_rates ORDER BY funding_time")] == [
        D("0.0003"),
        D("0.0005"),
    ]
    assert [r["rate"] for r in await svc.fetch("SELECT rate FROM latest_funding_rates")] == [D("0.0005")]


async def test_duplicate_rows_in_one_batch_keep_the_newest(svc: Service) -> None:
    at = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    body = batch(
        "dups",
        [rate("aster", "BTC", "0.0002", "8", at + timedelta(seconds=30)), rate("aster", "BTC", "0.0001", "8", at)],
        at,
    )
    r = await svc.ingest(body)
    assert r.status_code == 200 and r.json()["rates_stored"] == 1
    assert [r["rate"] for r in await svc.fetch("SELECT rate FROM funding_rates")] == [D("0.0002")]


# --- rejections: the whole batch, nothing written ----------------------------------------------------------------------


async def test_invalid_row_rejects_the_whole_batch(svc: Service) -> None:
    body = sample(datetime.now(UTC))
    body["rates"][2]["rate"] = "NaN"
    r = await svc.ingest(body)
    assert r.status_code == 422
    err = r.json()
    assert err["error"] == "invalid_parameter" and err["parameter"] == "rates.2.rate"
    assert await snapshot(svc) == await _empty_snapshot(svc)


async def test_unknown_dex_rejects_the_whole_batch_naming_it(svc: Service) -> None:
    at = datetime.now(UTC)
    body = batch(
        "unknown",
        [
            rate("paper-a", "BTC", "0.0001", "1", at),  # would register itself...
            rate("lighter", "BTC", "0.00001", "1", at),
            rate("binance", "BTC", "0.0001", "8", at),  # ...but this venue is unknown
        ],
        at,
        exchanges=[{"name": "dydx", "ok": False, "error": "x"}],
    )
    r = await svc.ingest(body)
    assert r.status_code == 422
    err = r.json()
    assert err["error"] == "unknown_dex" and "binance" in err["message"] and "dydx" in err["message"]
    assert err["details"] == [{"dexes": ["binance", "dydx"]}]
    assert await snapshot(svc) == await _empty_snapshot(svc)  # paper-a not registered either


async def test_too_many_rows_is_413(fs_dsn: str) -> None:
    small = await open_service(fs_dsn, max_ingest_rows=2)
    try:
        at = datetime.now(UTC)
        r = await small.ingest(batch("big", [rate("lighter", s, "0", "1", at) for s in ("A", "B", "C")], at))
        assert r.status_code == 413 and r.json()["parameter"] == "rates"
    finally:
        await close_service(small)


async def _empty_snapshot(svc: Service) -> list[list[Any]]:
    seeded = [tuple(r) for r in await svc.fetch(SNAPSHOT_TABLES[-1])]
    return [[], [], [], [], [], [], [], seeded]


# --- paper venues, health, snapshots ----------------------------------------------------------------------------------


async def test_paper_venues_register_themselves_with_paper_fees(svc: Service) -> None:
    at = datetime.now(UTC)
    r = await svc.ingest(
        batch("paper", [rate("paper-a", "BTC", "0.00001", "1", at), rate("paper-b", "BTC", "0.00003", "1", at)], at)
    )
    assert r.status_code == 200 and r.json()["dexes_registered"] == ["paper-a", "paper-b"]
    rows = await svc.fetch("SELECT name, maker_fee, taker_fee, is_paper FROM dexes WHERE is_paper ORDER BY name")
    assert [tuple(x) for x in rows] == [
        ("paper-a", D("0.0002"), D("0.0005"), True),
        ("paper-b", D("0.0002"), D("0.0005"), True),
    ]
    listed = (await svc.http.get("/api/v1/dexes")).json()
    assert {"paper-a", "paper-b"} <= {d["name"] for d in listed["dexes"]}
    opp = (await svc.http.get("/api/v1/opportunities", params={"min_profit": "-1", "min_divergence": "0"})).json()
    assert [(o["long_dex"], o["short_dex"]) for o in opp["opportunities"]] == [("paper-a", "paper-b")]


async def test_collection_logs_drive_dex_health(svc: Service) -> None:
    t = datetime.now(UTC) - timedelta(minutes=3)
    ok = {"name": "grvt", "ok": True, "markets": 40, "latency_ms": 80}
    bad = {"name": "grvt", "ok": False, "error": "HTTP 502 from venue", "latency_ms": 20000}
    cycles = [("h1", ok), ("h2", bad), ("h3", bad)]
    for i, (cycle, report) in enumerate(cycles):
        assert (await svc.ingest(batch(cycle, [], t + timedelta(seconds=i), exchanges=[report]))).status_code == 200
    h = (await svc.http.get("/api/v1/dexes/grvt")).json()["health"]
    assert h["consecutive_errors"] == 2 and h["last_error"] == "HTTP 502 from venue"
    assert h["status"] == "degraded" and h["is_healthy"] is True
    assert h["last_markets_fetched"] == 40
    assert (await svc.ingest(batch("h4", [], t + timedelta(seconds=5), exchanges=[bad]))).status_code == 200
    assert (await svc.http.get("/health/dex/grvt")).json()["status"] == "unhealthy"  # 3 in a row
    assert (await svc.ingest(batch("h5", [], t + timedelta(seconds=6), exchanges=[ok]))).status_code == 200
    after = (await svc.http.get("/api/v1/health/dex/grvt")).json()
    assert after["consecutive_errors"] == 0 and after["status"] == "healthy"
    assert after["last_error"] == "HTTP 502 from venue"  # still reported, with its time


async def test_each_cycle_records_an_opportunity_snapshot(svc: Service) -> None:
    at = datetime.now(UTC)
    assert (await svc.ingest(sample(at, "snap-1"))).status_code == 200
    assert (await svc.ingest(sample(at + timedelta(seconds=60), "snap-2"))).status_code == 200
    rows = await svc.fetch(
        "SELECT cycle_id, symbol, long_dex, short_dex, net_apr, computed_at FROM opportunities ORDER BY cycle_id, symbol"
    )
    assert {r["cycle_id"] for r in rows} == {"snap-1", "snap-2"}
    btc = [r for r in rows if r["symbol"] == "BTC"]
    assert {(r["long_dex"], r["short_dex"]) for r in btc} == {("lighter", "aster")}
    # net APR at the default 24 h hold, taker: (0.00004 × 24 − 0.0008) × 8760 / 24
    assert {r["net_apr"] for r in btc} == {D("0.0584")}
    assert (
        await svc.fetch("SELECT 1 FROM opportunities WHERE computed_at NOT IN ($1, $2)", at, at + timedelta(seconds=60))
        == []
    )


async def test_ingest_metrics_count_rows(svc: Service) -> None:
    def value(text: str, name: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = value((await svc.http.get("/metrics")).text, "perpdex_fs_ingest_rows_total")
    assert (await svc.ingest(sample(datetime.now(UTC), "metrics"))).status_code == 200
    text = (await svc.http.get("/metrics")).text
    assert value(text, "perpdex_fs_ingest_rows_total") == before + 4
    assert 'perpdex_fs_ingest_batches_total{result="ok"}' in text
    assert 'perpdex_fs_data_age_seconds{dex="aster"}' in text
