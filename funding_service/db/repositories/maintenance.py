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


async def database_statistics(conn: asyncpg.Connection) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM symbols) AS symbols,
               (SELECT count(*) FROM dexes) AS dexes,
               (SELECT count(*) FROM latest_funding_rates) AS latest_rates,
               (SELECT count(*) FROM funding_rates WHERE collected_at > now() - interval '24 hours') AS rates_last_24h,
               (SELECT count(*) FROM opportunities WHERE computed_at > now() - interval '24 hours')
                   AS opportunities_last_24h
        """
    )
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
