"""Entries on two paper venues: the threshold, orientation, equal sizes, funding accrual, the status legs, the
service filters, limits (maxPositions, one pair per symbol, per cycle), price divergence, the pre-funding window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.strategies.base import StrategyPhase
from tests.unit.funding_arb.farb_helpers import build_rig, farb_config

# paper-a 0.1 bp/h, paper-b: a spread whose net APR over 72 h with 2 x (5 + 5) bp of taker fees is
#   (spread x 72 - 0.002) / 72 x 8760
LOW = "0.00001"
HIGH = "0.00008"  # spread 0.00007/h: net APR 0.6132 - 0.24333 = 0.36987 >= 0.15
MEDIUM = "0.00004"  # spread 0.00003/h: net APR 0.2628 - 0.24333 = 0.01947 < 0.15


async def test_opens_when_net_apr_passes_the_threshold_and_not_before(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": MEDIUM})
    await rig.run_for(3 * 3600)
    assert rig.strategy.phase is StrategyPhase.RUNNING
    assert rig.strategy.pairs == {}
    assert rig.events.roles() == []
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    # the service was asked with the bot's own restrictions and horizon
    call = rig.source.calls[-1]
    assert call["whitelist_dexes"] == ["paper-a", "paper-b"]
    assert call["symbols"] == ["BTC"]
    assert call["min_net_apr"] == D("0.15")
    assert call["hold_hours"] == D(72) and call["position_size_usd"] == D(1000)

    rig.set_rates(paper_b=HIGH)
    await rig.run_for(120)
    [pair] = rig.strategy.pairs.values()
    assert (pair.symbol, pair.long.exchange, pair.short.exchange) == ("BTC", "paper-a", "paper-b")
    # 1000 USD at 60000 = 0.01666.. BTC, rounded down to the 0.0001 step, the same on both legs
    assert pair.long.size == pair.short.size == D("0.0166")
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}
    assert rig.events.roles() == ["o", "o"]
    assert pair.entry_spread_hourly == D("0.00007")
    assert pair.entry_net_apr is not None and pair.entry_net_apr >= D("0.15")


async def test_funding_accrues_on_both_legs_with_the_right_sign(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(90)
    [pair] = rig.strategy.pairs.values()
    opened = rig.clock.time()
    boundaries = 3
    await rig.run_for(boundaries * 3600)
    # funding paid at every full hour on the position notional at mark 60000 (bid 59999.9 / ask 60000.1)
    paid_by_long = boundaries * D("0.0166") * 60000 * D(LOW)  # longs pay a positive rate
    received_by_short = boundaries * D("0.0166") * 60000 * D(HIGH)  # shorts receive it
    assert rig.venues["paper-a"].account.funding_pnl == -paid_by_long
    assert rig.venues["paper-b"].account.funding_pnl == received_by_short
    assert pair.long.funding_pnl == -paid_by_long
    assert pair.short.funding_pnl == received_by_short
    assert pair.funding_pnl == received_by_short - paid_by_long > 0
    assert rig.clock.time() - opened == boundaries * 3600

    snap = rig.strategy.snapshot()
    [leg] = snap.legs
    assert (leg.symbol, leg.long_exchange, leg.short_exchange, leg.size) == ("BTC", "paper-a", "paper-b", D("0.0166"))
    assert leg.entry_spread_apr == D("0.00007") * 8760
    assert leg.current_net_apr is not None and leg.current_net_apr > D("0.3")
    assert leg.funding_pnl == pair.funding_pnl
    assert snap.funding_pnl == pair.funding_pnl
    assert snap.symbol == "BTC" and snap.position == 0  # net exposure: hedged (the pair's size is in legs)
    # fees: two taker entries (5 bp each) at the touch
    fees = D("0.0166") * (D("60000.1") + D("59999.9")) * D("0.0005")
    assert snap.fees_paid == fees
    assert snap.realized_pnl == -fees
    assert snap.equity == D(20000) - fees + pair.funding_pnl + snap.unrealized_pnl


async def test_orientation_follows_the_hourly_rates_not_the_raw_ones(make_rig: Callable[..., Any]) -> None:
    """paper-b funds every 8 h: its raw rate 0.00032 is 0.00004/h, LOWER than paper-a's 0.00012/h."""
    config = farb_config()
    rig = await make_rig(
        config,
        {"paper-a": "0.00012", "paper-b": "0.00004"},
        venue_options={"paper-b": {"fundingIntervalHours": "8"}},
    )
    await rig.run_for(90)
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-b", "paper-a")


async def test_max_positions_one_pair_per_symbol_and_per_cycle_limit(make_rig: Callable[..., Any]) -> None:
    config = farb_config(
        {
            "exchanges": ["paper-a", "paper-b", "paper-c"],
            "symbols": [],
            "maxPositions": 2,
            "maxNewPositionsPerCycle": 1,
        }
    )
    # three venues, three symbols (BTC, ETH, SOL): every venue pair of every symbol is profitable
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH, "paper-c": "0.00012"})
    await rig.run_for(30)
    assert len(rig.strategy.pairs) == 1  # one per cycle
    await rig.run_for(60)
    assert len(rig.strategy.pairs) == 2
    await rig.run_for(5 * 60)
    assert len(rig.strategy.pairs) == 2  # maxPositions
    for symbol, pair in rig.strategy.pairs.items():
        # the best venue pair of the symbol: long the lowest rate, short the highest
        assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "paper-c")
        sizes = await rig.sizes(symbol)
        assert sizes["paper-b"] == 0  # never a second pair on the same symbol
    assert rig.events.roles().count("o") == 4


async def test_price_divergence_between_venues_blocks_the_entry(make_rig: Callable[..., Any]) -> None:
    config = farb_config({"maxEntryPriceDivergencePct": "0.5"})
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH}, venue_options={"paper-b": {"startPrice": "60500"}})
    await rig.run_for(600)
    assert rig.strategy.pairs == {}
    assert "maxEntryPriceDivergencePct" in rig.strategy.skipped["BTC"]
    assert rig.events.roles() == []


async def test_symbols_and_required_exchange_restrict_the_pairs(make_rig: Callable[..., Any]) -> None:
    config = farb_config(
        {"exchanges": ["paper-a", "paper-b", "paper-c"], "symbols": ["ETH"], "requiredExchange": "paper-b"}
    )
    rig = await make_rig(config, {"paper-a": LOW, "paper-b": "0.00005", "paper-c": "0.00012"})
    await rig.run_for(90)
    [pair] = rig.strategy.pairs.values()
    assert pair.symbol == "ETH"
    assert "paper-b" in (pair.long.exchange, pair.short.exchange)
    assert (pair.long.exchange, pair.short.exchange) == ("paper-b", "paper-c")
    assert rig.source.calls[-1]["required_dex"] == "paper-b"


async def test_no_entry_right_before_a_funding_time_that_would_pay() -> None:
    """paper-a funds hourly and its longs pay; paper-b funds every 8 h. At 00:52 the next paper-a payment (01:00) is
    within the 10-minute window: the pair would pay it without earning anything yet, so it waits until after."""
    clock = VirtualClock(datetime(2026, 1, 1, 0, 52, tzinfo=UTC), settle_rounds=60)
    config = farb_config({"preFundingWindow": "10m"})
    rig = await build_rig(
        clock,
        config,
        {"paper-a": "0.00002", "paper-b": "0.0002"},
        venue_options={"paper-b": {"fundingIntervalHours": "8"}},
    )
    try:
        await rig.run_for(7 * 60)  # 00:59
        assert rig.strategy.pairs == {}
        assert "preFundingWindow" in rig.strategy.skipped["BTC"]
        await rig.run_for(3 * 60)  # 01:02
        [pair] = rig.strategy.pairs.values()
        assert pair.long.exchange == "paper-a"
        opened = datetime.fromtimestamp(clock.time(), UTC)
        assert opened >= datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
        assert rig.venues["paper-a"].account.funding_pnl == 0  # nothing paid at 01:00
    finally:
        await rig.crash()
        for venue in rig.venues.values():
            await venue.close()


async def test_a_funding_time_that_pays_the_pair_does_not_block() -> None:
    """Longs on a negative rate receive: a payment due inside the window is welcome."""
    clock = VirtualClock(datetime(2026, 1, 1, 0, 55, tzinfo=UTC), settle_rounds=60)
    config = farb_config({"preFundingWindow": "10m"})
    rig = await build_rig(
        clock,
        config,
        {"paper-a": "-0.00003", "paper-b": "0.0001"},
        venue_options={"paper-b": {"fundingIntervalHours": "8"}},
    )
    try:
        await rig.run_for(90)
        [pair] = rig.strategy.pairs.values()
        assert pair.long.exchange == "paper-a"
        await rig.run_for(5 * 60)
        assert rig.venues["paper-a"].account.funding_pnl > 0
    finally:
        await rig.crash()
        for venue in rig.venues.values():
            await venue.close()


async def test_stale_rates_and_a_failing_service_open_nothing(make_rig: Callable[..., Any]) -> None:
    from bot_runtime.funding_api.client import FundingServiceError

    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.source.stale = True
    await rig.run_for(300)
    assert rig.strategy.pairs == {}
    rig.source.stale = False
    rig.source.fail = FundingServiceError("GET /api/v1/opportunities: HTTP 503: database unavailable", status=503)
    await rig.run_for(300)
    assert rig.strategy.pairs == {}
    assert "503" in (rig.strategy.last_error or "")
    rig.source.fail = None
    await rig.run_for(120)
    assert len(rig.strategy.pairs) == 1
