"""Database statistics for the health endpoints, and retention (the original's daily cleanup)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True, slots=True)
class Retention:
    rates_days: int
    opportunities_days: int
    logs_days: int


@dataclass(frozen=True, slots=True)
class Deleted:
    rates: int
    opportunities: int
    cycles: int


# The history tables grow without bound (until retention): every count here must be an index range scan, never a
# scan of the whole table. funding_rates has no index on collected_at (one would cost every ingest its HOT updates:
# each cycle rewrites collected_at of the current period's rows), so the recent rows are found through
# funding_rates_time: a row's funding period ends after it was collected (its funding_time is the venue's next
# funding time or the next interval boundary), so "collected in the last 24 h" lies within "period ending in the last
# 48 h or later" (a day of slack for a venue's stale next funding time), and collected_at filters that range exactly.
DATABASE_STATISTICS = """
SELECT (SELECT count(*) FROM symbols) AS symbols,
       (SELECT count(*) FROM dexes) AS dexes,
       (SELECT count(*) FROM latest_funding_rates) AS latest_rates,
       (SELECT count(*) FROM funding_rates
         WHERE funding_time > now() - interval '48 hours' AND collected_at > now() - interval '24 hours')
           AS rates_last_24h,
       (SELECT count(*) FROM opportunities WHERE computed_at > now() - interval '24 hours') AS opportunities_last_24h
"""


async def database_statistics(conn: asyncpg.Connection) -> asyncpg.Record:
    """Row counts for ``/health/database`` (index range scans only: see ``DATABASE_STATISTICS``)."""
    row: asyncpg.Record = await conn.fetchrow(DATABASE_STATISTICS)
    return row


async def data_age_by_dex(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Newest collected_at per active dex (the data-age gauge of /metrics)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT d.name AS dex, max(l.collected_at) AS latest
        FROM dexes d LEFT JOIN latest_funding_rates l ON l.dex = d.name
        WHERE d.is_active GROUP BY d.name ORDER BY d.name
        """
    )
    return rows


async def apply_retention(conn: asyncpg.Connection, retention: Retention) -> Deleted:
    """Delete rates, opportunity snapshots and collection logs past their retention (in small transactions)."""
    rates = await conn.execute(
        "DELETE FROM funding_rates WHERE funding_time < now() - make_interval(days => $1)", retention.rates_days
    )
    opps = await conn.execute(
        "DELETE FROM opportunities WHERE computed_at < now() - make_interval(days => $1)", retention.opportunities_days
    )
    # cycles carry their logs (ON DELETE CASCADE); a cycle is kept while its opportunity snapshot is
    cycles = await conn.execute(
        """
        DELETE FROM collection_cycles c WHERE c.finished_at < now() - make_interval(days => $1)
          AND NOT EXISTS (SELECT 1 FROM opportunities o WHERE o.cycle_id = c.cycle_id)
        """,
        retention.logs_days,
    )
    return Deleted(*(int(tag.rsplit(" ", 1)[-1]) for tag in (rates, opps, cycles)))
