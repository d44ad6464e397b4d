"""The cycle's glue (:mod:`bot_runtime.strategies.funding_arb.cycle`), shared by the bot and the backtest: hand-computed
slots, cooldowns and entry checks."""

from __future__ import annotations

from decimal import Decimal as D

from bot_runtime.exchanges.base import Market, Quote
from bot_runtime.strategies.funding_arb import cycle
from bot_runtime.strategies.funding_arb.models import Tuning
from tests.unit.funding_arb.farb_helpers import farb_config
from tests.unit.funding_arb.test_farb_rules import market as rules_market

VENUES = ("paper-a", "paper-b")


def market(step: str = "0.001", min_size: str = "0.001") -> Market:
    return rules_market("BTC", step=step, min_size=min_size, tick="0.1")


def quote(mid: str) -> Quote:
    return Quote(symbol="BTC", bid=D(mid), ask=D(mid))


def test_free_slots_bounded_by_per_cycle_and_max_positions() -> None:
    cfg = farb_config({"maxPositions": 3, "maxNewPositionsPerCycle": 2}).funding_arb
    assert cfg is not None
    assert [cycle.free_slots(cfg, held) for held in (0, 1, 2, 3, 4)] == [2, 2, 1, 0, 0]


def test_cooldowns_run_from_the_close_and_end() -> None:
    until = cycle.cooldown_until(100.0, Tuning(entry_cooldown=600.0))
    assert until == 700.0
    assert cycle.running_cooldowns({"BTC": until, "ETH": 650.0}, 650.0) == {"BTC": 700.0}
    assert cycle.running_cooldowns({"BTC": until}, 700.0) == {}


def test_size_entry_checks_the_divergence_then_sizes() -> None:
    cfg = farb_config({"maxEntryPriceDivergencePct": "0.5"}).funding_arb
    assert cfg is not None
    # 60000 vs 60400: 400 / 60000 = 0.667 % > 0.5 %
    too_far = cycle.size_entry(cfg, market(), market(), quote("60000"), quote("60400"), venues=VENUES)
    assert isinstance(too_far, cycle.Skip) and not too_far.cooldown
    # 60000 vs 60200: 0.333 %; 1000 USD / 60100 = 0.016638... -> 0.016 BTC per leg
    sizes = cycle.size_entry(cfg, market(), market(), quote("60000"), quote("60200"), venues=VENUES)
    assert not isinstance(sizes, cycle.Skip)
    assert sizes.base == D("0.016")
    # a venue whose minimum is 0.1 BTC cannot take 1000 USD: the symbol cools down
    small = cycle.size_entry(cfg, market(), market("0.1", "0.1"), quote("60000"), quote("60000"), venues=VENUES)
    assert isinstance(small, cycle.Skip) and small.cooldown
