"""Funding-arb across Extended and a paper venue: the real Extended client and funding adapter against the stateful
Extended replay (every order's Stark signature verified, the settlement hash recomputed with the SDK's own
``hash_order``), and paper-a; both collected into the REAL funding service on the REAL PostgreSQL, whose fee table
knows Extended from migration 005 (tests/integration/funding_arb/cross_venue.py). The short leg is an IOC the engine
fills (its verdict awaited as on the live venue); the exit a reduce-only IOC buy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

pytest.importorskip("x10")

from tests.integration.funding_arb.cross_venue import Rig, VenueUnderTest, cross_venue_rig, open_then_exit_on_a_flip
from tests.integration.funding_service.fs_helpers import Service
from tests.unit.exchanges.test_extended_client import API, ENV, ExtendedVenue, options

pytestmark = pytest.mark.integration

EXTENDED = VenueUnderTest(
    name="extended",
    market="BTC-USD",
    mid="64252.05",  # the replay's BTC book: 64235.9 / 64268.2
    replay=ExtendedVenue,
    client_options=options,
    env=ENV,
    funding_options=lambda server: {"baseUrl": server.url + API},
    step_seconds=10,  # its REST book carries no time: quotes are stamped when read (max quote age 15 s)
)


@pytest.fixture
async def rig(service: Service) -> AsyncIterator[Rig]:
    async with cross_venue_rig(service, EXTENDED) as built:
        yield built


async def test_pair_across_extended_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    replay = rig.replay
    assert isinstance(replay, ExtendedVenue)

    def check_entry(order: dict[str, Any], size: D) -> None:  # its settlement signed by the Stark key
        assert (order["side"], order["timeInForce"], order["postOnly"], order["reduceOnly"]) == (
            "SELL",
            "IOC",
            False,
            False,
        )
        assert D(order["qty"]) == size

    def check_exit(order: dict[str, Any]) -> None:
        assert (order["side"], order["timeInForce"], order["reduceOnly"]) == ("BUY", "IOC", True)

    await open_then_exit_on_a_flip(rig, orders=lambda: replay.bodies, check_entry=check_entry, check_exit=check_exit)
