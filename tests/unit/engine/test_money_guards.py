"""Money guards on by default (issue 17, item 7): a derived position cap and a per-order cap, quotes checked before
use, foreign orders never touched, cancels on a stop run concurrently."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.config import OnStop, RiskConfig
from bot_runtime.exchanges.base import Balance, Order, OrderRequest, Position, Quote, Side, TimeInForce
from bot_runtime.exchanges.paper import PaperExchange, ScriptedPath
from bot_runtime.risk import RiskLimit, RiskManager

D = Decimal


async def test_a_grid_without_max_position_usd_gets_a_cap(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(["60000"] * 50, grid={"maxOrders": 4, "waitTime": "4000s"})
    await rig.run_for(2)
    # 0.01 x (4 + 1) at the start price (the mid of the first good quote)
    assert rig.strategy.risk.position_cap == D("0.05") * rig.strategy.risk.cap_price
    assert rig.strategy.risk.order_cap == 3 * D("0.01") * rig.strategy.risk.cap_price
    await rig.stop()


def test_the_derived_caps_bound_sizes_not_prices(clock: VirtualClock) -> None:
    risk = RiskManager(RiskConfig(), clock)
    risk.derive_caps(position_usd=D(3000), order_usd=D(1800), at_price=D(60000))  # 0.05 and 0.03 BTC
    buy = OrderRequest(symbol="BTC", side=Side.BUY, size=D("0.01"), price=D(90000), client_order_id="o")
    held = Position(symbol="BTC", size=D("0.03"), mark_price=D(90000))
    # the price rose 50 %: 0.04 BTC is still within the 0.05 the grid may hold
    assert risk.check_order(buy, price=D(90000), position=held) is None
    assert risk.check_periodic(calm_balance(), [held]) is None
    big = buy.model_copy(update={"size": D("0.04")})
    breach = risk.check_order(big, price=D(90000), position=None)
    assert breach is not None and breach.limit is RiskLimit.MAX_ORDER_USD


def calm_balance() -> Balance:
    """A balance that trips nothing."""
    return Balance(equity=D(100000), available=D(100000))


def test_a_spec_limit_wins_over_the_derived_one(clock: VirtualClock) -> None:
    risk = RiskManager(RiskConfig(max_position_usd=D(100000)), clock)
    risk.derive_caps(position_usd=D(3000), order_usd=D(1800), at_price=D(60000))
    assert risk.position_cap == D(100000)


class BadQuotes(PaperExchange):
    """A feed that reports a crossed book for the first ``bad`` reads, then a zero bid, then the truth."""

    bad = 0

    async def best_bid_ask(self, symbol: str) -> Quote:
        quote = await super().best_bid_ask(symbol)
        if self.bad > 0:
            self.bad -= 1
            if self.bad % 2:
                return quote.model_copy(update={"bid": quote.ask + 1})
            return quote.model_copy(update={"bid": D(0)})
        return quote


async def test_a_bad_quote_makes_the_loop_wait_never_an_order_never_a_crash(
    make_grid: Callable[..., Any], clock: VirtualClock
) -> None:
    exchange = BadQuotes(
        "paper", {"ticker": "BTC"}, clock=clock, price_paths={"BTC": ScriptedPath(["60000"], epoch=clock.time())}
    )
    await exchange.connect()
    exchange.bad = 12
    rig = await make_grid(exchange=exchange, grid={"waitTime": "4000s"})
    await rig.run_for(4)
    assert rig.events.orders == []  # nothing was sent on a bad quote
    assert rig.task is not None and not rig.task.done()
    assert "bid" in (rig.strategy.last_error or "")
    await rig.run_for(60)
    assert exchange.bad == 0 and rig.events.accepted("o")  # trading once the quotes are good
    await rig.stop()


async def test_orders_without_the_bots_tag_are_never_cancelled(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(["60000"] * 100, grid={"waitTime": "4000s"})
    await rig.run_for(2)
    manual = await rig.exchange.place_order(
        OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=D("0.01"),
            price=D(50000),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id="manual-1",
        )
    )
    bare = await rig.exchange.place_order(
        OrderRequest(symbol="BTC", side=Side.BUY, size=D("0.01"), price=D(50001), client_order_id="x")
    )
    # a venue that lists an order without any client id
    rig.exchange._orders[bare.order_id] = rig.exchange._orders[bare.order_id].model_copy(
        update={"client_order_id": None}
    )
    await rig.stop(OnStop.CANCEL_ORDERS)
    left = {o.order_id for o in await rig.exchange.open_orders("BTC")}
    assert left == {manual.order_id, bare.order_id}


class SlowCancels(PaperExchange):
    in_flight = 0
    most = 0

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        SlowCancels.in_flight += 1
        SlowCancels.most = max(SlowCancels.most, SlowCancels.in_flight)
        try:
            await self.clock.sleep(1.0)
            await super().cancel_order(symbol, order_id)
        finally:
            SlowCancels.in_flight -= 1


async def test_cancels_on_a_stop_run_concurrently_and_bounded(
    make_grid: Callable[..., Any], clock: VirtualClock
) -> None:
    exchange = SlowCancels(
        "paper", {"ticker": "BTC"}, clock=clock, price_paths={"BTC": ScriptedPath(["60000"], epoch=clock.time())}
    )
    await exchange.connect()
    rig = await make_grid(exchange=exchange, grid={"waitTime": "4000s"})
    await rig.run_for(2)
    for i in range(20):
        request = OrderRequest(
            symbol="BTC",
            side=Side.BUY,
            size=D("0.01"),
            price=D(50000 + i),
            time_in_force=TimeInForce.POST_ONLY,
            client_order_id=rig.strategy.client_ids.new("o"),
        )
        order: Order = await exchange.place_order(request)
        assert order.order_id
    start = clock.time()
    await rig.stop(OnStop.CANCEL_ORDERS)
    assert await exchange.open_orders("BTC") == []
    assert SlowCancels.most == 8  # bounded
    assert clock.time() - start < 10  # 21 cancels of 1 s each, 8 at a time
