"""Quick local measurement (not a test; nothing asserted): ingest rows/s and ``GET /opportunities`` latency on a real
uvicorn + a throwaway PostgreSQL, with a full-size dataset (6 venues × N symbols per collector cycle).

    .venv/bin/python -m tests.integration.funding_service.measure_fs [--symbols 300] [--cycles 20] [--requests 500]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import uvicorn

from funding_service.app import create_app
from funding_service.db.migrator import migrate
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_service.fs_helpers import AUTH, batch, make_settings, rate

VENUES = [("lighter", "1"), ("grvt", "8"), ("edgex", "4"), ("paradex", "8"), ("backpack", "1"), ("aster", "8")]


def cycle(n_symbols: int, at: datetime, rng: random.Random, cycle_id: str) -> dict[str, Any]:
    rows = []
    for i in range(n_symbols):
        for venue, interval in VENUES:
            rows.append(
                rate(
                    venue,
                    f"S{i:04d}",
                    f"{rng.uniform(-0.0005, 0.0008):.8f}",
                    interval,
                    at,
                    mark_price=f"{100 + rng.random():.6f}",
                    open_interest_usd=f"{rng.randint(10**5, 10**8)}",
                    volume_24h_usd=f"{rng.randint(10**5, 10**9)}",
                    best_bid="99.99",
                    best_ask="100.01",
                )
            )
    return batch(cycle_id, rows, at)


def serve(dsn: str, cache_seconds: float) -> tuple[uvicorn.Server, threading.Thread, str]:
    settings = make_settings(dsn, latest_cache_seconds=cache_seconds, pool_max_size=10)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--symbols", type=int, default=300)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()
    rng = random.Random(7)
    pg = PostgresCluster()
    pg.start()
    try:
        dsn = pg.create_database("fs_measure")

        async def setup() -> None:
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await conn.close()

        asyncio.run(setup())
        server, thread, url = serve(dsn, cache_seconds=0)
        with httpx.Client(base_url=url, timeout=120) as http:
            now = datetime.now(UTC)
            bodies = [
                cycle(args.symbols, now - timedelta(minutes=args.cycles - k), rng, f"m-{k}") for k in range(args.cycles)
            ]
            times = []
            for body in bodies:
                started = time.perf_counter()
                r = http.post("/api/v1/ingest/funding-rates", json=body, headers=AUTH)
                times.append(time.perf_counter() - started)
                assert r.status_code == 200, r.text
            rows = len(bodies[0]["rates"])
            print(
                f"ingest: {args.cycles} cycles x {rows} rows over HTTP: total {sum(times):.2f}s, "
                f"{rows * args.cycles / sum(times):,.0f} rows/s (median cycle {statistics.median(times) * 1000:.0f} ms)"
            )
            for cache in (0.0, 2.0):
                if cache:
                    server.should_exit = True
                    thread.join()
                    server, thread, url = serve(dsn, cache_seconds=cache)
                    http.base_url = httpx.URL(url)
                queries = {
                    "worst case: every pair matches, limit 100": {"limit": 100, "min_profit": "-1"},
                    "bot query: default filters, limit 10": {"limit": 10},
                }
                for label, params in queries.items():
                    lat = []
                    for _ in range(args.requests):
                        started = time.perf_counter()
                        r = http.get("/api/v1/opportunities", params=params)
                        lat.append(time.perf_counter() - started)
                        assert r.status_code == 200
                    n = r.json()["matched_count"]
                    print(
                        f"GET /opportunities ({label}; {n} matching of {rows} latest rates; cache {cache:g}s): "
                        f"p50 {pct(lat, 50) * 1000:.1f} ms, p99 {pct(lat, 99) * 1000:.1f} ms, {args.requests} requests"
                    )
        server.should_exit = True
        thread.join()
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
