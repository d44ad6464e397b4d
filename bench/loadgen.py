"""A bounded asyncio HTTP load generator: ``concurrency`` workers share one keep-alive connection pool of the same
size and send a fixed number of GET requests, recording each latency. The generator's own CPU time is reported so a
client-bound run (the generator, not the server, at 100 % of a core) is visible.

Two HTTP clients: ``aiohttp`` (the default) and ``httpx``. On this project's 2-CPU machine httpx's connection pool
tops out near 300 requests/s at 50 connections with the generator at 100 % of a core -- a bare uvicorn endpoint then
looks no faster than the service, so httpx measures itself, not the server. aiohttp (already installed: the operator's
kopf depends on it) sends ~30 x more from the same core. ``--client httpx`` remains for comparison.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import aiohttp
import httpx

from bench.common import BenchError, own_cpu_seconds, percentile

ClientName = Literal["aiohttp", "httpx"]
CLIENTS: tuple[ClientName, ...] = ("aiohttp", "httpx")
Fetch = Callable[[str], Awaitable[tuple[int, int]]]  # path -> (status, body bytes)


@dataclass(frozen=True)
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...]
    body_bytes: int  # size of the last body received
    client_cpu_seconds: float
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Successful answers per second."""
        return (self.requests - self.errors) / self.seconds if self.seconds > 0 else 0.0

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies_ms, 99)

    @property
    def client_cpu_share(self) -> float:
        """Generator CPU seconds per wall second (1.0 = one core busy: the figures are then client-bound)."""
        return self.client_cpu_seconds / self.seconds if self.seconds > 0 else 0.0


async def run_load(
    base_url: str,
    paths: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    warmup: int = 0,
    request_timeout: float = 60.0,
    client: ClientName = "aiohttp",
) -> LoadResult:
    """Send ``requests`` GETs (cycling through ``paths``) with at most ``concurrency`` in flight. ``warmup`` requests
    go first and are not counted. Any non-200 answer or transport error counts as an error (not a latency sample)."""
    if requests < 1 or concurrency < 1:
        raise ValueError("requests and concurrency must be positive")
    if not paths:
        raise ValueError("no path to request")
    if client == "httpx":
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=request_timeout) as hx:

            async def fetch_httpx(path: str) -> tuple[int, int]:
                response = await hx.get(path)
                return response.status_code, len(response.content)

            return await _measure(fetch_httpx, paths, requests, concurrency, warmup)
    if client != "aiohttp":
        raise ValueError(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(
        base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=request_timeout)
    ) as session:

        async def fetch_aiohttp(path: str) -> tuple[int, int]:
            async with session.get(path) as response:
                body = await response.read()
                return response.status, len(body)

        return await _measure(fetch_aiohttp, paths, requests, concurrency, warmup)


async def _measure(fetch: Fetch, paths: Sequence[str], requests: int, concurrency: int, warmup: int) -> LoadResult:
    if warmup:
        await _drive(fetch, paths, warmup, concurrency)
    cpu0 = own_cpu_seconds()
    start = time.perf_counter()
    latencies, kinds, size = await _drive(fetch, paths, requests, concurrency)
    elapsed = time.perf_counter() - start
    cpu = own_cpu_seconds() - cpu0
    errors = sum(kinds.values())
    if errors == requests:
        raise BenchError(f"every request to {paths[0]} failed: {dict(kinds)}")
    return LoadResult(requests, errors, elapsed, tuple(latencies), size, cpu, dict(kinds))


async def _drive(
    fetch: Fetch, paths: Sequence[str], requests: int, concurrency: int
) -> tuple[list[float], Counter[str], int]:
    counter = itertools.count()
    latencies: list[float] = []
    kinds: Counter[str] = Counter()
    size = 0

    async def worker() -> None:
        nonlocal size
        while (i := next(counter)) < requests:
            t0 = time.perf_counter()
            try:
                status, n = await fetch(paths[i % len(paths)])
            except (aiohttp.ClientError, httpx.HTTPError, TimeoutError) as exc:
                kinds[type(exc).__name__] += 1
                continue
            elapsed_ms = (time.perf_counter() - t0) * 1000
            if status != 200:
                kinds[f"HTTP {status}"] += 1
                continue
            latencies.append(elapsed_ms)
            size = n

    await asyncio.gather(*(worker() for _ in range(min(concurrency, requests))))
    return latencies, kinds, size


async def sequential(
    base_url: str, path: str, *, requests: int, warmup: int = 3, client: ClientName = "aiohttp"
) -> LoadResult:
    """One client, one request at a time: the latency a single caller sees."""
    return await run_load(base_url, [path], requests=requests, concurrency=1, warmup=warmup, client=client)
