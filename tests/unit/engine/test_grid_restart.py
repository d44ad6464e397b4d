"""A restarted bot (a new strategy instance on the same venue) continues the same grid from the exchange's state."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges.base import OrderRequest, OrderStatus, Side, TimeInForce

D = Decimal


async def test_restart_recovers_the_same_close_orders_and_does_not_double_them(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    first = await make_grid(linear("60000", "-0.3", 20000), grid={"waitTime": "40s"})
    await first.run_for(600)
    resting = [o for o in await first.exchange.open_orders("BTC") if o.reduce_only]
    position = (await first.exchange.position("BTC")).size
    assert len(resting) >= 5
    assert sum(o.remaining for o in resting) == position
    await first.crash()  # the pod dies: no shutdown, orders stay on the venue

    second = await make_grid(exchange=first.exchange, grid={"waitTime": "40s"})
    await second.run_for(5)
    assert sorted(o.order_id for o in second.strategy.close_orders) == sorted(o.order_id for o in resting)
    assert second.events.accepted("c") == []  # nothing placed again
    assert second.events.accepted("o") == []  # the cooldown is honoured after a restart
    assert second.strategy.snapshot().close_orders == len(resting)

    await second.run_for(1200)
    new_opens = second.events.accepted("o")
    assert new_opens  # the grid goes on
    closes = [o for o in await second.exchange.open_orders("BTC") if o.reduce_only]
    now = (await second.exchange.position("BTC")).size
    assert sum(o.remaining for o in closes) == now  # one close per filled open, never two
    assert len(closes) == len(resting) + len(new_opens)
    assert {o.order_id for o in resting} <= {o.order_id for o in closes}
    await second.stop()


async def test_restart_cancels_a_stale_open_and_closes_its_filled_part(
    make_grid: Callable[..., Any], make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    exchange = await make_paper(["60000", "59999", "60005", *["60005"] * 100], volumePerStepUsd="180")
    bot = await make_grid(exchange=exchange, grid={"waitTime": "4000s"})
    # what the previous run left: an entry that partly filled before the pod died
    stale_id = bot.strategy.client_ids.new("o")
    await exchange.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=D("0.01"),
            price=D("60000.0"),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id=stale_id,
        )
    )
    await clock.advance(3)
    stale = await exchange.find_order_by_client_id("BTC", stale_id)
    assert stale is not None and stale.status is OrderStatus.PARTIALLY_FILLED
    filled = stale.filled_size
    assert filled == D("0.0059")

    await bot.run_for(2)
    stale = await exchange.find_order_by_client_id("BTC", stale_id)
    assert stale is not None and stale.status is OrderStatus.CANCELED
    closes = [o for o in await exchange.open_orders("BTC") if o.reduce_only]
    assert [(o.side, o.size, o.price) for o in closes] == [(Side.SELL, filled, D("60012.0"))]
    assert (await exchange.position("BTC")).size == filled
    await bot.stop()


async def test_foreign_orders_are_not_the_bots(make_grid: Callable[..., Any], make_paper: Callable[..., Any]) -> None:
    exchange = await make_paper(["60000"] * 100)
    # another bot's resting close-side order on the same venue and market
    await exchange.place_order(
        OrderRequest(symbol="BTC", side=Side.BUY, size=D("0.01"), order_type="market", client_order_id="manual-0")
    )
    other = await make_grid(exchange=exchange, name="someone-else")
    await exchange.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.SELL,
            size=D("0.01"),
            price=D("61000.0"),
            reduce_only=True,
            client_order_id=other.strategy.client_ids.new("c"),
        )
    )
    bot = await make_grid(exchange=exchange, grid={"waitTime": "4000s"})
    await bot.run_for(3)
    # the other bot's close is not ours: the account's position counts as uncovered and gets the bot's own close
    assert [o.client_order_id for o in bot.strategy.close_orders if not bot.strategy.is_ours(o)] == []
    assert [(r.size, r.why) for r in bot.events.recoveries] == [(D("0.01"), "start")]
    await bot.stop()
