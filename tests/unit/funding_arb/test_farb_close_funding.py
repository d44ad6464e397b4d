"""Funding booked at close (issue 22 item 6): a pair closed on shutdown books the funding the venues paid up to the
close, also a funding time that fell between the last cycle and the close."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

from bot_runtime.config import OnStop
from tests.unit.funding_arb.farb_helpers import Rig, farb_config

LOW, HIGH = "0.00001", "0.00008"


async def test_a_funding_time_between_the_last_cycle_and_the_close_is_booked(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(farb_config(), {"paper-a": LOW, "paper-b": HIGH})
    await rig.run_for(3600 - 50)  # cycles every 60 s: the last one before the hour
    [pair] = rig.strategy.pairs.values()
    before = pair.funding_pnl
    rig.stopping.set()
    assert rig.task is not None
    await rig.clock.drive(rig.task)
    await rig.clock.advance(60)  # the hour's funding time passes with no cycle
    await rig.clock.drive(rig.strategy.shutdown(OnStop.CLOSE_POSITIONS))
    [closed] = rig.strategy.closed
    # the hour's funding time: the short (paper-b) receives 0.00008, the long (paper-a) pays 0.00001 on
    # 0.0166 BTC x 60000 = 996 USD: 996 x 0.00007 = 0.06972 (the last cycle had read 0; it was lost before)
    assert before == 0
    assert closed.funding_pnl == D("0.0166") * 60000 * (D(HIGH) - D(LOW)) == D("0.06972")
    assert rig.strategy.snapshot().funding_pnl == closed.funding_pnl
    assert await rig.sizes() == {"paper-a": 0, "paper-b": 0}
