"""Funding-arb across a new venue and an existing one: the real Hyperliquid client and funding adapter against the
stateful Hyperliquid replay (every action's signer recovered with the SDK's own function), and a paper venue; both
collected into the REAL funding service on the REAL PostgreSQL (tests/integration/funding_arb/cross_venue.py). The
short leg is an IOC signed by the API wallet; the exit a reduce-only buy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

pytest.importorskip("hyperliquid")

from tests.integration.funding_arb.cross_venue import Rig, VenueUnderTest, cross_venue_rig, open_then_exit_on_a_flip
from tests.integration.funding_service.fs_helpers import Service
from tests.unit.exchanges.test_hyperliquid_client import ENV, HyperliquidVenue, options

pytestmark = pytest.mark.integration

HYPERLIQUID = VenueUnderTest(
    name="hyperliquid",
    market="BTC",
    mid="97380.5",  # the replay's BTC book: 97380 / 97381
    replay=HyperliquidVenue,
    client_options=options,
    env=ENV,
    funding_options=lambda server: {"baseUrl": server.url},
)


@pytest.fixture
async def rig(service: Service) -> AsyncIterator[Rig]:
    async with cross_venue_rig(service, HYPERLIQUID) as built:
        yield built


async def test_pair_across_hyperliquid_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    replay = rig.replay
    assert isinstance(replay, HyperliquidVenue)

    def orders() -> list[dict[str, Any]]:
        return [action["orders"][0] for action in replay.actions if action["type"] == "order"]

    def check_entry(order: dict[str, Any], size: D) -> None:
        assert (order["b"], order["r"], order["t"]) == (False, False, {"limit": {"tif": "Ioc"}})
        assert D(order["s"]) == size

    def check_exit(order: dict[str, Any]) -> None:
        assert (order["b"], order["r"]) == (True, True)  # a reduce-only buy closes the short

    await open_then_exit_on_a_flip(rig, orders=orders, check_entry=check_entry, check_exit=check_exit)
