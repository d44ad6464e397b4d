"""The collector's runtime status, written to its FundingCollector's ``status`` (phase, lastCycle, exchanges).

The operator writes conditions and observedGeneration; the collector only these runtime fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot_runtime.collector.collector import Collector, utc
from bot_runtime.kube import KubeClient, resource_path


class CollectorStatus(BaseModel):
    phase: str
    body: dict[str, Any]

    def to_status(self) -> dict[str, Any]:
        return self.body


def collector_status(collector: Collector, phase: str = "Running") -> CollectorStatus:
    body: dict[str, Any] = {"phase": phase}
    if collector.last_cycle is not None:
        c = collector.last_cycle
        body["lastCycle"] = {
            "startedAt": utc(c.started_at),
            "durationMs": int(c.duration_ms),
            "ratesIngested": c.rates_ingested,
        }
    exchanges = []
    for h in collector.health.values():
        item: dict[str, Any] = {
            "name": h.name,
            "lastSuccess": utc(h.last_success),
            "markets": h.markets,
            "lastError": h.last_error,
            "latencyMs": int(h.latency_ms) if h.latency_ms is not None else None,
        }
        exchanges.append({k: v for k, v in item.items() if v is not None})  # the schema has no nullable fields
    body["exchanges"] = exchanges
    return CollectorStatus(phase=phase, body=body)


def phase_of(collector: Collector) -> str:
    """Running, or Degraded when a venue failed its last fetch or the funding service is unreachable."""
    failing = any(h.consecutive_failures for h in collector.health.values())
    return "Degraded" if failing or not collector.service_reachable else "Running"


class KubeCollectorStatusSink:
    """Merge-patches ``/apis/perpdex.io/v1alpha1/namespaces/NS/fundingcollectors/NAME/status``."""

    def __init__(self, client: KubeClient, namespace: str, name: str) -> None:
        self._client = client
        self.path = resource_path("perpdex.io/v1alpha1", "fundingcollectors", namespace, name, "status")

    async def write(self, status: CollectorStatus, *, final: bool = False) -> None:
        await self._client.patch(self.path, {"status": status.to_status()}, patch_type="merge")
