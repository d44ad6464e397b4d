"""Prometheus metrics of one collector process (its own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot_runtime.collector.collector import Collector


class CollectorMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.cycles = Counter("perpdex_collector_cycles", "Collection cycles run", registry=r)
        self.cycle_duration = Histogram(
            "perpdex_collector_cycle_duration_seconds",
            "Duration of a whole cycle (collect + deliver)",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
            registry=r,
        )
        self.rates_ingested = Counter(
            "perpdex_collector_rates_ingested", "Rows delivered to the funding service", registry=r
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
        self.pending = Gauge("perpdex_collector_pending_cycles", "Cycles waiting for the funding service", registry=r)
        self.dropped = Gauge(
            "perpdex_collector_dropped_cycles", "Cycles dropped because the outbox was full", registry=r
        )

    def observe(self, collector: Collector) -> None:
        summary = collector.last_cycle
        if summary is not None:
            self.cycles.inc()
            self.cycle_duration.observe(summary.duration_ms / 1000)
            self.rates_ingested.inc(summary.rates_ingested)
            self.pending.set(summary.pending_cycles)
        self.dropped.set(collector.outbox.dropped)
        for name, h in collector.health.items():
            self.venue_up.labels(name).set(1 if h.consecutive_failures == 0 and h.last_success else 0)
            self.venue_markets.labels(name).set(h.markets)
            if h.latency_ms is not None:
                self.venue_latency.labels(name).set(h.latency_ms / 1000)
            if h.last_success is not None:
                self.venue_last_success.labels(name).set(h.last_success.timestamp())

    def render(self) -> bytes:
        return generate_latest(self.registry)
