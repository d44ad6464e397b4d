"""The collector loop: a cycle every ``interval``, delivered in order through a bounded outbox, per-venue health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from bot_runtime.collector.cycle import run_cycle
from bot_runtime.collector.outbox import Outbox
from bot_runtime.exchanges.base import FundingSource
from bot_runtime.funding_api.ingest import IngestBatch

log = logging.getLogger(__name__)

Send = Callable[[IngestBatch], Awaitable[object]]


class VenueHealth(BaseModel):
    name: str
    last_success: datetime | None = None
    markets: int = 0
    last_error: str | None = None
    latency_ms: float | None = None
    consecutive_failures: int = 0


class CycleSummary(BaseModel):
    started_at: datetime
    duration_ms: float
    rates_ingested: int = Field(description="rows delivered to the funding service by this cycle's flush")
    rates_collected: int
    pending_cycles: int


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
        on_cycle: Callable[[Collector], None] | None = None,
    ) -> None:
        self.sources = dict(sources)
        self.send = send
        self.interval = interval
        self.timeout = timeout
        self.symbols = symbols or None
        self.outbox = Outbox(buffer_cycles)
        self.health = {name: VenueHealth(name=name) for name in self.sources}
        self.last_cycle: CycleSummary | None = None
        self.cycles = 0
        self.delivered_rates = 0
        self.delivery_error: str | None = None
        self.listeners: list[Callable[[Collector], None]] = [on_cycle] if on_cycle else []

    @property
    def service_reachable(self) -> bool:
        return self.delivery_error is None

    async def cycle(self) -> CycleSummary:
        """Collect once, queue the batch, and deliver everything pending."""
        started = time.perf_counter()
        batch = await run_cycle(self.sources, venue_timeout=self.timeout, symbols=self.symbols)
        self._record_health(batch)
        self.outbox.put(batch)
        ingested = await self._flush()
        summary = CycleSummary(
            started_at=batch.started_at,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            rates_ingested=ingested,
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
        for listener in self.listeners:
            listener(self)
        return summary

    async def _flush(self) -> int:
        rows_before = self.delivered_rates
        sizes: list[int] = []

        async def send(batch: IngestBatch) -> None:
            await self.send(batch)
            sizes.append(len(batch.rates))

        try:
            await self.outbox.flush(send)
            self.delivery_error = None
        except Exception as exc:
            self.delivery_error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning(
                "funding service unreachable; cycle kept for later",
                extra={"error": self.delivery_error, "pending": len(self.outbox)},
            )
        self.delivered_rates = rows_before + sum(sizes)
        return sum(sizes)

    def _record_health(self, batch: IngestBatch) -> None:
        now = batch.finished_at
        for report in batch.exchanges:
            h = self.health[report.name]
            h.latency_ms = report.latency_ms
            if report.ok:  # `error` may still note dropped invalid markets
                h.last_success, h.markets, h.last_error, h.consecutive_failures = now, report.markets, report.error, 0
            else:
                h.last_error, h.consecutive_failures = report.error, h.consecutive_failures + 1

    async def run(self, stopping: asyncio.Event) -> None:
        """Cycle every ``interval`` (start-to-start) until ``stopping`` is set; the cycle in progress then finishes
        (the caller bounds it by the grace period)."""
        next_start = time.monotonic()
        while not stopping.is_set():
            await self.cycle()
            next_start += self.interval
            delay = next_start - time.monotonic()
            if delay < 0:  # a slow cycle: start the next one now, do not pile up
                next_start = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)

    async def close(self) -> None:
        for source in self.sources.values():
            with contextlib.suppress(Exception):
                await source.close()


def utc(at: datetime | None) -> str | None:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at else None
