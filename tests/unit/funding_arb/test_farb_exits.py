"""Scripted scenarios for each exit rule (spread flip, erosion, net APR, maxHoldHours, liquidation distance, a leg
closed by the venue, a risk breach), minHoldHours, rebalancing of imbalanced legs."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.config import OnBreach, RiskConfig
from bot_runtime.exchanges.base import OrderRequest, OrderType, Side, TimeInForce
from bot_runtime.risk import RiskLimit
from bot_runtime.strategies.base import StrategyPhase
from bot_runtime.strategies.funding_arb import ExitReason
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


async def opened(make_rig: Callable[..., Any], fa: dict[str, Any] | None = None, **spec: Any) -> Rig:
    rig: Rig = await make_rig(farb_config(fa, **spec), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    assert len(rig.strategy.pairs) == 1
    return rig


async def closed_by(rig: Rig, reason: ExitReason) -> None:
    assert rig.strategy.pairs == {}
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    [closed] = rig.strategy.closed
    assert closed.reason is reason, closed


async def venue_reduces(rig: Rig, venue: str, side: Side, size: str) -> None:
    """The venue itself reduces the bot's position (a liquidation, an ADL): an order that is not the bot's."""
    await rig.venues[venue].place_order(
        OrderRequest(
            symbol="BTC",
            side=side,
            size=D(size),
            order_type=OrderType.MARKET,
            time_in_force=TimeInForce.IOC,
            reduce_only=True,
            client_order_id=f"venue-{venue}-{size}",
        )
    )


async def test_spread_flip_closes_both_legs(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"exitOrders": "ioc"})  # maker-first: test_farb_exit_orders.py
    await rig.run_for(2 * 3600)
    rig.set_rates(paper_a="0.00009", paper_b="0.00002")  # the long venue now pays more than the short one
    await rig.run_for(120)
    await closed_by(rig, ExitReason.SPREAD_FLIP)
    [closed] = rig.strategy.closed
    # two hours of the entry spread were earned before the flip
    assert closed.funding_pnl == 2 * D("0.0166") * 60000 * (D(HIGH) - D(LOW))
    snap = rig.strategy.snapshot()
    assert snap.legs == []
    assert snap.funding_pnl == closed.funding_pnl
    # realized: the price round trip (ask in, bid out and vice versa) and four taker fees
    assert closed.price_pnl == D("0.0166") * (D("59999.9") - D("60000.1")) * 2
    assert snap.realized_pnl == closed.price_pnl - snap.fees_paid
    assert snap.fees_paid == 2 * D("0.0166") * (D("60000.1") + D("59999.9")) * D("0.0005")
    assert "spreadFlip" in (snap.reason or "")
    # no re-entry on the flipped symbol until its cooldown has passed
    roles = rig.events.roles()
    assert roles == ["o", "o", "x", "x"]


async def test_min_hold_hours_delays_a_rate_exit(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"minHoldHours": 3})
    await rig.run_for(3600)
    rig.set_rates(paper_a="0.00009", paper_b="0.00002")
    await rig.run_for(3600 + 1700)  # 2 h 29 min held
    assert len(rig.strategy.pairs) == 1
    await rig.run_for(40 * 60)  # past 3 h
    await closed_by(rig, ExitReason.SPREAD_FLIP)
    assert rig.strategy.closed[0].held_hours >= 3


async def test_erosion_exit(make_rig: Callable[..., Any]) -> None:
    # exitNetApr 0: only the erosion rule can fire (spread 0.00003/h still nets > 0 over 72 h); holdWhileBest
    # false: the pair, the only one of its symbol, would otherwise be kept as the best
    rig = await opened(make_rig, {"exitNetApr": "0", "erosionExitRatio": "0.5", "holdWhileBest": False})
    rig.set_rates(paper_b="0.00005")  # spread 0.00004 = 0.57 x entry: kept
    await rig.run_for(600)
    assert len(rig.strategy.pairs) == 1
    rig.set_rates(paper_b="0.00004")  # spread 0.00003 = 0.43 x entry
    await rig.run_for(120)
    await closed_by(rig, ExitReason.EROSION)


async def test_a_pair_still_the_best_of_its_symbol_is_kept_past_erosion_and_max_hold(
    make_rig: Callable[..., Any],
) -> None:
    rig = await opened(make_rig, {"exitNetApr": "0", "erosionExitRatio": "0.5", "maxHoldHours": 2})
    rig.set_rates(paper_b="0.00004")  # spread 0.00003 = 0.43 x entry, but still the symbol's only (best) pair
    await rig.run_for(3 * 3600)  # past maxHoldHours too
    assert len(rig.strategy.pairs) == 1
    assert rig.strategy.closed == []


async def test_net_apr_decay_exit(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"exitNetApr": "0.03", "erosionExitRatio": "0.1"})
    # a held pair's net APR charges only the exit fees (0.0005 + 0.0005), the entry's are sunk:
    rig.set_rates(paper_b="0.00005")  # spread 0.00004: net APR 0.3504 - 0.1217 = 0.2287 >= 0.03
    await rig.run_for(600)
    assert len(rig.strategy.pairs) == 1
    assert rig.strategy.snapshot().legs[0].current_net_apr == (D("0.00004") * 72 - D("0.001")) * 8760 / 72
    # spread 0.00002: net APR 0.1752 - 0.1217 = 0.0535 >= 0.03: kept (with the round trip, 0.1752 - 0.2433 < 0.03,
    # the pair would have been closed here)
    rig.set_rates(paper_b="0.00003")
    await rig.run_for(600)
    assert len(rig.strategy.pairs) == 1
    rig.set_rates(paper_b="0.000025")  # spread 0.000015: net APR 0.1314 - 0.1217 = 0.0097 < 0.03, above 0.1 x entry
    await rig.run_for(120)
    await closed_by(rig, ExitReason.NET_APR)


async def test_max_hold_hours(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"maxHoldHours": 2, "holdWhileBest": False})
    await rig.run_for(2 * 3600 - 120)
    assert len(rig.strategy.pairs) == 1
    await rig.run_for(120)
    await closed_by(rig, ExitReason.MAX_HOLD)
    # the symbol cools down instead of reopening the same pair at once
    await rig.run_for(300)
    assert rig.strategy.pairs == {}


async def test_liquidation_distance_exits_at_once_even_within_min_hold(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"minHoldHours": 24, "minLiquidationDistancePct": "10"})
    rig.venues["paper-b"].liquidation_pct = D("12")
    await rig.run_for(120)
    assert len(rig.strategy.pairs) == 1
    rig.venues["paper-b"].liquidation_pct = D("8")
    await rig.run_for(120)
    await closed_by(rig, ExitReason.LIQUIDATION)


async def test_leg_closed_by_the_venue_closes_the_other(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"minHoldHours": 24})
    await venue_reduces(rig, "paper-b", Side.BUY, "0.0166")  # paper-b liquidates the short
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": 0}
    await rig.run_for(120)
    await closed_by(rig, ExitReason.LEG_CLOSED)


async def test_a_transient_zero_position_is_not_a_closed_leg(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig)
    rig.venues["paper-b"].blink_positions = 1
    await rig.run_for(120)
    assert len(rig.strategy.pairs) == 1
    assert rig.strategy.closed == []
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}


async def test_imbalanced_legs_are_rebalanced(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig, {"maxLegImbalancePct": "2"})
    await venue_reduces(rig, "paper-b", Side.BUY, "0.0002")  # 1.2 %: within the limit
    await rig.run_for(120)
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0164")}
    assert rig.strategy.snapshot().position == D("0.0002")  # status.position: the net exposure, not the pair size
    await venue_reduces(rig, "paper-b", Side.BUY, "0.004")  # ADL: 25 % of the short gone
    await rig.run_for(120)
    [pair] = rig.strategy.pairs.values()
    assert pair.long.size == pair.short.size == D("0.0124")
    assert await rig.sizes() == {"paper-a": D("0.0124"), "paper-b": D("-0.0124")}
    assert rig.strategy.snapshot().position == 0  # hedged again
    assert rig.events.roles()[-1] == "b"


async def test_risk_close_all_closes_every_pair_and_stops_opening(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig)
    rig.risk.config = RiskConfig(max_position_usd=D(500), on_breach=OnBreach.CLOSE_ALL)
    await rig.run_for(60)
    await closed_by(rig, ExitReason.RISK)
    assert rig.strategy.phase is StrategyPhase.RISK_HALTED
    [breach] = rig.events.breaches
    assert breach.limit is RiskLimit.MAX_POSITION_USD
    await rig.run_for(1800)
    assert rig.strategy.pairs == {}
    assert rig.events.roles().count("o") == 2


async def test_risk_check_blocks_an_entry_before_any_order(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(
        farb_config(risk={"maxPositionUsd": "500", "onBreach": "pause"}), {"paper-a": LOW, "paper-b": HIGH}
    )
    await rig.run_for(120)
    assert rig.events.roles() == []
    assert rig.strategy.phase is StrategyPhase.RISK_HALTED
    assert rig.events.breaches[0].limit is RiskLimit.MAX_POSITION_USD


async def test_pause_breach_keeps_the_pair_and_its_exits(make_rig: Callable[..., Any]) -> None:
    rig = await opened(make_rig)
    rig.risk.config = RiskConfig(max_position_usd=D(500), on_breach=OnBreach.PAUSE)
    await rig.run_for(60)
    assert rig.strategy.phase is StrategyPhase.RISK_HALTED
    assert len(rig.strategy.pairs) == 1  # pause: kept, no new orders
    rig.set_rates(paper_a="0.00009", paper_b="0.00002")
    await rig.run_for(120)
    await closed_by(rig, ExitReason.SPREAD_FLIP)  # reduce-only exits still run
