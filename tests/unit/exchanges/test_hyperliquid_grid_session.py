"""The grid strategy on the real Hyperliquid client (L1 actions signed by the API wallet, orderUpdates + userEvents
stream) against the stateful replay of ``test_hyperliquid_client.py``: open, fill over the stream, take-profit
close, stop cancels it; and a restarted bot recognises its resting close order by its cloid.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: the session only
completes when the fill reaches the strategy over the venue's WebSocket.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

pytest.importorskip("hyperliquid")

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges._shared.packed_ids import PackedIdCodec
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import ReplayServer
from tests.unit.exchanges.conftest import GridProcess, wait_until
from tests.unit.exchanges.test_hyperliquid_client import ENV, HyperliquidVenue, options

TICK = Decimal(1)  # BTC at 97,381: 5 significant figures


def resting(venue: HyperliquidVenue, side: str) -> dict[str, Any] | None:
    return next(
        (o["order"] for o in venue.orders.values() if o["status"] == "open" and o["order"]["side"] == side), None
    )


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """ALO open at ask - tick (signed by the API wallet: the venue recovers it), a fill over userEvents, the
    reduce-only take-profit at fill x (1 + 0.02 %) rounded up, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    codec = PackedIdCodec()
    async with ReplayServer() as server:
        venue = HyperliquidVenue(server)
        venue.live_positions = True
        exchange = registry.create_exchange("hyperliquid", options(server), ENV)
        bot = GridProcess(exchange, "hyperliquid", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.ws.wait_for_connections(1)
        bot.run()
        try:
            opened = await wait_until(lambda: resting(venue, "B"))
            wire = next(a["orders"][0] for a in venue.actions if a["type"] == "order")
            assert (wire["t"], wire["r"], Decimal(wire["s"])) == (
                {"limit": {"tif": "Alo"}},
                False,
                config.grid.quantity,
            )
            assert Decimal(wire["p"]) == HyperliquidVenue.BOOK["BTC"][1] - TICK
            assert ids.role_of(codec.decode(wire["c"])) == ClientIds.OPEN
            placed = await wait_until(lambda: events.orders)
            assert [(r.client_order_id, r.time_in_force, result) for r, result, _ in placed] == [
                (codec.decode(wire["c"]), TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            fill = venue.fill(opened["oid"], Decimal(wire["s"]))
            close = await wait_until(lambda: resting(venue, "A"))
            sent = next(a["orders"][0] for a in reversed(venue.actions) if a["type"] == "order")
            assert (sent["t"], sent["r"], Decimal(sent["s"])) == ({"limit": {"tif": "Gtc"}}, True, Decimal(fill["sz"]))
            tp = 1 + config.grid.take_profit / 100
            assert Decimal(sent["p"]) == (Decimal(fill["px"]) * tp / TICK).to_integral_value(ROUND_CEILING) * TICK
            assert ids.role_of(codec.decode(sent["c"])) == ClientIds.CLOSE
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size, f.fee) for f in reported] == [
                (str(fill["tid"]), Decimal(fill["px"]), Decimal(fill["sz"]), Decimal(fill["fee"]))
            ]
            resting_closes = await wait_until(lambda: strategy.close_orders)
            assert [o.order_id for o in resting_closes] == [str(close["oid"])]
        finally:
            await bot.stop()
        cancels = [a for a in venue.actions if a["type"] == "cancel"]
        assert cancels == [{"type": "cancel", "cancels": [{"a": 0, "o": close["oid"]}]}]
        assert [o for o in venue.orders.values() if o["status"] == "open"] == []
        assert strategy.snapshot().open_orders == 0
        assert len([a for a in venue.actions if a["type"] == "order"]) == 2  # one open, one close
        assert server.unmatched == []


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A crash leaves the take-profit resting; a new process (fresh client, fresh strategy) reads it back from
    ``frontendOpenOrders`` with the client id the first process chose (unpacked from the cloid), so it counts it
    as its own close order instead of placing another."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = HyperliquidVenue(server)
        venue.live_positions = True
        first = GridProcess(registry.create_exchange("hyperliquid", options(server), ENV), "hyperliquid", clock=clock)
        await first.start()
        opened = await wait_until(lambda: resting(venue, "B"))
        venue.fill(opened["oid"], Decimal(opened["sz"]))
        close = await wait_until(lambda: resting(venue, "A"))
        await wait_until(lambda: first.strategy.close_orders)
        await first.crash()

        second = GridProcess(registry.create_exchange("hyperliquid", options(server), ENV), "hyperliquid", clock=clock)
        await second.exchange.connect()
        listed = await second.exchange.open_orders("BTC")
        assert [second.ids.role_of(o.client_order_id) for o in listed] == [ClientIds.CLOSE]
        assert listed[0].client_order_id == PackedIdCodec().decode(close["cloid"])
        second.run()
        try:
            recognised = await wait_until(lambda: second.strategy.close_orders)
            assert [o.order_id for o in recognised] == [str(close["oid"])]
        finally:
            await second.stop()
