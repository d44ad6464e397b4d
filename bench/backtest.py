"""Funding-arb backtest (issue 22): a 30-day backtest over 6 venues x 400 symbols at hourly resolution (1.73 M stored
funding periods, every venue hourly: the worst case) vs. a baseline of one pass that only reads the same history.

Both run against the same throwaway PostgreSQL in the same run: the baseline fetches the backtest's own history query
(the same rows and columns, nothing done with them); the backtest is what ``perpdex backtest funding-arb`` runs (the
history read into series, then 721 hourly cycles of the bot's selection, sizing and exit code). Each is run
``--repeat`` times, alternating, and the medians are compared. The bot: every venue, every symbol, maxPositions 10,
the CRD's defaults otherwise.

``python -m bench.backtest [--quick] [--symbols N] [--days D] [--repeat R]``

``python -m bench.backtest --demo`` instead makes the run shown in docs/funding-arb.md: two weeks of the same
generated history (40 symbols) replayed by ``perpdex backtest funding-arb -f examples/funding-arb.yaml``, which prints
its report and writes docs/images/funding-arb-backtest.svg.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.common import (
    PYTHON,
    REPO_ROOT,
    BenchError,
    Table,
    Target,
    base_parser,
    command_line,
    load_note,
    median,
    run_module,
)
from bench.fs_data import VENUES, _ChunkReader, _history_csv, markets, migrate, postgres, symbols
from bot_runtime.config import FundingArbConfig
from funding_service.backtest.history import _HISTORY, MAX_PERIOD
from funding_service.backtest.run import backtest

MODULE = "bench.backtest"
TARGET_SECONDS = 10.0


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "funding-arb backtest over stored history vs. one read of it")
    p.add_argument("--symbols", type=int, default=None, help="symbols per venue (default 400, quick 60)")
    p.add_argument("--days", type=int, default=None, help="days of hourly history replayed (default 30, quick 7)")
    p.add_argument("--repeat", type=int, default=None, help="runs of each (default 3, quick 1)")
    p.add_argument("--demo", action="store_true", help="make the run shown in docs/funding-arb.md instead")
    return p


def bot_config() -> FundingArbConfig:
    return FundingArbConfig.model_validate({"exchanges": sorted(VENUES), "maxPositions": 10})


async def load(dsn: str, n_symbols: int, days: int, now: datetime) -> int:
    """``days`` of hourly periods for every (venue, symbol), every venue funding hourly; the symbols and markets."""
    hourly = [dataclasses.replace(m, interval_hours=1) for m in markets(n_symbols)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("symbols", records=[(s,) for s in symbols(n_symbols)], columns=("symbol",))
        await conn.copy_records_to_table(
            "dex_symbols",
            records=[(m.dex, m.symbol, f"{m.symbol}-USD-PERP", now) for m in hourly],
            columns=("dex", "symbol", "venue_symbol", "updated_at"),
        )
        await conn.execute("SET session_replication_role = replica")  # generated rows: no per-row FK triggers
        status = await conn.copy_to_table(
            "funding_rates",
            source=io.BufferedReader(_ChunkReader(_history_csv(hourly, days, now, 13)), buffer_size=1 << 20),
            columns=("dex", "symbol", "funding_time", "rate", "interval_hours", "mark_price",
                     "open_interest_usd", "volume_24h_usd", "collected_at", "cycle_id"),
            format="csv",
        )  # fmt: skip
        await conn.execute("RESET session_replication_role")
        await conn.execute("ANALYZE")
        return int(status.rsplit(" ", 1)[-1])
    finally:
        await conn.close()


async def read_once(dsn: str, cfg: FundingArbConfig, start: datetime, end: datetime) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, periods read) of one fetch of the backtest's history query."""
    conn = await asyncpg.connect(dsn)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        rows = await conn.fetch(_HISTORY, sorted(cfg.exchanges), None, start, end + MAX_PERIOD, False)
        return time.perf_counter() - t0, time.process_time() - c0, sum(len(r["funding_time"]) for r in rows)
    finally:
        await conn.close()


async def backtest_once(dsn: str, cfg: FundingArbConfig, start: datetime, end: datetime) -> tuple[float, float, Any]:
    """(wall seconds, this process's CPU seconds, result) of one backtest."""
    conn = await asyncpg.connect(dsn)
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        result = await backtest(conn, cfg, start, end, timedelta(hours=1))
        return time.perf_counter() - t0, time.process_time() - c0, result
    finally:
        await conn.close()


async def measure(args: argparse.Namespace) -> list[Table]:
    n_symbols = args.symbols or (60 if args.quick else 400)
    days = args.days or (7 if args.quick else 30)
    repeat = args.repeat or (1 if args.quick else 3)
    cfg = bot_config()
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with postgres("backtest") as (cluster, _):
        dsn = cluster.create_database("bench_backtest")
        migrate(dsn)
        stored = await load(dsn, n_symbols, days, now)
        # the generated periods settle at now − days·24 h + 1 h … now; the cycles run over the whole of them
        start, end = now - timedelta(days=days), now - timedelta(hours=1)
        reads: list[float] = []
        runs: list[float] = []
        read_cpu: list[float] = []
        run_cpu: list[float] = []
        result: Any = None
        for _ in range(repeat):
            seconds, cpu, rows = await read_once(dsn, cfg, start, end)
            reads.append(seconds)
            read_cpu.append(cpu)
            seconds, cpu, result = await backtest_once(dsn, cfg, start, end)
            runs.append(seconds)
            run_cpu.append(cpu)
            if result.totals.history_rows != rows:
                raise BenchError(f"the backtest read {result.totals.history_rows} periods, the baseline {rows}")
    t = result.totals
    table = Table(
        f"Funding-arb backtest: {days} days x 6 venues x {n_symbols} symbols, hourly ({stored:,} stored periods), "
        f"median of {repeat}",
        "one pass that only fetches the same history (the backtest's own query, same run, same database)",
        command=command_line(MODULE, ["--quick"] if args.quick else []),
    )
    table.add(
        "backtest, history read + every cycle",
        median(runs),
        "s",
        median(reads),
        Target("<", TARGET_SECONDS) if not args.quick else None,
    )
    table.add("backtest: CPU time of this process (PostgreSQL's excluded)", median(run_cpu), "s", median(read_cpu))
    table.add("cycles run", float(t.steps), "", None)
    table.add("pairs traded", float(t.pairs), "", None)
    table.notes.append(
        f"bot: 6 venues, every symbol, maxPositions 10, CRD defaults otherwise; result: net {t.net_pnl_usd:.2f} USD, "
        f"max {t.max_concurrent_pairs} concurrent pairs, turnover {t.turnover_usd:,.0f} USD"
    )
    table.notes.append(load_note())
    return [table]


async def demo() -> int:
    """docs/funding-arb.md's backtest run: 14 days x 6 venues x 40 symbols of generated history up to 2026-12-01."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with postgres("backtest-demo") as (cluster, _):
        dsn = cluster.create_database("backtest_demo")
        migrate(dsn)
        await load(dsn, 40, 14, now)
        command = ["backtest", "funding-arb", "-f", "examples/funding-arb.yaml", "--from", "2026-11-17"]
        command += ["--to", "2026-11-30T23:00", "--chart", "docs/images/funding-arb-backtest.svg"]
        env = dict(os.environ, PERPDEX_FS_DATABASE_URL=dsn)
        argv = [PYTHON, "-m", "bot_runtime.cli", *command]
        done = await asyncio.to_thread(subprocess.run, argv, env=env, cwd=REPO_ROOT, check=False)
        return done.returncode


def run(args: argparse.Namespace) -> list[Table]:
    return asyncio.run(measure(args))


def main(argv: list[str] | None = None) -> int:
    if "--demo" in (sys.argv[1:] if argv is None else argv):
        return asyncio.run(demo())
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
