"""Child sync and the watch cache at scale: a new child costs one request, a cached current child none, and the
reconciler shares the runtime's watch cache (issue 12: operator convergence and steady state)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import pytest

from bot_runtime.kube import Conflict, KubeClient, KubeConfig, NotFound
from perpdex_operator.builders.fundingcollector import build_collector_children
from perpdex_operator.cache import WatchCache
from perpdex_operator.children import ChildConflictError, sync_child
from perpdex_operator.constants import APPLIED_HASH_ANNOTATION
from perpdex_operator.events import EventRecorder
from perpdex_operator.kinds import FUNDINGCOLLECTOR
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.reconcile import Reconciler
from perpdex_operator.settings import OperatorSettings

OWNER_REF = {"apiVersion": "perpdex.io/v1alpha1", "kind": "TradingBot", "name": "b", "uid": "u1", "controller": True}
MANIFEST: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {
        "name": "b-config",
        "namespace": "ns",
        "labels": {"app.kubernetes.io/instance": "b"},
        "annotations": {APPLIED_HASH_ANNOTATION: "h1"},
        "ownerReferences": [OWNER_REF],
    },
    "data": {"config.yaml": "x: 1\n"},
}


class FakeKube(KubeClient):
    """Records requests; ``objects`` by path is the cluster."""

    def __init__(self, objects: Mapping[str, dict[str, Any]] | None = None) -> None:
        super().__init__(KubeConfig(server="http://127.0.0.1:1"))
        self.objects = {k: copy.deepcopy(v) for k, v in (objects or {}).items()}
        self.calls: list[tuple[str, str, Any]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        self.calls.append((method, path, body))
        if method == "GET":
            if path not in self.objects:
                raise NotFound(404, "NotFound", path)
            return copy.deepcopy(self.objects[path])
        if method == "PATCH":
            version = (body.get("metadata") or {}).get("resourceVersion")
            if path in self.objects and version is not None:
                raise Conflict(409, "Conflict", "the object has been modified")
            stored = {**copy.deepcopy(body), "metadata": {**body["metadata"], "resourceVersion": "7"}}
            self.objects[path] = stored
            return copy.deepcopy(stored)
        if method == "POST":
            target = f"{path}/{body['metadata']['name']}"
            if target in self.objects:
                raise Conflict(409, "AlreadyExists", "exists")
            self.objects[target] = copy.deepcopy(body)
            return copy.deepcopy(body)
        raise AssertionError(f"unexpected {method} {path}")


CM_PATH = "/api/v1/namespaces/ns/configmaps/b-config"


async def test_a_new_child_is_created_in_one_request_that_cannot_touch_an_existing_object() -> None:
    kube = FakeKube()
    result, live = await sync_child(kube, MANIFEST, likely_absent=True)
    assert result.action == "created" and live["data"] == MANIFEST["data"]
    assert [(m, p) for m, p, _ in kube.calls] == [("PATCH", CM_PATH)]
    assert kube.calls[0][2]["metadata"]["resourceVersion"] == "1"  # a create-only precondition


async def test_a_likely_absent_child_that_exists_is_read_and_decided_as_usual() -> None:
    foreign = {"metadata": {"name": "b-config", "namespace": "ns"}, "data": {"mine": "yes"}}
    kube = FakeKube({CM_PATH: foreign})
    with pytest.raises(ChildConflictError):
        await sync_child(kube, MANIFEST, likely_absent=True)
    assert [m for m, _, _ in kube.calls] == ["PATCH", "GET"]
    assert kube.objects[CM_PATH] == foreign


async def test_a_cached_current_child_costs_no_request_and_a_drifted_one_is_read_then_applied() -> None:
    cached = {**copy.deepcopy(MANIFEST), "metadata": {**MANIFEST["metadata"], "uid": "c1"}}
    kube = FakeKube({CM_PATH: cached})
    result, _ = await sync_child(kube, MANIFEST, cached=cached)
    assert result.action == "unchanged" and kube.calls == []

    drifted = {**cached, "data": {"config.yaml": "tampered"}}
    kube = FakeKube({CM_PATH: drifted})
    result, live = await sync_child(kube, MANIFEST, cached=drifted)
    assert result.action == "repaired" and live["data"] == MANIFEST["data"]
    assert [m for m, _, _ in kube.calls] == ["GET", "PATCH"]


async def test_a_cached_lease_is_left_to_its_holder() -> None:
    lease: dict[str, Any] = {"kind": "Lease", "metadata": {"name": "b", "namespace": "ns"}, "spec": {"holder": "p"}}
    manifest = {
        **lease,
        "apiVersion": "coordination.k8s.io/v1",
        "metadata": {**lease["metadata"], "ownerReferences": [OWNER_REF]},
    }
    kube = FakeKube()
    result, _ = await sync_child(kube, manifest, create_only=True, cached=lease)
    assert result.action == "unchanged" and kube.calls == []


def test_the_cache_keeps_slim_copies() -> None:
    cache = WatchCache()
    sts = {
        "metadata": {"name": "b", "namespace": "ns", "managedFields": [{"manager": "m"}], "labels": {"x": "y"}},
        "spec": {"replicas": 1},
    }
    cache.update("StatefulSet", sts)
    got = cache.get("StatefulSet", "ns", "b")
    assert got is not None and "managedFields" not in got["metadata"] and got["spec"] == {"replicas": 1}
    pod = {
        "metadata": {
            "name": "b-0",
            "namespace": "ns",
            "labels": {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": "b"},
            "managedFields": [{"manager": "m"}],
        },
        "spec": {"containers": [{"name": "bot"}]},
        "status": {"phase": "Running"},
    }
    cache.update("Pod", pod)
    [slim] = cache.pods("ns", "tradingbot", "b")
    assert set(slim) == {"metadata", "status"} and "managedFields" not in slim["metadata"]


def test_the_reconciler_shares_an_empty_cache() -> None:
    """An empty WatchCache is falsy: the reconciler must still use the runtime's (fed by the watches), not its own."""
    cache = WatchCache()
    kube = FakeKube()
    settings = OperatorSettings(namespaces=["ns"])
    reconciler = Reconciler(kube, settings, OperatorMetrics(), EventRecorder(kube), cache=cache)
    assert reconciler.cache is cache


def test_an_older_watch_copy_does_not_replace_the_operators_own_write() -> None:
    kube = FakeKube()
    reconciler = Reconciler(kube, OperatorSettings(namespaces=["ns"]), OperatorMetrics(), EventRecorder(kube))
    from perpdex_operator.kinds import TRADINGBOT

    def cr(version: str, phase: str) -> dict[str, Any]:
        return {
            "metadata": {"name": "b", "namespace": "ns", "uid": "u1", "resourceVersion": version},
            "status": {"phase": phase},
        }

    reconciler.seen(TRADINGBOT, cr("10", "Pending"))
    reconciler.seen(TRADINGBOT, cr("9", ""))
    assert reconciler.last_seen(TRADINGBOT, "ns", "b") == cr("10", "Pending")
    assert reconciler.freshest(TRADINGBOT, cr("9", "")) == cr("10", "Pending")
    assert reconciler.freshest(TRADINGBOT, cr("11", "Running")) == cr("11", "Running")
    reconciler.seen(TRADINGBOT, cr("11", "Running"), deleted=True)
    assert reconciler.last_seen(TRADINGBOT, "ns", "b") is None


def test_builds_are_reused_while_their_inputs_stay_and_drive_the_drift_check() -> None:
    from perpdex_operator.kinds import TRADINGBOT

    kube = FakeKube()
    reconciler = Reconciler(kube, OperatorSettings(namespaces=["ns"]), OperatorMetrics(), EventRecorder(kube))
    spec = {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {"quantity": "0.01", "takeProfit": "0.02"},
    }
    owner: dict[str, Any] = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "b", "namespace": "ns", "uid": "u1", "generation": 1, "resourceVersion": "5"},
        "spec": spec,
    }
    calls: list[int] = []
    real = TRADINGBOT.build

    def counting(o: Any, s: Any) -> Any:
        calls.append(1)
        return real(o, s)

    import dataclasses

    kind = dataclasses.replace(TRADINGBOT, build=counting)
    first = reconciler.build(kind, owner)
    again = reconciler.build(kind, {**owner, "metadata": {**owner["metadata"], "resourceVersion": "6"}, "status": {}})
    assert len(calls) == 1 and again == first
    sts = first.workload
    assert reconciler.child_is_current({**sts, "kind": "StatefulSet"}) is True
    scaled = {**sts, "spec": {**sts["spec"], "replicas": 3}}
    assert reconciler.child_is_current(scaled) is False
    reconciler.build(kind, {**owner, "spec": {**spec, "paused": True}})
    assert len(calls) == 2
    reconciler.forget(kind, "ns", "b")
    assert reconciler.child_is_current({**sts, "kind": "StatefulSet"}) is None


async def test_the_client_bounds_requests_in_flight() -> None:
    """Requests beyond ``max_in_flight`` wait in the client (FIFO), never in httpcore's pool."""
    import asyncio

    import httpx

    from perpdex_operator.runtime import MAX_IN_FLIGHT, CountingKubeClient

    active = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.001)
        active -= 1
        return httpx.Response(200, json={"ok": True})

    kube = CountingKubeClient(KubeConfig(server="http://127.0.0.1:1"), OperatorMetrics())
    await kube.close()
    kube._client = httpx.AsyncClient(base_url="http://127.0.0.1:1", transport=httpx.MockTransport(handler))
    try:
        results = await asyncio.gather(*(kube.get(f"/api/v1/x/{i}") for i in range(4 * MAX_IN_FLIGHT)))
    finally:
        await kube.close()
    assert all(r == {"ok": True} for r in results)
    assert peak == MAX_IN_FLIGHT
    with pytest.raises(ValueError):
        KubeClient(KubeConfig(server="http://127.0.0.1:1"), max_in_flight=0)


class _StatusKube(FakeKube):
    """FakeKube that also takes status merge patches (stored as sent)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        if method == "PATCH" and path.endswith("/status"):
            self.calls.append((method, path, body))
            owner = self.objects[path.removesuffix("/status")]
            owner["status"] = {**(owner.get("status") or {}), **body["status"]}
            return copy.deepcopy(owner)
        return await super().request(method, path, params=params, body=body, content_type=content_type)


async def test_a_deleting_owner_is_judged_by_a_fresh_read_of_its_workload_not_the_cache() -> None:
    """While the finalizer waits for the pod to be gone, a cached workload that still counts a replica (a late write
    answer, a watch that missed the runner's status write) must not keep it waiting: the workload is read fresh."""
    settings = OperatorSettings(
        namespaces=["trading"], image="registry.test/perpdex:1", funding_service_url="http://f:8000"
    )
    owner = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {
            "name": "all-dexes",
            "namespace": "trading",
            "uid": "u1",
            "generation": 1,
            "resourceVersion": "30",
            "deletionTimestamp": "2026-11-25T10:00:00Z",
            "finalizers": ["perpdex.io/finalizer"],
        },
        "spec": {"exchanges": ["paper-a"], "interval": "60s", "timeout": "20s", "fundingService": {}},
        "status": {"phase": "Stopped", "observedGeneration": 1},
    }
    children = build_collector_children(owner, settings)
    cache = WatchCache()
    live_deployment: dict[str, Any] = {}
    for manifest in children.applied:
        cached = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": "20"}}
        if manifest["kind"] == "Deployment":
            live_deployment = {**cached, "status": {}}  # the runner's last write: no replica left
            cached["status"] = {"replicas": 1, "readyReplicas": 1}  # what the cache last saw
        cache.update(manifest["kind"], cached, watched=True)
    deployment_path = "/apis/apps/v1/namespaces/trading/deployments/all-dexes"
    kube = _StatusKube(
        {
            "/apis/perpdex.io/v1alpha1/namespaces/trading/fundingcollectors/all-dexes": owner,
            deployment_path: live_deployment,
            "/api/v1/namespaces/trading/pods": {"items": []},
        }
    )
    reconciler = Reconciler(kube, settings, OperatorMetrics(), EventRecorder(kube), cache=cache)

    outcome = await reconciler.reconcile(FUNDINGCOLLECTOR, "trading", "all-dexes", full=True)

    assert outcome.exists and not outcome.active
    assert ("GET", deployment_path, None) in kube.calls
