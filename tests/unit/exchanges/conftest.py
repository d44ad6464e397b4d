"""Helpers for running the grid strategy on a venue client against a replay venue (one bot process = one client and
one strategy; a restart is a new client and a new strategy on the same venue)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

from bot_runtime.clock import Clock
from bot_runtime.config import OnStop, parse_config
from bot_runtime.exchanges.base import Exchange
from bot_runtime.risk import RiskManager
from bot_runtime.strategies import build_strategy
from bot_runtime.strategies.base import ClientIds, RecordingEvents
from bot_runtime.strategies.grid import GridStrategy

T = TypeVar("T")


def grid_config(exchange: str, *, ticker: str = "BTC", **grid: Any) -> Any:
    spec = {"quantity": "0.01", "takeProfit": "0.02", "waitTime": "300s", "maxOrders": 40, **grid}
    return parse_config(
        {"name": "btc-grid", "namespace": "trading", "strategy": "grid", "exchange": exchange, "ticker": ticker,
         "grid": spec},
        require_credentials=False,
    )  # fmt: skip


async def wait_until(predicate: Callable[[], T | None], within: float = 10.0) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


class GridProcess:
    """A bot process: ``exchange`` (not yet connected) and a grid strategy on it, run in a task; ``events`` records
    what the strategy reports, ``ids`` reads the roles of its client order ids."""

    def __init__(self, exchange: Exchange, venue: str, *, clock: Clock | None = None) -> None:
        self.exchange = exchange
        self.config = grid_config(venue)
        self.events = RecordingEvents()
        self.ids = ClientIds(self.config.name, self.config.namespace)
        risk = RiskManager(self.config.risk, clock)
        strategy = build_strategy(self.config, exchange, risk, self.events, clock=clock)
        assert isinstance(strategy, GridStrategy)
        self.strategy = strategy
        self.stopping = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.exchange.connect()
        self.run()

    def run(self) -> None:
        """Start trading on an already connected client."""
        self.task = asyncio.create_task(self.strategy.run(self.stopping))

    async def crash(self) -> None:
        """The pod dies: no shutdown, every order stays on the venue."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.strategy.stop_updates()
        await self.exchange.close()

    async def stop(self, on_stop: OnStop = OnStop.CANCEL_ORDERS) -> None:
        """SIGTERM: stop opening, apply ``onStop``, close the client."""
        self.stopping.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 30)
        await self.strategy.shutdown(on_stop)
        await self.exchange.close()
