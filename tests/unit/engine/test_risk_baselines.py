"""Risk limits that survive restarts (issue 17, item 8): the baselines a process hands to the next one, and
maxPositionUsd counting the resting opening orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot_runtime.clock import VirtualClock
from bot_runtime.config import RiskConfig
from bot_runtime.exchanges.base import Balance, OrderRequest, Position, Side
from bot_runtime.risk import RiskBaselines, RiskLimit, RiskManager

D = Decimal


def balance(equity: int) -> Balance:
    return Balance(equity=D(equity), available=D(equity))


def restarted(previous: RiskManager, config: RiskConfig, clock: VirtualClock) -> RiskManager:
    """A new process: the baselines go through status.riskBaselines (the CRD's JSON) and back."""
    baselines = previous.baselines()
    assert baselines is not None
    stored = RiskBaselines.from_status(baselines.to_status())
    assert stored == baselines
    fresh = RiskManager(config, clock)
    fresh.restore(stored)
    return fresh


def test_the_daily_loss_trips_with_a_restart_between_steps(clock: VirtualClock) -> None:
    config = RiskConfig(max_daily_loss_usd=D(200))
    first = RiskManager(config, clock)
    assert first.check_periodic(balance(11000), []) is None
    assert first.check_periodic(balance(10850), []) is None  # 150 lost today
    second = restarted(first, config, clock)
    breach = second.check_periodic(balance(10700), [])
    assert breach is not None and breach.limit is RiskLimit.MAX_DAILY_LOSS_USD and breach.value == D(300)
    # without the baselines the same restart forgets the first 150 (what the bot did before)
    assert RiskManager(config, clock).check_periodic(balance(10700), []) is None


def test_the_drawdown_is_measured_from_the_true_peak_across_restarts(clock: VirtualClock) -> None:
    config = RiskConfig(max_drawdown_pct=D(10))
    first = RiskManager(config, clock)
    assert first.check_periodic(balance(11000), []) is None
    assert first.check_periodic(balance(10500), []) is None  # 4.5 % below the peak
    second = restarted(first, config, clock)
    assert second.check_periodic(balance(10200), []) is None
    third = restarted(second, config, clock)
    breach = third.check_periodic(balance(9800), [])  # 10.9 % below 11000
    assert breach is not None and breach.limit is RiskLimit.MAX_DRAWDOWN_PCT


async def test_the_day_still_rolls_at_midnight_utc(clock: VirtualClock) -> None:
    config = RiskConfig(max_daily_loss_usd=D(200))
    first = RiskManager(config, clock)
    assert first.check_periodic(balance(11000), []) is None
    second = restarted(first, config, clock)
    await clock.advance(86400)
    assert second.check_periodic(balance(10700), []) is None  # a new day starts at 10700
    baselines = second.baselines()
    assert baselines is not None and baselines.day_start_equity == D(10700) and baselines.starting_equity == D(11000)


def test_unreadable_baselines_start_afresh() -> None:
    assert RiskBaselines.from_status(None) is None
    assert RiskBaselines.from_status({}) is None
    assert RiskBaselines.from_status({"peakEquity": "lots"}) is None
    assert RiskBaselines.from_status({"startingEquity": "10", "day": "2026-12-07"}) == RiskBaselines(
        starting_equity=D(10), day=date(2026, 12, 7)
    )


def test_max_position_usd_counts_resting_orders_on_the_same_side(clock: VirtualClock) -> None:
    risk = RiskManager(RiskConfig(max_position_usd=D(2000)), clock)
    request = OrderRequest(symbol="BTC", side=Side.BUY, size=D("0.01"), price=D(60000), client_order_id="o")
    held = Position(symbol="BTC", size=D("0.01"), mark_price=D(60000))
    # 0.01 held + 0.01 new = 1200: fine alone; with 0.02 more resting (they may all fill) it is 2400
    assert risk.check_order(request, price=D(60000), position=held) is None
    breach = risk.check_order(request, price=D(60000), position=held, pending=D("0.02"))
    assert breach is not None and breach.limit is RiskLimit.MAX_POSITION_USD and breach.value == D("2400.00")
    assert "0.02 resting" in breach.message
