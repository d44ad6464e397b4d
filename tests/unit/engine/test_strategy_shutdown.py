"""``run`` returns promptly when asked to stop; ``shutdown`` applies onStop; ``build_strategy`` wires it all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import OnStop
from bot_runtime.exchanges.base import OrderRequest, OrderType, Side
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.risk import RiskManager
from bot_runtime.strategies import StrategyPhase, build_strategy
from bot_runtime.strategies.base import ClientIds, RecordingEvents
from bot_runtime.strategies.grid import GridStrategy

D = Decimal


async def _busy_grid(make_grid: Callable[..., Any], linear: Callable[..., Any]) -> Any:
    rig = await make_grid(linear("60000", "-0.3", 5000), grid={"waitTime": "8s"})
    # a foreign order on the same account: never the bot's to cancel
    await rig.exchange.place_order(
        OrderRequest(symbol="BTC", side=Side.BUY, size=D("0.01"), price=D("50000.0"), client_order_id="manual-1")
    )
    await rig.run_for(120)
    assert len(rig.strategy.close_orders) >= 5
    return rig


async def test_run_returns_promptly_and_places_nothing_after_stop(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    rig = await _busy_grid(make_grid, linear)
    placed = len(rig.events.order_times)
    rig.stopping.set()
    await rig.clock.settle()
    assert rig.task is not None and rig.task.done()  # no virtual time needed to return
    assert len(rig.events.order_times) == placed
    assert rig.strategy.snapshot().phase is StrategyPhase.STOPPING


async def test_cancel_orders_leaves_no_open_order_of_the_bot(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    rig = await _busy_grid(make_grid, linear)
    position = (await rig.exchange.position("BTC")).size
    await rig.stop(OnStop.CANCEL_ORDERS)
    assert [o.client_order_id for o in await rig.exchange.open_orders()] == ["manual-1"]
    assert (await rig.exchange.position("BTC")).size == position  # positions are left alone
    snapshot = rig.strategy.snapshot()
    assert snapshot.phase is StrategyPhase.STOPPED and snapshot.open_orders == 0


async def test_close_positions_leaves_a_flat_position(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    rig = await _busy_grid(make_grid, linear)
    assert (await rig.exchange.position("BTC")).size > 0
    await rig.stop(OnStop.CLOSE_POSITIONS)
    assert (await rig.exchange.position("BTC")).size == 0
    assert [o.client_order_id for o in await rig.exchange.open_orders()] == ["manual-1"]
    exits = rig.events.accepted(ClientIds.EXIT)
    assert exits and all(r.reduce_only and r.order_type is OrderType.MARKET for _, r in exits)
    # the exit's fills reach the events hook (trade log, metrics) before the stream is released
    assert any(f.client_order_id == exits[-1][1].client_order_id for f in rig.events.fills)
    assert rig.strategy.snapshot().position == 0


async def test_leave_leaves_everything(make_grid: Callable[..., Any], linear: Callable[..., Any]) -> None:
    rig = await _busy_grid(make_grid, linear)
    before = sorted(o.order_id for o in await rig.exchange.open_orders())
    await rig.stop(OnStop.LEAVE)
    assert sorted(o.order_id for o in await rig.exchange.open_orders()) == before
    assert rig.strategy.snapshot().phase is StrategyPhase.STOPPED


async def test_shutdown_without_run(
    make_paper: Callable[..., Any], grid_config: Callable[..., Any], clock: VirtualClock
) -> None:
    exchange = await make_paper(["60000"])
    strategy = GridStrategy(grid_config(), exchange, RiskManager(clock=clock), clock=clock)
    await exchange.place_order(
        OrderRequest(
            symbol="BTC", side=Side.BUY, size=D("0.02"), order_type=OrderType.MARKET, client_order_id="manual-2"
        )
    )
    await clock.drive(strategy.shutdown(OnStop.CLOSE_POSITIONS))
    assert (await exchange.position("BTC")).size == 0


async def test_build_strategy(grid_config: Callable[..., Any], clock: VirtualClock) -> None:
    config = grid_config()
    exchange = PaperExchange("paper", config.venue_options("paper"), clock=clock)
    events = RecordingEvents()
    strategy = build_strategy(config, exchange, RiskManager(config.risk, clock), events, clock=clock)
    assert isinstance(strategy, GridStrategy) and strategy.events is events
    by_name = build_strategy(config, {"paper": exchange}, RiskManager(config.risk, clock), clock=clock)
    assert isinstance(by_name, GridStrategy)
    with pytest.raises(ValueError, match="no exchange client"):
        build_strategy(config, {"lighter": exchange}, RiskManager(config.risk, clock))


async def test_events_observer_failures_never_break_trading(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    rig = await make_grid(linear("60000", "-0.3", 500), grid={"waitTime": "8s"})

    def explode(*_: object) -> None:
        raise RuntimeError("observer bug")

    rig.strategy.events.on_fill = explode  # type: ignore[method-assign]
    rig.strategy.events.on_order = explode  # type: ignore[method-assign]
    await rig.run_for(60)
    assert len(rig.strategy.close_orders) >= 3
    await rig.stop(OnStop.CANCEL_ORDERS)


def test_client_ids_encode_bot_and_role() -> None:
    ids = ClientIds("btc-grid", "trading")
    same = ClientIds("btc-grid", "trading")
    other = ClientIds("btc-grid", "staging")
    generated = {ids.new("o") for _ in range(2000)}
    assert len(generated) == 2000
    one = ids.new("c")
    assert same.role_of(one) == "c" and same.is_ours(one)
    assert other.role_of(one) is None and not other.is_ours(one)
    assert ids.role_of("manual-1") is None and ids.role_of(None) is None
    assert len(one) <= 32
    with pytest.raises(ValueError):
        ids.new("Open")


async def test_strategy_reports_transient_errors_and_keeps_going(
    make_grid: Callable[..., Any], linear: Callable[..., Any], clock: VirtualClock
) -> None:
    from bot_runtime.exchanges.base import TransientNetworkError

    class Flaky(PaperExchange):
        failures = 0

        async def open_orders(self, symbol: str | None = None) -> Any:
            if self.failures > 0:
                self.failures -= 1
                raise TransientNetworkError("connection reset")
            return await super().open_orders(symbol)

    from bot_runtime.exchanges.paper import ScriptedPath

    exchange = Flaky(
        "paper",
        {"ticker": "BTC"},
        clock=clock,
        price_paths={"BTC": ScriptedPath(linear("60000", "-0.3", 2000), step=1.0, epoch=clock.time())},
    )
    await exchange.connect()
    rig = await make_grid(exchange=exchange, grid={"waitTime": "8s"})
    await rig.run_for(20)
    exchange.failures = 12  # more than with_retries absorbs: the loop reports and backs off
    await rig.run_for(120)
    assert rig.events.errors and isinstance(rig.events.errors[0], TransientNetworkError)
    assert rig.strategy.snapshot().last_error is not None
    closes_then = len(rig.strategy.close_orders)
    await rig.run_for(60)
    assert len(rig.strategy.close_orders) > closes_then  # trading resumed
    await rig.stop(OnStop.CANCEL_ORDERS)
    await exchange.close()
    assert asyncio.get_running_loop() is not None
