"""Fixtures of the engine tests: a virtual clock, paper venues on scripted price paths, grid strategies on them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.base import Fill, OrderRequest
from bot_runtime.exchanges.paper import PaperExchange, ScriptedPath
from bot_runtime.risk import RiskBreach, RiskManager
from bot_runtime.strategies.base import OrderResult, RecordingEvents
from bot_runtime.strategies.grid import GridStrategy


class TimedEvents(RecordingEvents):
    """Records every event with the virtual time it happened at."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.order_times: list[tuple[float, OrderRequest, OrderResult]] = []
        self.fill_times: list[tuple[float, Fill]] = []

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        super().on_order(order, result, latency_s)
        self.order_times.append((self.clock.time(), order, result))

    def on_fill(self, fill: Fill, partial: bool = False) -> None:
        super().on_fill(fill, partial)
        self.fill_times.append((self.clock.time(), fill))

    def on_risk(self, breach: RiskBreach) -> None:
        super().on_risk(breach)

    def accepted(self, role: str) -> list[tuple[float, OrderRequest]]:
        """(time, request) of accepted orders whose client id has this role (o/c/x)."""
        return [
            (t, r)
            for t, r, res in self.order_times
            if res in (OrderResult.ACCEPTED, OrderResult.FILLED) and r.client_order_id.split("-")[1] == role
        ]


@dataclass
class GridRig:
    clock: VirtualClock
    exchange: PaperExchange
    config: BotConfig
    risk: RiskManager
    events: TimedEvents
    strategy: GridStrategy
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.strategy.run(self.stopping))

    async def run_for(self, seconds: float) -> None:
        if self.task is None:
            self.start()
        await self.clock.advance(seconds)
        if self.task is not None and self.task.done():
            self.task.result()  # surface a crash

    async def stop(self, on_stop: OnStop | None = None) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.clock.drive(self.task)
        if on_stop is not None:
            await self.clock.drive(self.strategy.shutdown(on_stop))

    async def crash(self) -> None:
        """Kill the strategy like a dying pod: no shutdown, orders stay on the venue."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        # the dead process' update consumer dies with it
        await self.strategy.stop_updates()


def grid_config(grid: dict[str, Any] | None = None, **spec: Any) -> BotConfig:
    body: dict[str, Any] = {
        "name": "test-grid",
        "namespace": "trading",
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {"quantity": "0.01", "takeProfit": "0.02", "waitTime": "60s", "maxOrders": 40, **(grid or {})},
    }
    body.update(spec)
    return parse_config(body)


def linear(start: str | Decimal, step: str | Decimal, n: int) -> list[Decimal]:
    """``n`` prices from ``start`` moving by ``step`` each step."""
    s, d = Decimal(start), Decimal(step)
    return [s + d * i for i in range(n)]


@pytest.fixture(name="linear")
def linear_fixture() -> Callable[..., list[Decimal]]:
    return linear


@pytest.fixture(name="grid_config")
def grid_config_fixture() -> Callable[..., BotConfig]:
    return grid_config


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def make_paper(
    clock: VirtualClock,
) -> AsyncIterator[Callable[..., Any]]:
    """``await make_paper(prices=None, name="paper", **options)``: a connected paper venue on the virtual clock,
    on a scripted BTC path when ``prices`` is given."""
    made: list[PaperExchange] = []

    async def factory(prices: Sequence[Decimal | str | int] | None = None, name: str = "paper", **options: Any):
        paths = {"BTC": ScriptedPath(prices, step=1.0, epoch=clock.time())} if prices is not None else None
        exchange = PaperExchange(name, {"ticker": "BTC", **options}, clock=clock, price_paths=paths)
        await exchange.connect()
        made.append(exchange)
        return exchange

    yield factory
    for exchange in made:
        await exchange.close()


@pytest.fixture
async def make_grid(clock: VirtualClock, make_paper: Callable[..., Any]) -> AsyncIterator[Callable[..., Any]]:
    """``await make_grid(prices, grid={...}, risk={...}, paper={...}, exchange=None, on_stop=...)`` → :class:`GridRig`."""
    rigs: list[GridRig] = []

    async def factory(
        prices: Sequence[Decimal | str | int] | None = None,
        *,
        grid: dict[str, Any] | None = None,
        risk: dict[str, Any] | None = None,
        paper: dict[str, Any] | None = None,
        exchange: PaperExchange | None = None,
        name: str = "test-grid",
        on_stop: str = "cancelEntries",
    ) -> GridRig:
        config = grid_config(grid, risk=risk or {}, paper=paper or {}, name=name, onStop=on_stop)
        if exchange is None:
            exchange = await make_paper(prices, **config.venue_options("paper"))
        manager = RiskManager(config.risk, clock)
        events = TimedEvents(clock)
        strategy = GridStrategy(config, exchange, manager, events, clock=clock)
        rig = GridRig(clock, exchange, config, manager, events, strategy)
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        if rig.task is not None and not rig.task.done():
            rig.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await rig.task
        await rig.strategy.stop_updates()
