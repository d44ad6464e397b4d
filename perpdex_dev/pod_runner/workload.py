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
``Progressing`` conditions. As the Deployment controller does, it keeps a ReplicaSet ``<name>-<pod-template-hash>``
owned by the Deployment (the template with the hash label, its status current; older ones and, once the Deployment
is gone, all of them deleted): ``helm install --wait`` and ``kubectl rollout status`` read a Deployment's readiness
from its newest ReplicaSet.

Job: one pod ``<name>-<random>`` at a time until one succeeds (``completions`` 1) or the failures (failed pods under
``restartPolicy: Never``, container restarts under ``OnFailure``) exceed ``backoffLimit``; then the conditions
``SuccessCriteriaMet`` + ``Complete`` (or ``FailureTarget`` + ``Failed``, reason ``BackoffLimitExceeded``) with
``startTime``/``completionTime``, as Helm's hook wait and ``kubectl wait --for=condition=complete`` expect. The
finished pod stays (``Succeeded``/``Failed``) until the Job is deleted.
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

from bot_runtime.kube import ApiError, Conflict, NotFound, resource_path
from perpdex_dev.pod_runner.kube import delete_quietly, now_rfc3339
from perpdex_dev.pod_runner.models import PLURALS, Workload
from perpdex_dev.pod_runner.pod import LocalPod
from perpdex_dev.pod_runner.settings import RunnerContext

log = logging.getLogger("perpdex.pod_runner.workload")

_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' rand.SafeEncodeString
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
        self._replicaset: dict[str, Any] | None = None  # Deployment: the newest ReplicaSet (name, generation, status)
        self._job_start: str | None = (raw.get("status") or {}).get("startTime")
        self._job_end: str | None = None
        self._job_finished = any(  # finished before this runner started: never run again
            c.get("type") in {"Complete", "Failed"} and c.get("status") == "True"
            for c in (raw.get("status") or {}).get("conditions") or []
        )

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
                if self.kind == "Deployment":
                    await self._sync_replicaset()
        elif self.kind == "Deployment":
            # no garbage collector here: the Deployment is gone, so are its ReplicaSets
            with contextlib.suppress(ApiError, httpx.HTTPError):
                await self._delete_replicasets(keep=None)

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
                if self.kind == "Deployment":
                    await self._sync_replicaset()
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
        if self.kind == "StatefulSet":
            self._reconcile_statefulset()
        elif self.kind == "Job":
            self._reconcile_job()
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

    async def _sync_replicaset(self) -> None:
        revision = self.update_revision
        name = f"{self.name}-{revision}"
        path = resource_path("apps/v1", "replicasets", self.namespace, name)
        replicas = max(self.workload.spec.replicas, 0)
        rs = self._replicaset
        if rs is None or rs["name"] != name:
            template = json.loads(json.dumps(self.raw_template))
            template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = revision
            selector = json.loads(json.dumps((self.raw.get("spec") or {}).get("selector") or {}))
            selector.setdefault("matchLabels", {})["pod-template-hash"] = revision
            owner = {k: v for k, v in self._ref().items() if k != "namespace"}
            body: dict[str, Any] = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "labels": dict(template["metadata"]["labels"]),
                    "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
                },
                "spec": {"replicas": replicas, "selector": selector, "template": template},
            }
            try:
                created = await self.ctx.client.create(resource_path("apps/v1", "replicasets", self.namespace), body)
            except Conflict:
                created = await self.ctx.client.get(path)
            rs = {"name": name, "generation": created["metadata"].get("generation", 1), "replicas": replicas}
            rs["status"] = None
            self._replicaset = rs
            await self._delete_replicasets(keep=name)
        if rs["replicas"] != replicas:
            patched = await self.ctx.client.patch(path, {"spec": {"replicas": replicas}})
            rs["replicas"], rs["generation"] = replicas, patched["metadata"].get("generation", rs["generation"])
        own = self.status()
        status = {
            "replicas": own["replicas"],
            "fullyLabeledReplicas": own["replicas"],
            "readyReplicas": own["readyReplicas"],
            "availableReplicas": own["availableReplicas"],
            "observedGeneration": rs["generation"],
        }
        if status != rs["status"]:
            try:
                await self.ctx.client.patch(path + "/status", {"status": status})
            except NotFound:
                self._replicaset = None  # deleted by someone: created again on the next pass
                self.mark()
                return
            rs["status"] = status

    async def _delete_replicasets(self, keep: str | None) -> None:
        listed = await self.ctx.client.list(resource_path("apps/v1", "replicasets", self.namespace))
        for item in listed.get("items") or []:
            meta = item.get("metadata") or {}
            owned = any(o.get("uid") == self.workload.metadata.uid for o in meta.get("ownerReferences") or [])
            if owned and meta.get("name") != keep:
                await delete_quietly(
                    self.ctx.client, resource_path("apps/v1", "replicasets", self.namespace, meta["name"])
                )

    # Job ---------------------------------------------------------------------------------------------------------
    def _job_counts(self) -> tuple[int, int]:
        succeeded = sum(1 for p in self.pods.values() if p.phase == "Succeeded")
        failed = sum(p.failures for p in self.pods.values())
        return succeeded, failed

    def _job_outcome(self) -> str | None:
        spec = self.workload.spec
        succeeded, failed = self._job_counts()
        if succeeded >= (spec.completions or 1):
            return "Complete"
        if failed > spec.backoff_limit:
            return "Failed"
        return None

    def _reconcile_job(self) -> None:
        if self._job_finished:
            return
        if self._job_start is None:
            self._job_start = now_rfc3339()
        active = [p for p in self.pods.values() if not p.finished and not p.stopping]
        outcome = self._job_outcome()
        if outcome is not None:
            for pod in active:
                pod.request_stop()  # a failed Job's running pod is terminated
            if self._job_end is None and not active:
                self._job_end = now_rfc3339()
            return
        if not active:
            self._new_pod(f"{self.name}-{random_suffix()}", self.update_revision, {})

    def _job_status(self) -> dict[str, Any]:
        active = [p for p in self.pods.values() if not p.finished]
        succeeded, failed = self._job_counts()
        status: dict[str, Any] = {
            "startTime": self._job_start,
            "active": len(active),
            "ready": sum(1 for p in active if p.ready and p.running),
            "succeeded": succeeded,
            "failed": failed,
            "terminating": 0,
        }
        outcome = self._job_outcome()
        if outcome is not None and self._job_end is not None and not active:
            status["active"] = 0
            stamp = self._job_end
            if outcome == "Complete":
                status["completionTime"] = stamp
                pairs = [("SuccessCriteriaMet", "CompletionsReached"), ("Complete", "CompletionsReached")]
                message = "Reached expected number of succeeded pods"
            else:
                pairs = [("FailureTarget", "BackoffLimitExceeded"), ("Failed", "BackoffLimitExceeded")]
                message = "Job has reached the specified backoff limit"
            status["conditions"] = [
                {
                    "type": t,
                    "status": "True",
                    "reason": r,
                    "message": message,
                    "lastProbeTime": stamp,
                    "lastTransitionTime": stamp,
                }
                for t, r in pairs
            ]
        return status

    # status ------------------------------------------------------------------------------------------------------
    def _available(self, pod: LocalPod) -> bool:
        if not (pod.ready and pod.running and not pod.stopping) or pod.ready_since is None:
            return False
        return time.monotonic() - pod.ready_since >= self.workload.spec.min_ready_seconds

    def status(self) -> dict[str, Any]:
        if self.kind == "Job":
            return self._job_status()
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
        if self._job_finished:
            return  # its status is final
        status = self.status()
        if status == self._last_status:
            return
        body: dict[str, Any] = {"status": dict(status)}
        if "conditions" in status and self.kind != "Job":
            stamp = now_rfc3339()
            conditions = []
            for c in status["conditions"]:
                prev = self._conditions.get(c["type"])
                since = prev["lastTransitionTime"] if prev is not None and prev["status"] == c["status"] else stamp
                conditions.append({**c, "lastUpdateTime": stamp, "lastTransitionTime": since})
            body["status"]["conditions"] = conditions
        path = resource_path(self.workload.api_version, PLURALS[self.kind], self.namespace, self.name, "status")
        try:
            await self.ctx.client.patch(path, body)
        except NotFound:
            return
        self._last_status = status
        self._conditions = {c["type"]: c for c in body["status"].get("conditions", [])}


ControllerFactory = Callable[[RunnerContext, Mapping[str, Any]], WorkloadController]
