"""Risk manager: every limit trips with a typed breach; pause and closeAll do what they say on a running grid."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import RiskConfig
from bot_runtime.exchanges.base import Balance, OrderRequest, Position, Side
from bot_runtime.risk import RiskAction, RiskLimit, RiskManager
from bot_runtime.strategies.base import StrategyPhase

D = Decimal


def order(side: Side = Side.BUY, size: str = "0.1", reduce_only: bool = False) -> OrderRequest:
    return OrderRequest(
        symbol="BTC", side=side, size=D(size), price=D(60000), reduce_only=reduce_only, client_order_id="r1"
    )


def balance(equity: str | int) -> Balance:
    return Balance(equity=D(equity), available=D(equity))


def position(size: str, mark: str = "60000", upnl: str = "0", symbol: str = "BTC") -> Position:
    return Position(symbol=symbol, size=D(size), mark_price=D(mark), unrealized_pnl=D(upnl))


def manager(clock: VirtualClock, **limits: Any) -> RiskManager:
    return RiskManager(RiskConfig(**limits), clock)


def test_max_position_usd(clock: VirtualClock) -> None:
    risk = manager(clock, max_position_usd=D(10000))
    assert risk.check_order(order(size="0.1"), price=D(60000), position=position("0.05")) is None  # 9000
    breach = risk.check_order(order(size="0.2"), price=D(60000), position=position("0.05"))
    assert breach is not None
    assert (breach.limit, breach.value, breach.threshold, breach.action) == (
        RiskLimit.MAX_POSITION_USD,
        D("15000.00"),
        D(10000),
        RiskAction.PAUSE,
    )
    assert risk.halted
    # once halted nothing opens, but a reduce-only exit always passes
    assert risk.check_order(order(size="0.01"), price=D(60000)) is breach
    assert risk.check_order(order(Side.SELL, reduce_only=True), price=D(60000), position=position("1")) is None


def test_max_position_usd_on_the_timer(clock: VirtualClock) -> None:
    risk = manager(clock, max_position_usd=D(10000))
    assert risk.check_periodic(balance(10000), [position("0.1")]) is None
    breach = risk.check_periodic(balance(10000), [position("0.2")])
    assert breach is not None and breach.limit is RiskLimit.MAX_POSITION_USD


def test_a_reducing_order_is_never_a_position_breach(clock: VirtualClock) -> None:
    risk = manager(clock, max_position_usd=D(1000))
    assert risk.check_order(order(Side.SELL, size="0.1"), price=D(60000), position=position("0.5")) is None


def test_max_open_orders(clock: VirtualClock) -> None:
    risk = manager(clock, max_open_orders=3)
    assert risk.check_order(order(), price=D(60000), open_orders=2) is None
    breach = risk.check_order(order(), price=D(60000), open_orders=3)
    assert breach is not None and breach.limit is RiskLimit.MAX_OPEN_ORDERS and breach.value == 4
    timer = manager(clock, max_open_orders=3).check_periodic(balance(1000), [], open_orders=4)
    assert timer is not None and timer.limit is RiskLimit.MAX_OPEN_ORDERS


async def test_max_daily_loss_is_per_utc_day(clock: VirtualClock) -> None:
    await clock.advance_to(clock.now().replace(hour=22))
    risk = manager(clock, max_daily_loss_usd=D(200))
    assert risk.check_periodic(balance(10000), []) is None
    assert risk.check_periodic(balance(9850), []) is None
    await clock.advance(3 * 3600)  # a new UTC day: its first equity is the new baseline
    assert risk.check_periodic(balance(9850), []) is None
    assert risk.check_periodic(balance(9700), []) is None
    breach = risk.check_periodic(balance(9650), [])
    assert breach is not None and breach.limit is RiskLimit.MAX_DAILY_LOSS_USD and breach.value == 200


def test_max_drawdown_from_peak(clock: VirtualClock) -> None:
    risk = manager(clock, max_drawdown_pct=D(10))
    for equity in (10000, 11000, 10500, 9901):
        assert risk.check_periodic(balance(equity), []) is None
    breach = risk.check_periodic(balance(9900), [])
    assert breach is not None and breach.limit is RiskLimit.MAX_DRAWDOWN_PCT and breach.value == 10


def test_min_margin_ratio(clock: VirtualClock) -> None:
    risk = manager(clock, min_margin_ratio=D("0.1"))
    assert risk.check_periodic(balance(1000), [position("0.15")]) is None  # 1000 / 9000
    breach = risk.check_order(order(size="0.05"), price=D(60000), position=position("0.15"), balance=balance(1000))
    assert breach is not None and breach.limit is RiskLimit.MIN_MARGIN_RATIO  # 1000 / 12000
    timer = manager(clock, min_margin_ratio=D("0.1")).check_periodic(balance(1000), [position("0.2")])
    assert timer is not None and timer.limit is RiskLimit.MIN_MARGIN_RATIO


def test_emergency_close_all_at_15_percent_loss_whatever_on_breach_says(clock: VirtualClock) -> None:
    risk = manager(clock)  # no configured limits at all, onBreach pause
    risk.set_starting_equity(D(10000))
    assert risk.check_periodic(balance("8501"), []) is None
    breach = risk.check_periodic(balance(8500), [])
    assert breach is not None
    assert breach.limit is RiskLimit.EMERGENCY_LOSS and breach.action is RiskAction.CLOSE_ALL


def test_on_breach_close_all_is_the_action(clock: VirtualClock) -> None:
    risk = manager(clock, max_open_orders=1, on_breach="closeAll")
    breach = risk.check_order(order(), price=D(60000), open_orders=1)
    assert breach is not None and breach.action is RiskAction.CLOSE_ALL


async def test_repeated_margin_failures_close_the_worst_positions(clock: VirtualClock) -> None:
    risk = manager(clock)
    risk.set_starting_equity(D(10000))
    losers = [
        position("1", upnl="-500", symbol="BTC"),
        position("1", upnl="-50", symbol="ETH"),
        position("1", upnl="20", symbol="SOL"),
    ]
    for _ in range(15):
        risk.record_order_result(ok=False, insufficient_margin=True)
        await clock.advance(30)
    assert risk.check_periodic(balance(8900), losers) is None  # 15 failures but only 420 s
    await clock.advance(200)
    assert risk.check_periodic(balance(9100), losers) is None  # 620 s, but a 9 % loss
    breach = risk.check_periodic(balance(8900), losers)
    assert breach is not None
    assert breach.limit is RiskLimit.MARGIN_FAILURES and breach.action is RiskAction.CLOSE_WORST
    assert breach.symbols == ["BTC"]  # the worst 20 % of the losing positions, at least one


async def test_a_successful_order_resets_the_margin_failure_counters(clock: VirtualClock) -> None:
    risk = manager(clock)
    risk.set_starting_equity(D(10000))
    for _ in range(14):
        risk.record_order_result(ok=False, insufficient_margin=True)
        await clock.advance(60)
    risk.record_order_result(ok=True)
    risk.record_order_result(ok=False, insufficient_margin=True)
    await clock.advance(700)
    assert risk.margin_failures == 1
    assert risk.check_periodic(balance(8800), [position("1", upnl="-100")]) is None


def test_breaches_escalate_but_do_not_repeat(clock: VirtualClock) -> None:
    risk = manager(clock, max_open_orders=1)
    risk.set_starting_equity(D(10000))
    first = risk.check_order(order(), price=D(60000), open_orders=5)
    assert first is not None and first.action is RiskAction.PAUSE
    assert risk.check_periodic(balance(10000), [], open_orders=5) is None  # the same level again: not new
    emergency = risk.check_periodic(balance(8000), [])
    assert emergency is not None and emergency.action is RiskAction.CLOSE_ALL
    assert risk.breach is emergency


def test_position_mismatch(clock: VirtualClock) -> None:
    risk = manager(clock)
    assert risk.position_mismatch(D("0.05"), D("0.04"), D("0.02")) is None
    breach = risk.position_mismatch(D("-0.05"), D(0), D("0.02"))
    assert breach is not None and breach.limit is RiskLimit.POSITION_MISMATCH and breach.value == D("0.05")


# ---------------------------------------------------------------------------------------------------------------------
# on a running grid


async def test_pause_stops_opening_and_keeps_the_take_profits(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    """onBreach pause with the default onStop (cancelEntries): no new entry, the take-profits stay (the position
    keeps its exits); test_a_pause_breach_cancels_as_on_stop_says... covers onStop cancelOrders."""
    rig = await make_grid(linear("60000", "-0.3", 5000), grid={"waitTime": "8s"}, risk={"maxOpenOrders": 3})
    await rig.run_for(300)
    assert [b.limit for b in rig.events.breaches] == [RiskLimit.MAX_OPEN_ORDERS]
    assert rig.strategy.snapshot().phase is StrategyPhase.RISK_HALTED
    assert rig.strategy.snapshot().risk_breach == rig.events.breaches[0]
    position = (await rig.exchange.position("BTC")).size
    assert position == D("0.03")  # pause keeps the position
    resting = await rig.exchange.open_orders()
    assert {rig.strategy.client_ids.role_of(o.client_order_id) for o in resting} == {"c"}
    assert sum(o.remaining for o in resting) == position
    opens = len(rig.events.accepted("o"))
    await rig.run_for(600)
    assert len(rig.events.accepted("o")) == opens == 3
    assert len(rig.events.breaches) == 1
    await rig.stop()
    assert rig.strategy.snapshot().phase is StrategyPhase.RISK_HALTED


async def test_close_all_exits_flat_with_reduce_only_orders(
    make_grid: Callable[..., Any], linear: Callable[..., Any]
) -> None:
    rig = await make_grid(
        linear("60000", "-0.3", 5000),
        grid={"waitTime": "8s"},
        risk={"maxPositionUsd": "1500", "onBreach": "closeAll"},
    )
    await rig.run_for(300)
    assert [(b.limit, b.action) for b in rig.events.breaches] == [(RiskLimit.MAX_POSITION_USD, RiskAction.CLOSE_ALL)]
    breach_time = rig.events.breaches[0].at.timestamp()
    after = [(r, res) for t, r, res in rig.events.order_times if t >= breach_time]
    assert after and all(r.reduce_only for r, _ in after)
    assert (await rig.exchange.position("BTC")).size == 0
    assert await rig.exchange.open_orders() == []
    assert len(rig.events.accepted("o")) == 2
    await rig.stop()


@pytest.mark.parametrize("on_stop", ["cancelEntries", "cancelOrders"])
async def test_a_pause_breach_cancels_as_on_stop_says_and_keeps_the_exits_by_default(
    make_grid: Callable[..., Any], linear: Callable[..., Any], on_stop: str
) -> None:
    """SPEC §3: onStop applies on a risk action. With the default cancelEntries a paused position keeps its
    take-profits (issue 18: a pause used to cancel every one of them, leaving the position without an exit)."""
    rig = await make_grid(
        linear("60000", "-0.3", 5000),
        grid={"waitTime": "8s"},
        risk={"maxPositionUsd": "1500", "onBreach": "pause"},
        on_stop=on_stop,
    )
    await rig.run_for(300)
    assert [(b.limit, b.action) for b in rig.events.breaches] == [(RiskLimit.MAX_POSITION_USD, RiskAction.PAUSE)]
    position = (await rig.exchange.position("BTC")).size
    assert position > 0
    resting = await rig.exchange.open_orders()
    roles = {rig.strategy.client_ids.role_of(o.client_order_id) for o in resting}
    if on_stop == "cancelEntries":
        assert roles == {"c"} and sum(o.remaining for o in resting) == position  # every fill keeps its exit
    else:
        assert resting == []
    await rig.stop()


@pytest.mark.parametrize("on_breach", ["pause", "closeAll"])
async def test_emergency_loss_exits_even_when_paused(
    make_grid: Callable[..., Any], linear: Callable[..., Any], on_breach: str
) -> None:
    # 0.1 BTC per order on 5000 USD: four fills, then a 10 % crash loses > 15 % of the equity
    prices = [*linear("60000", "-1", 60), *linear("59940", "-50", 120), *["54000"] * 600]
    rig = await make_grid(
        prices,
        grid={"quantity": "0.1", "waitTime": "8s", "maxOrders": 4},
        risk={"onBreach": on_breach},
        paper={"startingBalanceUsd": "5000"},
    )
    await rig.run_for(400)
    assert RiskLimit.EMERGENCY_LOSS in [b.limit for b in rig.events.breaches]
    assert rig.risk.breach is not None and rig.risk.breach.action is RiskAction.CLOSE_ALL
    assert (await rig.exchange.position("BTC")).size == 0
    assert await rig.exchange.open_orders() == []
    await rig.stop()


async def test_margin_failures_count_per_venue(clock: VirtualClock) -> None:
    """funding-arb: the other leg's success on its own venue does not reset the venue that keeps refusing."""
    risk = manager(clock)
    risk.set_starting_equity(D(10000))
    for _ in range(15):
        risk.record_order_result(ok=False, insufficient_margin=True, venue="paper-b")
        risk.record_order_result(ok=True, venue="paper-a")
        await clock.advance(60)
    assert risk.margin_failures == 15
    breach = risk.check_periodic(balance(8900), [position("1", upnl="-100")])
    assert breach is not None and breach.limit is RiskLimit.MARGIN_FAILURES
    risk.record_order_result(ok=True, venue="paper-b")
    assert risk.margin_failures == 0
