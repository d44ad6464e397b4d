"""The ingest's opportunity snapshot is computed from the batch in memory plus the latest rows it did not write; these
tests check, inside the ingest's own transaction, that those legs are exactly what reading every latest rate back
(``latest_legs``) gives: same rows, same values, whatever the batch looks like, and the same snapshot stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from funding_service.core.opportunities import Leg
from funding_service.db.repositories import ingest as repo
from funding_service.db.repositories.rates import latest_legs
from funding_service.models.ingest import IngestBatch
from tests.integration.funding_service.fs_helpers import DATA_TABLES, batch, make_settings, rate

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def leg_key(leg: Leg) -> tuple[object, ...]:
    """Every field of a leg (numbers by value: asyncpg reads 5000000 back as 5.00E+6, the batch says 5000000)."""
    numbers = (
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
    )
    return (
        leg.dex,
        leg.symbol,
        leg.venue_symbol,
        *numbers,
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
def compared(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every snapshot compares its legs with a full read-back, in the same transaction; returns the leg counts."""
    sizes: list[int] = []
    original = repo._snapshot_legs

    async def checked(conn: asyncpg.Connection, cycle_id: str, written: Any) -> list[Leg]:
        legs = await original(conn, cycle_id, written)
        expected = await latest_legs(conn)
        assert sorted(map(leg_key, legs)) == sorted(map(leg_key, expected))
        sizes.append(len(legs))
        return legs

    monkeypatch.setattr(repo, "_snapshot_legs", checked)
    return sizes


async def ingest(conn: asyncpg.Connection, body: dict[str, Any]) -> int:
    result = await repo.ingest_batch(conn, IngestBatch.model_validate(body), make_settings("unused"), T0)
    return result.opportunities_recorded


async def test_snapshot_legs_equal_a_full_read_back(conn: asyncpg.Connection, compared: list[int]) -> None:
    odd = {"multiplier": "1E+3", "mark_price": "1.250E+1", "open_interest_usd": "0E+2", "volume_24h_usd": "5E+6"}
    first = [
        rate("lighter", "BTC", "0.00001", "1", T0, mark_price="60000", open_interest_usd="1000000"),
        rate("aster", "BTC", "0.0004", "8", T0, mark_price="60030", best_bid="60020", best_ask="60040"),
        rate("aster", "PEPE", "-0.000", "8", T0, venue_symbol="1000PEPEUSDT", **odd),
        rate("backpack", "PEPE", "0.00003", "1", T0, multiplier="1000", mark_price="12.5"),
        rate("edgex", "PEPE", "-0E+2", "4", T0, next_funding_time=T0 + timedelta(hours=3)),
    ]
    assert await ingest(conn, batch("c1", first, T0)) > 0

    # a minute later: one venue newer, one row OLDER than what is stored (not written), one market twice
    t1 = T0 + timedelta(minutes=1)
    second = [
        rate("lighter", "BTC", "0.00002", "1", t1, mark_price="60100"),
        rate("aster", "BTC", "0.0009", "8", T0 - timedelta(minutes=5)),  # older: the stored row stays
        rate("backpack", "PEPE", "0.00004", "1", t1 - timedelta(seconds=5), multiplier="1E+3"),
        rate("backpack", "PEPE", "0.00005", "1", t1, multiplier="1000", mark_price="1.3E+1"),  # the later one wins
        rate("paradex", "ETH", "0.0001", "8", t1),
    ]
    await ingest(conn, batch("c2", second, t1))

    # an inactive venue is left out of both
    await conn.execute("UPDATE dexes SET is_active = false WHERE name = 'edgex'")
    t2 = T0 + timedelta(minutes=2)
    await ingest(conn, batch("c3", [rate("edgex", "PEPE", "0.0001", "4", t2), rate("grvt", "BTC", "0", "8", t2)], t2))
    assert compared == [5, 6, 6]


async def test_a_cycle_id_reused_after_retention_reads_everything_back(
    conn: asyncpg.Connection, compared: list[int]
) -> None:
    await ingest(
        conn, batch("again", [rate("lighter", "BTC", "0.00001", "1", T0), rate("aster", "BTC", "0.0004", "8", T0)])
    )
    # retention dropped the cycle (its snapshot too); the latest rows still carry its id
    await conn.execute("DELETE FROM opportunities; DELETE FROM collection_cycles")
    t1 = T0 + timedelta(minutes=1)
    await ingest(conn, batch("again", [rate("lighter", "BTC", "0.00002", "1", t1)], t1))
    assert compared == [2, 2]
    stored = await conn.fetch("SELECT dex, cycle_id FROM latest_funding_rates ORDER BY dex")
    assert [(r["dex"], r["cycle_id"]) for r in stored] == [("aster", "again"), ("lighter", "again")]


async def test_a_cycle_without_rates_snapshots_what_is_stored(conn: asyncpg.Connection, compared: list[int]) -> None:
    await ingest(
        conn, batch("full", [rate("lighter", "BTC", "0.00001", "1", T0), rate("aster", "BTC", "0.0004", "8", T0)])
    )
    empty = batch("empty", [], T0 + timedelta(minutes=1), exchanges=[{"name": "aster", "ok": False, "error": "down"}])
    assert await ingest(conn, empty) == 1
    assert compared == [2, 2]
