"""A market's minimum order size from the venue to ``/dexes/{dex}/symbols``, on the real PostgreSQL.

The Hyperliquid and Aster funding adapters read their replayed public market data (``meta_and_asset_ctxs.json``,
``exchange_info.json`` and the other Aster fixtures, sources in tests/fixtures/exchanges/*/SOURCES.md); the
collector's own cycle builds the batch; the service ingests it into ``dex_symbols.min_order_size`` and answers it, in
base units of the symbol and as a JSON number (the original's type). The latest observation of a market wins, an
older or replayed batch changes nothing, and a size that is not positive rejects the batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.collector.cycle import run_cycle
from bot_runtime.exchanges import registry
from bot_runtime.funding_api.models import DexSymbols
from tests.integration.funding_service.fs_helpers import Service, batch, rate
from tests.support.replay import ReplayServer, Reply, load_fixture

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture
async def svc(service: Service) -> AsyncIterator[Service]:
    await service.reset()
    yield service


@pytest.fixture
async def venues() -> AsyncIterator[tuple[ReplayServer, ReplayServer]]:
    async with ReplayServer() as hyperliquid, ReplayServer() as aster:
        hyperliquid.route("POST", "/info", load_fixture("hyperliquid", "meta_and_asset_ctxs"))
        for path, name in [
            ("/fapi/v1/exchangeInfo", "exchange_info"),
            ("/fapi/v1/premiumIndex", "premium_index"),
            ("/fapi/v1/fundingInfo", "funding_info"),
            ("/fapi/v1/ticker/24hr", "ticker_24hr"),
            ("/fapi/v1/ticker/bookTicker", "book_ticker"),
        ]:
            aster.route("GET", path, load_fixture("aster", name))
        aster.route("GET", "/fapi/v1/openInterest", Reply(400, {"code": -1121, "msg": "Invalid symbol."}))
        yield hyperliquid, aster


async def symbols(svc: Service, dex: str) -> dict[str, Any]:
    r = await svc.http.get(f"{API}/dexes/{dex}/symbols")
    assert r.status_code == 200, r.text
    DexSymbols.model_validate_json(r.content)  # the bots' client reads it back
    return {s["symbol"]: s["min_order_size"] for s in r.json()["symbols"]}


async def test_from_the_venues_market_data_to_the_symbols_answer(
    svc: Service, venues: tuple[ReplayServer, ReplayServer]
) -> None:
    hyperliquid, aster = venues
    sources = {
        "hyperliquid": registry.create_funding_source("hyperliquid", {"baseUrl": hyperliquid.url}),
        "aster": registry.create_funding_source("aster", {"baseUrl": aster.url, "openInterestConcurrency": 0}),
    }
    try:
        cycle = await run_cycle(sources, venue_timeout=10)
    finally:
        for source in sources.values():
            await source.close()
    assert all(report.ok for report in cycle.exchanges), cycle.exchanges
    r = await svc.ingest(cycle.model_dump(mode="json"))
    assert r.status_code == 200, r.text

    # Hyperliquid: the smallest size on the szDecimals step worth $10 at markPx; kPEPE x 1000 (497 kPEPE = 497,000 PEPE)
    assert await symbols(svc, "hyperliquid") == {"BTC": 0.00011, "ETH": 0.0028, "PEPE": 497000, "SOL": 0.05}
    # Aster: LOT_SIZE minQty; 1000PEPEUSDT's 1 contract = 1000 PEPE
    assert await symbols(svc, "aster") == {"BTC": 0.001, "ETH": 0.001, "PEPE": 1000}
    stored = await svc.fetch("SELECT min_order_size FROM dex_symbols WHERE dex = 'hyperliquid' AND symbol = 'BTC'")
    assert stored[0]["min_order_size"] == Decimal("0.00011")  # numeric: exact in the table


async def test_the_latest_observation_wins(svc: Service) -> None:
    now = datetime.now(UTC)
    earlier, later = now - timedelta(minutes=2), now - timedelta(minutes=1)
    first = batch("mos-1", [rate("lighter", "BTC", "0.00001", "1", earlier, min_order_size="0.0002")], earlier)
    assert (await svc.ingest(first)).status_code == 200
    assert await symbols(svc, "lighter") == {"BTC": 0.0002}
    changed = batch("mos-2", [rate("lighter", "BTC", "0.00001", "1", later, min_order_size="0.0005")], later)
    assert (await svc.ingest(changed)).status_code == 200
    assert await symbols(svc, "lighter") == {"BTC": 0.0005}
    assert (await svc.ingest(first)).status_code == 200  # a replayed older cycle changes nothing
    assert await symbols(svc, "lighter") == {"BTC": 0.0005}
    older = batch("mos-0", [rate("lighter", "BTC", "0.00001", "1", earlier, min_order_size="0.1")], earlier)
    assert (await svc.ingest(older)).status_code == 200
    assert await symbols(svc, "lighter") == {"BTC": 0.0005}
    unreported = batch("mos-3", [rate("lighter", "BTC", "0.00001", "1", now)], now)
    assert (await svc.ingest(unreported)).status_code == 200
    assert await symbols(svc, "lighter") == {"BTC": None}  # the latest row carried none: null, not a stale size


@pytest.mark.parametrize("size", ["0", "-0.001", "1e15"])
async def test_a_size_out_of_range_rejects_the_batch(svc: Service, size: str) -> None:
    now = datetime.now(UTC)
    rows = [
        rate("lighter", "ETH", "0.00001", "1", now, min_order_size="0.005"),
        rate("lighter", "BTC", "0.00001", "1", now, min_order_size=size),
    ]
    r = await svc.ingest(batch("mos-bad", rows, now))
    assert r.status_code == 422, r.text
    assert "min_order_size" in r.text
    assert await svc.fetch("SELECT * FROM dex_symbols") == []  # nothing written
