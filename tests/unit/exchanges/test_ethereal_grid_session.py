"""The grid strategy on the real Ethereal client (orders and cancels signed EIP-712 by the SDK, OrderUpdate +
OrderFill stream) against the stateful replay of ``test_ethereal_client.py``: open, fill over the stream, take-profit
close, stop cancels it; and a restarted bot recognises its resting close order by its client id.

The strategy runs on a :class:`~bot_runtime.clock.VirtualClock` that the test never advances: the session only
completes when the fill reaches the strategy over the venue's WebSocket.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest

pytest.importorskip("ethereal")

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import TimeInForce
from bot_runtime.exchanges.ethereal.mapping import ClientIdCodec
from bot_runtime.strategies.base import ClientIds, OrderResult
from tests.support.replay import ReplayServer
from tests.unit.exchanges.conftest import GridProcess, wait_until
from tests.unit.exchanges.test_ethereal_client import ACCOUNT, BTC_ID, ENV, EtherealVenue, options, recover_signer

TICK = Decimal(1)  # BTCUSD's tickSize


def resting(venue: EtherealVenue, side: int) -> dict[str, Any] | None:
    return next(
        (o for o in venue.orders.values() if o["status"] in {"NEW", "FILLED_PARTIAL"} and o["side"] == side), None
    )


def orders_sent(venue: EtherealVenue) -> list[dict[str, Any]]:
    return [b for b in venue.bodies if "onchainId" in b["data"]]


async def test_grid_session_open_fill_close_then_stop_cancels() -> None:
    """Post-only open at ask - tick (signed by the account: the venue recovers it), a fill over OrderFill, the
    reduce-only take-profit at fill x (1 + 0.02 %) rounded up, and the stop with ``cancelOrders`` cancels it."""
    clock = VirtualClock()
    codec = ClientIdCodec()
    async with ReplayServer() as server:
        venue = EtherealVenue(server)
        venue.live_positions = True
        exchange = registry.create_exchange("ethereal", options(server), ENV)
        bot = GridProcess(exchange, "ethereal", clock=clock)
        config, strategy, events, ids = bot.config, bot.strategy, bot.events, bot.ids
        assert config.grid is not None
        await exchange.connect()
        await venue.ws.wait_for_connections(1)
        bot.run()
        try:
            opened = await wait_until(lambda: resting(venue, 0))
            wire = orders_sent(venue)[0]["data"]
            assert (wire["postOnly"], wire["reduceOnly"], wire["timeInForce"], Decimal(wire["quantity"])) == (
                True,
                False,
                "GTD",
                config.grid.quantity,
            )
            assert Decimal(wire["price"]) == EtherealVenue.BOOK[BTC_ID][1] - TICK
            assert recover_signer(orders_sent(venue)[0], "TradeOrder") == ACCOUNT
            open_id = codec.decode(wire["clientOrderId"])
            assert open_id is not None and ids.role_of(open_id) == ClientIds.OPEN
            placed = await wait_until(lambda: events.orders)
            assert [(r.client_order_id, r.time_in_force, result) for r, result, _ in placed] == [
                (open_id, TimeInForce.POST_ONLY, OrderResult.ACCEPTED)
            ]
            fill = venue.fill(opened["id"], Decimal(wire["quantity"]))
            close = await wait_until(lambda: resting(venue, 1))
            sent = orders_sent(venue)[-1]["data"]
            assert (sent["postOnly"], sent["reduceOnly"], Decimal(sent["quantity"])) == (
                False,
                True,
                Decimal(fill["filled"]),
            )
            tp = 1 + config.grid.take_profit / 100
            assert (
                Decimal(sent["price"]) == (Decimal(fill["price"]) * tp / TICK).to_integral_value(ROUND_CEILING) * TICK
            )
            close_id = codec.decode(sent["clientOrderId"])
            assert close_id is not None and ids.role_of(close_id) == ClientIds.CLOSE
            reported = await wait_until(lambda: events.fills)
            assert [(f.trade_id, f.price, f.size, f.fee) for f in reported] == [
                (fill["id"], Decimal(fill["price"]), Decimal(fill["filled"]), Decimal(fill["feeUsd"]))
            ]
            resting_closes = await wait_until(lambda: strategy.close_orders)
            assert [o.order_id for o in resting_closes] == [close["id"]]
        finally:
            await bot.stop()
        cancels = [b for b in venue.bodies if "orderIds" in b["data"]]
        assert [c["data"]["orderIds"] for c in cancels] == [[close["id"]]]
        assert recover_signer(cancels[0], "CancelOrder") == ACCOUNT
        assert [o for o in venue.orders.values() if o["status"] in {"NEW", "FILLED_PARTIAL"}] == []
        assert strategy.snapshot().open_orders == 0
        assert len(orders_sent(venue)) == 2  # one open, one close
        assert server.unmatched == []


async def test_grid_restart_recognises_its_close_orders() -> None:
    """A crash leaves the take-profit resting; a new process (fresh client, fresh strategy) reads it back from
    ``GET /v1/order`` with the client id the first process chose (unpacked from the UUID), so it counts it as its
    own close order instead of placing another."""
    clock = VirtualClock()
    async with ReplayServer() as server:
        venue = EtherealVenue(server)
        venue.live_positions = True
        first = GridProcess(registry.create_exchange("ethereal", options(server), ENV), "ethereal", clock=clock)
        await first.start()
        opened = await wait_until(lambda: resting(venue, 0))
        venue.fill(opened["id"], Decimal(opened["quantity"]))
        close = await wait_until(lambda: resting(venue, 1))
        await wait_until(lambda: first.strategy.close_orders)
        await first.crash()

        second = GridProcess(registry.create_exchange("ethereal", options(server), ENV), "ethereal", clock=clock)
        await second.exchange.connect()
        listed = await second.exchange.open_orders("BTC")
        assert [second.ids.role_of(o.client_order_id) for o in listed if o.client_order_id] == [ClientIds.CLOSE]
        assert listed[0].client_order_id == ClientIdCodec().decode(close["clientOrderId"])
        second.run()
        try:
            recognised = await wait_until(lambda: second.strategy.close_orders)
            assert [o.order_id for o in recognised] == [close["id"]]
        finally:
            await second.stop()
        assert len(orders_sent(venue)) == 2  # the restarted bot placed no second close
