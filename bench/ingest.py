"""Ingest throughput (issue 12, item 3): rows/s of a 2,400-row collector cycle (6 venues x 400 symbols) through
``POST /api/v1/ingest/funding-rates`` vs. a raw asyncpg COPY of the same rows, in the same run, on the same database.

Each cycle is one minute later than the previous one (as a collector every minute), so every cycle really writes:
the API upserts ``funding_rates`` / ``latest_funding_rates`` / ``dex_symbols``, logs the cycle and snapshots its
opportunities, all in one transaction. The baseline COPYs the same rows into a table shaped and indexed like
``funding_rates``. Two API figures: the body serialised beforehand (the server's cost + HTTP), and
``FundingServiceClient.ingest`` (what a collector pays, model serialisation included). The three methods take turns
cycle after cycle, so that on a shared machine each sees the same load over the run.

``python -m bench.ingest [--quick] [--cycles N] [--symbols S]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.common import (
    BenchError,
    Table,
    Target,
    base_parser,
    command_line,
    load_note,
    median,
    run_module,
)
from bench.fs_data import INGEST_TOKEN, ingest_batch, load_dataset, markets, migrate, postgres, start_service
from bot_runtime.funding_api.client import FundingServiceClient
from bot_runtime.funding_api.ingest import IngestBatch
from funding_service.core.funding_time import funding_period_end

MODULE = "bench.ingest"
RAW_TABLE = "bench_raw_rates"
RAW_COLUMNS = (
    "dex",
    "symbol",
    "funding_time",
    "rate",
    "interval_hours",
    "mark_price",
    "index_price",
    "open_interest_usd",
    "volume_24h_usd",
    "next_funding_time",
    "collected_at",
    "cycle_id",
)


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "ingest: rows/s of a collector cycle through the API vs. raw COPY")
    p.add_argument("--symbols", type=int, default=400, help="symbols per venue (6 venues): 400 -> 2,400 rows")
    p.add_argument("--cycles", type=int, default=None, help="cycles per method (default 12, quick 4)")
    return p


def raw_records(batch: IngestBatch) -> list[tuple[object, ...]]:
    """The batch's rows as ``funding_rates`` records (funding period computed like the service does)."""
    return [
        (
            r.exchange,
            r.symbol,
            funding_period_end(r.collected_at, r.interval_hours, r.next_funding_time),
            r.rate,
            r.interval_hours,
            r.mark_price,
            r.index_price,
            r.open_interest_usd,
            r.volume_24h_usd,
            r.next_funding_time,
            r.collected_at,
            batch.cycle_id,
        )
        for r in batch.rates
    ]


async def measure(args: argparse.Namespace) -> list[Table]:
    cycles = args.cycles or (4 if args.quick else 12)
    ms = markets(args.symbols)
    async with postgres("ingest") as (cluster, workdir):
        dsn = cluster.create_database("bench_ingest")
        migrate(dsn)
        t0 = datetime.now(UTC) - timedelta(minutes=3 * cycles + 5)
        # the latest rates a running service would hold, one minute older than the first cycle: every cycle updates
        await load_dataset(dsn, args.symbols, days=0, latest_at=t0 - timedelta(minutes=1))
        conn = await asyncpg.connect(dsn)
        await conn.execute(f"CREATE TABLE {RAW_TABLE} (LIKE funding_rates INCLUDING DEFAULTS INCLUDING INDEXES)")
        service = start_service(dsn, workdir)
        try:
            # three series of cycles (one per method), each cycle one minute after the previous one, all in the past
            batches = [ingest_batch(ms, t0 + timedelta(minutes=i), i) for i in range(3 * cycles)]
            api_batches, client_batches, raw_batches = batches[0::3], batches[1::3], batches[2::3]
            rows = len(batches[0].rates)

            # the three methods take turns, cycle after cycle: on a shared machine each sees the same load over time
            api_times: list[float] = []
            client_times: list[float] = []
            raw_times: list[float] = []
            headers = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
            async with (
                httpx.AsyncClient(base_url=service.url, timeout=120) as http,
                FundingServiceClient(service.url, token=INGEST_TOKEN, timeout=120, retries=0) as client,
            ):
                for api_batch, client_batch, raw_batch in zip(api_batches, client_batches, raw_batches, strict=True):
                    body = api_batch.model_dump_json().encode()
                    start = time.perf_counter()
                    response = await http.post("/api/v1/ingest/funding-rates", content=body, headers=headers)
                    api_times.append(time.perf_counter() - start)
                    if response.status_code != 200:
                        raise BenchError(f"ingest: {response.status_code} {response.text[:500]}")
                    result = response.json()
                    if result["rates_stored"] != rows or result["latest_updated"] != rows:
                        raise BenchError(f"ingest wrote fewer rows than sent: {result}")

                    start = time.perf_counter()
                    await client.ingest(client_batch)
                    client_times.append(time.perf_counter() - start)

                    records = raw_records(raw_batch)
                    await conn.execute(f"TRUNCATE {RAW_TABLE}")  # each cycle's periods again, like the API's upserts
                    start = time.perf_counter()
                    await conn.copy_records_to_table(RAW_TABLE, records=records, columns=RAW_COLUMNS)
                    raw_times.append(time.perf_counter() - start)
                    copied = await conn.fetchval(f"SELECT count(*) FROM {RAW_TABLE}")
                    if copied != rows:
                        raise BenchError(f"raw COPY wrote {copied} rows, expected {rows}")
        finally:
            service.stop()
            await conn.close()

    raw_rate = rows / median(raw_times)
    table = Table(
        f"Ingest: one {rows:,}-row collector cycle ({args.symbols} symbols x 6 venues), median of {cycles} cycles",
        "a raw asyncpg COPY of the same rows into a table shaped and indexed like funding_rates (same run, same database)",
        command=command_line(MODULE, ["--quick"] if args.quick else []),
    )
    table.add(
        "API, body pre-serialised: rows/s", rows / median(api_times), "rows/s", raw_rate, Target(">=", 0.4, "ratio")
    )
    table.add("API via FundingServiceClient.ingest: rows/s", rows / median(client_times), "rows/s", raw_rate)
    table.add("API, body pre-serialised: one cycle", median(api_times) * 1000, "ms", median(raw_times) * 1000)
    table.add(
        "API via FundingServiceClient.ingest: one cycle", median(client_times) * 1000, "ms", median(raw_times) * 1000
    )
    table.notes.append(
        "the API does more than the COPY by design: validation of every row, upserts into three tables keyed by "
        "funding period, the cycle log and the opportunity snapshot, in one transaction"
    )
    table.notes.append(load_note())
    return [table]


def run(args: argparse.Namespace) -> list[Table]:
    return asyncio.run(measure(args))


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
