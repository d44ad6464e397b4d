"""A lone leg is the worst outcome: every way the hedge can fail ends flat (or hedged) with the lone part unwound at
once — rejection, timeout, partial fill, nothing filled, an exception mid-entry, a cancelled task, a venue that goes
down after filling, a venue down at start."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.strategies.base import OrderResult
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


async def flat(rig: Rig) -> None:
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    for venue in rig.venues.values():
        was, venue.down = venue.down, False
        try:
            assert await venue.open_orders() == []
        finally:
            venue.down = was


def order_times(rig: Rig, role: str) -> list[float]:
    return [
        t
        for t, r, res in rig.events.order_times
        if r.client_order_id.split("-")[1] == role and res in (OrderResult.ACCEPTED, OrderResult.FILLED)
    ]


async def test_rejected_hedge_unwinds_the_filled_leg_at_once(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].reject_entries = True
    await rig.run_for(30)
    await flat(rig)
    assert rig.strategy.pairs == {}
    [entry_a] = order_times(rig, "o")
    [unwind_a] = order_times(rig, "u")
    assert unwind_a == entry_a  # no waiting: the same moment on the clock
    [(_, req, _res)] = [x for x in rig.events.order_times if x[2] is OrderResult.INSUFFICIENT_MARGIN]
    assert req.side.value == "sell" and not req.reduce_only
    [report] = rig.events.lone_leg_reports()
    assert "entry of BTC failed" in report and "unwound" in report
    # the symbol cools down: no retry storm
    await rig.run_for(500)
    assert rig.venues["paper-b"].entry_attempts == 1
    # the venue accepts again after the cooldown: the pair opens
    rig.venues["paper-b"].reject_entries = False
    await rig.run_for(200)
    assert len(rig.strategy.pairs) == 1
    assert await rig.exposure() == 0
    rig.check_invariants()


async def test_hedge_not_filled_within_single_leg_timeout_is_cancelled_and_the_leg_unwound(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(farb_config({"singleLegTimeout": "30s"}), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].rest_entries = True
    await rig.run_for(20)
    # the hedge rests, the long is filled: within the timeout the strategy waits for the hedge
    assert (await rig.sizes())["paper-a"] == D("0.0166")
    assert len(await rig.venues["paper-b"].open_orders()) == 1
    await rig.run_for(40)
    await flat(rig)
    [entry_a, _entry_b] = order_times(rig, "o")
    [unwind_a] = order_times(rig, "u")
    # the hedge is followed until the last final_read_reserve (5 s) of the timeout, then cancelled and read back:
    # the unwind goes out within singleLegTimeout, never after it
    assert 25 <= unwind_a - entry_a <= 30
    assert rig.strategy.pairs == {}
    assert "0/0.0166" in rig.events.lone_leg_reports()[0]
    rig.check_invariants()


async def test_partial_hedge_keeps_the_hedged_part_and_unwinds_the_excess(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config({"loneLeg": "unwind"}), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].fill_fraction = D("0.5")
    await rig.run_for(30)
    [pair] = rig.strategy.pairs.values()
    assert pair.long.size == pair.short.size == D("0.0083")
    assert await rig.sizes() == {"paper-a": D("0.0083"), "paper-b": D("-0.0083")}
    assert await rig.exposure() == 0
    assert order_times(rig, "u") == order_times(rig, "o")[:1]  # the excess went at once
    assert "partly filled" in rig.events.lone_leg_reports()[0]
    rig.check_invariants()


async def test_partial_long_and_short_keep_the_smaller_one(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config({"loneLeg": "unwind"}), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-a"].fill_fraction = D("0.3")
    rig.venues["paper-b"].fill_fraction = D("0.6")
    await rig.run_for(30)
    [pair] = rig.strategy.pairs.values()
    assert pair.base_size == D("0.0049")  # 0.0166 x 0.3 rounded down
    assert await rig.sizes() == {"paper-a": D("0.0049"), "paper-b": D("-0.0049")}
    rig.check_invariants()


async def test_hedge_that_fills_nothing_unwinds_the_leg(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].fill_fraction = D(0)
    await rig.run_for(30)
    await flat(rig)
    assert rig.strategy.pairs == {}
    assert len(order_times(rig, "u")) == 1
    rig.check_invariants()


async def test_exception_mid_entry_is_looked_up_and_the_pair_kept(make_rig: Callable[..., Any]) -> None:
    """paper-b fills the short, then answers with an exception and cannot tell what happened for a few seconds: the
    strategy looks the order up by client id until singleLegTimeout and, once paper-b answers, finds the short
    filled: the pair is open, nothing was unwound."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.raise_after_entry = RuntimeError("unexpected payload")
    await rig.run_for(5)
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}
    b.raise_after_entry = b.exploding = None
    await rig.run_for(60)
    [pair] = rig.strategy.pairs.values()
    assert pair.base_size == D("0.0166")
    assert order_times(rig, "u") == []
    rig.check_invariants()


async def test_exception_mid_entry_past_the_deadline_unwinds_both_sides(make_rig: Callable[..., Any]) -> None:
    """paper-b fills the short, then cannot tell what happened until after singleLegTimeout: the long on paper-a is
    unwound by the deadline (paper-b's last sure state is flat); the short turns up on the first reading after
    paper-b answers and is unwound."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.raise_after_entry = RuntimeError("unexpected payload")
    await rig.run_for(31)
    sizes = await rig.sizes()
    assert sizes["paper-a"] == 0  # unwound by the deadline
    assert sizes["paper-b"] == D("-0.0166")  # the venue's truth, unknown to the strategy yet
    entry = order_times(rig, "o")[0]  # paper-b's send raised: only paper-a's is an accepted order
    [unwind] = order_times(rig, "u")
    assert unwind - entry <= 30
    b.raise_after_entry = b.exploding = None
    await rig.run_for(120)
    await flat(rig)
    reports = rig.events.lone_leg_reports()
    assert any("outcome unknown" in r for r in reports)
    assert any("unmatched leg paper-b BTC short 0.0166: unwinding" in r for r in reports)
    assert rig.strategy.pairs == {}
    rig.check_invariants()


async def test_a_position_read_that_raises_does_not_stop_the_strategy(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].position_errors = 3
    await rig.run_for(300)
    assert rig.task is not None and not rig.task.done()
    assert len(rig.strategy.pairs) == 1
    assert await rig.exposure() == 0
    rig.check_invariants()


async def test_cancelled_mid_entry_flattens_the_filled_leg(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].hang_entries = asyncio.Event()  # never set
    await rig.run_for(5)
    assert (await rig.sizes())["paper-a"] == D("0.0166")
    assert rig.task is not None
    rig.task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await rig.clock.drive(rig.task)
    await flat(rig)
    rig.check_invariants()


async def test_venue_down_after_filling_the_hedge(make_rig: Callable[..., Any]) -> None:
    """paper-b fills the short and stops answering: the long is unwound now; the short is found and unwound as soon
    as paper-b answers again."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.down_after_entry = True
    await rig.run_for(60)  # submit_order's own retries of the transient failure wait on the strategy's clock
    assert b.down
    sizes = await rig.sizes()
    assert sizes == {"paper-a": 0, "paper-b": D("-0.0166")}
    assert rig.strategy.pairs == {}
    await rig.run_for(600)  # down for 10 minutes: nothing new is tried with one venue
    assert order_times(rig, "o") == order_times(rig, "o")[:2]
    assert "paper-b" in rig.strategy.down
    rig.set_rates(paper_b=LOW)  # no new pair when it is back: only the clean-up is left to see
    b.down_after_entry = False
    b.down = False
    await rig.run_for(120)
    await flat(rig)
    unwinds = [
        (r.side.value, r.reduce_only) for _, r, _ in rig.events.order_times if r.client_order_id.split("-")[1] == "u"
    ]
    assert unwinds == [("sell", True), ("buy", True)]  # paper-a's long at once, paper-b's short once it answered
    assert any("unmatched leg paper-b BTC short 0.0166: unwinding" in r for r in rig.events.lone_leg_reports())
    assert "BTC" not in rig.strategy.touched
    assert rig.task is not None and not rig.task.done()
    # the one fault no reachable venue can hedge: the short stayed naked for the outage, and not one poll longer
    [*_, (start, end, exposure)] = rig.exposure_log.naked_spans()
    assert exposure == -D("0.0166") and end - start <= 600 + 120 + rig.strategy.tuning.poll_interval


async def test_venue_down_at_start_waits_then_trades(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].down = True
    await rig.run_for(120)
    assert not rig.strategy.started
    assert rig.events.roles() == []
    rig.venues["paper-b"].down = False
    await rig.run_for(120)
    assert len(rig.strategy.pairs) == 1
    rig.check_invariants()
