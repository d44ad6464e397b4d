"""Funding-arb across Nado and a paper venue: the real Nado client and funding adapter against the stateful Nado
replay (every order's EIP-712 signature recovered through the official SDK, the order id its digest), and paper-a;
both collected into the REAL funding service on the REAL PostgreSQL, whose fee table knows Nado from migration 011
(tests/integration/funding_arb/cross_venue.py). Nado's indexer quotes a 24-hour rate (the replay reports the hourly
rate x 24, the adapter divides it back). The short leg is an IOC the engine fills (its verdict awaited from the
stream as on the live venue); the exit a reduce-only IOC buy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest

from tests.integration.funding_arb.cross_venue import Rig, VenueUnderTest, cross_venue_rig, open_then_exit_on_a_flip
from tests.integration.funding_service.fs_helpers import Service
from tests.unit.exchanges.test_nado_client import ENV, SDK, NadoVenue, X, options

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(SDK is None, reason="nado-protocol (the test oracle) is not installed"),
]

NADO = VenueUnderTest(
    name="nado",
    market="BTC-PERP_USDT0",
    mid="97380.5",  # the replay's BTC book: 97380 / 97381
    replay=NadoVenue,
    client_options=options,
    env=ENV,
    funding_options=lambda server: {"baseUrl": server.url + "/v1", "indexerUrl": server.url + "/archive/v1"},
    step_seconds=10,  # its market_price query carries no time: quotes are stamped when read (max quote age 15 s)
)


@pytest.fixture
async def rig(service: Service) -> AsyncIterator[Rig]:
    async with cross_venue_rig(service, NADO) as built:
        yield built


async def test_pair_across_nado_and_paper_opens_then_exits_on_a_flip(rig: Rig) -> None:
    assert SDK is not None
    replay = rig.replay
    assert isinstance(replay, NadoVenue)

    def orders() -> list[dict[str, Any]]:
        return [body["place_order"]["order"] for body in replay.executes if "place_order" in body]

    def check_entry(order: dict[str, Any], size: D) -> None:  # an IOC sell, signed by the key (else refused)
        appendix = int(order["appendix"])
        assert SDK.order.order_execution_type(appendix) == SDK.expiration.OrderType.IOC
        assert not SDK.order.order_reduce_only(appendix)
        assert D(order["amount"]) / X == -size

    def check_exit(order: dict[str, Any]) -> None:  # a reduce-only IOC buy
        appendix = int(order["appendix"])
        assert SDK.order.order_execution_type(appendix) == SDK.expiration.OrderType.IOC
        assert SDK.order.order_reduce_only(appendix) and int(order["amount"]) > 0

    await open_then_exit_on_a_flip(rig, orders=orders, check_entry=check_entry, check_exit=check_exit)
