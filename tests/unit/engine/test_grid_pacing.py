"""Grid pacing as the original (issue 17, item 4): the cooldown counts from the last fill, boost mode goes on at once,
a take-profit that fails to place is retried with backoff and nothing new opens meanwhile, takeProfit 0 and
waitTime 0s are accepted."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import Order, OrderRejected, OrderRequest, OrderType, Side
from bot_runtime.exchanges.paper import PaperExchange, ScriptedPath

D = Decimal


async def test_boost_mode_opens_again_right_after_the_market_close(make_grid: Callable[..., Any]) -> None:
    # each entry fills on the way down, its market close fills at once: the next entry follows at once (no cooldown)
    prices = [str(60000 - 10 * i) for i in range(300)]
    rig = await make_grid(prices, grid={"waitTime": "4000s", "boostMode": True})
    await rig.run_for(120)
    closes = rig.events.accepted("c")
    opens = rig.events.accepted("o")
    assert len(closes) >= 3 and all(r.order_type is OrderType.MARKET for _, r in closes)
    assert len(opens) >= len(closes)  # a 4000 s wait would have allowed one entry in two minutes
    await rig.stop()


class RefusesCloses(PaperExchange):
    """Refuses the first ``refusals`` take-profits (e.g. the venue's reduce-only check lags the fill)."""

    refusals = 0

    async def place_order(self, request: OrderRequest) -> Order:
        if request.reduce_only and self.refusals > 0:
            self.refusals -= 1
            raise OrderRejected("reduce-only order would increase the position", exchange=self.name)
        return await super().place_order(request)


async def test_a_take_profit_that_fails_is_retried_and_nothing_opens_meanwhile(
    make_grid: Callable[..., Any], clock: VirtualClock
) -> None:
    prices = ["60000", "59990", *["59990"] * 400]
    exchange = RefusesCloses(
        "paper", {"ticker": "BTC"}, clock=clock, price_paths={"BTC": ScriptedPath(prices, epoch=clock.time())}
    )
    await exchange.connect()
    exchange.refusals = 4
    rig = await make_grid(exchange=exchange, grid={"waitTime": "8s"})
    await rig.run_for(4)
    assert len(rig.events.accepted("o")) == 1 and (await exchange.position("BTC")).size == D("0.01")
    assert rig.strategy.uncovered_since is not None
    snap = rig.strategy.snapshot()
    assert "no take-profit" in (snap.reason or "") and snap.uncovered == D("0.01")  # status.uncoveredFill: Degraded
    await rig.run_for(5)  # retried after 1 s, 2 s and 5 s: still refused (the 4th try comes 10 s later)
    assert rig.events.accepted("o")[1:] == []  # no new entry while the fill is uncovered
    await rig.run_for(20)
    closes = [r for _, r in rig.events.accepted("c")]
    assert [(c.size, c.side) for c in closes] == [(D("0.01"), Side.SELL)]
    assert rig.strategy.uncovered_since is None and exchange.refusals == 0
    assert rig.strategy.snapshot().uncovered is None
    await rig.run_for(30)
    assert len(rig.events.accepted("o")) >= 2  # trading goes on once it is covered
    await rig.stop()


async def test_take_profit_zero_and_wait_time_zero(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(["60000", "59990", *["59990"] * 200], grid={"waitTime": "0s", "takeProfit": "0"})
    assert rig.config.grid is not None
    assert rig.config.grid.take_profit == 0 and rig.config.grid.wait_time == 0
    await rig.run_for(30)
    fills = [f for f in rig.exchange.fills if f.side is Side.BUY]
    closes = [r for _, r in rig.events.accepted("c")]
    assert fills and closes
    assert closes[0].price == fills[0].price  # the close rests at the fill price
    await rig.stop()


@pytest.mark.parametrize(
    ("grid", "message"), [({"takeProfit": "-0.1"}, "must be >= 0"), ({"waitTime": "-1s"}, "not a duration")]
)
def test_negative_take_profit_or_wait_time_is_refused(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_config({"strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.01", **grid}})
