"""The paper exchange under a fleet's order flow (issue 16): ``--bots`` accounts on one venue sending ``--rate`` orders
per second in total, open loop (each order is sent at its scheduled time whether or not earlier ones were answered),
for ``--seconds``. Each order is a post-only buy far below the touch, so it rests (the service validates it, checks
margin, books it, stores the order and its update in PostgreSQL, then answers). Figure: the acknowledgement time,
``POST .../orders`` sent to its 201 received, p50 / p99 / max.

Baseline, same run, same schedule, same client: a bare FastAPI/uvicorn ``POST /echo`` answering its body
(``bench/echo_app.py``). The ratio is what the paper exchange's own work (matching, margin, the PostgreSQL commit)
costs over the bare server. Order updates streamed over WebSocket are measured too: the time from sending an order to
its ``order`` frame on the bot's stream, against the echo app's WebSocket round trip.

``python -m bench.paper_exchange [--quick] [--bots 200] [--rate 200] [--seconds 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
import asyncpg
import yaml

from bench.common import (
    PYTHON,
    BenchError,
    Table,
    Target,
    base_parser,
    clean_env,
    command_line,
    load_note,
    percentile,
    proc_sample,
    run_module,
    start_server,
    stop_process,
)
from bench.fs_data import postgres
from bot_runtime.db.migrator import migrate
from bot_runtime.paper_exchange.service.store import MIGRATIONS

MODULE = "bench.paper_exchange"
API = "/api/v1"


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "paper exchange order acknowledgement under a fleet's load")
    p.add_argument("--bots", type=int, default=200, help="accounts sending orders (default 200)")
    p.add_argument("--rate", type=float, default=200.0, help="orders per second, all bots together (default 200)")
    p.add_argument("--seconds", type=float, default=30.0, help="how long the load lasts (default 30; --quick 10)")
    p.add_argument("--ws-bots", type=int, default=20, help="bots that also stream their order updates (default 20)")
    return p


@dataclass
class Run:
    acks_ms: list[float]
    errors: int
    seconds: float
    stream_ms: list[float]
    sent_at: list[float]  # seconds since the start, per ack (same order as acks_ms)

    def window(self, start: float, end: float) -> list[float]:
        return [ms for t, ms in zip(self.sent_at, self.acks_ms, strict=True) if start <= t < end]


async def _open_loop(
    session: aiohttp.ClientSession, url_for: list[str], body_for: list[bytes], rate: float, stamps: dict[str, float]
) -> tuple[list[float], int, float, list[float]]:
    acks: list[float] = []
    sent_at: list[float] = []
    errors = 0

    async def send(i: int) -> None:
        nonlocal errors
        key = f"{i}"
        t0 = time.perf_counter()
        stamps[key] = t0
        try:
            async with session.post(url_for[i], data=body_for[i], headers={"Content-Type": "application/json"}) as r:
                await r.read()
                if r.status != 201:
                    errors += 1
                    return
        except aiohttp.ClientError:
            errors += 1
            return
        acks.append((time.perf_counter() - t0) * 1000)
        sent_at.append(t0 - start)

    start = time.perf_counter()
    tasks = []
    for i in range(len(url_for)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return acks, errors, time.perf_counter() - start, sent_at


async def _paper_run(url: str, args: argparse.Namespace, total: int) -> Run:
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        for b in range(args.bots):
            async with session.put(f"{API}/venues/paper/accounts/bot-{b}", json={}) as r:
                if r.status != 200:
                    raise BenchError(f"open account: {r.status} {await r.text()}")
        urls, bodies = [], []
        for i in range(total):
            b = i % args.bots
            urls.append(f"{API}/venues/paper/accounts/bot-{b}/orders")
            order = {
                "symbol": "BTC",
                "side": "buy",
                "size": "0.001",
                "price": "30000",
                "time_in_force": "post_only",
                "client_order_id": f"o-{i}",
            }
            bodies.append(json.dumps(order).encode())
        stamps: dict[str, float] = {}
        stream_ms: list[float] = []
        sockets = []
        for b in range(min(args.ws_bots, args.bots)):
            ws = await session.ws_connect(f"{API}/venues/paper/stream?account=bot-{b}")
            sockets.append(ws)

        async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
            async for msg in ws:
                data = json.loads(msg.data)
                if data.get("type") == "order":
                    cid = data["update"]["order"]["client_order_id"]
                    t0 = stamps.get(cid.removeprefix("o-"))
                    if t0 is not None:
                        stream_ms.append((time.perf_counter() - t0) * 1000)

        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        acks, errors, seconds, sent_at = await _open_loop(session, urls, bodies, args.rate, stamps)
        await asyncio.sleep(0.5)
        for ws in sockets:
            await ws.close()
        for t in listeners:
            t.cancel()
        return Run(acks, errors, seconds, stream_ms, sent_at)


async def _echo_run(url: str, args: argparse.Namespace, total: int) -> Run:
    connector = aiohttp.TCPConnector(limit=128)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        body = json.dumps({"symbol": "BTC", "side": "buy", "size": "0.001", "price": "30000"}).encode()
        acks, errors, seconds, sent_at = await _open_loop(session, ["/echo"] * total, [body] * total, args.rate, {})
        ws = await session.ws_connect("/ws")
        stream_ms = []
        for _ in range(min(500, total)):
            t0 = time.perf_counter()
            await ws.send_str('{"type":"order"}')
            await ws.receive()
            stream_ms.append((time.perf_counter() - t0) * 1000)
        await ws.close()
        return Run(acks, errors, seconds, stream_ms, sent_at)


async def measure(args: argparse.Namespace) -> list[Table]:
    seconds = 10.0 if args.quick and args.seconds == 30.0 else args.seconds
    total = int(args.rate * seconds)
    async with postgres("px") as (cluster, workdir):
        dsn = cluster.create_database("bench_px")
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn, MIGRATIONS)
        finally:
            await conn.close()
        venues = workdir / "venues.yaml"
        venues.write_text(yaml.safe_dump([{"name": "paper", "options": {"volatility": "0.6"}}]))
        env = clean_env(PERPDEX_PX_DATABASE_URL=dsn, PERPDEX_PX_VENUES_FILE=str(venues), PERPDEX_PX_LOG_LEVEL="warning")
        px, px_port, _ = start_server(
            lambda port: [
                PYTHON,
                "-m",
                "bot_runtime.cli",
                "paper-exchange",
                "serve",
                "--host=127.0.0.1",
                f"--port={port}",
            ],
            env,
            workdir / "paper-exchange.log",
            "/health",
        )
        echo = None
        try:
            echo, echo_port, _ = start_server(
                lambda port: [PYTHON, "-m", "bench.echo_app", f"--port={port}"],
                clean_env(),
                workdir / "echo.log",
                "/ping",
            )
            base = await _echo_run(f"http://127.0.0.1:{echo_port}", args, total)
            run = await _paper_run(f"http://127.0.0.1:{px_port}", args, total)
            sample = proc_sample(px.pid)
        finally:
            if echo is not None:
                stop_process(echo)
            stop_process(px)
    table = Table(
        f"Paper exchange: {args.bots} bots, {args.rate:g} orders/s in total for {seconds:g} s (open loop, {total} orders)",
        "a bare FastAPI/uvicorn POST /echo (and WebSocket echo) on the same schedule, same client, same run",
        command=command_line(MODULE, _argv(args)),
    )
    table.add("order ack p50", percentile(run.acks_ms, 50), "ms", percentile(base.acks_ms, 50))
    table.add("order ack p99", percentile(run.acks_ms, 99), "ms", percentile(base.acks_ms, 99), Target("<", 20))
    table.add("order ack max", max(run.acks_ms or [float("nan")]), "ms", max(base.acks_ms or [float("nan")]))
    table.add(
        "order sent -> its update on the stream p99",
        percentile(run.stream_ms, 99),
        "ms",
        percentile(base.stream_ms, 99),
        note="baseline: a WebSocket echo round trip",
    )
    step = 10.0
    for k in range(int(seconds // step)):
        lo, hi = k * step, (k + 1) * step
        table.add(
            f"order ack p99, seconds {lo:g}-{hi:g}",
            percentile(run.window(lo, hi), 99),
            "ms",
            percentile(base.window(lo, hi), 99),
        )
    table.add("achieved rate", len(run.acks_ms) / run.seconds, "orders/s", len(base.acks_ms) / base.seconds)
    table.notes.append(
        f"errors: {run.errors} (baseline {base.errors}); stream samples {len(run.stream_ms)} from {args.ws_bots} bots"
    )
    table.notes.append(
        f"paper exchange process: peak RSS {sample.peak_rss_mb:.0f} MB, {sample.cpu_seconds:.1f} CPU s over the run"
    )
    table.notes.append(load_note())
    return [table]


def _argv(args: argparse.Namespace) -> list[str]:
    argv = ["--quick"] if args.quick else []
    if args.bots != 200:
        argv.append(f"--bots={args.bots}")
    if args.rate != 200:
        argv.append(f"--rate={args.rate:g}")
    return argv


def run(args: argparse.Namespace) -> list[Table]:
    return asyncio.run(measure(args))


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
