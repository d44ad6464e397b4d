"""An entry that fills before the strategy starts waiting for it (during placement, or already FILLED in the
placement's answer) gets its take-profit at once, not after the fill wait runs out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges.base import Order, OrderStatus, Side


def order(status: OrderStatus, filled: str = "0.01") -> Order:
    return Order(
        order_id="paper-77",
        client_order_id="x",
        symbol="BTC",
        side=Side.BUY,
        price=Decimal(60000),
        size=Decimal("0.01"),
        filled_size=Decimal(filled),
        avg_fill_price=Decimal(60000),
        status=status,
    )


async def test_a_final_order_is_not_waited_for(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid([60000] * 5)
    stopping = asyncio.Event()
    filled = order(OrderStatus.FILLED)
    # the virtual clock never moves here: any wait on it would hang the test
    got = await asyncio.wait_for(rig.strategy.await_order(filled, 10.0, stopping), 2)
    assert got is filled


async def test_a_fill_reported_before_the_wait_began_is_seen(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid([60000] * 5)
    stopping = asyncio.Event()
    rig.strategy.feed.final_seen["paper-77"] = order(OrderStatus.FILLED)
    # the order as placement returned it (still open); the stream already said it filled
    got = await asyncio.wait_for(rig.strategy.await_order(order(OrderStatus.OPEN, "0"), 10.0, stopping), 2)
    # then read over REST: the paper venue does not know this id, so the stream's final state stands
    assert got.order_id == "paper-77" and got.status is OrderStatus.FILLED
