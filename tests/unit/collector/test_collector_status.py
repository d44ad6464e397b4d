"""The collector's status as the reporter publishes it: a failing venue is Degraded with its name and error and is
written at once; a reporter whose writer task dies is logged, counted and restarted (never a silent freeze)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot_runtime.collector.collector import Collector
from bot_runtime.collector.status import CollectorStatus, report_status
from bot_runtime.status import StatusReporter
from tests.unit.collector.test_collector_cycle import FlakyService, Source


class Sink:
    def __init__(self, crash_first: int = 0) -> None:
        self.written: list[CollectorStatus] = []
        self.wrote = asyncio.Event()
        self.crash_first = crash_first

    async def write(self, status: CollectorStatus, *, final: bool = False) -> None:
        if self.crash_first:
            self.crash_first -= 1
            raise RuntimeError("a bug in the sink")  # not an API error: the writer task dies of it
        self.written.append(status)
        self.wrote.set()

    async def next_write(self) -> CollectorStatus:
        await asyncio.wait_for(self.wrote.wait(), 10)
        self.wrote.clear()
        return self.written[-1]


async def test_a_failing_venue_is_degraded_with_its_error_and_written_at_once() -> None:
    flaky = Source("lighter")
    collector = Collector({"lighter": flaky, "paper-a": Source("paper-a")}, FlakyService(), interval=60, timeout=1)
    sink = Sink()
    reporter: StatusReporter[CollectorStatus] = StatusReporter(sink, min_interval=3600)
    report_status(collector, reporter)
    reporter.start()
    try:
        await collector.cycle()
        first = (await sink.next_write()).to_status()
        assert first["phase"] == "Running" and first["outbox"]["pending"] == 0
        assert [e["name"] for e in first["exchanges"]] == ["lighter", "paper-a"]
        assert all("lastError" not in e and e["markets"] == 2 for e in first["exchanges"])
        flaky.behaviour = "500"
        await collector.cycle()  # within min_interval, but a venue started failing: written at once
        second = (await sink.next_write()).to_status()
        assert second["phase"] == "Degraded"
        lighter = next(e for e in second["exchanges"] if e["name"] == "lighter")
        assert "HTTP 500 from venue" in lighter["lastError"]
        flaky.behaviour = "ok"
        await collector.cycle()
        third = (await sink.next_write()).to_status()
        assert third["phase"] == "Running" and all("lastError" not in e for e in third["exchanges"])
        assert len({s.last_cycle.cycle_id for s in sink.written if s.last_cycle}) == 3
    finally:
        await reporter.stop()


async def test_a_reporter_whose_task_dies_logs_it_and_restarts(caplog: pytest.LogCaptureFixture) -> None:
    collector = Collector({"paper-a": Source("paper-a")}, FlakyService(), interval=60, timeout=1)
    sink = Sink(crash_first=2)
    results: list[str] = []
    reporter: StatusReporter[CollectorStatus] = StatusReporter(
        sink, min_interval=0, max_backoff=0.01, on_result=results.append
    )
    report_status(collector, reporter)
    reporter.start()
    try:
        with caplog.at_level(logging.ERROR, logger="bot_runtime.status"):
            await collector.cycle()
            written = await sink.next_write()
        assert written.last_cycle is not None and written.last_cycle == collector.last_cycle
        assert reporter.crashes == 2 and results == ["crash", "crash", "ok"]
        crashes = [r for r in caplog.records if r.getMessage() == "status reporter crashed; restarting"]
        assert len(crashes) == 2 and all(r.exc_info for r in crashes)  # with the traceback
        await collector.cycle()  # the restarted task keeps publishing
        assert (await sink.next_write()).last_cycle == collector.last_cycle
    finally:
        await reporter.stop()
