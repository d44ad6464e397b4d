"""Prometheus metrics of one collector process (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot_runtime.collector.collector import Collector
from bot_runtime.funding_api.ingest import IngestBatch


class CollectorMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.cycles = Counter("perpdex_collector_cycles", "Collection cycles run", registry=r)
        self.cycle_duration = Histogram(
            "perpdex_collector_cycle_duration_seconds",
            "Duration of a cycle's collection from the venues (delivery runs on its own task)",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=r,
        )
        self.rates_ingested = Counter(
            "perpdex_collector_rates_ingested", "Rows delivered to the funding service", registry=r
        )
        self.delivery_failures = Counter(
            "perpdex_collector_delivery_failures", "Failed attempts to deliver the oldest pending cycle", registry=r
        )
        self.venue_up = Gauge(
            "perpdex_collector_venue_up", "1 when the venue's last fetch succeeded", ["exchange"], registry=r
        )
        self.venue_markets = Gauge(
            "perpdex_collector_venue_markets", "Markets seen in the last fetch", ["exchange"], registry=r
        )
        self.venue_latency = Gauge(
            "perpdex_collector_venue_latency_seconds", "Latency of the venue's last fetch", ["exchange"], registry=r
        )
        self.venue_last_success = Gauge(
            "perpdex_collector_venue_last_success_timestamp_seconds",
            "Unix time of the last success",
            ["exchange"],
            registry=r,
        )
        self.pending = Gauge(
            "perpdex_collector_pending_cycles", "Cycles not yet accepted by the funding service", registry=r
        )
        self.oldest_age = Gauge(
            "perpdex_collector_outbox_oldest_age_seconds",
            "Age of the oldest cycle not yet accepted by the funding service (0 when none)",
            registry=r,
        )
        self.capacity = Gauge(
            "perpdex_collector_outbox_capacity", "Cycles the outbox keeps before dropping the oldest", registry=r
        )
        self.dropped = Gauge(
            "perpdex_collector_dropped_cycles", "Cycles dropped because the outbox was full", registry=r
        )
        self.packed_bytes = Gauge(
            "perpdex_collector_outbox_packed_bytes",
            "Bytes held by the waiting cycles, packed (compressed) while the funding service is behind",
            registry=r,
        )
        self.status_writes = Counter(
            "perpdex_collector_status_writes",
            "FundingCollector status writes by result (ok, error, crash: the writer task died and was restarted)",
            ["result"],
            registry=r,
        )

    def attach(self, collector: Collector) -> None:
        """Observe every cycle and delivery of ``collector``; the outbox gauges are read at each scrape."""
        collector.cycle_listeners.append(self.observe_cycle)
        collector.delivery_listeners.append(self.observe_delivery)
        self.pending.set_function(lambda: len(collector.outbox))
        self.capacity.set(collector.outbox.capacity)
        self.dropped.set_function(lambda: collector.outbox.dropped)
        self.packed_bytes.set_function(lambda: collector.outbox.packed_bytes)

        def oldest_age() -> float:
            oldest = collector.outbox.oldest_started_at
            return 0.0 if oldest is None else max(0.0, collector.clock.time() - oldest.timestamp())

        self.oldest_age.set_function(oldest_age)

    def observe_cycle(self, collector: Collector) -> None:
        summary = collector.last_cycle
        if summary is not None:
            self.cycles.inc()
            self.cycle_duration.observe(summary.duration_ms / 1000)
        for name, h in collector.health.items():
            self.venue_up.labels(name).set(1 if h.consecutive_failures == 0 and h.last_success else 0)
            self.venue_markets.labels(name).set(h.markets)
            if h.latency_ms is not None:
                self.venue_latency.labels(name).set(h.latency_ms / 1000)
            if h.last_success is not None:
                self.venue_last_success.labels(name).set(h.last_success.timestamp())

    def observe_delivery(self, collector: Collector, batch: IngestBatch | None) -> None:
        if batch is None:
            self.delivery_failures.inc()
        else:
            self.rates_ingested.inc(len(batch.rates))

    def status_write(self, result: str) -> None:
        self.status_writes.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
