"""The operator's machinery for API faults (issue 20): the watch cache takes a fresh list as the truth (a re-list after
410 Gone sends no DELETED event), failed background reconciles are retried with growing backoff, kopf's own requests
retry forever, and a re-list check drops what the lists lack and forgets vanished custom resources. The integration
tier runs the same against the real API server behind a fault-injecting proxy (test_operator_api_faults.py)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Mapping
from typing import Any

from bot_runtime.kube import KubeClient, KubeConfig
from perpdex_operator.cache import WatchCache
from perpdex_operator.deletion_watch import NUDGE_ANNOTATION, DeletionWatch
from perpdex_operator.events import EventRecorder
from perpdex_operator.kinds import TRADINGBOT
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.reconcile import Reconciler
from perpdex_operator.relist import Relister
from perpdex_operator.runtime import WATCHED_CHILDREN, RetryForever
from perpdex_operator.scheduling import Coalescer, Key, backoff
from perpdex_operator.settings import OperatorSettings

LABELS = {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": "b"}


def _obj(name: str, version: int, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(version), "labels": LABELS}, **extra}


def test_a_fresh_list_replaces_the_cached_view_of_its_kind() -> None:
    cache = WatchCache()
    cache.update("ConfigMap", _obj("deleted-meanwhile", 10), watched=True)
    cache.update("ConfigMap", _obj("written-after-the-list", 60))
    cache.update("ConfigMap", _obj("changed", 10, data={"v": "old"}))
    cache.update("ConfigMap", _obj("newer-in-cache", 55, data={"v": "cache"}))
    cache.update("Service", _obj("other-kind", 10))
    listed = [_obj("changed", 40, data={"v": "new"}), _obj("newer-in-cache", 45, data={"v": "list"})]

    dropped = cache.replace("ConfigMap", "ns", listed, "50")

    assert [d["metadata"]["name"] for d in dropped] == ["deleted-meanwhile"]
    assert not cache.has("ConfigMap", "ns", "deleted-meanwhile")
    assert not cache.watched("ConfigMap", "ns", "deleted-meanwhile")
    assert cache.has("ConfigMap", "ns", "written-after-the-list")
    assert (cache.get("ConfigMap", "ns", "changed") or {})["data"] == {"v": "new"}
    assert (cache.get("ConfigMap", "ns", "newer-in-cache") or {})["data"] == {"v": "cache"}
    assert cache.has("Service", "ns", "other-kind")


def test_a_fresh_list_drops_vanished_pods() -> None:
    cache = WatchCache()
    cache.update("Pod", _obj("b-0", 10, status={"phase": "Running"}), watched=True)
    assert cache.watched("Pod", "ns", "b-0")
    dropped = cache.replace("Pod", "ns", [], "20")
    assert [d["metadata"]["name"] for d in dropped] == ["b-0"]
    assert cache.pods("ns", "tradingbot", "b") == []


def test_a_late_write_answer_never_replaces_a_newer_watch_event() -> None:
    """The finalizer scales the workload to 0; the pod runner (or kubelet) writes status.replicas 0 within
    milliseconds, and that watch event can reach the cache before the answer to the operator's own scale-down
    (status.replicas still 1). The older answer must not win: it would make the pod look present until the
    finalizer's delete bound (seen in a chart e2e run: the collector's delete waited out 150 s)."""
    cache = WatchCache()
    cache.update("Deployment", _obj("c", 41, spec={"replicas": 0}, status={"replicas": 0}), watched=True)
    cache.update("Deployment", _obj("c", 40, spec={"replicas": 0}, status={"replicas": 1}))  # the late answer
    assert (cache.get("Deployment", "ns", "c") or {})["status"] == {"replicas": 0}
    cache.update("Deployment", _obj("c", 42, spec={"replicas": 0}, status={}))
    assert (cache.get("Deployment", "ns", "c") or {})["status"] == {}


def test_a_deleted_child_is_not_brought_back_by_an_older_copy() -> None:
    cache = WatchCache()
    cache.update("Deployment", _obj("c", 40), watched=True)
    cache.update("Deployment", _obj("c", 45), deleted=True)
    cache.update("Deployment", _obj("c", 44))  # an answer from before the deletion
    assert not cache.has("Deployment", "ns", "c")
    cache.update("Deployment", _obj("c", 46))  # created again
    assert cache.has("Deployment", "ns", "c")


def test_pods_follow_their_watch_and_are_not_remembered_once_deleted() -> None:
    cache = WatchCache()
    cache.update("Pod", _obj("b-0", 10, status={"phase": "Running"}), watched=True)
    cache.update("Pod", _obj("b-0", 9, status={"phase": "Pending"}), watched=True)
    assert [p["status"]["phase"] for p in cache.pods("ns", "tradingbot", "b")] == ["Running"]
    cache.update("Pod", _obj("b-0", 11), deleted=True)
    assert cache.pods("ns", "tradingbot", "b") == []
    cache.update("Pod", _obj("b-0", 12, status={"phase": "Pending"}), watched=True)  # the StatefulSet's new b-0
    assert [p["status"]["phase"] for p in cache.pods("ns", "tradingbot", "b")] == ["Pending"]


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    for attempt, low, high in [(1, 0.8, 1.0), (2, 1.6, 2.0), (4, 6.4, 8.0), (30, 48.0, 60.0)]:
        assert low <= backoff(attempt) <= high
    assert backoff(10, cap=5) <= 5


def test_kopf_error_backoffs_never_run_out_and_restart_per_request() -> None:
    forever = RetryForever(8)
    assert list(itertools.islice(forever, 7)) == [1, 2, 4, 8, 8, 8, 8]
    assert next(iter(forever)) == 1


async def test_a_failed_background_reconcile_is_retried_until_it_succeeds() -> None:
    runs: list[tuple[Key, bool]] = []
    done = asyncio.Event()

    async def run(key: Key, full: bool) -> bool:
        runs.append((key, full))
        if len(runs) == 1:
            raise ConnectionError("dropped")
        if len(runs) < 4:
            return False  # a refused write
        done.set()
        return True

    coalescer = Coalescer(run, delay=0.001, max_backoff=0.01)
    key = ("tradingbots", "ns", "b")
    coalescer.request(key, full=True)
    await asyncio.wait_for(done.wait(), 10)
    assert runs == [(key, True)] * 4
    assert coalescer.retrying == 0 and coalescer.pending == 0
    await coalescer.close()


class ListingKube(KubeClient):
    """Answers LISTs from ``lists`` by path (an empty list elsewhere), resourceVersion 100."""

    def __init__(self, lists: Mapping[str, list[dict[str, Any]]]) -> None:
        super().__init__(KubeConfig(server="http://127.0.0.1:1"))
        self.lists = lists
        self.paths: list[str] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        assert method == "GET"
        self.paths.append(path)
        kind = {"configmaps": "ConfigMap", "tradingbots": "TradingBot"}.get(path.rsplit("/", 1)[-1], "Other")
        return {"kind": f"{kind}List", "metadata": {"resourceVersion": "100"}, "items": self.lists.get(path, [])}


async def test_a_relist_check_drops_missing_children_and_forgets_vanished_resources() -> None:
    kube = ListingKube({"/apis/perpdex.io/v1alpha1/namespaces/ns/tradingbots": [_obj("b", 30)]})
    cache = WatchCache()
    cache.update("ConfigMap", _obj("b-config", 20), watched=True)
    reconciler = Reconciler(kube, OperatorSettings(namespaces=["ns"]), OperatorMetrics(), EventRecorder(kube))
    vanished = {"metadata": {"name": "v", "namespace": "ns", "uid": "uid-v", "resourceVersion": "40"}}
    reconciler.seen(TRADINGBOT, {**_obj("b", 30), "metadata": {**_obj("b", 30)["metadata"], "uid": "uid-b"}})
    reconciler.seen(TRADINGBOT, vanished)
    requested: list[tuple[Key, bool]] = []

    async def run(key: Key, full: bool) -> bool:
        requested.append((key, full))
        return True

    coalescer = Coalescer(run, delay=0.001)
    relister = Relister(kube, cache, reconciler, coalescer, WATCHED_CHILDREN)
    await relister.check("ns")
    await asyncio.sleep(0.05)

    assert len(kube.paths) == len(WATCHED_CHILDREN) + 2  # one LIST per child kind and per custom resource kind
    assert not cache.has("ConfigMap", "ns", "b-config")
    assert requested == [(("tradingbots", "ns", "b"), True)]  # its owner recreates it
    assert reconciler.known(TRADINGBOT, "ns") == [("ns", "b")]
    assert reconciler.is_gone(vanished)  # its timers send nothing from now on
    await coalescer.close()


async def test_an_operator_watching_every_namespace_checks_the_cluster_at_once() -> None:
    kube = ListingKube({"/api/v1/configmaps": [_obj("b-config", 20)]})
    cache = WatchCache()
    cache.update("ConfigMap", _obj("b-config", 20), watched=True)
    elsewhere = {**_obj("c-config", 20), "metadata": {**_obj("c-config", 20)["metadata"], "namespace": "other"}}
    cache.update("ConfigMap", elsewhere, watched=True)
    reconciler = Reconciler(kube, OperatorSettings(all_namespaces=True), OperatorMetrics(), EventRecorder(kube))
    requested: list[tuple[Key, bool]] = []

    async def run(key: Key, full: bool) -> bool:
        requested.append((key, full))
        return True

    coalescer = Coalescer(run, delay=0.001)
    relister = Relister(kube, cache, reconciler, coalescer, WATCHED_CHILDREN, clusterwide=True)
    await relister.check("")
    await asyncio.sleep(0.05)

    assert all("/namespaces/" not in path for path in kube.paths)  # cluster-wide lists, not one per namespace
    assert cache.has("ConfigMap", "ns", "b-config") and not cache.has("ConfigMap", "other", "c-config")
    assert requested == [(("tradingbots", "other", "b"), True)]
    await coalescer.close()


class _RecordingKube(KubeClient):
    def __init__(self) -> None:
        super().__init__(KubeConfig(server="http://127.0.0.1:1"))
        self.patches: list[tuple[str, Any]] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        assert method == "PATCH", (method, path)
        self.patches.append((path, body))
        return {}


def _deleting_bot(uid: str = "u1", finalizers: tuple[str, ...] = ("perpdex.io/finalizer",)) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "b",
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": "9",
            "deletionTimestamp": "2026-12-07T10:00:00Z",
            "finalizers": list(finalizers),
        }
    }


async def test_a_deletion_kopf_stopped_working_on_is_touched_so_that_it_resumes() -> None:
    """kopf can lose an object's cycle (a conflicting finalizer patch, then no event): a CR being deleted whose
    finalizer handler made no attempt for `quiet` seconds gets an annotation, i.e. a fresh watch event."""
    kube = _RecordingKube()
    reconciler = Reconciler(kube, OperatorSettings(namespaces=["ns"]), OperatorMetrics(), EventRecorder(kube))
    watch = DeletionWatch(kube, reconciler, quiet=0.2)
    body = _deleting_bot()
    reconciler.seen(TRADINGBOT, body)
    watch.seen(TRADINGBOT, body)
    watch.seen(TRADINGBOT, body)  # one watch per object
    for _ in range(5):  # the handler at work (polling while the pod stops): nothing is sent
        await asyncio.sleep(0.1)
        watch.attempted(body)
    assert kube.patches == []
    await asyncio.sleep(0.5)  # then silence: the object is touched
    assert kube.patches, "the stuck deletion was not touched"
    path, patch = kube.patches[0]
    assert path.endswith("/tradingbots/b") and NUDGE_ANNOTATION in patch["metadata"]["annotations"]
    assert watch.nudges >= 1
    reconciler.deleted(TRADINGBOT, body)  # kopf finalized it and saw it go: the watch ends
    await asyncio.sleep(0.5)
    assert not watch._tasks
    await watch.close()


async def test_objects_not_being_deleted_or_released_are_left_alone() -> None:
    kube = _RecordingKube()
    reconciler = Reconciler(kube, OperatorSettings(namespaces=["ns"]), OperatorMetrics(), EventRecorder(kube))
    watch = DeletionWatch(kube, reconciler, quiet=0.1)
    live = {"metadata": {"name": "a", "namespace": "ns", "uid": "u2", "finalizers": ["perpdex.io/finalizer"]}}
    reconciler.seen(TRADINGBOT, live)
    watch.seen(TRADINGBOT, live)
    released = _deleting_bot(uid="u3", finalizers=())
    watch.seen(TRADINGBOT, released)
    assert not watch._tasks
    body = _deleting_bot(uid="u4")
    reconciler.seen(TRADINGBOT, body)
    watch.seen(TRADINGBOT, body)
    reconciler.seen(TRADINGBOT, _deleting_bot(uid="u4", finalizers=()))  # the finalizer went: nothing to nudge
    await asyncio.sleep(0.4)
    assert kube.patches == [] and not watch._tasks
    await watch.close()
