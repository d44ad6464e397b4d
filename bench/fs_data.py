"""Generated funding data for the funding-service benchmarks, and the local pieces they run on: a throwaway
PostgreSQL, a migrated database, ``perpdex funding-service serve`` as a subprocess.

The data set (deterministic for a seed): 6 venues (the seeded dexes, each with its own funding interval) x N symbols of
latest rates, and D days of hourly history per (venue, symbol) -- the worst case for the statistics, which then read
24 x D rows per venue. Everything is written with COPY.
"""

from __future__ import annotations

import io
import random
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from bench.common import PYTHON, BenchError, clean_env, start_server, stop_process
from bot_runtime.funding_api.ingest import ExchangeReport, IngestBatch, IngestRate
from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# the venues seeded by migration 002, with their default funding interval (hours)
VENUES: dict[str, int] = {"lighter": 1, "grvt": 8, "edgex": 4, "paradex": 8, "backpack": 1, "aster": 8}
MAJORS = ("BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "AVAX", "LINK", "SUI", "HYPE")
INGEST_TOKEN = "bench-ingest-token-not-secret"
Q8 = Decimal("1e-8")
Q2 = Decimal("0.01")


def symbols(count: int) -> list[str]:
    """``count`` canonical symbols: the majors first, then ``C0011``, ``C0012``, ..."""
    names = list(MAJORS[:count])
    names += [f"C{i:04d}" for i in range(len(names) + 1, count + 1)]
    return names


@dataclass(frozen=True, slots=True)
class Market:
    dex: str
    symbol: str
    interval_hours: int
    hourly_mean: float  # this market's typical hourly rate
    price: Decimal


def markets(n_symbols: int, seed: int = 12) -> list[Market]:
    rnd = random.Random(seed)
    out: list[Market] = []
    for sym in symbols(n_symbols):
        price = Decimal(str(round(10 ** rnd.uniform(-3, 4.8), 6)))
        base = rnd.gauss(1.2e-5, 1.5e-5)
        for dex, interval in VENUES.items():
            out.append(Market(dex, sym, interval, base + rnd.gauss(0, 1.5e-5), price))
    return out


def _rate(m: Market, rnd: random.Random) -> Decimal:
    hourly = m.hourly_mean + rnd.gauss(0, 8e-6)
    return (Decimal(repr(hourly)) * m.interval_hours).quantize(Q8)


def _ts(t: datetime) -> str:
    return t.isoformat()


def ingest_rates(ms: list[Market], collected_at: datetime, seed: int) -> list[IngestRate]:
    """One collector cycle: a rate for every market, as a collector would send it."""
    rnd = random.Random(seed)
    rows: list[IngestRate] = []
    for m in ms:
        mark = m.price * Decimal(str(round(1 + rnd.gauss(0, 0.0005), 6)))
        half = (mark * Decimal("0.0002")).quantize(Q8) or Q8
        rows.append(
            IngestRate(
                exchange=m.dex,
                symbol=m.symbol,
                venue_symbol=f"{m.symbol}-USD-PERP",
                rate=_rate(m, rnd),
                interval_hours=Decimal(m.interval_hours),
                mark_price=mark.quantize(Q8),
                index_price=m.price.quantize(Q8),
                open_interest_usd=Decimal(rnd.randrange(50_000, 500_000_000)),
                volume_24h_usd=Decimal(rnd.randrange(100_000, 2_000_000_000)),
                best_bid=(mark - half).quantize(Q8),
                best_ask=(mark + half).quantize(Q8),
                min_order_size=Decimal(1).scaleb((10 / m.price).adjusted()),  # a power of ten <= $10 at the price
                collected_at=collected_at,
            )
        )
    return rows


def ingest_batch(ms: list[Market], collected_at: datetime, cycle: int) -> IngestBatch:
    rates = ingest_rates(ms, collected_at, seed=1000 + cycle)
    reports = [
        ExchangeReport(name=d, ok=True, markets=sum(1 for m in ms if m.dex == d), latency_ms=120.0) for d in VENUES
    ]
    return IngestBatch(
        cycle_id=f"bench-{cycle:06d}",
        started_at=collected_at - timedelta(seconds=2),
        finished_at=collected_at,
        rates=rates,
        exchanges=reports,
    )


# ---------------------------------------------------------------------------------------------------------------------
# loading


def _history_csv(ms: list[Market], days: int, now: datetime, seed: int, chunk_rows: int = 20_000) -> Iterator[bytes]:
    """CSV rows of ``funding_rates`` (hourly for ``days`` days up to the current hour), in chunks."""
    rnd = random.Random(seed)
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    times = [hour0 - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    stamps = [_ts(t) for t in times]
    buf = io.StringIO()
    n = 0
    for m in ms:
        interval = m.interval_hours
        price = float(m.price)
        for t in stamps:
            hourly = m.hourly_mean + rnd.gauss(0, 8e-6)
            buf.write(
                f"{m.dex},{m.symbol},{t},{hourly * interval:.8f},{interval},{price:.6f},"
                f"{rnd.randrange(50_000, 500_000_000)},{rnd.randrange(100_000, 2_000_000_000)},{t},hist\n"
            )
            n += 1
            if n % chunk_rows == 0:
                yield buf.getvalue().encode()
                buf = io.StringIO()
    if buf.tell():
        yield buf.getvalue().encode()


class _ChunkReader(io.RawIOBase):
    """A file-like view of a chunk iterator, for ``copy_to_table(source=...)``."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


async def load_dataset(
    dsn: str, n_symbols: int, days: int, *, seed: int = 12, latest_at: datetime | None = None
) -> dict[str, int]:
    """Symbols, dex_symbols, latest rates (collected ``latest_at``, default now) and ``days`` of hourly history up to
    now; then ANALYZE. Returns the row counts written."""
    ms = markets(n_symbols, seed)
    now = datetime.now(UTC)
    latest = ingest_rates(ms, latest_at or now, seed)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("symbols", records=[(s,) for s in symbols(n_symbols)], columns=("symbol",))
        await conn.copy_records_to_table(
            "dex_symbols",
            records=[
                (r.exchange, r.symbol, r.venue_symbol, r.mark_price, r.index_price, r.open_interest_usd,
                 r.volume_24h_usd, r.best_bid, r.best_ask, r.collected_at)
                for r in latest
            ],
            columns=("dex", "symbol", "venue_symbol", "mark_price", "index_price", "open_interest_usd",
                     "volume_24h_usd", "best_bid", "best_ask", "updated_at"),
        )  # fmt: skip
        period_end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        await conn.copy_records_to_table(
            "latest_funding_rates",
            records=[
                (r.exchange, r.symbol, r.venue_symbol, r.rate, r.interval_hours, period_end, r.mark_price,
                 r.index_price, r.open_interest_usd, r.volume_24h_usd, r.best_bid, r.best_ask, r.collected_at, "seed")
                for r in latest
            ],
            columns=("dex", "symbol", "venue_symbol", "rate", "interval_hours", "funding_time", "mark_price",
                     "index_price", "open_interest_usd", "volume_24h_usd", "best_bid", "best_ask", "collected_at",
                     "cycle_id"),
        )  # fmt: skip
        history = 0
        if days > 0:
            # generated rows are consistent by construction: skip the per-row foreign-key triggers (superuser only)
            await conn.execute("SET session_replication_role = replica")
            reader = _ChunkReader(_history_csv(ms, days, now, seed + 1))
            status = await conn.copy_to_table(
                "funding_rates",
                source=io.BufferedReader(reader, buffer_size=1 << 20),
                columns=("dex", "symbol", "funding_time", "rate", "interval_hours", "mark_price",
                         "open_interest_usd", "volume_24h_usd", "collected_at", "cycle_id"),
                format="csv",
            )  # fmt: skip
            history = int(status.rsplit(" ", 1)[-1])
            await conn.execute("RESET session_replication_role")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return {"symbols": n_symbols, "latest": len(latest), "history": history}


# ---------------------------------------------------------------------------------------------------------------------
# the service


@dataclass
class FundingServiceProcess:
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    def stop(self) -> None:
        stop_process(self.proc)


def fs_env(dsn: str, port: int) -> dict[str, str]:
    return clean_env(
        PERPDEX_FS_DATABASE_URL=dsn,
        PERPDEX_FS_HOST="127.0.0.1",
        PERPDEX_FS_PORT=str(port),
        PERPDEX_FS_INGEST_TOKEN=INGEST_TOKEN,
        PERPDEX_FS_LOG_LEVEL="warning",
    )


def migrate(dsn: str) -> None:
    out = subprocess.run(
        [PYTHON, "-m", "bot_runtime.cli", "funding-service", "migrate"],
        env=fs_env(dsn, 0),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if out.returncode != 0:
        raise BenchError(f"funding-service migrate failed: {out.stderr.strip()[-2000:]}")


def start_service(dsn: str, workdir: Path) -> FundingServiceProcess:
    log = workdir / "funding.log"

    def argv(port: int) -> list[str]:
        return [PYTHON, "-m", "bot_runtime.cli", "funding-service", "serve", "--host=127.0.0.1", f"--port={port}"]

    try:
        proc, port, _ = start_server(argv, fs_env(dsn, 0), log, "/health/simple")
    except BenchError as exc:
        raise BenchError(f"funding service did not start ({exc}): {log.read_text()[-2000:]}") from None
    return FundingServiceProcess(proc, f"http://127.0.0.1:{port}", log)


@asynccontextmanager
async def postgres(prefix: str) -> AsyncIterator[tuple[PostgresCluster, Path]]:
    """A throwaway PostgreSQL cluster and a scratch directory, both removed at the end."""
    workdir = Path(tempfile.mkdtemp(prefix=f"perpdex-bench-{prefix}-"))
    cluster = PostgresCluster()
    done = stop_at_exit(cluster.destroy)
    try:
        cluster.start()
        yield cluster, workdir
    finally:
        cluster.destroy()
        done()
        shutil.rmtree(workdir, ignore_errors=True)
