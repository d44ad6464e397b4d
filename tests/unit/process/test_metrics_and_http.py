"""/metrics exposition and the health server, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot_runtime.exchanges.base import Fill, Liquidity, Side
from bot_runtime.http import Check, HealthServer
from bot_runtime.metrics import BotMetrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def fill(side: Side, size: str, price: str, fee: str) -> Fill:
    return Fill(
        trade_id="t",
        order_id="o",
        symbol="BTC",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        liquidity=Liquidity.MAKER,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )


def test_metrics_exposition() -> None:
    m = BotMetrics(bot="b", strategy="grid", exchange="paper", ticker="BTC")
    m.set_phase("Running")
    m.observe_fill(fill(Side.BUY, "0.01", "60000", "0.12"))
    m.observe_fill(fill(Side.SELL, "0.01", "60012", "0.12"))
    m.observe_order("accepted", 0.02)
    m.observe_order("post_only_rejected", 0.3)
    m.observe_error(TimeoutError("x"))
    m.set_state(
        symbol="BTC",
        position=Decimal("-0.04"),
        avg_entry_price=Decimal("61234.5"),
        realized_pnl=Decimal("12.31"),
        unrealized_pnl=Decimal("-1.2"),
        funding_pnl=Decimal("0"),
        open_orders=7,
    )
    m.beat(1_800_000_000.0)
    s = samples(m.render().decode())
    assert s[("perpdex_bot_phase", (("phase", "Running"),))] == 1
    assert s[("perpdex_bot_phase", (("phase", "Stopped"),))] == 0
    assert s[("perpdex_bot_fills_total", (("liquidity", "maker"), ("side", "buy")))] == 1
    assert s[("perpdex_bot_fills_total", (("liquidity", "maker"), ("side", "sell")))] == 1
    assert s[("perpdex_bot_orders_total", (("result", "accepted"),))] == 1
    assert s[("perpdex_bot_orders_total", (("result", "post_only_rejected"),))] == 1
    assert s[("perpdex_bot_order_latency_seconds_count", ())] == 2
    assert s[("perpdex_bot_order_latency_seconds_bucket", (("le", "0.025"),))] == 1
    assert s[("perpdex_bot_order_latency_seconds_bucket", (("le", "0.5"),))] == 2
    assert s[("perpdex_bot_exchange_errors_total", (("type", "TimeoutError"),))] == 1
    assert s[("perpdex_bot_position", (("symbol", "BTC"),))] == -0.04
    assert s[("perpdex_bot_realized_pnl", ())] == 12.31
    assert s[("perpdex_bot_unrealized_pnl", ())] == -1.2
    assert s[("perpdex_bot_open_orders", ())] == 7
    assert s[("perpdex_bot_heartbeat_timestamp_seconds", ())] == 1_800_000_000.0
    assert s[("perpdex_bot_fees_quote_total", ())] == 0.24
    assert s[("perpdex_bot_info", (("bot", "b"), ("exchange", "paper"), ("strategy", "grid"), ("ticker", "BTC")))] == 1


async def test_health_server_endpoints() -> None:
    state = {"live": True, "ready": False}
    server = HealthServer(
        host="127.0.0.1",
        port=0,
        liveness=lambda: Check(state["live"], () if state["live"] else ("event loop stalled",)),
        readiness=lambda: Check(state["ready"], () if state["ready"] else ("not holding the lease",)),
        metrics=lambda: b"perpdex_bot_up 1\n",
    )
    await server.start()
    base = f"http://127.0.0.1:{server.bound_port}"
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            r = await client.get("/healthz")
            assert (r.status_code, r.json()) == (200, {"status": "ok"})
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json() == {"status": "fail", "reasons": ["not holding the lease"]}
            state["ready"] = True
            assert (await client.get("/readyz")).status_code == 200
            state["live"] = False
            assert (await client.get("/healthz")).status_code == 503
            r = await client.get("/metrics")
            assert r.status_code == 200 and r.text == "perpdex_bot_up 1\n"
            assert r.headers["content-type"].startswith("text/plain")
            r = await client.head("/metrics")
            assert r.status_code == 200 and r.content == b""
            assert (await client.get("/nope")).status_code == 404
            assert (await client.post("/metrics")).status_code == 405
        # garbage instead of HTTP: 400, and the server keeps serving
        import asyncio

        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(b"NONSENSE\r\n\r\n")
        await writer.drain()
        assert (await reader.read()).startswith(b"HTTP/1.1 400 ")
        writer.close()
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await server.stop()
