"""The grid strategy on the real Nado client (orders and cancels signed with the written-out EIP-712 tables, the
authenticated fill + order_update stream) against the stateful replay of ``test_nado_client.py``, which recovers every
signer through the official SDK: open, fill over the stream, take-profit close, stop cancels it; and a restarted bot
recognises its resting close order by the client id carried in the order's expiration.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: the session only
completes when the fill reaches the strategy over the venue's WebSocket.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import ReplayServer
from tests.unit.exchanges.conftest import GridProcess, wait_until
from tests.unit.exchanges.test_nado_client import ENV, SDK, NadoVenue, X, options

pytestmark = pytest.mark.skipif(SDK is None, reason="nado-protocol (the test oracle) is not installed")

TICK = Decimal(1)  # BTC-PERP's price increment


def resting(venue: NadoVenue, buy: bool) -> dict[str, Any] | None:
    return next(
        (o for o in venue.orders.values() if o["status"] == "open" and (int(o["row"]["amount"]) > 0) == buy), None
    )


def placed(venue: NadoVenue) -> list[dict[str, Any]]:
    return [b["place_order"] for b in venue.executes if "place_order" in b]


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only open at ask - tick (the venue recovers the owner's signature), a fill over the ``fill`` stream, the
    reduce-only take-profit at fill x (1 + take profit) rounded up, and the stop with ``cancelOrders`` cancels it."""
    assert SDK is not None
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = NadoVenue(server)
        venue.live_positions = True
        exchange = registry.create_exchange("nado", options(server), ENV)
        bot = GridProcess(exchange, "nado", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.ws.wait_for_connections(1)
        bot.run()
        try:
            opened = await wait_until(lambda: resting(venue, True))
            first = placed(venue)[0]["order"]
            appendix = int(first["appendix"])
            assert SDK.order.order_execution_type(appendix) == SDK.expiration.OrderType.POST_ONLY
            assert not SDK.order.order_reduce_only(appendix)
            assert Decimal(first["amount"]) / X == config.grid.quantity
            assert Decimal(first["priceX18"]) / X == NadoVenue.BOOK[2][1] - TICK
            open_id = await wait_until(lambda: events.orders)
            assert [(r.time_in_force, result) for r, result, _ in open_id] == [
                (TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            assert ids.role_of(open_id[0][0].client_order_id) == ClientIds.OPEN
            fill = venue.fill(opened["row"]["digest"], config.grid.quantity)
            close = await wait_until(lambda: resting(venue, False))
            sent = placed(venue)[-1]["order"]
            assert SDK.order.order_reduce_only(int(sent["appendix"]))
            assert Decimal(sent["amount"]) / X == -config.grid.quantity
            tp = 1 + config.grid.take_profit / 100
            fill_price = Decimal(fill["price"]) / X
            assert Decimal(sent["priceX18"]) / X == (fill_price * tp / TICK).to_integral_value(ROUND_CEILING) * TICK
            reported = await wait_until(lambda: events.fills)
            assert [(f.order_id, f.price, f.size) for f in reported] == [
                (opened["row"]["digest"], fill_price, config.grid.quantity)
            ]
            resting_closes = await wait_until(lambda: strategy.close_orders)
            assert [o.order_id for o in resting_closes] == [close["row"]["digest"]]
            assert ids.role_of(resting_closes[0].client_order_id) == ClientIds.CLOSE
        finally:
            await bot.stop()
        cancels = [b["cancel_orders"] for b in venue.executes if "cancel_orders" in b]
        assert [c["tx"]["digests"] for c in cancels] == [[close["row"]["digest"]]]
        assert all(o["status"] != "open" for o in venue.orders.values())
        assert strategy.snapshot().open_orders == 0
        assert len(placed(venue)) == 2  # one open, one close
        assert server.unmatched == []


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A crash leaves the take-profit resting; a new process (fresh client, fresh strategy) reads it back from the
    gateway's open orders with the client id decoded from the order's expiration, so it counts it as its own close
    order instead of placing another."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = NadoVenue(server)
        venue.live_positions = True
        first = GridProcess(registry.create_exchange("nado", options(server), ENV), "nado", clock=clock)
        await first.start()
        opened = await wait_until(lambda: resting(venue, True))
        venue.fill(opened["row"]["digest"], first.config.grid.quantity if first.config.grid else Decimal(0))
        close = await wait_until(lambda: resting(venue, False))
        await wait_until(lambda: first.strategy.close_orders)
        await first.crash()

        second = GridProcess(registry.create_exchange("nado", options(server), ENV), "nado", clock=clock)
        await second.exchange.connect()
        listed = await second.exchange.open_orders("BTC")
        assert [second.ids.role_of(o.client_order_id) for o in listed if o.client_order_id] == [ClientIds.CLOSE]
        second.run()
        try:
            recognised = await wait_until(lambda: second.strategy.close_orders)
            assert [o.order_id for o in recognised] == [close["row"]["digest"]]
        finally:
            await second.stop()
        assert len(placed(venue)) == 2  # the restarted bot placed no second close
