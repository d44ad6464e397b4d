"""How a pair leaves (issue 22 item 1): a voluntary exit waits (bounded) while a leg's book spread is wider than
``exitMaxSpreadBps`` and leaves maker-first (``exitOrders: makerFirst``): a reduce-only post-only order per leg at its
own side of the book, then IOC for what is left. Paper books here: bid 59999.9 / ask 60000.1, a spread of
0.2 / 60000 x 10000 = 0.0333 bp."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges.base import Fill, Liquidity, OrderRequest, OrderStatus, Side, TimeInForce
from bot_runtime.strategies.funding_arb import ExitReason
from bot_runtime.strategies.funding_arb.exits import exit_deferral, spread_bps
from tests.unit.funding_arb.farb_helpers import MovablePath, Rig, farb_config, shared_path_venues

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


# ---------------------------------------------------------------------------------------------------------------------
# maker exits that fill, and the IOC fallback after exitMakerTimeout

MAKER_FEE, TAKER_FEE = D("0.0002"), D("0.0005")  # the paper venues' defaults


async def moving_rig(make_rig: Callable[..., Any], clock: VirtualClock, fa: dict[str, Any]) -> tuple[Rig, Paths]:
    """A pair long paper-a / short paper-b, each venue on a price path of its own (flat at 60000 until moved), the
    rates flipped (a voluntary exit at the next cycle)."""
    config = farb_config(fa)
    paths = Paths(MovablePath(clock, "60000"), MovablePath(clock, "60000"))
    venues = {
        **shared_path_venues(clock, config, {"paper-a": LOW}, paths.a),
        **shared_path_venues(clock, config, {"paper-b": HIGH}, paths.b),
    }
    for venue in venues.values():
        await venue.connect()
    rig: Rig = await make_rig(config, {"paper-a": LOW, "paper-b": HIGH}, venues=venues)
    await rig.run_for(30)
    [pair] = rig.strategy.pairs.values()
    assert (pair.long.exchange, pair.short.exchange) == ("paper-a", "paper-b")
    rig.set_rates(paper_a="0.00009", paper_b="0.00002")
    return rig, paths


@dataclass
class Paths:
    a: MovablePath
    b: MovablePath


def exit_orders(rig: Rig) -> tuple[list[tuple[float, OrderRequest]], list[tuple[float, OrderRequest]]]:
    exits = [(t, r) for t, r, _ in rig.events.order_times if r.client_order_id.split("-")[1] == "x"]
    makers = [(t, r) for t, r in exits if r.time_in_force is TimeInForce.POST_ONLY]
    return makers, [(t, r) for t, r in exits if r.time_in_force is not TimeInForce.POST_ONLY]


def exit_fills(rig: Rig) -> dict[str, list[Fill]]:
    """The fills of the exit orders, by venue (the venues' own fill records)."""
    out: dict[str, list[Fill]] = {name: [] for name in rig.venues}
    for fill in rig.events.fills:
        if fill.client_order_id and fill.client_order_id.split("-")[1] == "x":
            [venue] = [name for name, v in rig.venues.items() if fill.client_order_id in v.engine.by_client_id]
            out[venue].append(fill)
    return out


async def test_a_maker_exit_that_fills_pays_maker_fees_and_needs_no_ioc(
    make_rig: Callable[..., Any], clock: VirtualClock
) -> None:
    """Both legs' post-only exits rest at their own side of the book (the long's sell at paper-a's ask 60000.1, the
    short's buy at paper-b's bid 59999.9); paper-a's price then rises to 60001 and paper-b's falls to 59999 (from
    the next 10-s step), so the books trade through both: each fills in full as maker, inside exitMakerTimeout, and no
    IOC is sent. Exit fees: 0.0166 x 60000.1 x 0.0002 = 0.199200332 on paper-a, 0.0166 x 59999.9 x 0.0002 =
    0.199199668 on paper-b, against 0.0166 x 60000 x 0.0005 = 0.498 per leg by IOC."""
    rig, paths = await moving_rig(make_rig, clock, {})
    rig.venues["paper-a"].after_reduce = lambda request: paths.a.move("60001")
    rig.venues["paper-b"].after_reduce = lambda request: paths.b.move("59999")
    fees_before = {name: venue.account.fees for name, venue in rig.venues.items()}
    await rig.run_for(120)
    assert rig.strategy.pairs == {}
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    [closed] = rig.strategy.closed
    assert closed.reason is ExitReason.SPREAD_FLIP
    makers, iocs = exit_orders(rig)
    assert iocs == []  # both makers filled: nothing left for the fallback
    assert {(r.side, r.price) for _, r in makers} == {(Side.SELL, D("60000.1")), (Side.BUY, D("59999.9"))}
    fills = exit_fills(rig)
    assert [(f.side, f.price, f.size, f.liquidity) for f in fills["paper-a"]] == [
        (Side.SELL, D("60000.1"), D("0.0166"), Liquidity.MAKER)
    ]
    assert [(f.side, f.price, f.size, f.liquidity) for f in fills["paper-b"]] == [
        (Side.BUY, D("59999.9"), D("0.0166"), Liquidity.MAKER)
    ]
    assert [f.fee for f in fills["paper-a"]] == [D("0.0166") * D("60000.1") * MAKER_FEE]
    assert [f.fee for f in fills["paper-b"]] == [D("0.0166") * D("59999.9") * MAKER_FEE]
    # the venues charged exactly that for the exit (their own books)
    assert rig.venues["paper-a"].account.fees - fees_before["paper-a"] == D("0.199200332")
    assert rig.venues["paper-b"].account.fees - fees_before["paper-b"] == D("0.199199668")
    # filled while resting (exitMakerTimeout 20 s, capped at half of singleLegTimeout, less the 5 s kept to cancel):
    # nothing was cancelled, every exit order of the venues is filled
    for _, request in makers:
        [order] = [await v.find_order_by_client_id("BTC", request.client_order_id) for v in rig.venues.values()
                   if request.client_order_id in v.engine.by_client_id]  # fmt: skip
        assert order is not None and order.status is OrderStatus.FILLED
    rig.check_invariants()


async def test_a_maker_exit_that_does_not_fill_falls_back_to_ioc_after_exit_maker_timeout(
    make_rig: Callable[..., Any], clock: VirtualClock
) -> None:
    """Only paper-a's book trades through its leg's maker exit; paper-b's stays flat, so the short's post-only buy
    rests untouched until the maker time is up (exitMakerTimeout 20 s capped at 15 s, the last 5 s kept to cancel
    and read back: 10 s), is cancelled, and an IOC closes the short at paper-b's ask as taker. The long closed as
    maker needs no IOC."""
    rig, paths = await moving_rig(make_rig, clock, {})
    rig.venues["paper-a"].after_reduce = lambda request: paths.a.move("60001")
    await rig.run_for(120)
    assert rig.strategy.pairs == {}
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
    makers, iocs = exit_orders(rig)
    first = min(t for t, _ in makers)
    [(ioc_at, ioc)] = iocs
    assert (ioc.side, ioc.reduce_only, ioc.size) == (Side.BUY, True, D("0.0166"))  # the short, nothing else
    assert first + 10 <= ioc_at <= first + 15  # after the maker time, within the exit's deadline
    fills = exit_fills(rig)
    assert [(f.liquidity, f.fee) for f in fills["paper-a"]] == [
        (Liquidity.MAKER, D("0.0166") * D("60000.1") * MAKER_FEE)
    ]
    [taken] = fills["paper-b"]
    assert (taken.side, taken.price, taken.liquidity) == (Side.BUY, D("60000.1"), Liquidity.TAKER)
    assert taken.fee == D("0.0166") * D("60000.1") * TAKER_FEE
    rig.check_invariants()
