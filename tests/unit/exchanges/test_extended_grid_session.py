"""The grid strategy on the real Extended client (orders signed by the SDK's ``create_order_object``, the account
stream) against the stateful replay of ``test_extended_client.py``: open, fill over the stream, take-profit close,
stop cancels it; and a restarted bot recognises its resting close order by its ``externalId``.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: the session only
completes when the fill reaches the strategy over the venue's WebSocket.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

pytest.importorskip("x10")

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import ReplayServer
from tests.unit.exchanges.conftest import GridProcess, wait_until
from tests.unit.exchanges.test_extended_client import API, ENV, ExtendedVenue, options

TICK = Decimal("0.1")  # BTC-USD's minPriceChange


def resting(venue: ExtendedVenue, side: str) -> dict[str, Any] | None:
    return next((o for o in venue.orders.values() if o["status"] == "NEW" and o["side"] == side), None)


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """A post-only open at ask - tick (its Stark signature verified by the venue), a fill over the account stream, the
    reduce-only take-profit at fill x (1 + 0.02 %) rounded up, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = ExtendedVenue(server)
        venue.live_positions = True
        exchange = registry.create_exchange("extended", options(server), ENV)
        bot = GridProcess(exchange, "extended", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.ws.wait_for_connections(1)
        bot.run()
        try:
            opened = await wait_until(lambda: resting(venue, "BUY"))
            body = venue.bodies[0]
            assert (body["postOnly"], body["timeInForce"], body["reduceOnly"], Decimal(body["qty"])) == (
                True,
                "GTT",
                False,
                config.grid.quantity,
            )
            assert Decimal(body["price"]) == ExtendedVenue.BOOK["BTC-USD"][1] - TICK
            assert ids.role_of(body["id"]) == ClientIds.OPEN
            placed = await wait_until(lambda: events.orders)
            assert [(r.client_order_id, r.time_in_force, result) for r, result, _ in placed] == [
                (body["id"], TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            trade = venue.fill(opened["id"], Decimal(body["qty"]))
            close = await wait_until(lambda: resting(venue, "SELL"))
            sent = venue.bodies[-1]
            assert (sent["postOnly"], sent["reduceOnly"], Decimal(sent["qty"])) == (False, True, Decimal(trade["qty"]))
            tp = 1 + config.grid.take_profit / 100
            assert (
                Decimal(sent["price"]) == (Decimal(trade["price"]) * tp / TICK).to_integral_value(ROUND_CEILING) * TICK
            )
            assert ids.role_of(sent["id"]) == ClientIds.CLOSE
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size) for f in reported] == [
                (str(trade["id"]), Decimal(trade["price"]), Decimal(trade["qty"]))
            ]
            resting_closes = await wait_until(lambda: strategy.close_orders)
            assert [o.order_id for o in resting_closes] == [str(close["id"])]
        finally:
            await bot.stop()
        cancels = server.requests_to("DELETE", API + "/user/order/{oid}")
        assert [r.path for r in cancels] == [f"{API}/user/order/{close['id']}"]
        assert [o for o in venue.orders.values() if o["status"] == "NEW"] == []
        assert strategy.snapshot().open_orders == 0
        assert len(venue.bodies) == 2  # one open, one close
        assert server.unmatched == []


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A crash leaves the take-profit resting; a new process (fresh client, fresh strategy) reads it back from
    ``GET /user/orders`` with the client id the first process chose (its ``externalId``), so it counts it as its own
    close order instead of placing another."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = ExtendedVenue(server)
        venue.live_positions = True
        first = GridProcess(registry.create_exchange("extended", options(server), ENV), "extended", clock=clock)
        await first.start()
        opened = await wait_until(lambda: resting(venue, "BUY"))
        venue.fill(opened["id"], Decimal(opened["qty"]))
        close = await wait_until(lambda: resting(venue, "SELL"))
        await wait_until(lambda: first.strategy.close_orders)
        await first.crash()

        second = GridProcess(registry.create_exchange("extended", options(server), ENV), "extended", clock=clock)
        await second.exchange.connect()
        listed = await second.exchange.open_orders("BTC")
        assert [second.ids.role_of(o.client_order_id) for o in listed] == [ClientIds.CLOSE]
        assert listed[0].client_order_id == close["externalId"]
        second.run()
        try:
            recognised = await wait_until(lambda: second.strategy.close_orders)
            assert [o.order_id for o in recognised] == [str(close["id"])]
        finally:
            await second.stop()
        assert len(venue.bodies) == 2  # the restarted bot placed nothing new
