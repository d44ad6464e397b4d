"""Restart recovery from the venues' positions (pairs rebuilt, never reopened; unmatched legs unwound or left per
onStop, always reported) and shutdown per onStop."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.config import OnStop
from bot_runtime.exchanges.base import OrderRequest, OrderType, Side, TimeInForce
from bot_runtime.strategies.base import StrategyPhase
from bot_runtime.strategies.funding_arb import ExitReason
from tests.unit.funding_arb.farb_helpers import FaultyVenue, Rig, build_rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


async def manual(venue: FaultyVenue, side: Side, size: str, symbol: str = "BTC") -> None:
    """A position the strategy did not open in this process (a previous run, a crash mid-entry)."""
    await venue.place_order(
        OrderRequest(
            symbol=symbol,
            side=side,
            size=D(size),
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            client_order_id=f"manual-{venue.name}-{symbol}-{side.value}-{size}",
        )
    )


async def restarted(rig: Rig, config: Any = None) -> Rig:
    """The same venues, a new strategy (a new pod): nothing carried over but the venues' state."""
    return await build_rig(rig.clock, config or rig.config, {}, venues=rig.venues)


async def test_restart_mid_position_recovers_the_pair_without_reopening(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    assert len(rig.strategy.pairs) == 1
    await rig.run_for(3600)
    await rig.crash()

    again = await restarted(rig)
    try:
        await again.run_for(2 * 3600)
        [pair] = again.strategy.pairs.values()
        assert pair.recovered
        assert (pair.symbol, pair.long.exchange, pair.short.exchange) == ("BTC", "paper-a", "paper-b")
        assert pair.long.size == pair.short.size == D("0.0166")
        assert again.events.roles() == []  # not reopened, nothing traded
        assert await again.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}
        # the first rate reading stands in for the unknown entry spread; funding is the venues' figure
        assert pair.entry_spread_hourly == D("0.00007")
        assert pair.funding_pnl == 3 * D("0.0166") * 60000 * (D(HIGH) - D(LOW))
        leg = again.strategy.snapshot().legs[0]
        assert leg.entry_spread_apr == D("0.00007") * 8760 and leg.current_net_apr is not None
        # and it is managed: the flip closes it
        again.set_rates(paper_a="0.00009", paper_b="0.00002")
        await again.run_for(120)
        assert again.strategy.pairs == {}
        assert again.strategy.closed[0].reason is ExitReason.SPREAD_FLIP
        assert await again.sizes() == {"paper-a": 0, "paper-b": 0}
    finally:
        await again.crash()


async def test_restart_unwinds_an_unmatched_leg_and_reports_it(make_rig: Callable[..., Any]) -> None:
    # maxPositions 1: the recovered ETH pair fills it, so only recovery acts
    config = farb_config({"symbols": [], "maxPositions": 1})
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH})
    await manual(rig.venues["paper-a"], Side.BUY, "0.0100")  # a lone long on BTC
    await manual(rig.venues["paper-a"], Side.BUY, "0.300", "ETH")  # an ETH pair from a previous run
    await manual(rig.venues["paper-b"], Side.SELL, "0.300", "ETH")
    await rig.run_for(60)
    assert await rig.sizes("BTC") == {"paper-a": 0, "paper-b": 0}
    assert list(rig.strategy.pairs) == ["ETH"]
    assert await rig.sizes("ETH") == {"paper-a": D("0.300"), "paper-b": D("-0.300")}
    [report] = rig.events.lone_leg_reports()
    assert report == "unmatched leg paper-a BTC long 0.0100: unwinding it (reduce-only)"
    assert rig.events.roles() == ["u"]


async def test_on_stop_leave_never_applies_to_a_lone_leg(make_rig: Callable[..., Any]) -> None:
    """``leave`` keeps pairs; a lone leg is naked, so it is unwound whatever onStop says (issue 21)."""
    rig = await make_rig(farb_config(onStop="leave"), {"paper-a": LOW, "paper-b": LOW})
    await manual(rig.venues["paper-b"], Side.SELL, "0.0100")
    await rig.run_for(30)
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    [report] = rig.events.lone_leg_reports()
    assert report == "unmatched leg paper-b BTC short 0.0100: unwinding it (reduce-only)"


async def test_three_venues_one_pair_per_symbol_the_rest_unwound(make_rig: Callable[..., Any]) -> None:
    config = farb_config({"exchanges": ["paper-a", "paper-b", "paper-c"], "maxPositions": 1})
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH, "paper-c": HIGH})
    await manual(rig.venues["paper-a"], Side.BUY, "0.0200")
    await manual(rig.venues["paper-b"], Side.SELL, "0.0150")
    await manual(rig.venues["paper-c"], Side.SELL, "0.0050")
    await rig.run_for(60)
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "paper-b")
    # the extra short is unwound, the pair's long trimmed to its short (25 % imbalance > 2 %)
    assert await rig.sizes() == {"paper-a": D("0.0150"), "paper-b": D("-0.0150"), "paper-c": 0}
    assert sorted(rig.events.roles()) == ["b", "u"]


async def test_positions_outside_the_configured_symbols_are_not_touched(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config({"symbols": ["BTC"]}), {"paper-a": LOW, "paper-b": LOW})
    await manual(rig.venues["paper-a"], Side.BUY, "1.00", "SOL")
    await rig.run_for(300)
    assert (await rig.sizes("SOL"))["paper-a"] == D("1.00")
    assert rig.events.roles() == []


async def test_shutdown_close_positions_closes_both_legs_of_every_pair(make_rig: Callable[..., Any]) -> None:
    config = farb_config({"symbols": ["BTC", "ETH"], "maxNewPositionsPerCycle": 2})
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    assert sorted(rig.strategy.pairs) == ["BTC", "ETH"]
    await rig.stop(OnStop.CLOSE_POSITIONS)
    for symbol in ("BTC", "ETH"):
        assert await rig.sizes(symbol) == {"paper-a": 0, "paper-b": 0}
    assert rig.strategy.phase is StrategyPhase.STOPPED
    assert rig.strategy.pairs == {}
    assert {c.reason for c in rig.strategy.closed} == {ExitReason.SHUTDOWN}
    assert rig.strategy.reason == "stopped (closePositions)"


async def test_shutdown_cancel_orders_keeps_the_pairs_for_the_next_run(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    await rig.stop(OnStop.CANCEL_ORDERS)
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}
    again = await restarted(rig)
    try:
        await again.run_for(60)
        assert list(again.strategy.pairs) == ["BTC"]
        assert again.events.roles() == []
    finally:
        await again.crash()


async def test_restart_keeps_the_pairs_entry_time_and_spread_from_status_legs(make_rig: Callable[..., Any]) -> None:
    """The previous process's status.legs (openedAt, entrySpreadApr) carry a recovered pair's hold timer and entry
    spread across the restart: maxHoldHours counts from the original entry, not from the restart."""
    # holdWhileBest false: the pair is its symbol's best and would otherwise be kept past maxHoldHours
    rig = await make_rig(farb_config({"maxHoldHours": 3, "holdWhileBest": False}), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    [before] = rig.strategy.snapshot().legs
    assert before.opened_at is not None and before.entry_spread_apr == D("0.00007") * 8760
    await rig.run_for(2 * 3600)
    await rig.crash()

    rig.set_rates(paper_a="0.00002", paper_b="0.00008")  # a different spread now: the entry one must win
    again = await restarted(rig)
    again.strategy.remember_legs([before])
    assert again.strategy.snapshot().legs == [before]  # reported as they were until recovery has run
    try:
        await again.run_for(30)
        [pair] = again.strategy.pairs.values()
        assert pair.recovered and pair.opened_wall == before.opened_at
        assert pair.entry_spread_hourly == D("0.00007")
        assert D("2") < pair.held_hours(again.clock.monotonic()) < D("2.1")
        assert again.strategy.snapshot().legs[0].opened_at == before.opened_at
        await again.run_for(3600)  # 3 h after the original entry (4 h would be needed counting from the restart)
        assert again.strategy.pairs == {}
        assert again.strategy.closed[0].reason is ExitReason.MAX_HOLD
    finally:
        await again.crash()


async def test_status_legs_of_another_pair_are_not_applied(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    [before] = rig.strategy.snapshot().legs
    await rig.run_for(3600)
    await rig.crash()
    again = await restarted(rig)
    # the same symbol with the venues the other way round is another pair: its history does not apply
    again.strategy.remember_legs([before.model_copy(update={"long_exchange": "paper-b", "short_exchange": "paper-a"})])
    try:
        await again.run_for(30)
        [pair] = again.strategy.pairs.values()
        assert pair.opened_wall is not None and pair.opened_wall > before.opened_at  # type: ignore[operator]
        assert pair.held_hours(again.clock.monotonic()) < D("0.01")
    finally:
        await again.crash()
