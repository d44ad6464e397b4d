"""Venue faults (issue 21) on the strategy's rig: every scenario ends flat or hedged, the longest naked exposure is at
most singleLegTimeout + one poll, no order is doubled, no false risk breach (``Rig.check_invariants``).

Unknown means look it up: a lost reply followed by a duplicate-client-id rejection, an order that lands long after
its send timed out, a venue whose calls time out after 10 s, a venue that hangs, a position nobody asked about."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.exchanges.base import OrderRequest, Side
from bot_runtime.strategies.base import OrderResult
from tests.unit.funding_arb.farb_helpers import LEG, Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


def times(rig: Rig, role: str) -> list[float]:
    return [
        t
        for t, r, res in rig.events.order_times
        if r.client_order_id.split("-")[1] == role and res in (OrderResult.ACCEPTED, OrderResult.FILLED)
    ]


def sends(rig: Rig, role: str) -> list[tuple[float, OrderRequest, OrderResult]]:
    return [x for x in rig.events.order_times if x[1].client_order_id.split("-")[1] == role]


async def test_a_lost_reply_and_a_duplicate_rejection_are_looked_up(make_rig: Callable[..., Any]) -> None:
    """paper-b fills the short but the reply is lost; its lookup sees open orders only, so the contract's resend
    meets "duplicate client order id". The strategy looks it up (the position moved by the order) instead of
    reading "filled 0": the pair opens, nothing is unwound, nothing doubled."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.lose_replies = 1
    b.lookup_open_only = True
    await rig.run_real(40)  # the contract's resend waits in real time
    [pair] = rig.strategy.pairs.values()
    assert pair.long.size == pair.short.size == LEG
    assert await rig.sizes() == {"paper-a": LEG, "paper-b": -LEG}
    assert times(rig, "u") == []
    assert [res for _, _, res in sends(rig, "o")].count(OrderResult.REJECTED) == 1  # the duplicate, looked up
    assert b.entry_attempts == 1
    rig.check_invariants()


async def test_an_order_landing_after_its_send_timed_out_is_found_and_unwound(make_rig: Callable[..., Any]) -> None:
    """paper-b's short times out on every send and lands 90 s later. By the deadline paper-b has said twice that it
    has no such order and the position did not move: the long is unwound. When the short lands, BTC is still
    watched (a non-zero position), so the next cycle finds the lone short and unwinds it."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.land_after = 90
    await rig.run_real(30)
    assert (await rig.sizes())["paper-a"] == 0
    assert rig.strategy.pairs == {}
    b.land_after = None
    await rig.run_for(200)
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    spans = rig.exposure_log.naked_spans()
    assert len(spans) == 2  # the long until the deadline, the late short until the next cycle
    assert spans[0][1] - spans[0][0] <= 30
    assert spans[1][2] == -LEG and spans[1][1] - spans[1][0] <= rig.strategy.tuning.poll_interval
    assert any("unmatched leg paper-b BTC short 0.0166: unwinding" in r for r in rig.events.lone_leg_reports())
    assert b.entry_attempts == 1
    rig.check_invariants()


async def test_venue_calls_that_time_out_after_10s_do_not_stretch_the_deadline(make_rig: Callable[..., Any]) -> None:
    """From the entry on, every paper-b call takes 10 s and then times out (sends, lookups, reads): the long on
    paper-a is unwound within singleLegTimeout (it took 93.75 s against 30 s before)."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.stall_from_entry = 10.0
    await rig.run_for(45)
    [entry] = times(rig, "o")  # paper-b's send never answered
    [unwind] = times(rig, "u")
    assert unwind - entry <= 30
    assert (await rig.sizes())["paper-a"] == 0
    b.stall_from_entry = None
    rig.set_rates(paper_b=LOW)
    await rig.run_for(300)
    rig.check_invariants()


async def test_a_hanging_venue_does_not_stretch_the_deadline(make_rig: Callable[..., Any]) -> None:
    """paper-b stops answering at all from the entry on: the deadline holds just the same."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    b = rig.venues["paper-b"]
    b.stall_from_entry = math.inf
    await rig.run_for(45)
    [entry] = times(rig, "o")
    [unwind] = times(rig, "u")
    assert unwind - entry <= 30
    assert rig.strategy.pairs == {}
    b.stall_from_entry = None
    rig.set_rates(paper_b=LOW)
    await rig.run_for(300)
    rig.check_invariants()
    assert rig.task is not None and not rig.task.done()


async def test_a_position_nobody_asked_about_is_watched(make_rig: Callable[..., Any]) -> None:
    """A short appears on paper-b on a symbol the bot never touched while the service lists nothing (an order of a
    previous process landing late): the next cycle finds it and unwinds it."""
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": LOW})
    await rig.run_for(120)
    assert rig.strategy.touched == set()
    b = rig.venues["paper-b"]
    request = OrderRequest(symbol="BTC", side=Side.SELL, size=LEG, price=D(1), client_order_id="stray-1")
    await b.place_order(request.model_copy(update={"time_in_force": "ioc"}))
    assert (await rig.sizes())["paper-b"] == -LEG
    await rig.run_for(rig.strategy.tuning.poll_interval)
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    assert rig.exposure_log.longest_naked() <= rig.strategy.tuning.poll_interval
    rig.check_invariants()
