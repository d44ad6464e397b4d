"""Issue 22 item 3: ``sizing.mode: fixedUsd | margin``, the caps of a new pair's legs (the venues' max leverage, the
risk manager's position cap, ``maxExposurePerVenueUsd``) and ``maxOiUsd``, with hand-computed sizes.

Both venues quote BTC at 50 000 (mid), step 0.001 BTC: a leg of N USD is N / 50 000 BTC rounded down to 0.001."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from bot_runtime.config import ConfigError, FundingArbConfig
from bot_runtime.exchanges.base import Market, Quote
from bot_runtime.strategies.funding_arb import cycle
from bot_runtime.strategies.funding_arb.selection import candidate_filters
from bot_runtime.strategies.funding_arb.sizing import LegSizes
from tests.unit.funding_arb.farb_helpers import farb_config
from tests.unit.funding_arb.test_farb_rules import held_pair
from tests.unit.funding_arb.test_farb_rules import market as rules_market

VENUES = ("paper-a", "paper-b")


def cfg(**fa: Any) -> FundingArbConfig:
    config = farb_config(fa).funding_arb
    assert config is not None
    return config


def market(max_leverage: str | None = None) -> Market:
    return rules_market("BTC", step="0.001", tick="0.1", max_leverage=None if max_leverage is None else D(max_leverage))


QUOTE = Quote(symbol="BTC", bid=D("49999"), ask=D("50001"))


def sized(c: FundingArbConfig, long: Market | None = None, short: Market | None = None, **caps: Any) -> LegSizes:
    got = cycle.size_entry(c, long or market(), short or market(), QUOTE, QUOTE, venues=VENUES, caps=cycle.Caps(**caps))
    assert isinstance(got, LegSizes), got
    return got


def test_fixed_usd_is_position_size_usd() -> None:
    assert sized(cfg(positionSizeUsd="1000")).base == D("0.020")  # 1000 / 50000


def test_margin_times_leverage_capped_by_each_venues_max_leverage() -> None:
    margin = cfg(sizing={"mode": "margin", "marginUsd": "500", "leverage": "5"})
    assert sized(margin).base == D("0.050")  # 500 x 5 = 2500 USD
    assert sized(margin, short=market("3")).base == D("0.030")  # x 3 (the short venue's max) = 1500 USD
    assert sized(margin, long=market("2"), short=market("3")).base == D("0.020")  # x 2 = 1000 USD
    assert sized(margin, long=market("20")).base == D("0.050")  # a higher venue maximum does not raise it
    with pytest.raises(ConfigError, match="marginUsd"):
        cfg(sizing={"mode": "margin"})


def test_the_risk_position_cap_and_the_venue_exposure_cap() -> None:
    margin = cfg(sizing={"mode": "margin", "marginUsd": "1000"}, maxExposurePerVenueUsd="2500")
    assert sized(margin, max_position_usd=D(600)).base == D("0.012")  # 600 / 50000
    # fixedUsd is not shrunk to the risk cap: the risk check refuses it and reports the breach
    c = cfg(positionSizeUsd="1000", maxExposurePerVenueUsd="2500")
    assert sized(c, max_position_usd=D(600)).base == D("0.020")
    # 1800 USD already on paper-b: 700 left there -> 0.014 BTC
    assert sized(c, exposure={"paper-b": D(1800), "paper-c": D(2500)}).base == D("0.014")
    full = cycle.size_entry(
        c, market(), market(), QUOTE, QUOTE, venues=VENUES, caps=cycle.Caps(exposure={"paper-a": D(2500)})
    )
    assert isinstance(full, cycle.Skip) and "paper-a" in full.why and not full.cooldown


def test_venue_exposure_adds_the_held_legs_notionals() -> None:
    a = held_pair(None)  # 0.0166 BTC, long paper-a / short paper-b, marks 60000: 996 USD a leg
    b = held_pair(None)
    b.entry_price = D(50000)  # 830 USD a leg
    assert cycle.venue_exposure([a, b]) == {"paper-a": D("1826.0000"), "paper-b": D("1826.0000")}


def test_max_oi_usd_is_the_services_max_oi() -> None:
    assert candidate_filters(cfg(maxOiUsd="2000000"), list(VENUES), 50)["max_oi"] == D(2000000)
    assert "max_oi" not in candidate_filters(cfg(), list(VENUES), 50)
