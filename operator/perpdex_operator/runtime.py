"""The operator's moving parts, wired once per process (or per in-process test operator)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import kopf

from bot_runtime.kube import KubeClient, KubeConfig
from perpdex_operator.cache import WatchCache
from perpdex_operator.constants import EVENT_COMPONENT, FINALIZER, GROUP, MANAGED_SELECTOR
from perpdex_operator.deletion_watch import DeletionWatch
from perpdex_operator.events import EventRecorder
from perpdex_operator.kinds import KINDS
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.reconcile import Reconciler
from perpdex_operator.relist import Relister
from perpdex_operator.scheduling import Coalescer, Key
from perpdex_operator.settings import OperatorSettings

ANNOTATION_PREFIX = "kopf.perpdex.io"
# the operator's API requests in flight at once (below the client's 64 pooled connections); the others wait in FIFO
# order in the client (kopf's own watches and patches use kopf's client)
MAX_IN_FLIGHT = 48
WORKER_LIMIT = 256  # per watched resource
# the children (and pods) watched for drift and status, server-side filtered to the operator's own objects
WATCHED_CHILDREN: tuple[tuple[str, str, str], ...] = (
    ("", "v1", "configmaps"),
    ("", "v1", "serviceaccounts"),
    ("", "v1", "services"),
    ("", "v1", "pods"),
    ("rbac.authorization.k8s.io", "v1", "roles"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    ("apps", "v1", "statefulsets"),
    ("apps", "v1", "deployments"),
    ("coordination.k8s.io", "v1", "leases"),
    ("policy", "v1", "poddisruptionbudgets"),
)


class CountingKubeClient(KubeClient):
    """The project's API client, counting every request in the operator's metrics."""

    def __init__(self, config: KubeConfig, metrics: OperatorMetrics) -> None:
        super().__init__(config, user_agent="perpdex-operator", max_in_flight=MAX_IN_FLIGHT)
        self._metrics = metrics

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        self._metrics.api_requests.labels(method).inc()
        return await super().request(method, path, params=params, body=body, content_type=content_type)


@dataclass
class OperatorRuntime:
    settings: OperatorSettings
    kube_config: KubeConfig
    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)
    priority: int = 0
    kube: KubeClient = field(init=False)
    cache: WatchCache = field(init=False)
    events: EventRecorder = field(init=False)
    reconciler: Reconciler = field(init=False)
    coalescer: Coalescer = field(init=False)
    relister: Relister = field(init=False)
    deletions: DeletionWatch = field(init=False)

    def __post_init__(self) -> None:
        self.kube = CountingKubeClient(self.kube_config, self.metrics)
        self.events = EventRecorder(self.kube)
        self.cache = WatchCache()
        self.reconciler = Reconciler(self.kube, self.settings, self.metrics, self.events, cache=self.cache)
        self.coalescer = Coalescer(self._background, max_backoff=self.settings.retry_max_seconds)
        self.relister = Relister(
            self.kube,
            self.cache,
            self.reconciler,
            self.coalescer,
            WATCHED_CHILDREN,
            clusterwide=self.settings.clusterwide,
            max_delay=self.settings.retry_max_seconds,
        )
        # the finalizer handler retries within retry_max_seconds (and polls every 2 s while a pod stops)
        self.deletions = DeletionWatch(self.kube, self.reconciler, quiet=max(30.0, 3 * self.settings.retry_max_seconds))

    async def _background(self, key: Key, full: bool) -> bool:
        """One coalesced reconcile; False (retry with backoff) when a child write failed."""
        plural, namespace, name = key
        spec = next(k for k in KINDS if k.plural == plural)
        outcome = await self.reconciler.reconcile(spec, namespace, name, full=full, optimistic=True)
        return not (outcome.problem is not None and outcome.problem.reason == "ReconcileError")

    async def close(self) -> None:
        await self.deletions.close()
        await self.relister.close()
        await self.coalescer.close()
        await self.kube.close()


def kopf_settings(settings: OperatorSettings, priority: int) -> Any:
    """kopf's settings: our finalizer name, progress in annotations only (the CRDs' status schemas prune anything
    else), kopf's own Events only for warnings, server-side label selectors for the watched children."""
    s = kopf.OperatorSettings()
    s.persistence.finalizer = FINALIZER
    s.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=ANNOTATION_PREFIX)
    s.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=ANNOTATION_PREFIX, key="last-handled-configuration"
    )
    s.posting.level = logging.WARNING
    s.posting.reporting_component = EVENT_COMPONENT
    s.peering.name = settings.peering or "default"
    s.peering.standalone = not settings.peering
    s.peering.mandatory = bool(settings.peering)
    s.peering.priority = priority
    s.peering.lifetime = settings.peering_lifetime_seconds
    s.peering.clusterwide = settings.clusterwide
    s.networking.request_timeout = 60
    # kopf's own requests (finalizers, progress annotations, listings) retry 5xx, 429 and dropped connections until
    # the API server answers: its default gives up after 54 s, and then an object waits for its next watch event
    # (a deleted bot kept its finalizer for minutes)
    s.networking.error_backoffs = RetryForever(settings.retry_max_seconds)
    s.watching.connect_timeout = 30
    for group, version, plural in WATCHED_CHILDREN:
        s.watching.label_selectors[(f"{group}/{version}" if group else version, plural)] = MANAGED_SELECTOR
    s.execution.max_workers = 4
    # per-object workers of kopf's watch streams: a burst of thousands of new objects (CRs and their children) must
    # not keep thousands of workers, each with its object's events, alive at once; an idle one exits after 1 s
    s.queueing.worker_limit = WORKER_LIMIT
    s.queueing.idle_timeout = 1.0
    return s


class RetryForever:
    """kopf's ``error_backoffs``: 1, 2, 4 ... seconds up to ``cap``, then ``cap`` forever (a fresh sequence for each
    request; kopf retries while the sequence lasts)."""

    def __init__(self, cap: float) -> None:
        self.cap = cap

    def __iter__(self) -> Iterator[float]:
        delay = 1.0
        while True:
            yield delay
            delay = min(self.cap, delay * 2)


__all__ = ["GROUP", "WATCHED_CHILDREN", "OperatorRuntime", "kopf_settings"]
