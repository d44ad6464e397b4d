"""Property: across random funding-rate paths (and random partial/failed hedges), the bot's net exposure per symbol
summed over its venues stays within one size step of zero at every hour, and it never holds more than maxPositions
pairs."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_runtime.clock import VirtualClock
from bot_runtime.strategies.funding_arb import Tuning
from tests.unit.funding_arb.farb_helpers import build_rig, farb_config

SYMBOLS = ("BTC", "ETH", "SOL")
MICRO = D("0.000001")

rates = st.integers(min_value=-30, max_value=150)  # hourly rate in millionths (-0.3 .. +1.5 bp/h)
hours = st.lists(st.tuples(rates, rates, rates), min_size=2, max_size=8)
fills = st.sampled_from([None, None, D("0.5"), D("0.3"), D(0)])


async def _run(path: list[tuple[int, int, int]], fill_b: D | None, fill_c: D | None, seed: int) -> None:
    clock = VirtualClock(settle_rounds=60)
    config = farb_config(
        {
            "exchanges": ["paper-a", "paper-b", "paper-c"],
            "symbols": [],
            "maxPositions": 2,
            "minNetApr": "0.05",
            "exitNetApr": "0.01",
        },
        paper={"volatility": "0.8", "startPrice": "60000", "step": "60s", "seed": seed},
    )
    rig = await build_rig(
        clock,
        config,
        {"paper-a": "0", "paper-b": "0", "paper-c": "0"},
        tuning=Tuning(poll_interval=300.0, entry_cooldown=900.0),
    )
    rig.venues["paper-b"].fill_fraction = fill_b
    rig.venues["paper-c"].fill_fraction = fill_c
    steps = {s: max([(await v.market(s)).size_step for v in rig.venues.values()]) for s in SYMBOLS}
    try:
        for a, b, c in path:
            rig.set_rates(paper_a=str(a * MICRO), paper_b=str(b * MICRO), paper_c=str(c * MICRO))
            await rig.run_for(3600)
            assert len(rig.strategy.pairs) <= 2
            for symbol in SYMBOLS:
                exposure = await rig.exposure(symbol)
                assert abs(exposure) <= steps[symbol], (symbol, exposure, await rig.sizes(symbol))
    finally:
        await rig.crash()
        for venue in rig.venues.values():
            await venue.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hours, fills, fills, st.integers(1, 1000))
def test_net_exposure_per_symbol_stays_within_one_step(
    path: list[tuple[int, int, int]], fill_b: D | None, fill_c: D | None, seed: int
) -> None:
    asyncio.run(_run(path, fill_b, fill_c, seed))
