"""The collector's runtime status, written to its FundingCollector's ``status`` after every cycle and delivery
(rate-limited by :class:`~bot_runtime.status.StatusReporter`): phase, lastCycle, exchanges[], outbox.

The operator writes conditions and observedGeneration (and phase Pending/Failed); the collector only these runtime
fields. Phase Degraded says a venue failed its last fetch (``exchanges[].lastError`` says which and why) or the
funding service is unreachable (``outbox.lastError``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot_runtime.collector.collector import Collector, CycleSummary, utc
from bot_runtime.kube import KubeClient, resource_path
from bot_runtime.status import StatusReporter

CollectorPhase = Literal["Running", "Degraded", "Stopped"]
MAX_ERROR = 4096  # crds/fundingcollectors.yaml: exchanges[].lastError and .note, outbox.lastError


class ExchangeStatus(BaseModel):
    """``status.exchanges[]``: one venue's collection health."""

    model_config = ConfigDict(frozen=True)

    name: str
    last_success: datetime | None = None
    markets: int = 0
    last_error: str | None = None
    note: str | None = None
    latency_ms: float | None = None
    failing: bool = False

    def to_status(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "name": self.name,
            "lastSuccess": utc(self.last_success),
            "markets": self.markets,
            "lastError": self.last_error[:MAX_ERROR] if self.last_error else None,
            "note": self.note[:MAX_ERROR] if self.note else None,
            "latencyMs": int(self.latency_ms) if self.latency_ms is not None else None,
        }
        return {k: v for k, v in item.items() if v is not None}  # a list item: absent fields are gone (merge patch)


class OutboxStatus(BaseModel):
    """``status.outbox``: cycles not yet accepted by the funding service."""

    model_config = ConfigDict(frozen=True)

    pending: int
    capacity: int
    dropped: int
    oldest_started_at: datetime | None = None
    last_error: str | None = None

    def to_status(self) -> dict[str, Any]:
        return {
            "pending": self.pending,
            "capacity": self.capacity,
            "dropped": self.dropped,
            "oldestStartedAt": utc(self.oldest_started_at),  # None clears it (merge patch)
            "lastError": self.last_error[:MAX_ERROR] if self.last_error else None,
        }


class CollectorStatus(BaseModel):
    """The runtime fields the collector owns on its FundingCollector's status (a :class:`ReportedStatus`)."""

    model_config = ConfigDict(frozen=True)

    phase: CollectorPhase
    last_cycle: CycleSummary | None = None
    exchanges: tuple[ExchangeStatus, ...] = ()
    outbox: OutboxStatus

    @classmethod
    def of(cls, collector: Collector, phase: CollectorPhase | None = None) -> CollectorStatus:
        """The collector's state now; ``phase`` defaults to Running, or Degraded (:func:`phase_of`)."""
        return cls(
            phase=phase or phase_of(collector),
            last_cycle=collector.last_cycle.model_copy() if collector.last_cycle is not None else None,
            exchanges=tuple(
                ExchangeStatus(
                    name=h.name,
                    last_success=h.last_success,
                    markets=h.markets,
                    last_error=h.last_error,
                    note=h.note,
                    latency_ms=h.latency_ms,
                    failing=h.consecutive_failures > 0,
                )
                for h in collector.health.values()
            ),
            outbox=OutboxStatus(
                pending=len(collector.outbox),
                capacity=collector.outbox.capacity,
                dropped=collector.outbox.dropped,
                oldest_started_at=collector.outbox.oldest_started_at,
                last_error=collector.delivery_error,
            ),
        )

    def urgent_fields(self) -> tuple[Any, ...]:
        """Written at once: a phase change, or another set of failing venues."""
        return self.phase, tuple(e.name for e in self.exchanges if e.failing)

    def to_status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"phase": self.phase}
        if self.last_cycle is not None:
            body["lastCycle"] = {
                "startedAt": utc(self.last_cycle.started_at),
                "durationMs": int(self.last_cycle.duration_ms),
                "ratesIngested": self.last_cycle.rates_ingested,
            }
        body["exchanges"] = [e.to_status() for e in self.exchanges]
        body["outbox"] = self.outbox.to_status()
        return body


def phase_of(collector: Collector) -> CollectorPhase:
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


def report_status(collector: Collector, reporter: StatusReporter[CollectorStatus]) -> None:
    """Publish the collector's status to ``reporter`` after every cycle and every delivery attempt."""
    collector.cycle_listeners.append(lambda c: reporter.publish(CollectorStatus.of(c)))
    collector.delivery_listeners.append(lambda c, _batch: reporter.publish(CollectorStatus.of(c)))
