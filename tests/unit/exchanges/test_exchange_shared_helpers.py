"""The shared venue helpers the replay suites rely on: backoff, broadcast, de-duplication, reconnecting WebSocket,
HTTP status mapping and secret redaction (bot_runtime/exchanges/_ws.py and _http.py)."""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.exchanges._http import SecretRedactingFilter, dec, dec_or_none, error_for_status
from bot_runtime.exchanges._ws import Backoff, Broadcast, ReconnectingWebSocket, SeenIds
from bot_runtime.exchanges.base import AuthenticationError, ExchangeError, RateLimited, TransientNetworkError
from tests.support.replay import ReplayServer


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(initial=1, maximum=8, factor=2, jitter=0)
    assert [backoff.next() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next() == 1
    jittered = Backoff(initial=10, maximum=10, jitter=0.2)
    assert all(8 <= jittered.next() <= 12 for _ in range(50))


def test_seen_ids_are_bounded() -> None:
    seen = SeenIds(capacity=3)
    assert [seen.add(x) for x in "abca"] == [True, True, True, False]
    seen.add("d")  # evicts "a"
    assert "a" not in seen and len(seen) == 3 and seen.add("a")


async def test_broadcast_keeps_a_backlog_for_the_first_subscriber_and_fans_out() -> None:
    hub: Broadcast[int] = Broadcast()
    hub.publish(1)
    first, second = hub.subscribe(), hub.subscribe()
    assert await anext(first) == 1
    hub.publish(2)
    assert (await anext(first), await anext(second)) == (2, 2)
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(first)


async def test_reconnecting_websocket_resubscribes_and_reconciles_after_a_drop() -> None:
    received: list[Any] = []
    reconciled: list[int] = []

    async def on_connect(ws: ReconnectingWebSocket) -> None:
        await ws.send_json({"op": "subscribe", "n": ws.connects})

    async def on_reconnect(ws: ReconnectingWebSocket) -> None:
        reconciled.append(ws.connects)

    async def on_message(message: Any) -> None:
        received.append(message)

    async with ReplayServer() as server:
        endpoint = server.websocket("/ws", on_message=lambda conn, msg: [{"ack": msg["n"]}])
        ws = ReconnectingWebSocket(
            server.ws_url + "/ws",
            name="test",
            on_message=on_message,
            on_connect=on_connect,
            on_reconnect=on_reconnect,
            backoff=Backoff(initial=0.05, maximum=0.2, jitter=0),
        )
        ws.start()
        try:
            first = await endpoint.wait_for_connections(1)
            assert await first.wait_for_message() == {"op": "subscribe", "n": 1}
            endpoint.refuse = True
            await first.drop()
            await asyncio.sleep(0.3)  # a few refused attempts (HTTP 503 on the upgrade)
            endpoint.refuse = False
            second = await endpoint.wait_for_connections(2, within=5)
            assert await second.wait_for_message() == {"op": "subscribe", "n": 2}
            assert await ws.wait_connected(timeout=5)
            assert reconciled == [2] and {"ack": 1} in received
        finally:
            await ws.close()
    assert not ws.connected.is_set()


def test_status_mapping_and_decimals() -> None:
    assert isinstance(error_for_status("v", 429, "slow", retry_after=3), RateLimited)
    assert isinstance(error_for_status("v", 503, "down"), TransientNetworkError)
    assert isinstance(error_for_status("v", 401, "who"), AuthenticationError)
    plain = error_for_status("v", 418, "teapot")
    assert type(plain) is ExchangeError
    assert dec(0.1) == Decimal("0.1") and dec("1e-9") == Decimal("1E-9")
    assert dec_or_none("") is None and dec_or_none(None) is None and dec_or_none("x") is None


def test_secret_redaction(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("some.sdk")
    flt = SecretRedactingFilter(["s3cr3t-value"])
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO):
            logger.info("login payload %s", {"api_key": "s3cr3t-value"})
    finally:
        logger.removeFilter(flt)
    assert "s3cr3t-value" not in caplog.text and "***" in caplog.text
