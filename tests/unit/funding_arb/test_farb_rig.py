"""The fault-injection rig itself: its exposure log and its faults behave as the scenario tests assume."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from bot_runtime.exchanges.base import OrderRejected, OrderRequest, Side, TimeInForce, TransientNetworkError
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


def ioc_buy(client_id: str, price: str = "61000") -> OrderRequest:
    return OrderRequest(
        symbol="BTC",
        side=Side.BUY,
        size=D("0.0166"),
        price=D(price),
        time_in_force=TimeInForce.IOC,
        client_order_id=client_id,
    )


async def test_a_clean_pair_is_never_naked(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(120)
    assert len(rig.strategy.pairs) == 1
    assert rig.exposure_log.largest == {"paper-a": D("0.0166"), "paper-b": D("0.0166")}
    assert rig.exposure_log.longest_naked() == 0
    rig.check_invariants()


async def test_the_log_measures_a_naked_stretch(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    a = rig.venues["paper-a"]
    await a.connect()
    await a.place_order(ioc_buy("t-1"))
    await rig.clock.advance(42)
    assert rig.exposure_log.naked_spans() == [(rig.clock.time() - 42, rig.clock.time(), D("0.0166"))]
    assert rig.exposure_log.longest_naked() == 42


async def test_a_lost_reply_lands_and_a_resend_is_a_duplicate(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    a = rig.venues["paper-a"]
    a.lose_replies = 1
    with pytest.raises(TransientNetworkError):
        await a.place_order(ioc_buy("t-2"))
    assert (await rig.sizes())["paper-a"] == D("0.0166")
    with pytest.raises(OrderRejected, match="duplicate"):
        await a.place_order(ioc_buy("t-2"))
    a.lookup_open_only = True  # a filled IOC is not among the open orders
    assert await a.find_order_by_client_id("BTC", "t-2") is None
    a.lookup_open_only = False
    found = await a.find_order_by_client_id("BTC", "t-2")
    assert found is not None and found.filled_size == D("0.0166")


async def test_an_order_lands_late(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    a = rig.venues["paper-a"]
    a.land_after = 90
    for _ in range(2):
        with pytest.raises(TransientNetworkError):
            await a.place_order(ioc_buy("t-3"))
    assert await a.find_order_by_client_id("BTC", "t-3") is None
    await rig.clock.advance(90)
    assert (await rig.sizes())["paper-a"] == D("0.0166")
    assert a.entry_attempts == 1


async def test_a_hanging_venue_answers_nothing(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    a = rig.venues["paper-a"]
    a.hang = asyncio.Event()
    call = asyncio.ensure_future(a.balance())
    await rig.clock.advance(3600)
    assert not call.done()
    a.hang.set()
    await rig.clock.advance(1)
    assert (await call).equity == D(10000)


async def test_stale_quotes_are_old_and_off_the_book(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    a = rig.venues["paper-a"]
    await a.connect()
    fresh = await a.best_bid_ask("BTC")
    a.stale_quotes = 120
    stale = await a.best_bid_ask("BTC")
    assert (rig.clock.now() - stale.timestamp).total_seconds() == 120
    assert stale.ask < fresh.bid
