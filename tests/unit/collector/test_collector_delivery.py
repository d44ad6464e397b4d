"""Collection never waits for delivery: with the funding service hung or down for ten minutes at the default 60 s
interval (virtual time), a cycle is still collected every 60 s, the outbox's depth and oldest age show in the status
and the metrics, and once the service answers again every cycle is delivered, in order, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.collector.collector import Collector
from bot_runtime.collector.metrics import CollectorMetrics
from bot_runtime.collector.status import CollectorStatus
from bot_runtime.funding_api.client import FundingServiceError
from bot_runtime.funding_api.ingest import IngestBatch
from tests.unit.collector.test_collector_cycle import Source

INTERVAL = 60.0  # the FundingCollector default (spec.interval)
OUTAGE = 600.0  # ten minutes
START = datetime(2026, 1, 1, tzinfo=UTC)


class Service:
    """The funding service as the collector's ``send`` sees it: up, hung (a request never answers until it is
    released), or stopped (every request fails as ``FundingServiceClient`` fails on a refused connection)."""

    def __init__(self) -> None:
        self.mode = "up"
        self.delivered: list[IngestBatch] = []
        self.attempts = 0
        self.released = asyncio.Event()

    async def __call__(self, batch: IngestBatch) -> None:
        self.attempts += 1
        if self.mode == "stopped":
            raise FundingServiceError("POST /api/v1/ingest: ConnectError: [Errno 111] Connection refused")
        if self.mode == "hung":
            await self.released.wait()
        self.delivered.append(batch)

    def back(self) -> None:
        self.mode = "up"
        self.released.set()


@dataclass
class Running:
    clock: VirtualClock
    service: Service
    collector: Collector
    metrics: CollectorMetrics
    stopping: asyncio.Event


@pytest.fixture
async def running() -> AsyncIterator[Running]:
    clock = VirtualClock(START)
    service = Service()
    collector = Collector({"paper-a": Source("paper-a")}, service, interval=INTERVAL, timeout=20, clock=clock)
    metrics = CollectorMetrics()
    metrics.attach(collector)
    stopping = asyncio.Event()
    task = asyncio.create_task(collector.run(stopping))
    await clock.advance(0)  # the first cycle, delivered at once
    assert collector.cycles == 1 and len(service.delivered) == 1
    try:
        yield Running(clock, service, collector, metrics, stopping)
    finally:
        stopping.set()
        service.back()
        await clock.drive(task)


def metric(metrics: CollectorMetrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


def assert_outage_collected(r: Running) -> None:
    """Ten minutes down: a cycle every 60 s was still collected, none delivered yet, none dropped."""
    collector = r.collector
    assert collector.cycles == 1 + int(OUTAGE / INTERVAL) == 11
    assert len(collector.outbox) == 10 and collector.outbox.dropped == 0
    starts = [b.started_at for b in collector.outbox.pending()]
    assert starts == [START + timedelta(seconds=INTERVAL * i) for i in range(1, 11)]  # on the interval, no stall
    status = CollectorStatus.of(collector).to_status()
    assert status["outbox"]["pending"] == 10 and status["outbox"]["capacity"] == 120
    assert status["outbox"]["oldestStartedAt"] == "2026-01-01T00:01:00Z"
    assert status["lastCycle"]["startedAt"] == "2026-01-01T00:10:00Z"
    assert metric(r.metrics, "perpdex_collector_pending_cycles") == 10
    assert metric(r.metrics, "perpdex_collector_outbox_oldest_age_seconds") == OUTAGE - INTERVAL
    assert metric(r.metrics, "perpdex_collector_cycles_total") == 11


def assert_all_delivered_in_order(r: Running) -> None:
    delivered = r.service.delivered
    assert len(delivered) == r.collector.cycles == 11 and len({b.cycle_id for b in delivered}) == 11
    assert [b.started_at for b in delivered] == [START + timedelta(seconds=INTERVAL * i) for i in range(11)]
    assert len(r.collector.outbox) == 0 and r.collector.service_reachable
    status = CollectorStatus.of(r.collector)
    assert status.phase == "Running" and status.outbox.pending == 0 and status.outbox.oldest_started_at is None
    assert status.last_cycle is not None and status.last_cycle.rates_ingested == 2
    assert metric(r.metrics, "perpdex_collector_pending_cycles") == 0
    assert metric(r.metrics, "perpdex_collector_outbox_oldest_age_seconds") == 0
    assert metric(r.metrics, "perpdex_collector_rates_ingested_total") == 11 * 2


async def test_a_hung_funding_service_for_ten_minutes(running: Running) -> None:
    running.service.mode = "hung"
    await running.clock.advance(OUTAGE)
    assert_outage_collected(running)
    assert running.service.attempts == 2  # the one request in flight, still unanswered
    assert running.service.delivered[0].started_at == START
    running.service.back()
    await running.clock.advance(0)
    assert_all_delivered_in_order(running)


async def test_a_stopped_funding_service_for_ten_minutes(running: Running) -> None:
    running.service.mode = "stopped"
    await running.clock.advance(OUTAGE)
    assert_outage_collected(running)
    status = CollectorStatus.of(running.collector)
    assert status.phase == "Degraded" and "Connection refused" in (status.outbox.last_error or "")
    # retried with a growing pause (1, 2, 4 ... 30 s), not a storm: about one attempt per 30 s once it has grown
    assert 20 <= running.service.attempts <= 30
    failures = metric(running.metrics, "perpdex_collector_delivery_failures_total")
    assert failures == running.service.attempts - 1
    running.service.back()
    await running.clock.advance(running.collector.retry_max)  # the next retry
    assert_all_delivered_in_order(running)


async def test_an_outage_longer_than_the_outbox_drops_the_oldest_and_counts_them() -> None:
    clock = VirtualClock(START)
    service = Service()
    collector = Collector(
        {"paper-a": Source("paper-a")}, service, interval=INTERVAL, timeout=20, clock=clock, buffer_cycles=5
    )
    stopping = asyncio.Event()
    service.mode = "stopped"
    task = asyncio.create_task(collector.run(stopping))
    await clock.advance(OUTAGE)  # 11 cycles, room for 5
    assert collector.cycles == 11 and len(collector.outbox) == 5 and collector.outbox.dropped == 6
    service.back()
    await clock.advance(collector.retry_max)
    assert [b.started_at for b in service.delivered] == [START + timedelta(seconds=INTERVAL * i) for i in range(6, 11)]
    stopping.set()
    await clock.drive(task)


async def test_stopping_delivers_what_is_pending_then_returns() -> None:
    clock = VirtualClock(START)
    service = Service()
    collector = Collector({"paper-a": Source("paper-a")}, service, interval=INTERVAL, timeout=20, clock=clock)
    service.mode = "stopped"
    stopping = asyncio.Event()
    task = asyncio.create_task(collector.run(stopping))
    await clock.advance(3 * INTERVAL)  # the delivery task is in a 30 s pause between attempts
    service.back()
    stopping.set()
    await clock.drive(task)
    assert len(service.delivered) == collector.cycles == 4 and not collector.outbox
    assert clock.time() == START.timestamp() + 3 * INTERVAL  # the pause was cut short, not slept out
