"""How a pair leaves (issue 22 item 1): a voluntary exit waits (bounded) while a leg's book spread is wider than
``exitMaxSpreadBps`` and leaves maker-first (``exitOrders: makerFirst``): a reduce-only post-only order per leg at its
own side of the book, then IOC for what is left. Paper books here: bid 59999.9 / ask 60000.1, a spread of
0.2 / 60000 x 10000 = 0.0333 bp."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.exchanges.base import Side, TimeInForce
from bot_runtime.strategies.funding_arb import ExitReason
from bot_runtime.strategies.funding_arb.exits import exit_deferral, spread_bps
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


async def flipped(make_rig: Callable[..., Any], fa: dict[str, Any]) -> Rig:
    rig: Rig = await make_rig(farb_config(fa), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(30)
    assert len(rig.strategy.pairs) == 1
    rig.set_rates(paper_a="0.00009", paper_b="0.00002")  # spread flip: a voluntary exit
    return rig


def test_spread_and_deferral_by_hand() -> None:
    assert spread_bps(D("59999.9"), D("60000.1")) == D("0.2") / D(60000) * 10_000
    cfg = farb_config({"exitMaxSpreadBps": "0.01", "exitMaxDeferral": "10m"}).funding_arb
    assert cfg is not None
    wide = {"paper-a": D("0.0333"), "paper-b": D("0.005")}
    why = exit_deferral(wide, cfg, None, 1000.0)
    assert why is not None and "paper-a 0.03 bp" in why and "paper-b" not in why
    assert exit_deferral(wide, cfg, 1000.0, 1599.0) is not None  # 599 s waited
    assert exit_deferral(wide, cfg, 1000.0, 1600.0) is None  # exitMaxDeferral 600 s: goes ahead
    assert exit_deferral({"paper-a": D("0.005")}, cfg, None, 1000.0) is None  # narrow: no wait
    off = farb_config({"exitMaxSpreadBps": "0.01", "exitMaxDeferral": "0"}).funding_arb
    assert off is not None and exit_deferral(wide, off, None, 1000.0) is None


async def test_maker_first_then_ioc_for_what_is_left(make_rig: Callable[..., Any]) -> None:
    rig = await flipped(make_rig, {})
    await rig.run_for(120)
    assert rig.strategy.pairs == {}
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    exits = [(t, r) for t, r, _ in rig.events.order_times if r.client_order_id.split("-")[1] == "x"]
    makers = [(t, r) for t, r in exits if r.time_in_force is TimeInForce.POST_ONLY]
    iocs = [(t, r) for t, r in exits if r.time_in_force is TimeInForce.IOC]
    assert len(makers) == 2 and len(iocs) == 2
    # each leg's maker order rests at its own side of the book, reduce-only, for the whole leg
    by_side = {r.side: r for _, r in makers}
    assert by_side[Side.SELL].price == D("60000.1") and by_side[Side.BUY].price == D("59999.9")
    assert all(r.reduce_only and r.size == D("0.0166") for _, r in makers)
    # the flat paper book never trades through them: after exitMakerTimeout (20 s, capped at half of the 30 s
    # singleLegTimeout, less the 5 s kept to cancel and read back) they are cancelled and the IOCs close the legs
    first_maker = min(t for t, _ in makers)
    assert all(first_maker < t <= first_maker + 15 for t, _ in iocs)
    rig.check_invariants()


async def test_a_wide_spread_defers_the_exit_for_at_most_exit_max_deferral(make_rig: Callable[..., Any]) -> None:
    rig = await flipped(make_rig, {"exitOrders": "ioc", "exitMaxSpreadBps": "0.01", "exitMaxDeferral": "10m"})
    await rig.run_for(300)
    assert len(rig.strategy.pairs) == 1  # 0.0333 bp > 0.01 bp: waits
    assert "exit waits" in (rig.strategy.reason or "")
    await rig.run_for(400)  # past 10 min since the first wait
    assert rig.strategy.pairs == {}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    rig.check_invariants()


async def test_safety_exits_never_wait_for_spreads(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(
        farb_config({"exitMaxSpreadBps": "0.01", "minLiquidationDistancePct": "10"}), {"paper-a": LOW, "paper-b": HIGH}
    )
    await rig.run_for(30)
    rig.venues["paper-b"].liquidation_pct = D("8")
    await rig.run_for(120)
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.LIQUIDATION
    exits = [r for _, r, _ in rig.events.order_times if r.client_order_id.split("-")[1] == "x"]
    assert exits and all(r.time_in_force is not TimeInForce.POST_ONLY for r in exits)  # IOC at once
