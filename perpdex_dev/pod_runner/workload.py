"""What the StatefulSet and Deployment controllers do, for local pods.

StatefulSet: pods ``<name>-<ordinal>``; scale down highest ordinal first; a replaced ordinal is recreated only once
its old pod is completely gone (never two pods of one ordinal: never two instances of a bot); ``OrderedReady``
creates ordinal *n* only when all lower ordinals are Running and Ready (``Parallel`` does not wait); the
``RollingUpdate`` strategy replaces outdated pods from the highest ordinal down (``OnDelete``: only when deleted).
Revisions are ``<name>-<hash of the pod template>`` (``controller-revision-hash`` label, ``currentRevision`` /
``updateRevision`` in the status).

Deployment: pods ``<name>-<pod-template-hash>-<random>``; a template change stops every old pod first and starts the
new ones only when all old ones are gone (the ``Recreate`` strategy; ``RollingUpdate`` is handled the same way,
which is stricter). The status carries replicas, updated/ready/available/unavailable counts and the ``Available`` and
``Progressing`` conditions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from bot_runtime.kube import ApiError, NotFound, resource_path
from perpdex_dev.pod_runner.kube import now_rfc3339
from perpdex_dev.pod_runner.models import Workload
from perpdex_dev.pod_runner.pod import LocalPod
from perpdex_dev.pod_runner.settings import RunnerContext

log = logging.getLogger("perpdex.pod_runner.workload")

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' rand.SafeEncodeString
PLURALS = {"StatefulSet": "statefulsets", "Deployment": "deployments"}
RESYNC_SECONDS = 30.0


def template_hash(template: Mapping[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(template, sort_keys=True, separators=(",", ":")).encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:10])


def random_suffix(length: int = 5) -> str:
    return "".join(secrets.choice(_SAFE) for _ in range(length))


class WorkloadController:
    def __init__(self, ctx: RunnerContext, raw: Mapping[str, Any]) -> None:
        self.ctx = ctx
        self.pods: dict[str, LocalPod] = {}
        self._dirty = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._last_status: dict[str, Any] | None = None
        self._conditions: dict[str, dict[str, Any]] = {}
        self._warned: set[str] = set()
        self.raw: dict[str, Any] = dict(raw)
        self.workload = Workload.model_validate(raw)
        self._current_revision: str | None = (raw.get("status") or {}).get("currentRevision")

    # identity --------------------------------------------------------------------------------------------------------
    @property
    def key(self) -> tuple[str, str, str]:
        return self.workload.key

    @property
    def kind(self) -> str:
        return self.workload.kind

    @property
    def name(self) -> str:
        return self.workload.metadata.name

    @property
    def namespace(self) -> str:
        return self.workload.metadata.namespace

    @property
    def raw_template(self) -> dict[str, Any]:
        template: dict[str, Any] = (self.raw.get("spec") or {}).get("template") or {}
        return template

    @property
    def update_revision(self) -> str:
        digest = template_hash(self.raw_template)
        return f"{self.name}-{digest}" if self.kind == "StatefulSet" else digest

    # control ---------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"{self.kind} {self.namespace}/{self.name}")
        self.mark()

    def mark(self) -> None:
        self._dirty.set()

    def update(self, raw: Mapping[str, Any]) -> None:
        try:
            workload = Workload.model_validate(raw)
        except ValidationError as exc:
            log.warning("%s %s/%s: cannot read the object: %s", self.kind, self.namespace, self.name, exc)
            return
        if workload.metadata.uid != self.workload.metadata.uid:
            log.info("%s %s/%s was recreated", self.kind, self.namespace, self.name)
        self.raw = dict(raw)
        self.workload = workload
        self.mark()

    def pod(self, name: str) -> LocalPod | None:
        return self.pods.get(name)

    async def close(self, *, update_status: bool) -> None:
        """Stop every pod gracefully (the workload is gone, or the runner exits)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.gather(*(p.stop() for p in list(self.pods.values())), return_exceptions=True)
        self.pods.clear()
        if update_status:
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await self._push_status()

    # the loop --------------------------------------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            # every change, and a periodic resync: a status write lost while the API server was away is redone
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESYNC_SECONDS):
                    await self._dirty.wait()
            self._dirty.clear()
            try:
                self._reconcile()
                await self._push_status()
                for pod in list(self.pods.values()):
                    await pod.push_status()
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("%s %s/%s: %s", self.kind, self.namespace, self.name, exc)
                await asyncio.sleep(1.0)
                self.mark()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s %s/%s: %s", self.kind, self.namespace, self.name, message)
            self.ctx.events.emit(self._ref(), "Warning", "PodRunnerLimitation", message)

    def _ref(self) -> dict[str, Any]:
        meta = self.workload.metadata
        return {
            "kind": self.kind,
            "apiVersion": self.workload.api_version,
            "namespace": meta.namespace,
            "name": meta.name,
            "uid": meta.uid,
        }

    def _reconcile(self) -> None:
        for name in [n for n, p in self.pods.items() if p.done.is_set()]:
            del self.pods[name]
        if self._closing:
            return
        spec = self.workload.spec.template.spec
        if len(spec.containers) > 1:
            self._warn_once("containers", "only the first container of the pod template is run by the local pod runner")
        if spec.init_containers:
            self._warn_once("init", "init containers are not run by the local pod runner")
        if self.kind == "StatefulSet":
            self._reconcile_statefulset()
        else:
            self._reconcile_deployment()

    def _new_pod(self, name: str, revision: str, labels: dict[str, str]) -> None:
        pod = LocalPod(
            self.ctx,
            self.workload,
            raw_template=self.raw_template,
            name=name,
            revision=revision,
            extra_labels=labels,
            on_change=self.mark,
        )
        self.pods[name] = pod
        pod.start()

    # StatefulSet -------------------------------------------------------------------------------------------------
    def _ordinal(self, pod: LocalPod) -> int:
        return int(pod.name.rsplit("-", 1)[1])

    def _reconcile_statefulset(self) -> None:
        spec = self.workload.spec
        replicas = max(spec.replicas, 0)
        parallel = spec.pod_management_policy == "Parallel"
        revision = self.update_revision
        by_ordinal = {self._ordinal(p): p for p in self.pods.values()}

        excess = sorted((o for o in by_ordinal if o >= replicas), reverse=True)
        for ordinal in excess:
            by_ordinal[ordinal].request_stop()
            if not parallel:
                return  # one at a time, highest first, each completely gone before the next
        if excess and not parallel:
            return

        if spec.update_strategy.type != "OnDelete":
            outdated = sorted(
                (o for o, p in by_ordinal.items() if o < replicas and p.revision != revision and not p.stopping),
                reverse=True,
            )
            if outdated:
                target = outdated[0]
                higher = [p for o, p in by_ordinal.items() if target < o < replicas]
                if parallel or all(p.ready and p.running and not p.stopping for p in higher):
                    by_ordinal[target].request_stop()
                    return

        for ordinal in range(replicas):
            pod = by_ordinal.get(ordinal)
            if pod is not None:
                if not parallel and (pod.stopping or not (pod.running and pod.ready)):
                    return  # OrderedReady: the next ordinal waits for this one
                continue
            name = f"{self.name}-{ordinal}"
            labels = {
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
            self._new_pod(name, revision, labels)
            if not parallel:
                return

    # Deployment --------------------------------------------------------------------------------------------------
    def _reconcile_deployment(self) -> None:
        replicas = max(self.workload.spec.replicas, 0)
        revision = self.update_revision
        old = [p for p in self.pods.values() if p.revision != revision]
        if old:
            for pod in old:
                pod.request_stop()
            return  # Recreate: new pods only once every old one is gone
        current = [p for p in self.pods.values() if not p.stopping]
        if len(current) > replicas:
            # not ready first, then the youngest, as the ReplicaSet controller picks
            victims = sorted(current, key=lambda p: (p.ready, -p.created))[: len(current) - replicas]
            for pod in victims:
                pod.request_stop()
        for _ in range(replicas - len(current)):
            self._new_pod(f"{self.name}-{revision}-{random_suffix()}", revision, {"pod-template-hash": revision})

    # status ------------------------------------------------------------------------------------------------------
    def _available(self, pod: LocalPod) -> bool:
        if not (pod.ready and pod.running and not pod.stopping) or pod.ready_since is None:
            return False
        return time.monotonic() - pod.ready_since >= self.workload.spec.min_ready_seconds

    def status(self) -> dict[str, Any]:
        spec = self.workload.spec
        pods = [p for p in self.pods.values() if not p.done.is_set()]
        ready = sum(1 for p in pods if p.ready and p.running and not p.stopping)
        available = sum(1 for p in pods if self._available(p))
        revision = self.update_revision
        generation = self.workload.metadata.generation
        if self.kind == "StatefulSet":
            updated = sum(1 for p in pods if p.revision == revision)
            if self._current_revision is None or (updated == len(pods) == spec.replicas):
                self._current_revision = revision
            current = sum(1 for p in pods if p.revision == self._current_revision)
            return {
                "observedGeneration": generation,
                "replicas": len(pods),
                "readyReplicas": ready,
                "currentReplicas": current,
                "updatedReplicas": updated,
                "availableReplicas": available,
                "currentRevision": self._current_revision,
                "updateRevision": revision,
                "collisionCount": 0,
            }
        live = [p for p in pods if not p.stopping]
        updated = sum(1 for p in live if p.revision == revision)
        complete = updated == spec.replicas == len(live) and available == spec.replicas
        return {
            "observedGeneration": generation,
            "replicas": len(live),
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": max(spec.replicas - available, 0),
            "conditions": [
                {
                    "type": "Available",
                    "status": "True" if available >= spec.replicas else "False",
                    "reason": "MinimumReplicasAvailable"
                    if available >= spec.replicas
                    else "MinimumReplicasUnavailable",
                    "message": "Deployment has minimum availability."
                    if available >= spec.replicas
                    else "Deployment does not have minimum availability.",
                },
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                    "message": f'ReplicaSet "{self.name}-{revision}" '
                    + ("has successfully progressed." if complete else "is progressing."),
                },
            ],
        }

    async def _push_status(self) -> None:
        status = self.status()
        if status == self._last_status:
            return
        body: dict[str, Any] = {"status": dict(status)}
        if "conditions" in status:
            stamp = now_rfc3339()
            conditions = []
            for c in status["conditions"]:
                prev = self._conditions.get(c["type"])
                since = prev["lastTransitionTime"] if prev is not None and prev["status"] == c["status"] else stamp
                conditions.append({**c, "lastUpdateTime": stamp, "lastTransitionTime": since})
            body["status"]["conditions"] = conditions
        path = resource_path("apps/v1", PLURALS[self.kind], self.namespace, self.name, "status")
        try:
            await self.ctx.client.patch(path, body)
        except NotFound:
            return
        self._last_status = status
        self._conditions = {c["type"]: c for c in body["status"].get("conditions", [])}


ControllerFactory = Callable[[RunnerContext, Mapping[str, Any]], WorkloadController]
