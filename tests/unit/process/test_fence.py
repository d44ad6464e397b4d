"""The check before every submission (bot_runtime/process/fence.py) and the strategy side of it (send_order)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import OrderRequest, Side
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.process.fence import LEASE_MARGIN_S, SubmissionFence
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import OrderResult, RecordingEvents, SubmissionFenced
from bot_runtime.strategies.grid import GridStrategy

ENTRY = OrderRequest(symbol="BTC", side=Side.BUY, size=Decimal("0.01"), price=Decimal(60000), client_order_id="e")
EXIT = OrderRequest(
    symbol="BTC", side=Side.SELL, size=Decimal("0.01"), price=Decimal(61000), reduce_only=True, client_order_id="x"
)


class Lease:
    def __init__(self, left: float) -> None:
        self.left = left

    def remaining(self) -> float:
        return self.left


def fence(*, lease: Lease | None, needs_lease: bool = True) -> tuple[SubmissionFence, asyncio.Event, asyncio.Event]:
    stopping, lost = asyncio.Event(), asyncio.Event()
    return SubmissionFence(stopping=stopping, lease_lost=lost, lease=lease, needs_lease=needs_lease), stopping, lost


def test_a_held_lease_with_margin_lets_every_order_through() -> None:
    check, _, _ = fence(lease=Lease(14.0))
    assert check(ENTRY) is None and check(EXIT) is None


def test_a_lease_near_expiry_or_lost_refuses_everything() -> None:
    lease = Lease(LEASE_MARGIN_S - 0.1)
    check, _, lost = fence(lease=lease)
    assert check(ENTRY) is not None and check(EXIT) is not None  # another instance may take it over any moment
    lease.left = 14.0
    assert check(EXIT) is None
    lost.set()
    assert check(EXIT) == "the lease was lost" and check(ENTRY) == "the lease was lost"
    no_lease, _, _ = fence(lease=None)
    assert no_lease(EXIT) is not None  # in Kubernetes without a lease nothing is sent


def test_stopping_refuses_entries_only() -> None:
    check, stopping, _ = fence(lease=None, needs_lease=False)  # outside Kubernetes: no lease
    assert check(ENTRY) is None
    stopping.set()
    assert check(ENTRY) == "stopping: no new entries"
    assert check(EXIT) is None  # a take-profit for a fill, a closePositions exit


async def test_a_fenced_order_never_reaches_the_venue() -> None:
    config = parse_config(
        {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.01"}, "name": "f"}
    )
    exchange = PaperExchange("paper", {"ticker": "BTC"})
    await exchange.connect()
    events = RecordingEvents()
    strategy = GridStrategy(config, exchange, RiskManager(config.risk), events)
    check, _, lost = fence(lease=Lease(14.0))
    strategy.fence = check
    lost.set()
    request = ENTRY.model_copy(update={"client_order_id": strategy.client_ids.new("o")})
    with pytest.raises(SubmissionFenced):
        await strategy.send_order(exchange, request)
    assert await exchange.open_orders("BTC") == []
    assert [result for _, result, _ in events.orders] == [OrderResult.FENCED]
    await exchange.close()
