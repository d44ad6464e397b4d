"""Funding service throughput and latency (issue 12, item 2).

A throwaway PostgreSQL gets 6 venues x 400 symbols of latest rates and 30 days of hourly history (COPY); ``perpdex
funding-service serve`` runs on loopback as its own process. A bounded asyncio load generator (httpx, 50 concurrent
clients, a fixed number of requests) drives ``/opportunities`` (default filters) and ``/funding-rates``. The baseline,
in the same run, is a bare FastAPI app on the same uvicorn settings answering the same paths with the real answers'
bytes, precomputed. The statistics of one symbol over 30 days (``/stats/funding-rates/{symbol}?period=30d``) and the
history of one pair are timed from a single client, against the same baseline. Last, a few 2,400-row cycles are
ingested through the API and the first ``/opportunities`` answer after each is timed (the service keeps its answers
until the data changes, so that one reloads the latest rates and recomputes).

``python -m bench.funding_service [--quick] [--requests N] [--concurrency C] [--rounds R]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.common import (
    PYTHON,
    BenchError,
    Table,
    Target,
    base_parser,
    command_line,
    load_note,
    proc_sample,
    run_module,
    start_server,
    stop_process,
)
from bench.fs_data import INGEST_TOKEN, ingest_batch, load_dataset, markets, migrate, postgres, start_service
from bench.loadgen import CLIENTS, LoadResult, run_load, sequential

MODULE = "bench.funding_service"
API = "/api/v1"


@dataclass(frozen=True)
class Endpoint:
    label: str
    path: str


LOADED = (Endpoint("/opportunities", f"{API}/opportunities"), Endpoint("/funding-rates", f"{API}/funding-rates"))


def single(symbol: str, dex: str, days: int) -> tuple[Endpoint, ...]:
    return (
        Endpoint(f"/stats/funding-rates/{symbol} ({days}d)", f"{API}/stats/funding-rates/{symbol}?period={days}d"),
        Endpoint(
            f"/history/funding-rates/{dex}/{symbol} ({days}d)",
            f"{API}/history/funding-rates/{dex}/{symbol}?period={days}d",
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(
        f"python -m {MODULE}", "funding service: /opportunities and /funding-rates under load vs. bare uvicorn"
    )
    p.add_argument("--symbols", type=int, default=400, help="symbols per venue (6 venues)")
    p.add_argument("--days", type=int, default=30, help="days of hourly history")
    p.add_argument("--requests", type=int, default=None, help="requests per measured run (default 1000, quick 300)")
    p.add_argument("--concurrency", type=int, default=50, help="concurrent clients")
    p.add_argument("--rounds", type=int, default=None, help="service/baseline rounds, the best kept (default 1)")
    p.add_argument("--single-requests", type=int, default=None, help="sequential requests for stats/history (100)")
    p.add_argument("--client", choices=CLIENTS, default="aiohttp", help="HTTP client of the load generator")
    p.add_argument("--cold-ingests", type=int, default=None, help="ingests before a first-answer timing (default 5)")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill the defaults that depend on ``--quick``."""
    if args.requests is None:
        args.requests = 300 if args.quick else 1000
    if args.rounds is None:
        args.rounds = 1
    if args.single_requests is None:
        args.single_requests = 40 if args.quick else 100
    if args.cold_ingests is None:
        args.cold_ingests = 3 if args.quick else 5
    return args


def best(results: list[LoadResult]) -> LoadResult:
    return max(results, key=lambda r: r.rps)


async def measure(args: argparse.Namespace) -> list[Table]:
    args = resolve(args)
    async with postgres("fs") as (cluster, workdir):
        dsn = cluster.create_database("bench_fs")
        migrate(dsn)
        t0 = time.perf_counter()
        counts = await load_dataset(dsn, args.symbols, args.days)
        load_seconds = time.perf_counter() - t0
        service = start_service(dsn, workdir)
        baseline_proc = None
        try:
            loaded_eps = LOADED
            single_eps = single("BTC", "lighter", args.days)
            bodies = await capture(service.url, [*loaded_eps, *single_eps], workdir)
            body_args = [f"--body={ep.path.split('?')[0]}={file}" for ep, file in bodies.items()]
            baseline_proc, port, _ = start_server(
                lambda port: [PYTHON, "-m", "bench.baseline_app", f"--port={port}", *body_args],
                dict(os.environ),
                workdir / "baseline.log",
                "/ping",
            )
            baseline_url = f"http://127.0.0.1:{port}"

            load = Table(
                f"Funding service under load: {args.concurrency} concurrent clients, {args.requests} requests per run, "
                f"best of {args.rounds}",
                "a bare FastAPI/uvicorn endpoint returning the same bytes, precomputed (same run, same load)",
                command=command_line(MODULE, _argv(args)),
            )
            for ep in loaded_eps:
                svc_runs: list[LoadResult] = []
                base_runs: list[LoadResult] = []
                for _ in range(args.rounds):
                    svc_runs.append(await _load(service.url, ep.path, args))
                    base_runs.append(await _load(baseline_url, ep.path.split("?")[0], args))
                s, b = best(svc_runs), best(base_runs)
                is_opps = ep.label == "/opportunities"
                load.add(
                    f"{ep.label} throughput", s.rps, "req/s", b.rps, Target(">=", 0.5, "ratio") if is_opps else None
                )
                load.add(f"{ep.label} p50 latency", s.p50_ms, "ms", b.p50_ms)
                load.add(f"{ep.label} p99 latency", s.p99_ms, "ms", b.p99_ms, Target("<", 25) if is_opps else None)
                load.notes.append(
                    f"{ep.label}: body {s.body_bytes:,} bytes, errors {_errors(s)} (baseline {_errors(b)}); load generator CPU "
                    f"{s.client_cpu_share:.0%} of a core on the service run, {b.client_cpu_share:.0%} on the baseline"
                )
            svc = proc_sample(service.proc.pid)
            load.notes.append(
                f"data: {counts['latest']:,} latest rates ({args.symbols} symbols x 6 venues), {counts['history']:,} "
                f"history rows ({args.days} days hourly), loaded with COPY in {load_seconds:.1f} s"
            )
            load.notes.append(
                f"service process: peak RSS {svc.peak_rss_mb:.0f} MB, {svc.cpu_seconds:.1f} CPU s over the whole run"
            )
            load.notes.append(load_note())

            lat = Table(
                f"History statistics and series, one client, {args.single_requests} sequential requests",
                "the same bare endpoint returning the same bytes, precomputed",
                command=command_line(MODULE, _argv(args)),
            )
            for i, ep in enumerate(single_eps):
                s = await sequential(service.url, ep.path, requests=args.single_requests, client=args.client)
                b = await sequential(
                    baseline_url, ep.path.split("?")[0], requests=args.single_requests, client=args.client
                )
                lat.add(f"{ep.label} p50", s.p50_ms, "ms", b.p50_ms, Target("<", 20) if i == 0 else None)
                lat.add(f"{ep.label} p99", s.p99_ms, "ms", b.p99_ms)
                lat.notes.append(f"{ep.label}: body {s.body_bytes:,} bytes, errors {_errors(s)}")
            # the service keeps answers until the data changes: the first requests after an ingest pay for the
            # reload of the latest rates and the computation (measured last: each ingest rewrites the latest rates)
            stats_ep = single_eps[0]
            cold = await first_after_ingest(service.url, [f"{API}/opportunities", stats_ep.path], args)
            for (label, path, target), times in zip(
                (
                    ("/opportunities", f"{API}/opportunities", None),
                    (stats_ep.label, stats_ep.path.split("?")[0], Target("<", 20)),
                ),
                cold,
                strict=True,
            ):
                base = await sequential(baseline_url, path, requests=len(times), client=args.client)
                times.sort()
                lat.add(f"{label}, first answer after an ingest p50", times[len(times) // 2], "ms", base.p50_ms, target)
                lat.add(f"{label}, first answer after an ingest max", times[-1], "ms", base.p99_ms)
            lat.notes.append(
                f"first answers after an ingest: {args.cold_ingests} times, a {args.symbols * 6:,}-row cycle ingested "
                "through the API, then one GET /opportunities (it reloads the latest rates and recomputes) and one GET "
                "of the statistics (computed anew); the service keeps both answers until the data changes, so the "
                "sequential figures above are mostly cached answers"
            )
            lat.notes.append(load_note())
            return [load, lat]
        finally:
            if baseline_proc is not None:
                stop_process(baseline_proc)
            service.stop()


async def _load(url: str, path: str, args: argparse.Namespace) -> LoadResult:
    return await run_load(
        url,
        [path],
        requests=args.requests,
        concurrency=args.concurrency,
        warmup=min(100, args.requests),
        client=args.client,
    )


async def first_after_ingest(url: str, paths: list[str], args: argparse.Namespace) -> list[list[float]]:
    """Per path, the milliseconds of its first GET after each of a few ingested cycles (in the order given)."""
    ms = markets(args.symbols)
    out: list[list[float]] = [[] for _ in paths]
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for cycle in range(1, args.cold_ingests + 1):
            body = ingest_batch(ms, datetime.now(UTC), cycle).model_dump_json()
            r = await client.post(
                f"{API}/ingest/funding-rates",
                content=body,
                headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
            )
            if r.status_code != 200:
                raise BenchError(f"ingest: {r.status_code} {r.text[:500]}")
            for times, path in zip(out, paths, strict=True):
                t0 = time.perf_counter()
                got = await client.get(path)
                times.append((time.perf_counter() - t0) * 1000)
                if got.status_code != 200:
                    raise BenchError(f"GET {path}: {got.status_code} {got.text[:500]}")
    return out


def _errors(result: LoadResult) -> str:
    if not result.errors:
        return "none"
    return ", ".join(f"{n} x {kind}" for kind, n in sorted(result.error_kinds.items()))


async def capture(url: str, endpoints: list[Endpoint], workdir: Path) -> dict[Endpoint, Path]:
    """Each endpoint's real answer, saved for the baseline app (which serves it at the path without the query)."""
    out: dict[Endpoint, Path] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i, ep in enumerate(endpoints):
            response = await client.get(ep.path)
            if response.status_code != 200:
                raise BenchError(f"GET {ep.path}: {response.status_code} {response.text[:500]}")
            file = workdir / f"body-{i}.json"
            file.write_bytes(response.content)
            out[ep] = file
    return out


def _argv(args: argparse.Namespace) -> list[str]:
    argv = ["--quick"] if args.quick else []
    return argv + ([f"--client={args.client}"] if args.client != "aiohttp" else [])


def run(args: argparse.Namespace) -> list[Table]:
    return asyncio.run(measure(args))


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
