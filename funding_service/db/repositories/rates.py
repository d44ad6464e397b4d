"""Latest rates, history and the series behind the statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from funding_service.core.fees import FeeSchedule
from funding_service.core.opportunities import Leg

_LATEST = """
SELECT l.dex, l.symbol, l.venue_symbol, l.multiplier, l.rate, l.interval_hours, l.funding_time, l.mark_price,
       l.index_price, l.open_interest_usd, l.volume_24h_usd, l.best_bid, l.best_ask, l.next_funding_time,
       l.collected_at, d.maker_fee, d.taker_fee
FROM latest_funding_rates l JOIN dexes d ON d.name = l.dex
WHERE d.is_active AND ($1::text IS NULL OR l.dex = $1) AND ($2::text IS NULL OR l.symbol = $2)
ORDER BY l.symbol, l.dex
"""


async def latest(conn: asyncpg.Connection, dex: str | None = None, symbol: str | None = None) -> list[asyncpg.Record]:
    """Latest rate of every (active dex, symbol), optionally of one dex and/or one symbol."""
    rows: list[asyncpg.Record] = await conn.fetch(_LATEST, dex, symbol)
    return rows


def leg_from_record(r: asyncpg.Record) -> Leg:
    return Leg(
        dex=r["dex"],
        symbol=r["symbol"],
        rate=r["rate"],
        interval_hours=r["interval_hours"],
        fees=FeeSchedule(maker=r["maker_fee"], taker=r["taker_fee"]),
        collected_at=r["collected_at"],
        venue_symbol=r["venue_symbol"],
        multiplier=r["multiplier"],
        mark_price=r["mark_price"],
        index_price=r["index_price"],
        open_interest_usd=r["open_interest_usd"],
        volume_24h_usd=r["volume_24h_usd"],
        best_bid=r["best_bid"],
        best_ask=r["best_ask"],
        # the venue's next funding time, else the settlement of the period this rate belongs to (interval boundary)
        next_funding_time=r["next_funding_time"] or r["funding_time"],
    )


async def latest_legs(conn: asyncpg.Connection) -> list[Leg]:
    return [leg_from_record(r) for r in await latest(conn)]


# What the in-process latest-rates snapshot depends on: every row of ``latest_funding_rates`` and ``dexes``. A row's
# ``xmin`` is the transaction that wrote its current version, so any insert, update or delete (an ingest here or in
# another replica, a dex deactivated by hand) changes the count or the sum. A full scan of a few thousand rows: far
# cheaper than reloading and re-parsing them.
_FINGERPRINT = """
SELECT (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::bigint), 0)::text FROM latest_funding_rates)
       || '/' ||
       (SELECT count(*)::text || ':' || coalesce(sum(xmin::text::bigint), 0)::text FROM dexes)
"""


async def latest_fingerprint(conn: asyncpg.Connection) -> str:
    """Changes whenever the latest rates or the dex table change (see ``_FINGERPRINT``)."""
    return str(await conn.fetchval(_FINGERPRINT))


async def history_points(
    conn: asyncpg.Connection, *, dex: str, symbol: str, start: datetime, end: datetime, limit: int, desc: bool
) -> list[asyncpg.Record]:
    order = "DESC" if desc else "ASC"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT funding_time AS time, rate, interval_hours, mark_price, open_interest_usd
        FROM funding_rates
        WHERE dex = $1 AND symbol = $2 AND funding_time >= $3 AND funding_time < $4
        ORDER BY funding_time {order} LIMIT $5
        """,  # noqa: S608 - only the fixed ASC/DESC keyword is interpolated
        dex,
        symbol,
        start,
        end,
        limit,
    )
    return rows


async def history_buckets(
    conn: asyncpg.Connection,
    *,
    dex: str,
    symbol: str,
    start: datetime,
    end: datetime,
    bucket: timedelta,
    limit: int,
    desc: bool,
) -> list[asyncpg.Record]:
    """Time buckets aligned to the Unix epoch (so 1d buckets are UTC days)."""
    order = "DESC" if desc else "ASC"
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        SELECT date_bin($5::interval, funding_time, TIMESTAMPTZ 'epoch') AS time,
               avg(rate) AS rate,
               CASE WHEN min(interval_hours) = max(interval_hours) THEN min(interval_hours) END AS interval_hours,
               avg(rate / interval_hours) AS hourly,
               min(rate / interval_hours) AS min_hourly,
               max(rate / interval_hours) AS max_hourly,
               count(*) AS samples,
               (array_agg(mark_price ORDER BY funding_time DESC))[1] AS mark_price,
               (array_agg(open_interest_usd ORDER BY funding_time DESC))[1] AS open_interest_usd
        FROM funding_rates
        WHERE dex = $1 AND symbol = $2 AND funding_time >= $3 AND funding_time < $4
        GROUP BY 1 ORDER BY 1 {order} LIMIT $6
        """,  # noqa: S608 - only the fixed ASC/DESC keyword is interpolated
        dex,
        symbol,
        start,
        end,
        bucket,
        limit,
    )
    return rows


@dataclass(frozen=True, slots=True)
class HourlySeries:
    by_dex: dict[str, list[Decimal]]  # dex → hourly rates, sorted ascending
    first_period: datetime | None  # the earliest funding_time among the rows


async def hourly_series(
    conn: asyncpg.Connection, symbol: str, start: datetime, end: datetime, dex: str | None = None
) -> HourlySeries:
    """The hourly rate (``rate / interval_hours``, in Python's Decimal context) of every funding period of a symbol
    in [start, end), per dex, each list sorted ascending.

    The rows come grouped by (dex, interval) as arrays sorted by rate (dividing by a positive interval keeps that
    order, so the sort here only merges groups): decoding a few arrays costs much less than thousands of rows, and
    there is no ORDER BY on the dex (a collation sort that cost more than the whole scan)."""
    groups = await conn.fetch(
        """
        SELECT f.dex, f.interval_hours, array_agg(f.rate ORDER BY f.rate) AS rates, min(f.funding_time) AS first
        FROM funding_rates f JOIN dexes d ON d.name = f.dex
        WHERE f.symbol = $1 AND f.funding_time >= $2 AND f.funding_time < $3 AND ($4::text IS NULL OR f.dex = $4)
              AND (d.is_active OR $4::text IS NOT NULL)
        GROUP BY f.dex, f.interval_hours
        """,
        symbol,
        start,
        end,
        dex,
    )
    out: dict[str, list[Decimal]] = {}
    for name, interval_hours, rates, _ in groups:
        # hourly_rate(r, interval_hours) for each; interval_hours > 0 is a table constraint
        out.setdefault(name, []).extend([r / interval_hours for r in rates])
    for values in out.values():
        values.sort()
    return HourlySeries(out, min((g["first"] for g in groups), default=None))


async def first_period_from(conn: asyncpg.Connection, symbol: str, at: datetime) -> datetime | None:
    """The earliest funding_time of a symbol (any dex) at or after ``at``."""
    value: datetime | None = await conn.fetchval(
        "SELECT min(funding_time) FROM funding_rates WHERE symbol = $1 AND funding_time >= $2", symbol, at
    )
    return value
