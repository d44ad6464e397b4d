"""Prometheus metrics of the operator (own registry, served on ``--metrics-port``): reconciles by kind and result,
reconcile duration, writes to children and statuses (a steady state makes none), bots and collectors by phase."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from threading import Lock, Thread
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

BOT_PHASES = ("Pending", "Starting", "Running", "Paused", "Stopping", "Stopped", "RiskHalted", "Failed")
COLLECTOR_PHASES = ("Pending", "Starting", "Running", "Degraded", "Stopping", "Stopped", "Failed")


class _PhaseCollector(Collector):
    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for kind, name, known in (
            ("TradingBot", "perpdex_operator_bots", BOT_PHASES),
            ("FundingCollector", "perpdex_operator_collectors", COLLECTOR_PHASES),
        ):
            counts = self._metrics.phase_counts(kind)
            family = GaugeMetricFamily(name, f"{kind} objects by status.phase", labels=["phase"])
            for phase in sorted(set(known) | set(counts)):
                family.add_metric([phase], counts.get(phase, 0))
            yield family


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.reconciles = Counter(
            "perpdex_operator_reconciles", "Reconciles, by kind and result (ok|error)", ["kind", "result"], registry=r
        )
        self.duration = Histogram(
            "perpdex_operator_reconcile_duration_seconds",
            "Duration of one reconcile, by kind",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.child_writes = Counter(
            "perpdex_operator_child_writes",
            "Writes to child objects, by owner kind, child kind and action (created|updated|repaired|deleted)",
            ["kind", "child_kind", "action"],
            registry=r,
        )
        self.api_requests = Counter(
            "perpdex_operator_api_requests",
            "Kubernetes API requests made by the reconciler (not kopf's own watches), by HTTP method",
            ["method"],
            registry=r,
        )
        self.status_writes = Counter("perpdex_operator_status_writes", "Status patches, by kind", ["kind"], registry=r)
        self.events = Counter(
            "perpdex_operator_events", "Events posted, by kind and type", ["kind", "type"], registry=r
        )
        self._phases: dict[tuple[str, str, str], str] = {}
        self._lock = Lock()
        self.registry.register(_PhaseCollector(self))

    def set_phase(self, kind: str, namespace: str, name: str, phase: str) -> None:
        with self._lock:
            self._phases[(kind, namespace, name)] = phase or "Pending"

    def forget(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            self._phases.pop((kind, namespace, name), None)

    def phase_counts(self, kind: str) -> dict[str, int]:
        with self._lock:
            return dict(Tally(phase for (k, _, _), phase in self._phases.items() if k == kind))

    def serve(self, port: int, host: str = "0.0.0.0") -> tuple[Any, Thread]:  # noqa: S104 - scraped in-cluster
        """Start the ``/metrics`` HTTP server on its own thread; returns ``(server, thread)`` (port 0: any port,
        read it from ``server.server_port``)."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return server, thread
