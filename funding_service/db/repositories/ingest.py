"""Writing one collector cycle: all or nothing, idempotent.

One transaction, serialised with other ingests by a transaction-level advisory lock:

1. every dex named in the batch must be registered, except ``paper*`` venues, which register themselves with the
   paper fees (anything else unknown rejects the batch, naming the venues, before a row is written);
2. the cycle is recorded (upserted by cycle id: a replay is known before anything else is written);
3. the rows, deduplicated, go to a temporary table with one COPY, then into ``funding_rates`` keyed by (dex,
   symbol, funding period), ``latest_funding_rates`` and ``dex_symbols`` by one statement of ``INSERT … ON
   CONFLICT`` where only a strictly newer observation replaces a row (so replaying a batch, or an older one, changes
   nothing, not even a timestamp); a market's minimum order size lives on its ``dex_symbols`` row only (the latest
   observation's, null when that carried none);
4. once per cycle (not on a replay) its opportunity snapshot is computed from the latest rates as of the cycle's end,
   while PostgreSQL runs that statement, and stored;
5. one collection log per venue is recorded (upserted by cycle id).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from bot_runtime.funding_api.ingest import IngestBatch, IngestRate, IngestResult
from funding_service.core import opportunities as finder
from funding_service.core.fees import FeeSchedule
from funding_service.core.funding_time import funding_period_end
from funding_service.core.rates import spread_bps
from funding_service.db.repositories.rates import latest_legs, leg_from_record
from funding_service.settings import Settings

INGEST_LOCK = int.from_bytes(b"perpdexi", "big", signed=True)
PAPER_NAME = re.compile(r"^paper(-[a-z0-9]+)*$")

# The batch's rows go to a temporary table with one COPY (numbers as text: PostgreSQL parses them far faster than
# asyncpg encodes Decimals), deduplicated in Python beforehand exactly as ``DISTINCT ON (...) ORDER BY ...,
# collected_at DESC, ord DESC`` would: per key the latest observation, the later row on a tie. The rows copied are
# those kept per (dex, symbol, funding period); ``is_latest`` marks the one kept per (dex, symbol), which is also the
# one kept for its period. One statement then upserts the three tables from it.
_COLUMNS = (
    "dex",
    "symbol",
    "venue_symbol",
    "multiplier",
    "rate",
    "interval_hours",
    "funding_time",
    "mark_price",
    "index_price",
    "open_interest_usd",
    "volume_24h_usd",
    "best_bid",
    "best_ask",
    "spread_bps",
    "min_order_size",
    "next_funding_time",
    "collected_at",
    "is_latest",
)

# kept for the session (emptied at each commit): created once per connection, not per batch, so the statements
# reading it keep their plans
_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS _ingest_rates (
    dex text, symbol text, venue_symbol text, multiplier text, rate text, interval_hours text, funding_time timestamptz,
    mark_price text, index_price text, open_interest_usd text, volume_24h_usd text, best_bid text, best_ask text,
    spread_bps text, min_order_size text, next_funding_time timestamptz, collected_at timestamptz, is_latest boolean
) ON COMMIT DELETE ROWS
"""

_UPSERT = """
WITH r AS MATERIALIZED (
    SELECT dex, symbol, venue_symbol, multiplier::numeric AS multiplier, rate::numeric AS rate,
           interval_hours::numeric AS interval_hours, funding_time, mark_price::numeric AS mark_price,
           index_price::numeric AS index_price, open_interest_usd::numeric AS open_interest_usd,
           volume_24h_usd::numeric AS volume_24h_usd, best_bid::numeric AS best_bid, best_ask::numeric AS best_ask,
           spread_bps::numeric AS spread_bps, min_order_size::numeric AS min_order_size, next_funding_time,
           collected_at, is_latest
    FROM _ingest_rates
),
f AS (
    INSERT INTO funding_rates AS f (dex, symbol, funding_time, rate, interval_hours, mark_price, index_price,
                                    open_interest_usd, volume_24h_usd, next_funding_time, collected_at, cycle_id)
    SELECT dex, symbol, funding_time, rate, interval_hours, mark_price, index_price, open_interest_usd,
           volume_24h_usd, next_funding_time, collected_at, $1
    FROM r
    ON CONFLICT (dex, symbol, funding_time) DO UPDATE SET
        rate = EXCLUDED.rate, interval_hours = EXCLUDED.interval_hours, mark_price = EXCLUDED.mark_price,
        index_price = EXCLUDED.index_price, open_interest_usd = EXCLUDED.open_interest_usd,
        volume_24h_usd = EXCLUDED.volume_24h_usd, next_funding_time = EXCLUDED.next_funding_time,
        collected_at = EXCLUDED.collected_at, cycle_id = EXCLUDED.cycle_id
    WHERE EXCLUDED.collected_at > f.collected_at
    RETURNING 1
),
l AS (
    INSERT INTO latest_funding_rates AS l (dex, symbol, venue_symbol, multiplier, rate, interval_hours, funding_time,
                                           mark_price, index_price, open_interest_usd, volume_24h_usd, best_bid,
                                           best_ask, next_funding_time, collected_at, cycle_id, updated_at)
    SELECT dex, symbol, venue_symbol, multiplier, rate, interval_hours, funding_time, mark_price, index_price,
           open_interest_usd, volume_24h_usd, best_bid, best_ask, next_funding_time, collected_at, $1, now()
    FROM r WHERE is_latest
    ON CONFLICT (dex, symbol) DO UPDATE SET
        venue_symbol = EXCLUDED.venue_symbol, multiplier = EXCLUDED.multiplier, rate = EXCLUDED.rate,
        interval_hours = EXCLUDED.interval_hours, funding_time = EXCLUDED.funding_time,
        mark_price = EXCLUDED.mark_price, index_price = EXCLUDED.index_price,
        open_interest_usd = EXCLUDED.open_interest_usd, volume_24h_usd = EXCLUDED.volume_24h_usd,
        best_bid = EXCLUDED.best_bid, best_ask = EXCLUDED.best_ask, next_funding_time = EXCLUDED.next_funding_time,
        collected_at = EXCLUDED.collected_at, cycle_id = EXCLUDED.cycle_id, updated_at = now()
    WHERE EXCLUDED.collected_at > l.collected_at
    RETURNING 1
),
s AS (
    INSERT INTO dex_symbols AS s (dex, symbol, venue_symbol, multiplier, mark_price, index_price, open_interest_usd,
                                  volume_24h_usd, best_bid, best_ask, spread_bps, min_order_size, is_active,
                                  updated_at)
    SELECT dex, symbol, venue_symbol, multiplier, mark_price, index_price, open_interest_usd, volume_24h_usd, best_bid,
           best_ask, spread_bps, min_order_size, true, collected_at
    FROM r WHERE is_latest
    ON CONFLICT (dex, symbol) DO UPDATE SET
        venue_symbol = EXCLUDED.venue_symbol, multiplier = EXCLUDED.multiplier, mark_price = EXCLUDED.mark_price,
        index_price = EXCLUDED.index_price, open_interest_usd = EXCLUDED.open_interest_usd,
        volume_24h_usd = EXCLUDED.volume_24h_usd, best_bid = EXCLUDED.best_bid, best_ask = EXCLUDED.best_ask,
        spread_bps = EXCLUDED.spread_bps, min_order_size = EXCLUDED.min_order_size, is_active = true,
        updated_at = EXCLUDED.updated_at
    WHERE EXCLUDED.updated_at > s.updated_at
    RETURNING 1
)
SELECT (SELECT count(*) FROM f) AS stored, (SELECT count(*) FROM l) AS latest, (SELECT count(*) FROM s) AS symbols
"""

_CYCLE = """
INSERT INTO collection_cycles (cycle_id, started_at, finished_at, rates_count) VALUES ($1, $2, $3, $4)
ON CONFLICT (cycle_id) DO UPDATE SET started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
    rates_count = EXCLUDED.rates_count
RETURNING (xmax = 0) AS inserted
"""

_LOGS = """
INSERT INTO collection_logs (cycle_id, dex, status, fetched, error, latency_ms, started_at, finished_at)
SELECT $1, r.dex, r.status, r.fetched, r.error, r.latency_ms, $2, $3
FROM unnest($4::text[], $5::text[], $6::integer[], $7::text[], $8::numeric[]) AS r(dex, status, fetched, error, latency_ms)
ON CONFLICT (cycle_id, dex) DO UPDATE SET status = EXCLUDED.status, fetched = EXCLUDED.fetched,
    error = EXCLUDED.error, latency_ms = EXCLUDED.latency_ms, started_at = EXCLUDED.started_at,
    finished_at = EXCLUDED.finished_at
"""

_OPPORTUNITY_COLUMNS = (
    "cycle_id",
    "computed_at",
    "symbol",
    "long_dex",
    "short_dex",
    "long_rate",
    "short_rate",
    "long_interval_hours",
    "short_interval_hours",
    "spread_hourly",
    "gross_apr",
    "fees",
    "fee_mode",
    "hold_hours",
    "net_apr",
    "break_even_hours",
    "min_volume_24h_usd",
    "min_oi_usd",
    "oi_ratio",
    "price_spread_pct",
)


class UnknownDexes(Exception):
    """The batch names venues that are not registered (and are not ``paper*``)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"unknown dex(es) {', '.join(names)}: register them first (only paper-* venues register themselves)"
        )
        self.names = names


@dataclass(frozen=True, slots=True)
class _Counts:
    stored: int
    latest: int


def _count(status: str) -> int:
    """Rows affected from a command tag such as ``INSERT 0 42``."""
    return int(status.rsplit(" ", 1)[-1])


async def ingest_batch(conn: asyncpg.Connection, batch: IngestBatch, settings: Settings, now: datetime) -> IngestResult:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", INGEST_LOCK)
        names = sorted(batch.dex_names())
        known = {r["name"] for r in await conn.fetch("SELECT name FROM dexes WHERE name = any($1::text[])", names)}
        unknown = [n for n in names if n not in known]
        rejected = [n for n in unknown if not PAPER_NAME.match(n)]
        if rejected:
            raise UnknownDexes(rejected)
        registered = await _register_paper(conn, unknown, batch, settings)

        inserted = await conn.fetchval(_CYCLE, batch.cycle_id, batch.started_at, batch.finished_at, len(batch.rates))
        # a replay does not snapshot: the snapshot of this cycle was taken the first time
        snapshot = settings if inserted and settings.snapshot_top_n > 0 else None
        if batch.rates:
            counts, opportunities = await _write_rates(conn, batch, snapshot)
        else:
            counts = _Counts(0, 0)
            opportunities = _snapshot_rows(batch, snapshot, await latest_legs(conn)) if snapshot else []
        await _write_logs(conn, batch)
        if inserted:
            if opportunities:
                await conn.copy_records_to_table("opportunities", records=opportunities, columns=_OPPORTUNITY_COLUMNS)
            recorded = len(opportunities)
        else:
            recorded = int(
                await conn.fetchval("SELECT count(*) FROM opportunities WHERE cycle_id = $1", batch.cycle_id)
            )
    return IngestResult(
        cycle_id=batch.cycle_id,
        rates_received=len(batch.rates),
        rates_stored=counts.stored,
        latest_updated=counts.latest,
        exchanges_logged=len(batch.exchanges),
        dexes_registered=registered,
        opportunities_recorded=recorded,
        received_at=now,
    )


async def _register_paper(
    conn: asyncpg.Connection, names: list[str], batch: IngestBatch, settings: Settings
) -> list[str]:
    registered: list[str] = []
    for name in names:
        intervals = sorted({r.interval_hours for r in batch.rates if r.exchange == name})
        status = await conn.execute(
            """
            INSERT INTO dexes (name, display_name, maker_fee, taker_fee, funding_interval_hours, is_paper)
            VALUES ($1, $2, $3, $4, $5, true) ON CONFLICT (name) DO NOTHING
            """,
            name,
            f"Paper ({name})",
            settings.paper_maker_fee,
            settings.paper_taker_fee,
            intervals[0] if intervals else 1,
        )
        if _count(status):
            registered.append(name)
    return registered


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


async def _write_rates(
    conn: asyncpg.Connection, batch: IngestBatch, snapshot: Settings | None
) -> tuple[_Counts, list[tuple[object, ...]]]:
    """Write the batch's rows; with ``snapshot`` settings, also compute the cycle's opportunity snapshot rows.

    The snapshot is computed while PostgreSQL runs the upserts: the latest rates as of the cycle's end are the stored
    rows this batch does not supersede (read just before the upserts, in the same transaction) plus the batch's own.
    """
    rates = batch.rates
    ends = [funding_period_end(r.collected_at, r.interval_hours, r.next_funding_time) for r in rates]
    # the row kept per key: the latest collected_at, the later row on a tie (rows are visited in order)
    per_period: dict[tuple[str, str, datetime], int] = {}
    per_market: dict[tuple[str, str], int] = {}
    for i, r in enumerate(rates):
        period = (r.exchange, r.symbol, ends[i])
        seen = per_period.get(period)
        if seen is None or r.collected_at >= rates[seen].collected_at:
            per_period[period] = i
        market = (r.exchange, r.symbol)
        seen = per_market.get(market)
        if seen is None or r.collected_at >= rates[seen].collected_at:
            per_market[market] = i
    # in key order, as the DISTINCT ON of one statement per table wrote them (history stays clustered by market)
    order = sorted(per_period.values(), key=lambda i: (rates[i].exchange, rates[i].symbol, ends[i]))
    latest_rows = set(per_market.values())
    records = [
        (
            r.exchange,
            r.symbol,
            r.venue_symbol,
            str(r.multiplier),
            str(r.rate),
            str(r.interval_hours),
            ends[i],
            _text(r.mark_price),
            _text(r.index_price),
            _text(r.open_interest_usd),
            _text(r.volume_24h_usd),
            _text(r.best_bid),
            _text(r.best_ask),
            _text(spread_bps(r.best_bid, r.best_ask)),
            _text(r.min_order_size),
            r.next_funding_time,
            r.collected_at,
            i in latest_rows,
        )
        for i in order
        for r in (rates[i],)
    ]
    await conn.execute(
        "INSERT INTO symbols (symbol) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
        sorted({r.symbol for r in rates}),
    )
    await conn.execute(_TEMP)
    await conn.copy_records_to_table("_ingest_rates", records=records, columns=_COLUMNS)
    fees: dict[str, FeeSchedule] = {}
    others: list[asyncpg.Record] = []
    if snapshot is not None:
        fees = {r["name"]: FeeSchedule(r["maker_fee"], r["taker_fee"]) for r in await conn.fetch(_ACTIVE_FEES)}
        others = await conn.fetch(_NOT_SUPERSEDED)
    upsert = asyncio.ensure_future(conn.fetchrow(_UPSERT, batch.cycle_id))
    try:
        opportunities: list[tuple[object, ...]] = []
        if snapshot is not None:
            await asyncio.sleep(0)  # the statement goes out; the snapshot is computed while PostgreSQL runs it
            kept = [(rates[i], ends[i]) for i in order if i in latest_rows]
            opportunities = _snapshot_rows(batch, snapshot, _snapshot_legs(others, kept, fees))
    finally:
        record = await upsert  # (cancelling this task cancels the statement as well)
    return _Counts(int(record["stored"]), int(record["latest"])), opportunities


async def _write_logs(conn: asyncpg.Connection, batch: IngestBatch) -> None:
    if not batch.exchanges:
        return
    reports = sorted(batch.exchanges, key=lambda e: e.name)
    await conn.execute(
        _LOGS,
        batch.cycle_id,
        batch.started_at,
        batch.finished_at,
        [e.name for e in reports],
        ["ok" if e.ok else "error" for e in reports],
        [e.markets for e in reports],
        [e.error for e in reports],
        [None if e.latency_ms is None else Decimal(f"{e.latency_ms:.3f}") for e in reports],
    )


_ACTIVE_FEES = "SELECT name, maker_fee, taker_fee FROM dexes WHERE is_active"
# the latest rows of active venues that the batch does not supersede: the upsert below leaves them as they are
_NOT_SUPERSEDED = """
SELECT l.dex, l.symbol, l.venue_symbol, l.multiplier, l.rate, l.interval_hours, l.funding_time, l.mark_price,
       l.index_price, l.open_interest_usd, l.volume_24h_usd, l.best_bid, l.best_ask, l.next_funding_time,
       l.collected_at, d.maker_fee, d.taker_fee
FROM latest_funding_rates l JOIN dexes d ON d.name = l.dex
WHERE d.is_active AND NOT EXISTS (
    SELECT 1 FROM _ingest_rates r
    WHERE r.is_latest AND r.dex = l.dex AND r.symbol = l.symbol AND r.collected_at > l.collected_at
)
"""


def _snapshot_legs(
    others: list[asyncpg.Record], kept: list[tuple[IngestRate, datetime]], fees: dict[str, FeeSchedule]
) -> list[finder.Leg]:
    """The latest rate of every (active dex, symbol) once the batch is written: what ``latest_legs`` reads then.

    ``others`` are the stored rows the batch does not supersede; every other row kept from the batch (of an active
    venue) is written by the upsert, exactly as it is in memory. The numbers are the same values (``numeric`` stores
    a Decimal exactly), though not always written the same way: asyncpg reads 5000000 back as ``5.00E+6``.
    """
    legs = [leg_from_record(r) for r in others]
    stored = {(r["dex"], r["symbol"]) for r in others}
    for rate, funding_time in kept:
        if rate.exchange not in fees or (rate.exchange, rate.symbol) in stored:
            continue  # inactive venue, or older than the row already there
        legs.append(
            finder.Leg(
                dex=rate.exchange,
                symbol=rate.symbol,
                rate=rate.rate,
                interval_hours=rate.interval_hours,
                fees=fees[rate.exchange],
                collected_at=rate.collected_at,
                venue_symbol=rate.venue_symbol,
                multiplier=rate.multiplier,
                mark_price=rate.mark_price,
                index_price=rate.index_price,
                open_interest_usd=rate.open_interest_usd,
                volume_24h_usd=rate.volume_24h_usd,
                best_bid=rate.best_bid,
                best_ask=rate.best_ask,
                # as leg_from_record: the venue's next funding time, else the settlement of the rate's period
                next_funding_time=rate.next_funding_time or funding_time,
            )
        )
    return legs


def _snapshot_rows(batch: IngestBatch, settings: Settings, legs: list[finder.Leg]) -> list[tuple[object, ...]]:
    """The cycle's opportunity snapshot: the best pairs by net APR as of the cycle's end (positive spreads only)."""
    params = finder.Params(
        hold_hours=settings.default_hold_hours,
        position_size_usd=settings.default_position_size_usd,
        fee_mode=settings.fee_mode,
        stale_after_seconds=settings.stale_after_seconds,
    )
    result = finder.find(
        legs,
        params,
        batch.finished_at,
        finder.Filters(min_divergence=None, min_profit=None),
        sort_by="net_apr",
        limit=settings.snapshot_top_n,
    )
    return [
        (
            batch.cycle_id,
            batch.finished_at,
            o.symbol,
            o.long.dex,
            o.short.dex,
            o.long.rate,
            o.short.rate,
            o.long.interval_hours,
            o.short.interval_hours,
            o.spread_hourly,
            o.gross_apr,
            o.fees,
            o.fee_mode,
            o.hold_hours,
            o.net_apr,
            o.break_even_hours,
            o.min_volume_24h,
            o.min_oi_usd,
            o.oi_ratio,
            o.price_spread_pct,
        )
        for o in result.opportunities
        if o.spread_hourly > 0
    ]
