"""Collector cycle semantics: failures isolated per venue, bounded by the timeout, nothing lost while the service is
down, oldest dropped (and counted) only when the bounded outbox is full."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot_runtime.collector.collector import Collector
from bot_runtime.collector.cycle import run_cycle
from bot_runtime.collector.outbox import Outbox
from bot_runtime.collector.status import CollectorStatus
from bot_runtime.exchanges.base import FundingRate, FundingSource, TransientNetworkError
from bot_runtime.funding_api.ingest import IngestBatch


def rate(exchange: str, symbol: str, value: str = "0.0001") -> FundingRate:
    return FundingRate(
        exchange=exchange,
        symbol=symbol,
        venue_symbol=f"{symbol}-PERP",
        rate=Decimal(value),
        interval_hours=Decimal(1),
        mark_price=Decimal(100),
        collected_at=datetime.now(UTC),
    )


class Source(FundingSource):
    def __init__(self, name: str, behaviour: str = "ok") -> None:
        self.name = name
        self.behaviour = behaviour
        self.calls = 0

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        self.calls += 1
        if self.behaviour == "500":
            raise TransientNetworkError("HTTP 500 from venue", exchange=self.name)
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if self.behaviour == "malformed":
            raise ValueError("Expecting value: line 1 column 1 (char 0)")
        rows = [rate(self.name, "BTC"), rate(self.name, "ETH", "-0.0002")]
        return [r for r in rows if not symbols or r.symbol in symbols]


async def test_one_failing_hanging_or_malformed_venue_never_blocks_the_others() -> None:
    sources = {
        n: Source(n, b)
        for n, b in [("paper-a", "ok"), ("lighter", "500"), ("grvt", "hang"), ("aster", "malformed"), ("paper-b", "ok")]
    }
    batch = await asyncio.wait_for(run_cycle(sources, venue_timeout=0.3), 10)
    assert sorted({r.exchange for r in batch.rates}) == ["paper-a", "paper-b"]
    assert len(batch.rates) == 4
    reports = {r.name: r for r in batch.exchanges}
    assert reports["paper-a"].ok and reports["paper-a"].markets == 2
    assert not reports["lighter"].ok and "HTTP 500" in (reports["lighter"].error or "")
    assert not reports["grvt"].ok and "timed out after 0.3s" in (reports["grvt"].error or "")
    assert not reports["aster"].ok and "ValueError" in (reports["aster"].error or "")
    assert batch.finished_at >= batch.started_at


async def test_symbols_filter_is_passed_to_sources() -> None:
    batch = await run_cycle({"paper-a": Source("paper-a")}, venue_timeout=1, symbols=["ETH"])
    assert [r.symbol for r in batch.rates] == ["ETH"]


class FlakyService:
    """Records delivered batches; raises while `down`."""

    def __init__(self) -> None:
        self.down = False
        self.delivered: list[IngestBatch] = []

    async def __call__(self, batch: IngestBatch) -> None:
        if self.down:
            raise TransientNetworkError("503 from funding service")
        self.delivered.append(batch)


async def test_cycles_survive_a_funding_service_outage_in_order() -> None:
    service = FlakyService()
    collector = Collector({"paper-a": Source("paper-a")}, service, interval=60, timeout=1)
    await collector.cycle()
    service.down = True
    for _ in range(3):
        summary = await collector.cycle()
        assert summary.rates_ingested == 0
    assert len(collector.outbox) == 3 and not collector.service_reachable
    service.down = False
    summary = await collector.cycle()
    assert summary.rates_ingested == 2  # this cycle's rows (the three held cycles went first)
    assert len(service.delivered) == 5 and len(collector.outbox) == 0
    starts = [b.started_at for b in service.delivered]
    assert starts == sorted(starts)
    assert len({b.cycle_id for b in service.delivered}) == 5
    assert collector.delivered_rates == 10


async def test_full_outbox_drops_the_oldest_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    service = FlakyService()
    service.down = True
    collector = Collector({"paper-a": Source("paper-a")}, service, interval=60, timeout=1, buffer_cycles=2)
    for _ in range(3):
        await collector.cycle()
    with caplog.at_level(logging.WARNING):
        await collector.cycle()
    assert collector.outbox.dropped == 2 and len(collector.outbox) == 2
    assert any("dropped the oldest" in r.getMessage() for r in caplog.records)
    kept = [b.cycle_id for b in collector.outbox.pending()]
    service.down = False
    await collector.cycle()  # the newest cycle joins the (full) outbox, pushing out one more, then all flush
    assert collector.outbox.dropped == 3
    assert service.delivered[0].cycle_id == kept[1]
    assert len(service.delivered) == 2


async def test_health_tracks_last_success_and_consecutive_failures() -> None:
    flaky = Source("lighter", "500")
    collector = Collector({"lighter": flaky, "paper-a": Source("paper-a")}, FlakyService(), interval=60, timeout=1)
    await collector.cycle()
    await collector.cycle()
    assert collector.health["lighter"].consecutive_failures == 2
    assert collector.health["lighter"].last_success is None
    flaky.behaviour = "ok"
    await collector.cycle()
    h = collector.health["lighter"]
    assert h.consecutive_failures == 0 and h.last_error is None and h.markets == 2 and h.last_success is not None


async def test_run_stops_between_cycles_when_asked() -> None:
    service = FlakyService()
    collector = Collector({"paper-a": Source("paper-a")}, service, interval=0.05, timeout=1)
    stopping = asyncio.Event()
    task = asyncio.create_task(collector.run(stopping))
    while collector.cycles < 3:
        await asyncio.sleep(0.01)
    stopping.set()
    await asyncio.wait_for(task, 5)
    assert collector.cycles >= 3 and len(service.delivered) == collector.cycles


def test_outbox_capacity_must_hold_at_least_one() -> None:
    assert len(Outbox(1)) == 0
    with pytest.raises(ValueError, match="at least one"):
        Outbox(0)


class PartlyBad(Source):
    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        good = rate(self.name, "BTC")
        bad = good.model_copy(update={"symbol": "not a symbol!", "venue_symbol": "WEIRD-PERP"})
        return [good, bad]


async def test_an_invalid_market_is_dropped_without_costing_the_venue_its_other_markets() -> None:
    batch = await run_cycle({"paper-a": PartlyBad("paper-a")}, venue_timeout=1)
    assert [r.symbol for r in batch.rates] == ["BTC"]
    report = batch.exchanges[0]
    assert report.ok and report.markets == 1
    assert "dropped 1 invalid market(s)" in (report.error or "") and "WEIRD-PERP" in (report.error or "")


async def test_a_dropped_market_is_a_note_on_the_status_not_a_failure() -> None:
    """The operator's Degraded condition reads `exchanges[].lastError` as a failing venue: a healthy venue's remark
    about markets dropped as invalid goes to `note` instead."""
    collector = Collector({"paper-a": PartlyBad("paper-a")}, FlakyService(), interval=60, timeout=1)
    await collector.cycle()
    h = collector.health["paper-a"]
    assert h.consecutive_failures == 0 and h.last_error is None and "WEIRD-PERP" in (h.note or "")
    [item] = CollectorStatus.of(collector).to_status()["exchanges"]
    assert "lastError" not in item and "dropped 1 invalid market(s)" in item["note"]


async def test_cycles_waiting_behind_a_newer_one_are_packed_and_delivered_unchanged() -> None:
    """A waiting cycle is kept compressed (a 2,400-market cycle: 5.3 MB of models, ~71 KB packed) and validated again
    when it is sent: the funding service receives exactly what was collected, in order."""
    service = FlakyService()
    service.down = True
    collector = Collector({"paper-a": Source("paper-a"), "paper-b": Source("paper-b")}, service, interval=60, timeout=1)
    batches = []
    for _ in range(3):
        await collector.collect()
        batches.append(collector.outbox.pending()[-1].batch)
    waiting = collector.outbox.pending()
    assert [w.batch is None for w in waiting] == [True, True, False]  # only the newest is kept as models
    assert collector.outbox.packed_bytes == sum(w.size for w in waiting[:2]) > 0
    assert not await collector.deliver_pending()  # still down: nothing lost, still packed
    assert len(collector.outbox) == 3 and collector.outbox.pending()[0].batch is None
    service.down = False
    assert await collector.deliver_pending()
    assert service.delivered == batches and collector.outbox.packed_bytes == 0
