"""``/health/database`` on the real PostgreSQL: its counts stay index range scans on a long history (no scan of the
whole funding_rates or opportunities table), and ``rates_last_24h`` counts exactly the rows collected in the last 24 h,
including one whose venue reported a stale next funding time."""

from __future__ import annotations

import asyncpg
import pytest

from funding_service.db.repositories.maintenance import DATABASE_STATISTICS
from tests.integration.funding_service.fs_helpers import Service

pytestmark = pytest.mark.integration

HISTORY = """
INSERT INTO symbols (symbol) VALUES ('BTC'), ('ETH') ON CONFLICT DO NOTHING;
-- 90 days of hourly history on two markets of every seeded venue: collected just before each period ended
INSERT INTO funding_rates (dex, symbol, funding_time, rate, interval_hours, collected_at)
SELECT d.name, s.symbol, date_trunc('hour', now()) - make_interval(hours => h),
       0.0001, 1, date_trunc('hour', now()) - make_interval(hours => h) - interval '30 seconds'
FROM dexes d CROSS JOIN (VALUES ('BTC'), ('ETH')) AS s(symbol) CROSS JOIN generate_series(0, 90 * 24) AS h;
-- the current period, collected a minute ago
INSERT INTO funding_rates (dex, symbol, funding_time, rate, interval_hours, collected_at)
SELECT d.name, 'BTC', date_trunc('hour', now()) + interval '1 hour', 0.0001, 1, now() - interval '1 minute'
FROM dexes d;
-- a venue reporting a next funding time 30 h stale, collected an hour ago: still collected in the last 24 h
INSERT INTO funding_rates (dex, symbol, funding_time, rate, interval_hours, collected_at)
SELECT min(name), 'ETH', date_trunc('hour', now()) - interval '30 hours' + interval '1 second', 0.0001, 8,
       now() - interval '1 hour'
FROM dexes;
ANALYZE funding_rates;
"""


async def test_database_statistics_scan_only_recent_rows(service: Service) -> None:
    await service.reset()
    conn = await asyncpg.connect(service.dsn)
    try:
        await conn.execute(HISTORY)
        total = await conn.fetchval("SELECT count(*) FROM funding_rates")
        expected = await conn.fetchval(
            "SELECT count(*) FROM funding_rates WHERE collected_at > now() - interval '24 hours'"
        )
        dexes = await conn.fetchval("SELECT count(*) FROM dexes")
        assert total > 2000 * dexes and expected < total / 50

        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + DATABASE_STATISTICS))
        assert "Seq Scan on funding_rates" not in plan, plan
        assert "funding_rates_time" in plan, plan
        async with conn.transaction():  # whatever the planner's estimates: an index path exists for every count
            await conn.execute("SET LOCAL enable_seqscan = off")
            strict = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + DATABASE_STATISTICS))
        assert "Seq Scan on funding_rates" not in strict and "Seq Scan on opportunities" not in strict, strict
    finally:
        await conn.close()

    body = (await service.http.get("/health/database")).json()
    assert body["status"] == "healthy"
    # 24 hourly periods (plus the one ending now) per market, the current period, and the stale row
    assert body["statistics"]["rates_last_24h"] == expected == dexes * (2 * 24 + 1) + 1
