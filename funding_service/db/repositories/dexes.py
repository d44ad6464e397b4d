"""Dexes, their symbols, and their collection health."""

from __future__ import annotations

import asyncpg

# the health of a dex is derived from collection_logs: last success, last error, errors since the last success;
# cycle_gap_seconds is the mean gap between its last 11 cycles (null before its second)
_DEXES = """
SELECT d.name, d.display_name, d.maker_fee, d.taker_fee, d.funding_interval_hours, d.is_active, d.is_paper,
       d.api_base_url, d.has_fee_tiers, d.created_at, d.updated_at,
       (SELECT count(*) FROM dex_symbols s WHERE s.dex = d.name AND s.is_active) AS symbols_count,
       ok.finished_at AS last_success, ok.fetched AS last_markets,
       last.finished_at AS last_cycle_at, last.latency_ms AS last_latency_ms,
       err.finished_at AS last_error_at, err.error AS last_error,
       (SELECT count(*) FROM (
            SELECT 1 FROM collection_logs c
            WHERE c.dex = d.name AND c.status = 'error' AND c.finished_at > coalesce(ok.finished_at, '-infinity')
            LIMIT 100000) e) AS consecutive_errors,
       (SELECT max(l.collected_at) FROM latest_funding_rates l WHERE l.dex = d.name) AS latest_data_at,
       (SELECT extract(epoch FROM max(g.finished_at) - min(g.finished_at)) / nullif(count(*) - 1, 0) FROM (
            SELECT c.finished_at FROM collection_logs c
            WHERE c.dex = d.name ORDER BY c.finished_at DESC LIMIT 11) g) AS cycle_gap_seconds
FROM dexes d
LEFT JOIN LATERAL (
    SELECT c.finished_at, c.fetched FROM collection_logs c
    WHERE c.dex = d.name AND c.status = 'ok' ORDER BY c.finished_at DESC LIMIT 1) ok ON true
LEFT JOIN LATERAL (
    SELECT c.finished_at, c.latency_ms FROM collection_logs c
    WHERE c.dex = d.name ORDER BY c.finished_at DESC LIMIT 1) last ON true
LEFT JOIN LATERAL (
    SELECT c.finished_at, c.error FROM collection_logs c
    WHERE c.dex = d.name AND c.status = 'error' ORDER BY c.finished_at DESC LIMIT 1) err ON true
WHERE ($1::text IS NULL OR d.name = $1)
ORDER BY d.name
"""


async def fetch_dexes(conn: asyncpg.Connection, name: str | None = None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_DEXES, name)
    return rows


async def dex_index(conn: asyncpg.Connection) -> dict[str, bool]:
    """name → is_active of every registered dex."""
    return {r["name"]: r["is_active"] for r in await conn.fetch("SELECT name, is_active FROM dexes")}


async def dex_table(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Every registered dex: name, display name, fees, default interval, active flag (by name)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT name, display_name, maker_fee, taker_fee, funding_interval_hours, is_active
        FROM dexes ORDER BY name
        """
    )
    return rows


async def fetch_dex_symbols(conn: asyncpg.Connection, dex: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT symbol, venue_symbol, multiplier, is_active, mark_price, index_price, volume_24h_usd,
               open_interest_usd, best_bid, best_ask, spread_bps, min_order_size, updated_at
        FROM dex_symbols WHERE dex = $1 ORDER BY symbol
        """,
        dex,
    )
    return rows


async def symbol_exists(conn: asyncpg.Connection, symbol: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM symbols WHERE symbol = $1)", symbol))


async def recent_updates(conn: asyncpg.Connection, dex: str, seconds: int) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM latest_funding_rates WHERE dex = $1 AND collected_at > now() - make_interval(secs => $2)",
            dex,
            float(seconds),
        )
    )
