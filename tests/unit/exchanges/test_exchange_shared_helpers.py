"""The shared venue helpers (bot_runtime/exchanges/_shared): backoff, the order-update hub (fan-out, de-duplication,
verdicts, reconciliation), the reconnecting WebSocket, JSON over HTTP with the status mapping, secret redaction and
wire values."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from bot_runtime.exchanges._shared.backoff import Backoff
from bot_runtime.exchanges._shared.http import error_for_status, loads, request_json, status_error_mapper
from bot_runtime.exchanges._shared.order_hub import OrderUpdateHub, SeenIds
from bot_runtime.exchanges._shared.redaction import SecretRedactingFilter
from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ms
from bot_runtime.exchanges._shared.ws import LatestQueue, ReconnectingWebSocket, relay
from bot_runtime.exchanges.base import (
    AuthenticationError,
    ExchangeError,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderUpdate,
    RateLimited,
    Side,
    TransientNetworkError,
    utcnow,
)
from tests.support.replay import ReplayServer, Reply

D = Decimal


def order(order_id: str = "1", status: OrderStatus = OrderStatus.OPEN, filled: str = "0", **extra: Any) -> Order:
    fields: dict[str, Any] = {"symbol": "BTC", "side": Side.BUY, "price": D("100"), "size": D("1")}
    fields.update(extra)
    return Order(order_id=order_id, status=status, filled_size=D(filled), **fields)


def fill(trade_id: str, order_id: str = "1", *, age: timedelta = timedelta(0)) -> Fill:
    return Fill(
        trade_id=trade_id,
        order_id=order_id,
        symbol="BTC",
        side=Side.BUY,
        price=D("100"),
        size=D("1"),
        fee=D("0.01"),
        liquidity=Liquidity.MAKER,
        timestamp=utcnow() - age,
    )


async def drain(updates: Any, within: float = 0.2) -> list[OrderUpdate]:
    got: list[OrderUpdate] = []
    while True:
        try:
            got.append(await asyncio.wait_for(anext(updates), within))
        except (TimeoutError, StopAsyncIteration):
            return got


# backoff and ids -----------------------------------------------------------------------------------------------------
def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(initial=1, maximum=8, factor=2, jitter=0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    assert backoff.attempts == 6
    backoff.reset()
    assert backoff.next_delay() == 1
    jittered = Backoff(initial=10, maximum=10, jitter=0.2)
    assert all(8 <= jittered.next_delay() <= 12 for _ in range(50))
    with pytest.raises(ValueError):
        Backoff(initial=2, maximum=1)


def test_seen_ids_are_bounded() -> None:
    seen = SeenIds(capacity=3)
    assert [seen.add(x) for x in "abca"] == [True, True, True, False]
    seen.add("d")  # evicts "a"
    assert "a" not in seen and len(seen) == 3 and seen.add("a")


# the hub ---------------------------------------------------------------------------------------------------------------
async def test_hub_registers_consumers_at_call_keeps_a_backlog_and_fans_out() -> None:
    hub = OrderUpdateHub("v")
    hub.publish(OrderUpdate(order=order("1")))  # before anyone listens: kept for the first consumer
    first = hub.subscribe()
    second = hub.subscribe()  # registered now, before its first anext: sees what follows
    hub.publish(OrderUpdate(order=order("2")))
    assert [u.order.order_id for u in await drain(first)] == ["1", "2"]
    assert [u.order.order_id for u in await drain(second)] == ["2"]
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(first)
    late = hub.subscribe()
    with pytest.raises(StopAsyncIteration):  # subscribing to a closed hub ends at once
        await asyncio.wait_for(anext(late), 1)


async def test_closing_a_subscription_wakes_its_blocked_consumer() -> None:
    hub = OrderUpdateHub("t")
    sub = hub.subscribe()
    consumer = asyncio.create_task(anext(sub, None))
    await asyncio.sleep(0)
    assert not consumer.done()  # blocked: nothing published
    await sub.aclose()  # type: ignore[attr-defined]
    assert await asyncio.wait_for(consumer, 0.5) is None  # woken and ended, not left waiting
    assert await anext(sub, None) is None
    other = hub.subscribe()  # the hub itself is still open for others
    hub.publish_fill(fill("t1"))
    assert (await asyncio.wait_for(anext(other), 0.5)).fill is not None


async def test_hub_drops_duplicates_keeps_final_states_and_client_ids() -> None:
    hub = OrderUpdateHub("v")
    updates = hub.subscribe()
    assert hub.publish(OrderUpdate(order=order("1", client_order_id="pdabc123-o-1")))
    assert not hub.publish(OrderUpdate(order=order("1")))  # same state again
    filled = order("1", OrderStatus.FILLED, "1")
    assert hub.publish(OrderUpdate(order=filled, fill=fill("t1")))
    assert not hub.publish(OrderUpdate(order=filled, fill=fill("t1")))  # the same fill over REST and the stream
    assert not hub.publish(OrderUpdate(order=order("1", OrderStatus.OPEN)))  # a late "open": the order stays final
    got = await drain(updates)
    assert [(u.order.status, u.fill is not None) for u in got] == [
        (OrderStatus.OPEN, False),
        (OrderStatus.FILLED, True),
    ]
    assert got[1].order.client_order_id == "pdabc123-o-1"  # kept from the earlier state
    assert hub.known_by_client_id("pdabc123-o-1") == got[1].order and hub.open_orders() == []


async def test_hub_history_fills_are_not_new() -> None:
    hub = OrderUpdateHub("v")
    hub.mark_started()
    updates = hub.subscribe()
    old = fill("t0", "9", age=timedelta(minutes=1))
    assert not hub.publish_fill(old, drop_history=True)  # a subscription snapshot: dropped whole
    assert hub.known_order("9") is None
    assert hub.publish_fill(fill("t1", "9"), drop_history=True)  # a fresh one, of an order we never saw
    got = await drain(updates)
    assert len(got) == 1 and got[0].order.status is OrderStatus.FILLED and got[0].fill is not None
    assert hub.publish_fill(old)  # a live stream event is delivered whatever its time stamp


async def test_hub_reconcile_catches_up_without_history_or_duplicates() -> None:
    hub = OrderUpdateHub("v")
    hub.mark_started()
    for tracked in (order("1"), order("2"), order("3")):
        hub.track(tracked)
    updates = hub.subscribe()
    hub.publish_fill(fill("seen", "1"))
    assert len(await drain(updates)) == 1
    asked: list[Any] = []

    async def fetch_fills(since: Any) -> list[Fill]:
        asked.append(since)
        return [fill("seen", "1"), fill("old", "1", age=timedelta(minutes=5)), fill("new", "1"), fill("x", "7")]

    async def fetch_open_orders() -> list[Order]:
        return [order("3", OrderStatus.PARTIALLY_FILLED, "0.5")]

    async def fetch_order(tracked: Order) -> Order | None:
        states = {"1": order("1", OrderStatus.FILLED, "1"), "2": order("2", OrderStatus.CANCELED)}
        if tracked.order_id == "7":
            raise TransientNetworkError("down")
        return states.get(tracked.order_id)

    delivered = await hub.reconcile(
        fetch_fills=fetch_fills, fetch_open_orders=fetch_open_orders, fetch_order=fetch_order
    )
    got = await drain(updates)
    assert delivered == len(got) == 4
    assert asked == [hub.started_at]  # the look-back never reaches before this process started
    summary = [(u.order.order_id, u.order.status, u.fill.trade_id if u.fill else None) for u in got]
    assert summary == [
        ("1", OrderStatus.FILLED, "new"),
        ("7", OrderStatus.FILLED, "x"),  # an order we knew nothing of (its lookup failed): built from the fill
        ("2", OrderStatus.CANCELED, None),  # left the open set without a fill
        ("3", OrderStatus.PARTIALLY_FILLED, None),
    ]


async def test_settle_takes_the_stream_verdict_or_polls() -> None:
    hub = OrderUpdateHub("v")
    polls: list[str] = []

    async def poll() -> Order | None:
        polls.append("poll")
        return order("5", OrderStatus.OPEN, client_order_id="c5")

    hub.track(order("1", OrderStatus.PENDING))
    asyncio.get_running_loop().call_later(0.05, hub.publish, OrderUpdate(order=order("1", OrderStatus.REJECTED)))
    verdict = await hub.settle(poll, order_id="1", timeout=2, interval=1)
    assert verdict is not None and verdict.status is OrderStatus.REJECTED and polls == []  # the stream decided
    verdict = await hub.settle(poll, client_order_id="c5", timeout=2, interval=1)
    assert verdict is not None and verdict.order_id == "5" and polls == ["poll"]  # unknown: asked at once
    hub.track(order("6", OrderStatus.PENDING))
    undecided = await hub.settle(poll, order_id="6", timeout=0.35, interval=0.1)  # the venue stays silent
    assert undecided is not None and (undecided.order_id, undecided.status) == ("6", OrderStatus.PENDING)
    assert len(polls) >= 3  # asked over REST each time the stream said nothing for an interval


# the WebSocket ----------------------------------------------------------------------------------------------------------
async def test_websocket_resubscribes_and_reconciles_after_a_drop() -> None:
    received: list[Any] = []
    reconciled: list[int] = []

    async def on_connect(ws: ReconnectingWebSocket) -> None:
        await ws.send_json({"op": "subscribe", "n": ws.connects})

    async def on_reconnect(ws: ReconnectingWebSocket) -> None:
        reconciled.append(ws.connects)

    async def on_message(message: Any) -> None:
        received.append(message)

    async with ReplayServer() as server:
        endpoint = server.websocket("/ws", on_message=lambda conn, msg: [{"ack": msg["n"], "px": 0.1}])
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
            assert reconciled == [2] and {"ack": 1, "px": D("0.1")} in received  # numbers arrive as Decimal
            assert isinstance(received[0]["px"], Decimal) and ws.attempts > 2
        finally:
            await ws.close()
    assert not ws.connected.is_set()


async def test_websocket_keeps_retrying_a_refused_login_and_answers_pings() -> None:
    logins: list[int] = []
    got: list[Any] = []

    async def login(ws: ReconnectingWebSocket) -> None:
        logins.append(ws.attempts)
        await ws.send_json({"op": "login"})
        if (await ws.receive_json(2)).get("ok") is not True:
            raise AuthenticationError("login refused")  # not retryable, yet the stream must not die

    async def on_message(message: Any) -> None:
        got.append(message)

    async with ReplayServer() as server:
        answers = iter([{"ok": False}, {"ok": True}])
        endpoint = server.websocket("/ws", on_message=lambda conn, msg: [next(answers)] if msg.get("op") else [])
        ws = ReconnectingWebSocket(
            server.ws_url + "/ws",
            name="test",
            on_message=on_message,
            on_connect=login,
            answer=lambda m: {"type": "pong"} if m.get("type") == "ping" else None,
            backoff=Backoff(initial=0.02, maximum=0.05, jitter=0),
        )
        ws.start()
        try:
            assert await ws.wait_connected(timeout=5) and logins == [1, 2]
            conn = endpoint.connections[-1]
            await conn.send_json({"type": "ping"})
            assert await conn.wait_for_message(lambda m: m == {"type": "pong"})
            await conn.send_json({"type": "data"})
            await asyncio.sleep(0.1)
            assert got == [{"type": "data"}]  # the ping was answered, not passed on
            assert ws.last_error is not None and "login refused" in ws.last_error
        finally:
            await ws.close()


async def test_websocket_idle_timeout_and_explicit_reconnect() -> None:
    async def on_message(message: Any) -> None:
        return None

    async with ReplayServer() as server:
        endpoint = server.websocket("/ws")
        ws = ReconnectingWebSocket(
            server.ws_url + "/ws",
            name="test",
            on_message=on_message,
            idle_timeout=0.2,
            backoff=Backoff(initial=0.02, maximum=0.05, jitter=0),
        )
        ws.start()
        try:
            await endpoint.wait_for_connections(2, within=3)  # a silent connection is replaced
            await ws.wait_connected(2)
            before = len(endpoint.connections)
            await ws.reconnect("listen key expired")
            await endpoint.wait_for_connections(before + 1, within=3)
        finally:
            await ws.close()


async def test_websocket_skips_a_bad_message_and_catches_up_over_rest() -> None:
    handled: list[Any] = []
    resyncs: list[int] = []

    async def on_message(message: Any) -> None:
        if message.get("bad"):
            raise KeyError("field")
        handled.append(message)

    async def on_reconnect(ws: ReconnectingWebSocket) -> None:
        resyncs.append(ws.connects)

    async with ReplayServer() as server:
        endpoint = server.websocket("/ws")
        ws = ReconnectingWebSocket(
            server.ws_url + "/ws",
            name="test",
            on_message=on_message,
            on_reconnect=on_reconnect,
            stable_after=0.0,
        )
        ws.start()
        try:
            conn = await endpoint.wait_for_connections(1)
            await ws.wait_connected(2)
            await conn.send_json({"bad": True})
            await conn.send_json({"n": 1})
            for _ in range(50):
                if handled:
                    break
                await asyncio.sleep(0.02)
            assert handled == [{"n": 1}] and resyncs == [1] and len(endpoint.connections) == 1  # same connection
        finally:
            await ws.close()


async def test_relay_yields_the_latest_items_and_closes_the_socket() -> None:
    queue: LatestQueue[int] = LatestQueue(maxsize=2)
    for n in (1, 2, 3):
        queue.put(n)

    async def on_message(message: Any) -> None:
        queue.put(int(message["n"]))

    async with ReplayServer() as server:
        endpoint = server.websocket("/ws", on_connect=[{"n": 4}])
        ws = ReconnectingWebSocket(server.ws_url + "/ws", name="test", on_message=on_message)
        stream = relay(ws, queue)
        assert [await anext(stream) for _ in range(3)] == [2, 3, 4]  # 1 was dropped: the queue keeps the latest
        await stream.aclose()
        assert ws.closing and not ws.connected.is_set()
        assert len(endpoint.connections) == 1


# HTTP, values, redaction ----------------------------------------------------------------------------------------------
def test_status_mapping() -> None:
    limited = error_for_status("v", 429, {"msg": "slow"}, retry_after=3)
    assert isinstance(limited, RateLimited) and limited.retry_after == 3 and '"slow"' in str(limited)
    assert isinstance(error_for_status("v", 418, "banned"), RateLimited)
    assert isinstance(error_for_status("v", 503, "down"), TransientNetworkError)
    assert isinstance(error_for_status("v", 401, "who"), AuthenticationError)
    assert isinstance(error_for_status("v", 403, "no"), AuthenticationError)
    plain = error_for_status("v", 400, b"x" * 1000)
    assert type(plain) is ExchangeError and len(str(plain)) < 400


async def test_request_json_decimals_errors_and_malformed_bodies() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/ok", Reply(body='{"rate": 0.0001, "n": 3}'))
        server.route("GET", "/html", Reply(body="<html>maintenance</html>", headers={"Content-Type": "text/html"}))
        server.route("GET", "/limited", Reply(429, {"msg": "slow"}, headers={"Retry-After": "2"}))
        server.route("GET", "/slow", Reply(json={}, delay=1.0))
        async with httpx.AsyncClient(base_url=server.url, timeout=0.2) as client:
            mapper = status_error_mapper("v")
            assert await request_json(client, "GET", "/ok", exchange="v", error_mapper=mapper) == {
                "rate": D("0.0001"),
                "n": 3,
            }
            with pytest.raises(ExchangeError, match="not JSON"):  # a 200 that is not JSON is an error, not a str
                await request_json(client, "GET", "/html", exchange="v", error_mapper=mapper)
            with pytest.raises(RateLimited) as limited:
                await request_json(client, "GET", "/limited", exchange="v", error_mapper=mapper)
            assert limited.value.retry_after == 2
            with pytest.raises(TransientNetworkError, match="timed out"):
                await request_json(client, "GET", "/slow", exchange="v", error_mapper=mapper)


def test_values() -> None:
    assert dec(0.1) == D("0.1") and dec("1e-9") == D("1E-9") and dec(D("2")) == 2
    assert dec_or_none("") is None and dec_or_none(None) is None and dec_or_none("x") is None
    assert loads('{"a": 1.10}') == {"a": D("1.10")}
    assert from_ms(1_700_000_000_000).year == 2023
    with pytest.raises(ValueError):
        dec(True)


def test_secret_redaction(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("some.sdk")
    flt = SecretRedactingFilter(["s3cr3t-value"], patterns=[re.compile(r"(session=)\w+")])
    logger.addFilter(flt)
    try:
        with caplog.at_level(logging.INFO):
            logger.info("login payload %s", {"api_key": "s3cr3t-value"})
            logger.info("cookie session=abcdef123 set")
    finally:
        logger.removeFilter(flt)
    assert "s3cr3t-value" not in caplog.text and "abcdef123" not in caplog.text
    assert "***" in caplog.text and "session=***" in caplog.text
