"""A FundingCollector's status on the real API server follows every cycle: three consecutive cycles of two real paper
venues, the second with one venue failing (phase Degraded, the venue and its error in ``status.exchanges``), the third
recovered (the error gone); the outbox's depth and the operator's fields are kept right throughout, and the final
status is Stopped. (Library level: ``perpdex collect`` wires the same :func:`report_status`.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.collector.collector import Collector
from bot_runtime.collector.status import CollectorStatus, KubeCollectorStatusSink, report_status
from bot_runtime.exchanges.base import FundingRate, FundingSource, TransientNetworkError
from bot_runtime.exchanges.registry import create_funding_source
from bot_runtime.funding_api.ingest import IngestBatch
from bot_runtime.kube import KubeClient, resource_path
from bot_runtime.status import StatusReporter
from tests.conftest import Kube

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
NAME = "paper-dexes"


class Breakable(FundingSource):
    """A real paper venue that fails (as a venue answering 503 does) while ``broken``."""

    def __init__(self, inner: FundingSource) -> None:
        self.name = inner.name
        self.inner = inner
        self.broken = False

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        if self.broken:
            raise TransientNetworkError("HTTP 503 from venue", exchange=self.name)
        return await self.inner.funding_rates(symbols)

    async def close(self) -> None:
        await self.inner.close()


async def landed(client: KubeClient, reporter: StatusReporter[CollectorStatus], collector: Collector) -> Any:
    """Wait until the reporter wrote the collector's current status, then read the FundingCollector's back."""
    expected = CollectorStatus.of(collector)
    async with asyncio.timeout(30):
        while reporter.last_written != expected:
            await asyncio.sleep(0.02)
    assert isinstance(reporter.sink, KubeCollectorStatusSink)
    fc = await client.get(reporter.sink.path.removesuffix("/status"))
    return fc["status"]


async def test_status_follows_three_cycles_and_a_failing_venue(crds_installed: Kube, namespace: str) -> None:
    kube = crds_installed
    manifest = yaml.safe_load((REPO / "examples" / "paper-collector.yaml").read_text())
    manifest["metadata"]["namespace"] = namespace
    manifest["spec"]["exchanges"] = ["paper-a", "paper-b"]
    kube.kubectl("apply", "-f", "-", input=json.dumps(manifest))

    delivered: list[IngestBatch] = []

    async def send(batch: IngestBatch) -> None:
        delivered.append(batch)

    flaky = Breakable(create_funding_source("paper-b"))
    collector = Collector({"paper-a": create_funding_source("paper-a"), "paper-b": flaky}, send, interval=10, timeout=5)
    status_path = resource_path("perpdex.io/v1alpha1", "fundingcollectors", namespace, NAME, "status")
    async with kube.client() as client:
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "Collecting",
            "message": "",
            "lastTransitionTime": "2026-11-25T10:00:00Z",
            "observedGeneration": 1,
        }
        await client.patch(status_path, {"status": {"observedGeneration": 1, "conditions": [condition]}})
        reporter: StatusReporter[CollectorStatus] = StatusReporter(
            KubeCollectorStatusSink(client, namespace, NAME), min_interval=0
        )
        report_status(collector, reporter)
        reporter.start()
        try:
            # cycle 1: both venues answer
            await collector.cycle()
            first = await landed(client, reporter, collector)
            assert first["phase"] == "Running"
            assert first["lastCycle"]["ratesIngested"] == len(delivered[0].rates) > 0
            assert {e["name"]: sorted(e) for e in first["exchanges"]} == {
                venue: ["lastSuccess", "latencyMs", "markets", "name"] for venue in ("paper-a", "paper-b")
            }
            assert first["outbox"] == {"pending": 0, "capacity": 120, "dropped": 0}
            # cycle 2: paper-b fails
            flaky.broken = True
            await collector.cycle()
            second = await landed(client, reporter, collector)
            assert second["phase"] == "Degraded"
            failing = {e["name"]: e for e in second["exchanges"]}["paper-b"]
            assert failing["lastError"] == "TransientNetworkError: HTTP 503 from venue"
            assert failing["lastSuccess"] == first["exchanges"][1]["lastSuccess"]  # kept from cycle 1
            assert second["lastCycle"]["ratesIngested"] == len(delivered[1].rates) < len(delivered[0].rates)
            # cycle 3: recovered, the error is gone
            flaky.broken = False
            await collector.cycle()
            third = await landed(client, reporter, collector)
            assert third["phase"] == "Running" and all("lastError" not in e for e in third["exchanges"])
            assert len(delivered) == collector.cycles == 3
            assert (
                third["lastCycle"]["startedAt"] >= second["lastCycle"]["startedAt"] >= first["lastCycle"]["startedAt"]
            )
            assert third["observedGeneration"] == 1 and third["conditions"] == [condition]  # the operator's fields
        finally:
            await reporter.stop()
        assert await reporter.flush(CollectorStatus.of(collector, "Stopped"), within_s=10)
        final = await client.get(resource_path("perpdex.io/v1alpha1", "fundingcollectors", namespace, NAME))
        assert final["status"]["phase"] == "Stopped"
    await collector.close()
    out = kube.kubectl("get", "fundingcollectors", "-n", namespace, NAME, "-o", "wide").stdout
    assert "Stopped" in out and "PENDING" in out
