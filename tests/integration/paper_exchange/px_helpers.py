"""Helpers of the paper exchange's integration tests: the service in-process on a REAL PostgreSQL database, on a
virtual clock and scripted prices (matching rules), or as a real ``perpdex paper-exchange serve`` process (restarts).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from fastapi import FastAPI

from bot_runtime.clock import Clock, VirtualClock
from bot_runtime.db.migrator import migrate
from bot_runtime.exchanges.paper.prices import ScriptedPath
from bot_runtime.paper_exchange.market import MarketSource, SyntheticMarket
from bot_runtime.paper_exchange.service.app import create_app
from bot_runtime.paper_exchange.service.runtime import synthetic_markets
from bot_runtime.paper_exchange.service.settings import Settings
from bot_runtime.paper_exchange.service.store import MIGRATIONS
from bot_runtime.paper_exchange.venues import VenueConfig
from perpdex_dev.postgres import PostgresCluster

START = 1_800_000_000.0  # virtual start time: a whole hour (funding boundaries fall on the hour)
API = "/api/v1"


def database_name(request: pytest.FixtureRequest, suffix: str = "") -> str:
    module = request.module.__name__.rsplit(".", 1)[-1]
    return ("px_" + re.sub(r"\W", "_", module) + suffix)[:60].lower()


async def fresh_database(postgres: PostgresCluster, name: str) -> str:
    dsn = postgres.create_database(name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, MIGRATIONS)
    finally:
        await conn.close()
    return dsn


def scripted_markets(scripts: Mapping[str, Mapping[str, Sequence[str]]]) -> Any:
    """A market factory: synthetic venues whose listed symbols follow the given prices, one per second."""

    def build(config: VenueConfig, epoch: float, cursor: Mapping[str, int] | None, now: float) -> MarketSource:
        if config.mirror is not None:
            return synthetic_markets(config, epoch, cursor, now)  # the service's own factory: a mirror market
        market = SyntheticMarket(config.name, config.paper_options(), epoch=epoch, cursor=cursor, now=now)
        for symbol, prices in scripts.get(config.name, {}).items():
            market.paths[symbol] = ScriptedPath(list(prices), step=1.0, epoch=epoch)
        return market

    return build


@dataclass
class InProcess:
    """The app on a virtual clock, its lifespan running, reached through ASGI (no sockets)."""

    app: FastAPI
    http: httpx.AsyncClient
    clock: Any  # a VirtualClock in the matching tests (they advance it), the system clock in the mirror test
    stack: contextlib.AsyncExitStack

    async def close(self) -> None:
        await self.http.aclose()
        await self.stack.aclose()

    # shortcuts ------------------------------------------------------------------------------------------------------
    def account_url(self, venue: str, account: str) -> str:
        return f"{API}/venues/{venue}/accounts/{account}"

    async def open(self, venue: str, account: str, balance: str | None = None) -> dict[str, Any]:
        body = {"starting_balance_usd": balance} if balance else {}
        r = await self.http.put(self.account_url(venue, account), json=body)
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def order(self, venue: str, account: str, **fields: Any) -> httpx.Response:
        return await self.http.post(self.account_url(venue, account) + "/orders", json=fields)

    async def get(self, path: str) -> Any:
        r = await self.http.get(path)
        assert r.status_code == 200, r.text
        return r.json()


async def open_in_process(
    dsn: str,
    venues: list[VenueConfig],
    scripts: Mapping[str, Mapping[str, Sequence[str]]],
    clock: Clock | None = None,
) -> InProcess:
    clock = clock or VirtualClock(START)
    settings = Settings(
        database_url=dsn, tick_seconds=10_000_000, pool_min_size=1, pool_max_size=4, connect_timeout_seconds=2
    )
    app = create_app(settings, venues=venues, clock=clock, markets=scripted_markets(scripts))
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(app.router.lifespan_context(app))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://paper.test")
    return InProcess(app=app, http=http, clock=clock, stack=stack)


@contextlib.asynccontextmanager
async def in_process(
    dsn: str,
    venues: list[VenueConfig],
    scripts: Mapping[str, Mapping[str, Sequence[str]]],
    clock: VirtualClock | None = None,
) -> AsyncIterator[InProcess]:
    svc = await open_in_process(dsn, venues, scripts, clock)
    try:
        yield svc
    finally:
        await svc.close()


def D(value: Any) -> Decimal:
    return Decimal(str(value))


# --- a real process -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    """``perpdex paper-exchange serve`` as a child process; ``kill()`` is SIGKILL (no graceful anything)."""

    dsn: str
    venues_file: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            PERPDEX_PX_DATABASE_URL=self.dsn,
            PERPDEX_PX_VENUES_FILE=str(self.venues_file),
            PERPDEX_PX_TICK_SECONDS="0.2",
            PERPDEX_PX_LOG_LEVEL="warning",
        )
        handle = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot_runtime.cli",
                "paper-exchange",
                "serve",
                "--migrate",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"paper exchange exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"paper exchange not healthy within 60 s:\n{self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None


def write_venues(path: Path, venues: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump(venues), encoding="utf-8")
    return path
