"""The bot's ``paper`` client (``bot_runtime.exchanges.paper.client``) against the real paper exchange process: the
registry picks it when a paper exchange URL is configured; orders, positions and balance over REST; order updates
over the stream; the service killed (SIGKILL) and restarted under a connected client: the client's socket comes
back by itself, its account is as before, and every update arrives exactly once, in order."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from pathlib import Path

import pytest

from bot_runtime.exchanges.base import (
    InsufficientMargin,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderType,
    OrderUpdate,
    PostOnlyWouldCross,
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.paper import PaperServiceExchange, PaperServiceFundingSource
from bot_runtime.exchanges.registry import create_exchange, create_funding_source
from tests.integration.paper_exchange.px_helpers import ServiceProcess, free_port, write_venues

pytestmark = pytest.mark.integration

VENUES = [
    {"name": "paper", "options": {"volatility": "0", "startPrice": "60000", "startingBalanceUsd": "20000"}},
    {"name": "paper-a", "options": {"volatility": "0", "fundingRateHourly": "0.00002"}},
]


def limit(side: Side, size: str, price: str, cid: str, **kw: object) -> OrderRequest:
    return OrderRequest(symbol="BTC", side=side, size=Decimal(size), price=Decimal(price), client_order_id=cid, **kw)


async def next_update(updates: object, timeout: float = 20) -> OrderUpdate:
    assert hasattr(updates, "__anext__")
    return await asyncio.wait_for(updates.__anext__(), timeout)


async def test_the_client_trades_streams_and_rides_out_a_killed_service(tmp_path: Path, px_dsn: str) -> None:
    svc = ServiceProcess(px_dsn, write_venues(tmp_path / "venues.yaml", VENUES), free_port(), tmp_path / "px.log")
    svc.start()
    env = {"PERPDEX_PAPER_EXCHANGE_URL": svc.url, "PERPDEX_BOT_NAME": "grid-1", "PERPDEX_NAMESPACE": "demo"}
    client = create_exchange("paper", {"ticker": "BTC", "startingBalanceUsd": "15000"}, env)
    assert isinstance(client, PaperServiceExchange)
    assert client.account == "demo.grid-1"
    try:
        await client.connect()
        updates = client.order_updates()
        assert (await client.balance()).equity == Decimal(15000)  # the bot's startingBalanceUsd opened the account
        quote = await client.best_bid_ask("BTC")
        assert quote.bid < quote.ask
        with pytest.raises(PostOnlyWouldCross):
            await client.place_order(limit(Side.BUY, "0.01", str(quote.ask), "po", time_in_force=TimeInForce.POST_ONLY))
        with pytest.raises(InsufficientMargin):
            await client.place_order(limit(Side.BUY, "5", "59000", "huge"))
        entry = await client.place_order(
            OrderRequest(
                symbol="BTC", side=Side.BUY, size=Decimal("0.02"), order_type=OrderType.MARKET, client_order_id="e"
            )
        )
        tp = await client.place_order(limit(Side.SELL, "0.02", "61000", "tp", reduce_only=True))
        with pytest.raises(OrderRejected):
            await client.place_order(limit(Side.SELL, "0.02", "61000", "tp"))  # duplicate client id
        seen = [await next_update(updates) for _ in range(3)]
        assert [(u.order.client_order_id, u.order.status.value) for u in seen] == [
            ("e", "open"),
            ("e", "filled"),
            ("tp", "open"),
        ]
        assert (await client.position("BTC")).size == Decimal("0.02")
        assert entry.order_id != tp.order_id

        svc.kill()
        svc.start()

        # the client knows nothing of the restart: same orders, same position, and the stream continues
        assert [o.order_id for o in await client.open_orders("BTC")] == [tp.order_id]
        assert (await client.find_order_by_client_id("BTC", "tp")) == tp
        await client.cancel_order("BTC", tp.order_id)
        canceled = await next_update(updates)
        assert (canceled.order.order_id, canceled.order.status.value) == (tp.order_id, "canceled")
        with pytest.raises(OrderNotFound):
            await client.cancel_order("BTC", tp.order_id)
        again = await client.place_order(limit(Side.SELL, "0.01", "61500", "tp-2", reduce_only=True))
        placed = await next_update(updates)
        assert placed.order.order_id == again.order_id
        assert await client.cancel_all("BTC") == 1
        assert (await next_update(updates)).order.status.value == "canceled"
        assert client._ws is not None and client._ws.connects >= 2
        with contextlib.suppress(TimeoutError):  # nothing is delivered twice
            extra = await asyncio.wait_for(updates.__anext__(), 1)
            raise AssertionError(f"unexpected update {extra}")
    finally:
        await client.close()
        svc.kill()


async def test_a_paper_collector_reads_the_rates_the_paper_exchange_pays(tmp_path: Path, px_dsn: str) -> None:
    svc = ServiceProcess(px_dsn, write_venues(tmp_path / "venues.yaml", VENUES), free_port(), tmp_path / "px.log")
    svc.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("PERPDEX_PAPER_EXCHANGE_URL", svc.url)
            source = create_funding_source("paper-a", {})
        assert isinstance(source, PaperServiceFundingSource)
        try:
            rates = await source.funding_rates(["BTC", "ETH"])
        finally:
            await source.close()
        assert sorted(r.symbol for r in rates) == ["BTC", "ETH"]
        assert {(r.exchange, r.rate, r.interval_hours) for r in rates} == {("paper-a", Decimal("0.00002"), Decimal(1))}
    finally:
        svc.kill()
