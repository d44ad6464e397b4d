"""The grid's rules, each driven by a scripted price path on the paper venue and a virtual clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.exchanges.base import OrderStatus, OrderType, Quote, Side, TimeInForce
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.strategies.base import OrderResult, StrategyPhase

D = Decimal


def test_cooldown_ratios_are_the_originals(grid_config: Callable[..., Any]) -> None:
    from bot_runtime.risk import RiskManager
    from bot_runtime.strategies.grid import GridStrategy

    config = grid_config({"waitTime": "400s", "maxOrders": 12})
    strategy = GridStrategy(config, PaperExchange("paper"), RiskManager())
    expected = {0: 100, 1: 100, 2: 200, 3: 200, 4: 400, 7: 400, 8: 800, 11: 800, 12: None, 13: None}
    assert {n: strategy.cooldown_seconds(n) for n in expected} == expected


async def test_opens_follow_the_dynamic_cooldown_and_stop_at_max_orders(
    linear: Callable[..., Any], make_grid: Callable[..., Any]
) -> None:
    # a falling market: every open fills, no take-profit is reached, close orders pile up
    rig = await make_grid(linear("60000", "-0.3", 9000), grid={"waitTime": "400s", "maxOrders": 12})
    await rig.run_for(7000)
    opens = rig.events.accepted("o")
    assert len(opens) == 12
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(opens)]
    expected = [rig.strategy.cooldown_seconds(n) for n in range(1, 12)]  # count of close orders before each open
    assert expected == [100, 200, 200, 400, 400, 400, 400, 800, 800, 800, 800]
    for gap, cooldown in zip(gaps, expected, strict=True):
        assert cooldown is not None
        assert cooldown <= gap <= cooldown + 3
    assert len(rig.strategy.close_orders) == 12
    assert rig.strategy.snapshot().close_orders == 12
    position = await rig.exchange.position("BTC")
    assert position.size == D("0.12")
    await rig.stop()


async def test_max_orders_caps_resting_close_orders(linear: Callable[..., Any], make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(linear("60000", "-0.3", 9000), grid={"waitTime": "40s", "maxOrders": 3})
    await rig.run_for(3000)
    assert len(rig.events.accepted("o")) == 3
    closes = [o for o in await rig.exchange.open_orders("BTC") if o.reduce_only]
    assert len(closes) == 3
    await rig.stop()


async def test_a_filled_take_profit_allows_an_open_at_once(make_grid: Callable[..., Any]) -> None:
    # open fills at 60000.0, its close at 60012.0 fills when the price jumps to 60020 at step 20
    prices = ["60000", "59999", *["59999"] * 18, *["60020"] * 3000]
    rig = await make_grid(prices, grid={"waitTime": "4000s"})  # cooldown with 0 close orders: 1000 s
    await rig.run_for(300)
    opens = rig.events.accepted("o")
    closes = rig.events.accepted("c")
    assert len(closes) == 1 and closes[0][1].price == D("60012.0")
    close_fill = next(t for t, f in rig.events.fill_times if f.side is Side.SELL)
    assert len(opens) == 2
    assert 0 <= opens[1][0] - close_fill <= 3  # not 1000 s later
    await rig.stop()


async def test_grid_step_spaces_the_close_orders(linear: Callable[..., Any], make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(linear("60000", "-0.5", 3000), grid={"waitTime": "8s", "gridStep": "0.5"})
    await rig.run_for(3000)
    closes = [r.price for _, r in rig.events.accepted("c")]
    assert 4 <= len(closes) <= 6  # a 2.5 % slide with 0.5 % spacing
    for earlier, later in itertools.pairwise(closes):
        assert earlier is not None and later is not None
        assert earlier / later > D("1.005") - D("0.0003")  # next close at least ~gridStep below the lowest
    await rig.stop()
    # without the spacing check the same market opens every cooldown, up to maxOrders
    dense = await make_grid(linear("60000", "-0.5", 3000), grid={"waitTime": "8s"}, name="dense")
    await dense.run_for(600)
    assert len(dense.events.accepted("c")) == 40
    await dense.stop()


async def test_stop_price_ends_the_strategy_by_itself(
    linear: Callable[..., Any], make_grid: Callable[..., Any]
) -> None:
    rig = await make_grid(linear("60000", "1", 500), grid={"waitTime": "8s", "stopPrice": "60050"})
    await rig.run_for(200)
    assert rig.task is not None and rig.task.done()
    assert not rig.stopping.is_set()
    snapshot = rig.strategy.snapshot()
    assert snapshot.phase is StrategyPhase.STOPPED
    assert snapshot.reason is not None and "stopPrice 60050" in snapshot.reason
    assert all(r.price is not None and r.price < D("60050") for _, r in rig.events.accepted("o"))


async def test_sell_grid_stop_price_is_mirrored(linear: Callable[..., Any], make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(
        linear("60000", "-1", 500), grid={"waitTime": "8s", "direction": "sell", "stopPrice": "59950"}
    )
    await rig.run_for(200)
    assert rig.task is not None and rig.task.done()
    assert rig.strategy.snapshot().phase is StrategyPhase.STOPPED


async def test_pause_price_holds_opens_and_resumes_below_it(
    linear: Callable[..., Any], make_grid: Callable[..., Any]
) -> None:
    prices = [*linear("60000", "1", 100), *["60100"] * 300, *linear("60100", "-1", 200), *["59900"] * 500]
    rig = await make_grid(prices, grid={"waitTime": "8s", "pausePrice": "60050"})
    await rig.run_for(250)
    snapshot = rig.strategy.snapshot()
    assert snapshot.reason is not None and "pausePrice" in snapshot.reason
    assert snapshot.phase is StrategyPhase.RUNNING
    await rig.run_for(850)
    opens = rig.events.accepted("o")
    assert all(r.price is not None and r.price + D("0.1") < D("60050") for _, r in opens)
    start = rig.events.order_times[0][0]
    assert any(t - start > 400 for t, _ in opens)  # resumed after the pause window
    assert not any(100 <= t - start <= 400 for t, _ in opens)
    await rig.stop()


async def test_boost_mode_closes_at_market_right_after_the_fill(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(["60000", "59990", *["59990"] * 100], grid={"waitTime": "8s", "boostMode": True})
    await rig.run_for(60)
    closes = rig.events.accepted("c")
    assert len(closes) == 1
    request = closes[0][1]
    assert request.order_type is OrderType.MARKET and request.reduce_only
    assert (await rig.exchange.position("BTC")).size == 0
    assert not [o for o in await rig.exchange.open_orders("BTC") if o.reduce_only]
    taker_sells = [f for f in rig.exchange.fills if f.side is Side.SELL]
    assert len(taker_sells) == 1 and taker_sells[0].liquidity.value == "taker"
    await rig.stop()


class StaleQuotes(PaperExchange):
    """Reports a top of book a few ticks too high for the first ``stale`` reads (a lagging feed)."""

    stale = 0

    async def best_bid_ask(self, symbol: str) -> Quote:
        quote = await super().best_bid_ask(symbol)
        if self.stale > 0:
            self.stale -= 1
            shift = D("0.3")
            return quote.model_copy(update={"bid": quote.bid + shift, "ask": quote.ask + shift})
        return quote


async def _stale_rig(make_grid: Callable[..., Any], clock: Any, stale: int) -> Any:
    exchange = StaleQuotes("paper", {"ticker": "BTC"}, clock=clock, price_paths=_flat(60000))
    await exchange.connect()
    exchange.stale = stale
    return await make_grid(exchange=exchange, grid={"waitTime": "400s"})


def _flat(price: int) -> dict[str, Any]:
    from bot_runtime.exchanges.paper import ScriptedPath

    return {"BTC": ScriptedPath([price], step=1.0, epoch=0.0)}


async def test_post_only_rejections_are_repriced(make_grid: Callable[..., Any], clock: Any) -> None:
    rig = await _stale_rig(make_grid, clock, stale=4)  # the first read is the start price (the derived caps)
    await rig.run_for(5)
    results = [res for _, r, res in rig.events.order_times if r.time_in_force is TimeInForce.POST_ONLY]
    assert results == [OrderResult.POST_ONLY_REJECTED] * 3 + [OrderResult.ACCEPTED]
    accepted = rig.events.accepted("o")[0][1]
    assert accepted.price == D("60000.0")  # re-priced at the fresh ask - tick
    await rig.stop()
    await rig.exchange.close()


async def test_post_only_gives_up_after_15_tries_and_waits_a_cooldown(
    make_grid: Callable[..., Any], clock: Any
) -> None:
    rig = await _stale_rig(make_grid, clock, stale=10_000)
    await rig.run_for(50)
    results = [res for _, _, res in rig.events.order_times]
    assert results == [OrderResult.POST_ONLY_REJECTED] * 15
    assert await rig.exchange.open_orders() == []
    # the 15 tries back off (0.25, 0.5, 1, then 2 s: about 24 s); the cooldown with no close order is 400/4 = 100 s
    # after giving up
    await rig.run_for(70)
    assert len(rig.events.order_times) == 15
    await rig.run_for(35)
    assert len(rig.events.order_times) == 30
    await rig.stop()
    await rig.exchange.close()


async def test_partial_fill_gets_a_close_for_the_filled_part(make_grid: Callable[..., Any]) -> None:
    # 180 USD per step: 0.0030 BTC at 59999, 0.0029 at 60008; two steps trade through 60000.0, then the market moved
    # up (below the take-profit)
    prices = ["60000", "59999", "60008", *["60008"] * 200]
    rig = await make_grid(prices, grid={"waitTime": "4000s"}, paper={"volumePerStepUsd": "180"})
    await rig.run_for(30)
    opens = rig.events.accepted("o")
    assert len(opens) == 1
    open_order = next(o for o in rig.exchange._orders.values() if o.client_order_id == opens[0][1].client_order_id)
    assert open_order.status is OrderStatus.CANCELED and open_order.filled_size == D("0.0059")
    closes = rig.events.accepted("c")
    assert len(closes) == 1
    close = closes[0][1]
    assert close.size == D("0.0059") and close.price == D("60012.0") and close.reduce_only
    assert close.side is Side.SELL
    assert (await rig.exchange.position("BTC")).size == D("0.0059")
    resting = await rig.exchange.open_orders("BTC")
    assert [(o.side, o.size, o.price) for o in resting] == [(Side.SELL, D("0.0059"), D("60012.0"))]
    await rig.stop()


async def test_unfilled_open_keeps_resting_while_the_market_stays(make_grid: Callable[..., Any]) -> None:
    rig = await make_grid(["60000"] * 200 + ["60100"] * 100, grid={"waitTime": "4000s"})
    await rig.run_for(150)
    opens = rig.events.accepted("o")
    assert len(opens) == 1
    resting = await rig.exchange.open_orders("BTC")
    assert [o.client_order_id for o in resting] == [opens[0][1].client_order_id]
    await rig.run_for(60)  # the market moved up: the open is cancelled, nothing filled, no close
    first = await rig.exchange.find_order_by_client_id("BTC", opens[0][1].client_order_id)
    assert first is not None and first.status is OrderStatus.CANCELED and first.filled_size == 0
    assert rig.events.accepted("c") == []
    # the cooldown counts from the last fill (none): the next entry went at once, at the new top of the book
    [resting] = await rig.exchange.open_orders("BTC")
    assert resting.side is Side.BUY and not resting.reduce_only and resting.price is not None
    assert resting.price > D(60000)
    await rig.stop()


@pytest.mark.parametrize("flaky_reads", [2, 10])
async def test_position_mismatch_is_rechecked_before_acting(
    linear: Callable[..., Any], make_grid: Callable[..., Any], clock: Any, flaky_reads: int
) -> None:
    class FlakyPosition(PaperExchange):
        zero_reads = 0

        async def position(self, symbol: str) -> Any:
            real = await super().position(symbol)
            if self.zero_reads > 0:
                self.zero_reads -= 1
                return real.model_copy(update={"size": D(0)})
            return real

    from bot_runtime.exchanges.paper import ScriptedPath

    exchange = FlakyPosition(
        "paper",
        {"ticker": "BTC"},
        clock=clock,
        price_paths={"BTC": ScriptedPath(linear("60000", "-0.3", 9000), step=1.0, epoch=clock.time())},
    )
    await exchange.connect()
    rig = await make_grid(exchange=exchange, grid={"waitTime": "8s"})
    await rig.run_for(50)  # several opens filled, their closes rest
    assert len(rig.strategy.close_orders) >= 3
    exchange.zero_reads = flaky_reads  # the venue now reports a flat position a few times
    await rig.run_for(60)
    breaches = rig.events.breaches
    if flaky_reads <= rig.strategy.mismatch_rechecks:
        assert breaches == []
        assert rig.strategy.snapshot().phase is StrategyPhase.RUNNING
    else:
        assert [b.limit.value for b in breaches] == ["positionMismatch"]
        assert rig.strategy.snapshot().phase is StrategyPhase.RISK_HALTED
    await rig.stop()
    await exchange.close()
