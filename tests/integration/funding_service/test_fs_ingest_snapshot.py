"""The ingest computes its opportunity snapshot while PostgreSQL runs the upserts, from the stored rows the batch does
not supersede plus the batch in memory. These tests check, after every ingest, that the legs it used are exactly what
reading every latest rate back (``latest_legs``) gives once the batch is written, and that the stored snapshot is
the one computed from that read-back: same rows, same values, in the same order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bot_runtime.funding_api.ingest import IngestBatch
from funding_service.core.opportunities import Leg
from funding_service.db.repositories import ingest as repo
from funding_service.db.repositories.rates import latest_legs
from funding_service.settings import Settings
from tests.integration.funding_service.fs_helpers import DATA_TABLES, batch, make_settings, rate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SETTINGS: Settings = make_settings("unused", snapshot_top_n=100)


def leg_key(leg: Leg) -> tuple[object, ...]:
    """Every field of a leg (numbers by value: asyncpg reads 5000000 back as 5.00E+6, the batch says 5000000)."""
    return (
        leg.dex,
        leg.symbol,
        leg.venue_symbol,
        leg.rate,
        leg.interval_hours,
        leg.multiplier,
        leg.mark_price,
        leg.index_price,
        leg.open_interest_usd,
        leg.volume_24h_usd,
        leg.best_bid,
        leg.best_ask,
        leg.fees.maker,
        leg.fees.taker,
        leg.collected_at,
        leg.next_funding_time,
    )


@pytest.fixture
async def conn(fs_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(fs_dsn)
    await c.execute(f"TRUNCATE {', '.join(DATA_TABLES)} CASCADE")
    await c.execute("UPDATE dexes SET is_active = true")
    try:
        yield c
    finally:
        await c.execute("UPDATE dexes SET is_active = true")
        await c.close()


@pytest.fixture
def legs_used(monkeypatch: pytest.MonkeyPatch) -> list[list[Leg]]:
    """The legs of every snapshot computed during the ingest."""
    used: list[list[Leg]] = []
    original = repo._snapshot_legs

    def recording(*args: Any) -> list[Leg]:
        legs = original(*args)
        used.append(legs)
        return legs

    monkeypatch.setattr(repo, "_snapshot_legs", recording)
    return used


async def ingest(conn: asyncpg.Connection, body: dict[str, Any], used: list[list[Leg]]) -> int:
    """Ingest, then check the snapshot against a read-back of the committed latest rates; returns its row count."""
    parsed = IngestBatch.model_validate(body)
    before = len(used)
    result = await repo.ingest_batch(conn, parsed, SETTINGS, T0)
    read_back = await latest_legs(conn)
    if len(used) > before:  # (a batch without rates reads everything back itself)
        assert sorted(map(leg_key, used[-1])) == sorted(map(leg_key, read_back))
    expected = repo._snapshot_rows(parsed, SETTINGS, read_back)
    stored = await conn.fetch(
        f"SELECT {', '.join(repo._OPPORTUNITY_COLUMNS)} FROM opportunities WHERE cycle_id = $1 ORDER BY id",
        parsed.cycle_id,
    )
    if result.opportunities_recorded or expected:
        assert [tuple(r) for r in stored] == expected  # values: Decimal and numeric compare by value
    return result.opportunities_recorded


async def test_snapshot_legs_equal_a_full_read_back(conn: asyncpg.Connection, legs_used: list[list[Leg]]) -> None:
    odd = {"multiplier": "1E+3", "mark_price": "1.250E+1", "open_interest_usd": "0E+2", "volume_24h_usd": "5E+6"}
    first = [
        rate("lighter", "BTC", "0.00001", "1", T0, mark_price="60000", open_interest_usd="1000000"),
        rate("aster", "BTC", "0.0004", "8", T0, mark_price="60030", best_bid="60020", best_ask="60040"),
        rate("aster", "PEPE", "-0.000", "8", T0, venue_symbol="1000PEPEUSDT", **odd),
        rate("backpack", "PEPE", "0.00003", "1", T0, multiplier="1000", mark_price="12.5"),
        rate("edgex", "PEPE", "-0E+2", "4", T0, next_funding_time=T0 + timedelta(hours=3)),
    ]
    assert await ingest(conn, batch("c1", first, T0), legs_used) > 0

    # a minute later: one venue newer, one row OLDER than what is stored (not written), one market twice
    t1 = T0 + timedelta(minutes=1)
    second = [
        rate("lighter", "BTC", "0.00002", "1", t1, mark_price="60100"),
        rate("aster", "BTC", "0.0009", "8", T0 - timedelta(minutes=5)),  # older: the stored row stays
        rate("aster", "PEPE", "0.0009", "8", T0, venue_symbol="1000PEPEUSDT"),  # as old: the stored row stays too
        rate("backpack", "PEPE", "0.00004", "1", t1 - timedelta(seconds=5), multiplier="1E+3"),
        rate("backpack", "PEPE", "0.00005", "1", t1, multiplier="1000", mark_price="1.3E+1"),  # the later one wins
        rate("paradex", "ETH", "0.0001", "8", t1),
    ]
    await ingest(conn, batch("c2", second, t1), legs_used)

    # an inactive venue is left out of both
    await conn.execute("UPDATE dexes SET is_active = false WHERE name = 'edgex'")
    t2 = T0 + timedelta(minutes=2)
    await ingest(
        conn, batch("c3", [rate("edgex", "PEPE", "0.0001", "4", t2), rate("grvt", "BTC", "0", "8", t2)], t2), legs_used
    )
    assert [len(legs) for legs in legs_used] == [5, 6, 6]


async def test_a_cycle_id_reused_after_retention(conn: asyncpg.Connection, legs_used: list[list[Leg]]) -> None:
    # the latest rows not written again keep the old cycle's id: nothing in the snapshot depends on cycle ids
    await ingest(
        conn,
        batch("again", [rate("lighter", "BTC", "0.00001", "1", T0), rate("aster", "BTC", "0.0004", "8", T0)]),
        legs_used,
    )
    # retention dropped the cycle (its snapshot too); the latest rows still carry its id
    await conn.execute("DELETE FROM opportunities; DELETE FROM collection_cycles")
    t1 = T0 + timedelta(minutes=1)
    await ingest(conn, batch("again", [rate("lighter", "BTC", "0.00002", "1", t1)], t1), legs_used)
    assert [len(legs) for legs in legs_used] == [2, 2]
    stored = await conn.fetch("SELECT dex, cycle_id FROM latest_funding_rates ORDER BY dex")
    assert [(r["dex"], r["cycle_id"]) for r in stored] == [("aster", "again"), ("lighter", "again")]


async def test_a_cycle_without_rates_snapshots_what_is_stored(
    conn: asyncpg.Connection, legs_used: list[list[Leg]]
) -> None:
    await ingest(
        conn,
        batch("full", [rate("lighter", "BTC", "0.00001", "1", T0), rate("aster", "BTC", "0.0004", "8", T0)]),
        legs_used,
    )
    empty = batch("empty", [], T0 + timedelta(minutes=1), exchanges=[{"name": "aster", "ok": False, "error": "down"}])
    assert await ingest(conn, empty, legs_used) == 1
    assert [len(legs) for legs in legs_used] == [2]
