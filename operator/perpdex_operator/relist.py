"""Rebuild the watch cache when kopf lists a watched resource again.

kopf lists a resource again when its watch cannot resume (410 Gone after an outage or a compaction). It delivers the
listed objects as events of type None, but nothing for an object the new list no longer has: a child deleted while the
watch was down would stay in the cache, and the periodic checks, which trust the cache so that the steady state sends
no request, would never recreate it; a custom resource deleted meanwhile would keep its timers polling.

So a listing event for an object a watch already delivered (a re-list, not the first listing) schedules a check of
its namespace, or of the whole cluster for an operator watching all namespaces (coalesced: one per burst of listing
events): one LIST per watched child kind and per custom resource kind, filtered like the watches. Cache entries the lists lack and that predate them are dropped and their owners
reconciled (a missing child is recreated at once); a custom resource the list lacks is forgotten and marked gone, so
its timers send nothing more. A failed check is retried with growing backoff. Nothing of this runs at steady state:
kopf resumes an ordinary watch timeout from its last resourceVersion, without listing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import httpx

from bot_runtime.kube import ApiError, KubeClient, resource_path
from perpdex_operator.cache import WatchCache
from perpdex_operator.constants import LABEL_INSTANCE, LABEL_NAME, MANAGED_SELECTOR
from perpdex_operator.kinds import KINDS, KINDS_BY_APP
from perpdex_operator.reconcile import Reconciler
from perpdex_operator.scheduling import Coalescer, backoff

log = logging.getLogger(__name__)

ALL = ""  # the check's scope when the operator watches every namespace
SETTLE = 1.0  # seconds without a new listing event before the check runs (kopf delivers a listing object by object)
Child = tuple[str, str, str]  # (group, version, plural)


class Relister:
    def __init__(
        self,
        kube: KubeClient,
        cache: WatchCache,
        reconciler: Reconciler,
        coalescer: Coalescer,
        children: tuple[Child, ...],
        *,
        clusterwide: bool = False,
        max_delay: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._kube = kube
        self._cache = cache
        self._reconciler = reconciler
        self._coalescer = coalescer
        self._children = children
        self._clusterwide = clusterwide
        self._max_delay = max_delay
        self._clock = clock
        self._due: dict[str, float] = {}  # namespace ("" for all) -> when its check may run
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.checks = 0  # namespaces checked (for tests and logs)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def request(self, namespace: str) -> None:
        """A re-list was seen in ``namespace``: check it (or all, cluster-wide) once the listing has settled."""
        namespace = ALL if self._clusterwide else namespace
        self._due[namespace] = self._now() + SETTLE
        if namespace not in self._tasks:
            task = asyncio.create_task(self._run(namespace), name=f"relist-{namespace}")
            self._tasks[namespace] = task
            task.add_done_callback(lambda _: self._tasks.pop(namespace, None))

    async def _run(self, namespace: str) -> None:
        attempt = 0
        while namespace in self._due:
            wait = self._due[namespace] - self._now()
            if wait > 0:  # listing events keep pushing the check back until the listing has settled
                await asyncio.sleep(wait)
                continue
            del self._due[namespace]  # a listing event from now on asks for another check
            try:
                await self.check(namespace)
                attempt = 0
            except (ApiError, httpx.HTTPError) as exc:
                attempt += 1
                delay = backoff(attempt, cap=self._max_delay)
                log.warning("checking the watch cache of %s failed (%s); again in %.0fs", namespace, exc, delay)
                self._due.setdefault(namespace, self._now() + delay)

    async def check(self, namespace: str) -> None:
        """LIST every watched kind in ``namespace`` (``ALL``: cluster-wide) and make the cache and the known custom
        resources match."""
        self.checks += 1
        dropped = 0
        for group, version, plural in self._children:
            api = f"{group}/{version}" if group else version
            got = await self._kube.list(resource_path(api, plural, namespace or None), label_selector=MANAGED_SELECTOR)
            kind = str(got.get("kind", "")).removesuffix("List")
            by_namespace: dict[str, list[dict[str, Any]]] = {}
            for item in got.get("items") or []:
                by_namespace.setdefault(str(item["metadata"].get("namespace", "")), []).append(item)
            scope = {namespace} if namespace else set(by_namespace) | self._cache.namespaces(kind)
            for ns in scope:
                as_of = str(got["metadata"]["resourceVersion"])
                for obj in self._cache.replace(kind, ns, by_namespace.get(ns, []), as_of):
                    labels = (obj.get("metadata") or {}).get("labels") or {}
                    spec = KINDS_BY_APP.get(str(labels.get(LABEL_NAME)))
                    instance = labels.get(LABEL_INSTANCE)
                    if spec is None or not instance:
                        continue
                    dropped += 1
                    self._coalescer.request((spec.plural, ns, str(instance)), full=kind != "Pod")
        vanished = 0
        for spec in KINDS:
            got = await self._kube.list(resource_path(spec.api_version, spec.plural, namespace or None))
            present = {
                (str(i["metadata"].get("namespace")), str(i["metadata"]["name"])) for i in got.get("items") or []
            }
            as_of = str(got["metadata"]["resourceVersion"])
            for ns, name in self._reconciler.known(spec, namespace or None):
                if (ns, name) not in present and self._reconciler.vanish(spec, ns, name, as_of):
                    vanished += 1
        log.info(
            "watch cache of %s checked after a re-list: %d stale children dropped, %d deleted resources forgotten",
            namespace or "all namespaces",
            dropped,
            vanished,
        )

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._due.clear()
