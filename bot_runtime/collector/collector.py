"""The collector loop: a cycle every ``interval``, collection never waiting for delivery.

Two tasks (:meth:`Collector.run`): the collection loop runs a cycle every ``interval`` (start-to-start) and puts its
batch in the bounded :class:`Outbox`; the delivery task sends the outbox to the funding service, oldest first, one
batch at a time, and after a failure retries the oldest with a growing pause (``retry_min`` .. ``retry_max``). A
funding service that hangs or is down therefore holds up only the delivery task: cycles keep being collected on time
and are delivered, in order, once it answers again. Per-venue health is tracked for the status and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.collector.cycle import run_cycle
from bot_runtime.collector.outbox import Outbox
from bot_runtime.exchanges.base import FundingSource
from bot_runtime.funding_api.ingest import IngestBatch

log = logging.getLogger(__name__)

Send = Callable[[IngestBatch], Awaitable[object]]
CycleListener = Callable[["Collector"], None]
DeliveryListener = Callable[["Collector", IngestBatch | None], None]


class VenueHealth(BaseModel):
    name: str
    last_success: datetime | None = None
    markets: int = 0
    last_error: str | None = None  # why the last fetch failed (None once it succeeds)
    note: str | None = None  # a remark of the last successful fetch (e.g. markets dropped as invalid)
    latency_ms: float | None = None
    consecutive_failures: int = 0


class CycleSummary(BaseModel):
    cycle_id: str
    started_at: datetime
    duration_ms: float = Field(description="collection only (the venues); delivery runs on its own task")
    rates_collected: int
    rates_ingested: int = Field(0, description="rows the funding service accepted from this cycle (0 until then)")
    pending_cycles: int = Field(description="undelivered cycles right after this one was queued")


class Collector:
    def __init__(
        self,
        sources: Mapping[str, FundingSource],
        send: Send,
        *,
        interval: float,
        timeout: float,
        symbols: list[str] | None = None,
        buffer_cycles: int = 120,
        clock: Clock | None = None,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
    ) -> None:
        self.sources = dict(sources)
        self.send = send
        self.interval = interval
        self.timeout = timeout
        self.symbols = symbols or None
        self.clock = clock or SystemClock()
        self.retry_min = retry_min
        self.retry_max = retry_max
        self.outbox = Outbox(buffer_cycles)
        self.health = {name: VenueHealth(name=name) for name in self.sources}
        self.last_cycle: CycleSummary | None = None
        self.cycles = 0
        self.delivered_cycles = 0
        self.delivered_rates = 0
        self.delivery_error: str | None = None
        self.cycle_listeners: list[CycleListener] = []
        # called after each delivered cycle (with it) and after each failed attempt (with None)
        self.delivery_listeners: list[DeliveryListener] = []
        self._queued = asyncio.Event()

    @property
    def service_reachable(self) -> bool:
        return self.delivery_error is None

    async def collect(self) -> CycleSummary:
        """Run one cycle over every venue and queue its batch for delivery (never waits for the funding service)."""
        started = time.perf_counter()
        batch = await run_cycle(self.sources, venue_timeout=self.timeout, symbols=self.symbols, now=self.clock.now)
        self._record_health(batch)
        self.outbox.put(batch)
        self._queued.set()
        summary = CycleSummary(
            cycle_id=batch.cycle_id,
            started_at=batch.started_at,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            rates_collected=len(batch.rates),
            pending_cycles=len(self.outbox),
        )
        self.last_cycle = summary
        self.cycles += 1
        failed = [r.name for r in batch.exchanges if not r.ok]
        log.info(
            "cycle done",
            extra={
                "cycle_id": batch.cycle_id,
                "rates": len(batch.rates),
                "failed": failed,
                "duration_ms": summary.duration_ms,
                "pending": summary.pending_cycles,
            },
        )
        for listener in self.cycle_listeners:
            _call(listener, self)
        return summary

    async def deliver_pending(self) -> bool:
        """Send the queued cycles in order until none is left (True) or one fails (False: it stays the oldest)."""
        while True:
            try:
                batch = await self.outbox.send_oldest(self.send)
            except Exception as exc:
                first = self.delivery_error is None
                self.delivery_error = f"{type(exc).__name__}: {exc}"[:300]
                log.log(
                    logging.WARNING if first else logging.DEBUG,
                    "funding service unreachable; cycles kept for later",
                    extra={"error": self.delivery_error, "pending": len(self.outbox)},
                )
                for listener in self.delivery_listeners:
                    _call(listener, self, None)
                return False
            if batch is None:
                return True
            if self.delivery_error is not None:
                log.info("funding service reachable again", extra={"pending": len(self.outbox)})
            self.delivery_error = None
            self.delivered_cycles += 1
            self.delivered_rates += len(batch.rates)
            if self.last_cycle is not None and self.last_cycle.cycle_id == batch.cycle_id:
                self.last_cycle.rates_ingested = len(batch.rates)
            for listener in self.delivery_listeners:
                _call(listener, self, batch)

    async def cycle(self) -> CycleSummary:
        """One cycle, collected and then delivered with everything pending (``perpdex collect --once``)."""
        await self.collect()
        await self.deliver_pending()
        assert self.last_cycle is not None
        return self.last_cycle

    async def deliver(self, stopping: asyncio.Event | None = None) -> None:
        """The delivery task: send cycles as they are queued; after a failure retry with a growing pause. Once
        ``stopping`` is set it returns as soon as the outbox is empty or an attempt fails (the caller bounds it)."""
        pause = self.retry_min
        while True:
            if not self.outbox:
                if stopping is not None and stopping.is_set():
                    return
                self._queued.clear()
                waits = (self._queued,) if stopping is None else (self._queued, stopping)
                await self.clock.wait_any(waits, self.interval)
                continue
            try:
                delivered = await self.deliver_pending()
            except Exception:  # a bug, not the service: never let the delivery task die silently
                log.exception("delivery failed unexpectedly; retrying")
                delivered = False
            if delivered:
                pause = self.retry_min
                continue
            if stopping is None:
                await self.clock.sleep(pause)
            elif stopping.is_set():
                return
            elif await self.clock.wait_event(stopping, pause):
                continue  # stopping cut the pause short: one last attempt, right away
            pause = min(pause * 2, self.retry_max)

    def _record_health(self, batch: IngestBatch) -> None:
        now = batch.finished_at
        for report in batch.exchanges:
            h = self.health[report.name]
            h.latency_ms = report.latency_ms
            if report.ok:  # `error` may still note dropped invalid markets: a note, not a failure
                h.last_success, h.markets, h.consecutive_failures = now, report.markets, 0
                h.last_error, h.note = None, report.error
            else:
                h.last_error, h.consecutive_failures = report.error, h.consecutive_failures + 1

    async def run(self, stopping: asyncio.Event) -> None:
        """Cycle every ``interval`` (start-to-start) until ``stopping`` is set while the delivery task sends; then
        the cycle in progress finishes and what is pending is sent once more (the caller bounds this by the grace
        period)."""
        delivery = asyncio.create_task(self.deliver(stopping), name="collector-delivery")
        try:
            next_start = self.clock.monotonic()
            while not stopping.is_set():
                await self.collect()
                if delivery.done():  # deliver() catches everything: only a cancellation from outside ends it
                    log.error("the delivery task ended; starting it again")
                    delivery = asyncio.create_task(self.deliver(stopping), name="collector-delivery")
                next_start += self.interval
                delay = next_start - self.clock.monotonic()
                if delay < 0:  # a slow cycle: start the next one now, do not pile up
                    next_start = self.clock.monotonic()
                    continue
                await self.clock.wait_event(stopping, delay)
            await delivery
        finally:
            if not delivery.done():
                delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await delivery

    async def close(self) -> None:
        for source in self.sources.values():
            with contextlib.suppress(Exception):
                await source.close()


def _call(listener: Callable[..., None], *args: object) -> None:
    """A listener's bug is logged, never allowed to stop collection or delivery."""
    try:
        listener(*args)
    except Exception:
        log.exception("collector listener failed", extra={"listener": getattr(listener, "__qualname__", "?")})


def utc(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else None
