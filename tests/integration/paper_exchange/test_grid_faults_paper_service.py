"""Venue faults (issue 18) on the grid against the REAL paper exchange service: a subset of the grid's fault suite
(tests/unit/engine/test_grid_faults.py) with the venue served by ``perpdex paper-exchange serve`` on the REAL
PostgreSQL, reached by the bot's own ``paper`` client (REST + order-update stream), on real time.

The faults are injected on the wire (:class:`GridFaultTransport`, between the client and the service): an entry's
reply lost after the order landed, take-profits refused as post-only crosses (409), take-profits rate limited (429
with Retry-After). The venue replays a price falling 0.3 per second, so entries fill and their take-profits rest. At
every loop boundary the grid's cover invariant is checked from the service's own books
(:meth:`~tests.unit.engine.grid_fault_rig.CoverWatch.observe`): |position - resting close size| < the minimum size
after one loop of grace (else no entry opened and a reason), and the strategy never crashes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from bot_runtime.clock import SystemClock
from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import Order
from bot_runtime.exchanges.paper import PaperServiceExchange
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import OrderResult, RecordingEvents
from bot_runtime.strategies.grid import GridStrategy
from perpdex_dev.postgres import PostgresCluster
from tests.integration.paper_exchange.px_helpers import ServiceProcess, free_port, fresh_database, write_venues
from tests.unit.engine.grid_fault_rig import CoverWatch

pytestmark = pytest.mark.integration

D = Decimal
API = "/api/v1"


def price_file(path: Path) -> Path:
    rows = [(0, "60000")] + [(i, str(D(60000) - D("0.3") * i)) for i in range(1, 3600)]
    path.write_text("".join(f"{t},{p}\n" for t, p in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
async def paper_service(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("px-grid")
    dsn = await fresh_database(postgres, "px_grid_faults")
    venues = [{"name": "paper", "options": {"priceFile": str(price_file(tmp / "btc.csv")), "step": "1s"}}]
    svc = ServiceProcess(dsn, write_venues(tmp / "venues.yaml", venues), free_port(), tmp / "px.log")
    svc.start()
    yield svc
    svc.kill()


@dataclass
class GridFaultTransport(httpx.AsyncBaseTransport):
    """Between the bot's client and the service. "Entry" orders are the non-reduce-only ones."""

    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    lose_entry_replies: int = 0  # the next n entries reach the service; their replies are lost (a timeout)
    refuse_closes: int = 0  # the next n take-profits are refused as post-only crosses
    limit_closes: int = 0  # the next n take-profits get a 429 with Retry-After
    retry_after: float = 2.0
    limited_at: list[float] = field(default_factory=list)  # monotonic times of the 429s
    lost: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        order = request.method == "POST" and request.url.path.endswith("/orders")
        reduce = order and bool(json.loads(request.content).get("reduce_only"))
        if reduce and self.limit_closes > 0:
            self.limit_closes -= 1
            self.limited_at.append(time.monotonic())
            body = {"kind": "rejected", "message": "too many requests (test)"}
            return httpx.Response(429, headers={"Retry-After": f"{self.retry_after:.0f}"}, json=body)
        if reduce and self.refuse_closes > 0:
            self.refuse_closes -= 1
            return httpx.Response(409, json={"kind": "post_only_would_cross", "message": "would cross (test)"})
        response = await self.inner.handle_async_request(request)
        if order and not reduce and self.lose_entry_replies > 0:
            self.lose_entry_replies -= 1
            self.lost += 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("reply lost (test)", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


class ServiceWatchedGrid(GridStrategy):
    """The grid with the cover invariant checked after every loop iteration from the service's books."""

    watch: CoverWatch
    books: Books

    async def _iteration(self, stopping: asyncio.Event) -> bool:
        ended = await super()._iteration(stopping)
        position, closes = await self.books.read(self)
        self.watch.observe(self, position=position, closes=closes, entries=self.books.entries(), doubled=[])
        return ended


@dataclass
class Books:
    """The account's position and the bot's resting take-profits as the service holds them (a client of its own)."""

    url: str
    account: str
    events: RecordingEvents
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5))

    async def read(self, strategy: GridStrategy) -> tuple[Decimal, Decimal]:
        base = f"{self.url}{API}/venues/paper/accounts/{self.account}"
        position = (await self.http.get(f"{base}/positions/BTC")).json()
        orders = [
            Order.model_validate(o) for o in (await self.http.get(f"{base}/orders", params={"symbol": "BTC"})).json()
        ]
        closes = sum(
            (o.remaining for o in orders if o.reduce_only and o.side is strategy.close_side and strategy.is_ours(o)),
            D(0),
        )
        return D(str(position["size"])), closes

    def entries(self) -> int:
        return sum(
            1
            for request, result, _ in self.events.orders
            if "-o-" in request.client_order_id and result in (OrderResult.ACCEPTED, OrderResult.FILLED)
        )

    def accepted(self, role: str) -> list[Decimal]:
        return [
            request.size
            for request, result, _ in self.events.orders
            if f"-{role}-" in request.client_order_id and result in (OrderResult.ACCEPTED, OrderResult.FILLED)
        ]


@dataclass
class Bot:
    strategy: ServiceWatchedGrid
    transport: GridFaultTransport
    books: Books
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def until(self, what: str, check: Callable[[], bool], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.task is not None and self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.1)

    async def settle(self) -> None:
        position, closes = await self.books.read(self.strategy)
        assert self.strategy.market is not None
        assert abs(position - closes) < self.strategy.market.min_size, (position, closes)
        self.strategy.watch.assert_held()
        assert self.task is not None and not self.task.done(), "the strategy ended"


@contextlib.asynccontextmanager
async def running_grid(svc: ServiceProcess, account: str) -> AsyncIterator[Bot]:
    config = parse_config(
        {
            "name": "grid-px",
            "namespace": "trading",
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": {"quantity": "0.01", "takeProfit": "0.02", "waitTime": "8s", "maxOrders": 40},
        }
    )
    transport = GridFaultTransport()
    options = {"baseUrl": svc.url, "account": account, "startingBalanceUsd": "10000", "ticker": "BTC"}
    venue = PaperServiceExchange("paper", options, {}, transport=transport)
    await venue.connect()
    clock = SystemClock()
    events = RecordingEvents()
    strategy = ServiceWatchedGrid(config, venue, RiskManager(config.risk, clock), events, clock=clock)
    strategy.watch = CoverWatch()
    strategy.books = Books(svc.url, account, events)
    bot = Bot(strategy, transport, strategy.books)
    bot.task = asyncio.create_task(strategy.run(bot.stopping))
    try:
        yield bot
    finally:
        bot.stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.task, 30)
        await strategy.stop_updates()
        await strategy.books.http.aclose()
        await venue.close()


async def test_an_entry_whose_reply_is_lost_is_found_not_resent(paper_service: ServiceProcess) -> None:
    async with running_grid(paper_service, "grid-lost-reply") as bot:
        bot.transport.lose_entry_replies = 1
        await bot.until("three take-profits", lambda: len(bot.books.accepted("c")) >= 3)
        assert bot.transport.lost == 1
        assert bot.strategy.unresolved == {}
        await bot.settle()


async def test_refused_take_profits_are_retried_and_nothing_opens_meanwhile(paper_service: ServiceProcess) -> None:
    async with running_grid(paper_service, "grid-refused-tp") as bot:
        bot.transport.refuse_closes = 4
        await bot.until("a fill without its take-profit", lambda: bot.strategy.uncovered_since is not None)
        entries = bot.books.entries()
        await bot.until("the take-profit placed", lambda: bot.books.accepted("c") != [])
        assert bot.transport.refuse_closes == 0
        sent = [(r.client_order_id, res) for r, res, _ in bot.books.events.orders]
        first_tp = next(i for i, (cid, res) in enumerate(sent) if "-c-" in cid and res is OrderResult.ACCEPTED)
        opened = [cid for cid, res in sent[:first_tp] if "-o-" in cid and res is OrderResult.ACCEPTED]
        assert len(opened) == entries  # nothing opened while it was uncovered
        await bot.until("trading on", lambda: bot.books.entries() > entries)
        await bot.settle()


async def test_rate_limited_take_profits_wait_out_retry_after(paper_service: ServiceProcess) -> None:
    async with running_grid(paper_service, "grid-429-tp") as bot:
        bot.transport.limit_closes = 4
        bot.transport.retry_after = 2.0
        await bot.until(
            "the take-profit placed", lambda: bot.transport.limit_closes == 0 and bot.books.accepted("c") != []
        )
        gaps = [b - a for a, b in itertools.pairwise(bot.transport.limited_at)]
        assert all(gap >= 1.9 for gap in gaps), gaps
        await bot.settle()
