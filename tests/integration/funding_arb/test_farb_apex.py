"""Funding-arb across ApeX Omni and a paper venue: the real ApeX client and funding adapter against the stateful ApeX
replay (every request's APEX-SIGNATURE and every order's zkLink signature recomputed with the signer proven equal to
the SDK's), and paper-a; both collected into the REAL funding service on the REAL PostgreSQL, whose fee table knows
apex from migration 012 (tests/integration/funding_arb/cross_venue.py). The short leg is an IOC sell the venue fills
(its verdict awaited from the stream or over REST as on the live venue); the exit a reduce-only IOC buy."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

from tests.integration.funding_arb.cross_venue import Rig, VenueUnderTest, cross_venue_rig, open_then_exit_on_a_flip
from tests.integration.funding_service.fs_helpers import Service

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(importlib.util.find_spec("apexomni") is None, reason="the apex extra is not installed"),
]

if importlib.util.find_spec("apexomni") is not None:
    from tests.unit.exchanges.test_apex_client import ENV, ApexVenue, options

    APEX = VenueUnderTest(
        name="apex",
        market="BTCUSDT",  # the ticker's name for BTC-USDT
        mid="97400.5",  # the replay's BTC book: 97400.0 / 97401.0
        replay=ApexVenue,
        client_options=options,
        env=ENV,
        funding_options=lambda server: {"baseUrl": server.url + "/api"},
        step_seconds=10,  # /v3/depth carries no time: quotes are stamped when read (max quote age 15 s)
        notional_tolerance="0.1",  # BTC-USDT's step 0.001 is ~$97 at the mid: $1000 → 0.010 BTC ($974)
    )


@pytest.fixture
async def rig(service: Service) -> AsyncIterator[Rig]:
    async with cross_venue_rig(service, APEX) as built:
        yield built


async def test_pair_across_apex_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    replay = rig.replay
    assert isinstance(replay, ApexVenue)

    def orders() -> list[dict[str, Any]]:
        return [order["form"] for order in replay.orders.values()]

    def check_entry(form: dict[str, Any], size: D) -> None:  # an IOC sell the venue accepted (signature checked)
        assert (form["side"], form["timeInForce"], form["reduceOnly"]) == ("SELL", "IMMEDIATE_OR_CANCEL", "False")
        assert D(form["size"]) == size and replay.bad_signatures == []

    def check_exit(form: dict[str, Any]) -> None:  # a reduce-only IOC buy
        assert (form["side"], form["timeInForce"], form["reduceOnly"]) == ("BUY", "IMMEDIATE_OR_CANCEL", "True")

    await open_then_exit_on_a_flip(rig, orders=orders, check_entry=check_entry, check_exit=check_exit)
