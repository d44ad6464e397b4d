"""``loneLeg: complete`` (issue 22 item 2, the default): a hedge that missed is sent again within the first half of
``singleLegTimeout``; only when that fails is the filled leg unwound, still within the timeout. The fault rig's
invariants (issue 21) hold in each case: no naked exposure past singleLegTimeout + one poll, no doubled order."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.strategies.base import OrderResult
from tests.unit.funding_arb.farb_helpers import FaultyVenue, Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


def roles(rig: Rig, role: str) -> list[tuple[float, str]]:
    return [
        (t, r.side.value)
        for t, r, res in rig.events.order_times
        if r.client_order_id.split("-")[1] == role and res in (OrderResult.ACCEPTED, OrderResult.FILLED)
    ]


def misses_first(venue: FaultyVenue) -> None:
    """The venue's first entry fills nothing (an IOC that missed the book); later ones fill in full."""
    venue.fill_fraction = D(0)
    seen = [0]

    def arrive() -> None:
        seen[0] += 1
        if seen[0] >= 2:
            venue.fill_fraction = None

    venue.before_entry = arrive


async def test_a_hedge_that_missed_is_sent_again_and_the_pair_opens_in_full(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    misses_first(rig.venues["paper-b"])
    await rig.run_for(30)
    [pair] = rig.strategy.pairs.values()
    assert pair.long.size == pair.short.size == D("0.0166")
    assert await rig.sizes() == {"paper-a": D("0.0166"), "paper-b": D("-0.0166")}
    assert rig.venues["paper-b"].entry_attempts == 2  # the hedge, then its completion
    assert roles(rig, "u") == []  # nothing unwound
    # the completion's fill is on the pair's books: both legs' cash flows, no unpaired cash
    assert rig.strategy.ledger.unpaired_cash == 0
    assert pair.price_cash == D("0.0166") * (D("59999.9") - D("60000.1"))
    rig.check_invariants()


async def test_loneleg_unwind_unwinds_at_once_instead(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(farb_config({"loneLeg": "unwind"}), {"paper-a": LOW, "paper-b": HIGH})
    misses_first(rig.venues["paper-b"])
    await rig.run_for(30)
    assert rig.strategy.pairs == {}
    assert rig.venues["paper-b"].entry_attempts == 1
    [(entry_at, _), _] = roles(rig, "o")
    [(unwind_at, side)] = roles(rig, "u")
    assert side == "sell" and unwind_at == entry_at  # the long, at once
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    rig.check_invariants()


async def test_a_completion_that_keeps_failing_ends_in_an_unwind_within_the_timeout(
    make_rig: Callable[..., Any],
) -> None:
    rig = await make_rig(farb_config({"singleLegTimeout": "30s"}), {"paper-a": LOW, "paper-b": HIGH})
    rig.venues["paper-b"].fill_fraction = D(0)  # every IOC on paper-b misses
    await rig.run_for(60)
    assert rig.strategy.pairs == {}
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    # the hedge and up to Tuning.unwind_attempts (6) completions, then the long unwound
    assert rig.venues["paper-b"].entry_attempts == 1 + rig.strategy.tuning.unwind_attempts
    entries = [t for t, _ in roles(rig, "o")]
    [(unwind_at, _)] = roles(rig, "u")
    assert unwind_at - min(entries) <= 30
    rig.check_invariants()
