"""The collector against every live venue: each real funding adapter (``registry.create_funding_source``) on its own
replay server in the venue's wire format, delivering through ``FundingServiceClient`` to the real funding service on
the real PostgreSQL. A full cycle lands every venue's rows (canonical symbols, multipliers, intervals, minimum order
sizes); a venue answering 500s, one hanging past the timeout and one answering a body that is not JSON cost only
themselves, and the cycle's reports, the collector's health and the service's collection log say which failed and
why."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import httpx
import pytest

from bot_runtime.collector.collector import Collector
from bot_runtime.exchanges import registry
from bot_runtime.funding_api.client import FundingServiceClient
from tests.integration.collector.six_venues import NOT_JSON, SERVER_ERROR, VENUES, Venue, hanging
from tests.integration.funding_service.fs_helpers import TOKEN, Service
from tests.support.replay import ReplayServer, Reply

TIMEOUT = 3.0  # the collector's per-venue timeout
Venues = dict[str, tuple[Venue, ReplayServer]]


@pytest.fixture
async def collector(service: Service, venues: Venues) -> AsyncIterator[Collector]:
    sources = {
        name: registry.create_funding_source(name, venue.options(server)) for name, (venue, server) in venues.items()
    }
    client = FundingServiceClient("http://funding.test", TOKEN, transport=httpx.ASGITransport(app=service.app))
    collector = Collector(sources, client.ingest, interval=60, timeout=TIMEOUT)
    try:
        yield collector
    finally:
        await collector.close()
        await client.close()


async def latest_rows(service: Service) -> dict[str, dict[str, tuple[str, Decimal, Decimal]]]:
    rows = await service.fetch("SELECT dex, symbol, venue_symbol, multiplier, interval_hours FROM latest_funding_rates")
    landed: dict[str, dict[str, tuple[str, Decimal, Decimal]]] = {}
    for row in rows:
        landed.setdefault(row["dex"], {})[row["symbol"]] = (
            row["venue_symbol"],
            row["multiplier"],
            row["interval_hours"],
        )
    return landed


def expected(venue: Venue) -> dict[str, tuple[str, Decimal, Decimal]]:
    return {symbol: (venue_symbol, multiplier, hours) for symbol, venue_symbol, multiplier, hours in venue.expected}


async def test_one_cycle_lands_every_venue(collector: Collector, service: Service, venues: Venues) -> None:
    summary = await collector.cycle()
    print(f"\ncollector cycle over the replay venues: {summary.duration_ms} ms ({summary.rates_collected} rates)")

    assert summary.rates_collected == summary.rates_ingested == sum(len(v.expected) for v in VENUES) == 33
    assert not collector.outbox and collector.service_reachable  # delivered: nothing pending
    landed = await latest_rows(service)
    assert landed == {venue.name: expected(venue) for venue in VENUES}
    history = await service.fetch("SELECT dex, count(*) AS n FROM funding_rates GROUP BY dex")
    assert {row["dex"]: row["n"] for row in history} == {venue.name: 3 for venue in VENUES}
    symbols = await service.fetch(
        "SELECT dex, symbol, multiplier, min_order_size FROM dex_symbols WHERE symbol = 'PEPE'"
    )
    assert {row["dex"]: row["multiplier"] for row in symbols} == {venue.name: Decimal(1000) for venue in VENUES}
    # each venue's minimum order size in PEPE (its fixture's minimum in 1000PEPE/kPEPE contracts x 1000)
    assert {row["dex"]: row["min_order_size"] for row in symbols} == {
        "apex": 100_000,  # minOrderSize 100
        "aster": 1000,  # LOT_SIZE minQty 1
        "backpack": 1000,  # minQuantity 1
        "edgex": 100_000,  # minOrderSize 100
        "ethereal": 1000,  # lotSize = minQuantity 1
        "extended": 1_000_000,  # tradingConfig.minOrderSize 1000
        "grvt": 100_000,  # min_size 100
        "hyperliquid": 497_000,  # $10 at markPx 0.020121 on the szDecimals 0 step: 497
        "lighter": 500_000,  # min_base_amount 500
        "nado": 100_000,  # symbols min_size 100 (x18)
        "paradex": 1000,  # order_size_increment 1
    }
    logs = await service.fetch("SELECT dex, status, fetched, error FROM collection_logs")
    assert {row["dex"]: (row["status"], row["fetched"], row["error"]) for row in logs} == {
        venue.name: ("ok", 3, None) for venue in VENUES
    }
    for name, health in collector.health.items():
        assert (health.markets, health.last_error, health.consecutive_failures) == (3, None, 0), name
        assert health.last_success is not None
    # the rates are the venues' own per-interval figures with their true intervals (spot checks across venues)
    rates = await service.fetch("SELECT dex, symbol, rate FROM latest_funding_rates WHERE symbol = 'BTC'")
    btc = {row["dex"]: row["rate"] for row in rates}
    assert btc["lighter"] == Decimal("-0.000096") / 8  # the 8 h figure of /funding-rates over Lighter's 1 h
    assert btc["grvt"] == Decimal("0.0001")  # 0.01 percentage points
    assert btc["edgex"] == Decimal("-0.00012236")
    assert btc["hyperliquid"] == Decimal("0.0000125")  # Hyperliquid's funding is already hourly
    assert btc["extended"] == Decimal("-0.000034")  # so is Extended's (marketStats.fundingRate)
    assert btc["ethereal"] == Decimal("0.0000125")  # and Ethereal's (fundingRate1h)
    assert btc["nado"] == Decimal("0.00024") / 24  # Nado quotes a 24 h rate and settles hourly
    assert btc["apex"] == Decimal("0.0000125")  # ApeX's ticker fundingRate, hourly (docs/exchanges/apex.md)


BREAKS: list[tuple[dict[str, Callable[[float], Reply]], dict[str, str]]] = [
    (
        {"lighter": lambda t: SERVER_ERROR, "grvt": hanging, "aster": lambda t: NOT_JSON},
        {"lighter": "HTTP 500", "grvt": f"timed out after {TIMEOUT:g}s", "aster": "not JSON"},
    ),
    (
        {"paradex": lambda t: SERVER_ERROR, "backpack": hanging, "edgex": lambda t: NOT_JSON},
        {"paradex": "HTTP 500", "backpack": f"timed out after {TIMEOUT:g}s", "edgex": "not JSON"},
    ),
    (
        {"hyperliquid": lambda t: NOT_JSON},
        {"hyperliquid": "not JSON"},
    ),
    (
        {"extended": lambda t: SERVER_ERROR},
        {"extended": "HTTP 500"},
    ),
    (
        {"ethereal": hanging},
        {"ethereal": f"timed out after {TIMEOUT:g}s"},
    ),
    (
        {"nado": lambda t: SERVER_ERROR},
        {"nado": "HTTP 500"},
    ),
]


@pytest.mark.parametrize(
    ("breaks", "reasons"),
    BREAKS,
    ids=["sdk-venues-fail", "http-venues-fail", "hyperliquid-fails", "extended-fails", "ethereal-fails", "nado-fails"],
)
async def test_broken_venues_cost_only_themselves(
    collector: Collector,
    service: Service,
    venues: Venues,
    breaks: dict[str, Callable[[float], Reply]],
    reasons: dict[str, str],
) -> None:
    for name, reply in breaks.items():
        venue, server = venues[name]
        venue.break_with(server, reply(TIMEOUT))

    summary = await collector.cycle()
    print(f"\ncollector cycle, {', '.join(sorted(breaks))} broken: {summary.duration_ms} ms")

    healthy = [venue for venue in VENUES if venue.name not in breaks]
    assert summary.rates_collected == summary.rates_ingested == 3 * len(healthy)
    landed = await latest_rows(service)
    assert landed == {venue.name: expected(venue) for venue in healthy}
    logs = {row["dex"]: row for row in await service.fetch("SELECT dex, status, fetched, error FROM collection_logs")}
    for name, why in reasons.items():
        health = collector.health[name]
        print(f"  {name}: {health.last_error}")
        assert health.last_success is None and health.consecutive_failures == 1 and health.markets == 0, name
        assert health.last_error is not None and why in health.last_error, (name, health.last_error)
        assert (logs[name]["status"], logs[name]["fetched"]) == ("error", 0)
        assert why in logs[name]["error"], (name, logs[name]["error"])
    for venue in healthy:
        assert collector.health[venue.name].last_error is None and logs[venue.name]["status"] == "ok"

    # the venues come back: the next cycle lands all of them and clears their errors
    for name in breaks:
        venue, server = venues[name]
        for method, path, _source, _query in venue.routes:
            server.clear_routes(method, path)
        venue.load(server)
    await collector.cycle()
    assert set(await latest_rows(service)) == {venue.name for venue in VENUES}
    assert all(h.last_error is None and h.consecutive_failures == 0 for h in collector.health.values())
