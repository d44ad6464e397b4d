"""The grid strategy on the real ApeX client (orders signed with the SDK's zkLink binding, requests with the API key,
the ws_zk_accounts_v3 stream) against the stateful replay of ``test_apex_client.py``, which recomputes every
signature: open, fill over the stream, take-profit close, stop cancels it; and a restarted bot recognises its resting
close order by its client id (ApeX keeps the strategy's client id as the order's ``clientId``).

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: the session only
completes when the fill reaches the strategy over the venue's WebSocket.
"""

from __future__ import annotations

import importlib.util
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

if importlib.util.find_spec("apexomni") is None:
    pytest.skip("the apex extra is not installed", allow_module_level=True)

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import ReplayServer
from tests.unit.exchanges.conftest import GridProcess, wait_until
from tests.unit.exchanges.test_apex_client import ASK, ENV, ApexVenue, options

TICK = Decimal("0.1")  # BTC-USDT's tickSize


def resting(venue: ApexVenue, side: str) -> tuple[str, dict[str, Any]] | None:
    return next(((i, o) for i, o in venue.orders.items() if o["status"] == "OPEN" and o["side"] == side), None)


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only open at ask - tick, a fill over the stream, the reduce-only take-profit at fill x (1 + take profit)
    rounded up, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = ApexVenue(server)
        venue.live_positions = True
        exchange = registry.create_exchange("apex", options(server), ENV)
        bot = GridProcess(exchange, "apex", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.ws.wait_for_connections(1)
        bot.run()
        try:
            open_id, opened = await wait_until(lambda: resting(venue, "BUY"))
            form = opened["form"]
            assert (form["timeInForce"], form["reduceOnly"]) == ("POST_ONLY", "False")
            assert (Decimal(form["size"]), Decimal(form["price"])) == (config.grid.quantity, ASK - TICK)
            reported = await wait_until(lambda: events.orders)
            assert [(r.time_in_force, result) for r, result, _ in reported] == [
                (TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            assert ids.role_of(reported[0][0].client_order_id) == ClientIds.OPEN
            fill = venue.fill(open_id, config.grid.quantity)
            close_id, close = await wait_until(lambda: resting(venue, "SELL"))
            assert close["form"]["reduceOnly"] == "True" and Decimal(close["form"]["size"]) == config.grid.quantity
            tp = 1 + config.grid.take_profit / 100
            fill_price = Decimal(fill["price"])
            expected = (fill_price * tp / TICK).to_integral_value(ROUND_CEILING) * TICK
            assert Decimal(close["form"]["price"]) == expected
            fills = await wait_until(lambda: events.fills)
            assert [(f.order_id, f.price, f.size) for f in fills] == [(open_id, fill_price, config.grid.quantity)]
            closes = await wait_until(lambda: strategy.close_orders)
            assert [o.order_id for o in closes] == [close_id]
            assert ids.role_of(closes[0].client_order_id) == ClientIds.CLOSE
        finally:
            await bot.stop()
        assert venue.orders[close_id]["status"] == "CANCELED"
        assert all(o["status"] != "OPEN" for o in venue.orders.values())
        assert strategy.snapshot().open_orders == 0
        assert len(venue.orders) == 2 and venue.bad_signatures == []  # one open, one close
        assert server.unmatched == []


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A crash leaves the take-profit resting; a new process reads it back from the open orders with its client id,
    so it counts it as its own close order instead of placing another."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = ApexVenue(server)
        venue.live_positions = True
        first = GridProcess(registry.create_exchange("apex", options(server), ENV), "apex", clock=clock)
        await first.start()
        open_id, _ = await wait_until(lambda: resting(venue, "BUY"))
        venue.fill(open_id, first.config.grid.quantity if first.config.grid else Decimal(0))
        close_id, _ = await wait_until(lambda: resting(venue, "SELL"))
        await wait_until(lambda: first.strategy.close_orders)
        await first.crash()

        second = GridProcess(registry.create_exchange("apex", options(server), ENV), "apex", clock=clock)
        await second.exchange.connect()
        listed = await second.exchange.open_orders("BTC")
        assert [second.ids.role_of(o.client_order_id) for o in listed if o.client_order_id] == [ClientIds.CLOSE]
        second.run()
        try:
            recognised = await wait_until(lambda: second.strategy.close_orders)
            assert [o.order_id for o in recognised] == [close_id]
        finally:
            await second.stop()
        assert len(venue.orders) == 2  # the restarted bot placed no second close
