"""One reconcile of one custom resource: children (create-or-update, drift repair), observation of what runs, the
operator's status fields, Events for every transition, metrics. Serialised per object; safe to run any number of
times and from any trigger (kopf handlers, timers, child watch events)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot_runtime.kube import ApiError, KubeClient, NotFound, resource_path
from perpdex_operator.builders import BuildError, Children
from perpdex_operator.cache import WatchCache
from perpdex_operator.children import ChildConflictError, ChildResult, is_current, sync_child
from perpdex_operator.conditions import Transition
from perpdex_operator.events import EventRecorder, EventType
from perpdex_operator.kinds import KindSpec
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.observe import Observation, PodView, WorkloadView
from perpdex_operator.settings import OperatorSettings
from perpdex_operator.status import Problem, StatusUpdate, status_update

log = logging.getLogger(__name__)

MAX_RECONCILES = 64  # above the client's 48 requests in flight: each reconcile has at most one request out
ObjectKey = tuple[str, str, str]  # (plural or child kind, namespace, name)
# reasons that describe normal life, not trouble: their transitions are Normal events even when "unhealthy"
_BENIGN_REASONS = frozenset(
    {"Starting", "PodNotRunning", "Paused", "Deleting", "Stopping", "RollingUpdate", "Reconciled", "Stopped"}
)


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    exists: bool
    children: tuple[ChildResult, ...] = ()
    problem: Problem | None = None
    status_written: bool = False
    phase: str = ""
    active: bool = False  # a pod is present or the process still reports (deletion waits for this to clear)


class Reconciler:
    def __init__(
        self,
        kube: KubeClient,
        settings: OperatorSettings,
        metrics: OperatorMetrics,
        events: EventRecorder,
        *,
        cache: WatchCache | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_reconciles: int = MAX_RECONCILES,
    ) -> None:
        self.kube = kube
        self.cache = cache if cache is not None else WatchCache()  # (an empty cache is falsy)
        self.settings = settings
        self.metrics = metrics
        self.events = events
        self.clock = clock
        self._locks: dict[ObjectKey, asyncio.Lock] = {}
        # reconciles that read and write at once; the others wait in FIFO order before building anything, so a burst
        # of new CRs neither holds every one's manifests in memory at once nor lets checks starve first reconciles
        self._slots = asyncio.Semaphore(max_reconciles)
        # (plural, ns, name) -> the last build of its children, as compact JSON (a build costs ~7 ms and the periodic
        # checks need one per object per tick; JSON holds a bot's manifests in ~9 KB instead of ~40 KB of dicts)
        self._built: dict[ObjectKey, _Built] = {}
        self._desired: dict[ObjectKey, ObjectKey] = {}  # child (kind, ns, name) -> its owner's key in _built
        # (plural, ns, name) -> the custom resource as last seen on kopf's watch (without managedFields): the body of
        # the optimistic check of background reconciles
        self._owners: dict[ObjectKey, dict[str, Any]] = {}
        # uids of custom resources found deleted without kopf seeing their deletion (a re-list after 410 Gone, or a
        # 404): kopf keeps their timers running, and those must send nothing
        self._gone: set[str] = set()

    # -- bookkeeping -------------------------------------------------------------------------------------------------
    def _lock(self, key: ObjectKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def build(self, spec: KindSpec, owner: Mapping[str, Any]) -> Children:
        """``spec.build`` of the owner, from the last build while its inputs (identity, deletion, spec) are unchanged.
        Raises BuildError like the builder (an invalid spec is never remembered)."""
        meta = owner["metadata"]
        key = (spec.plural, str(meta["namespace"]), str(meta["name"]))
        inputs = json.dumps(
            [meta.get("uid"), bool(meta.get("deletionTimestamp")), owner.get("spec")], sort_keys=True, default=str
        )
        built = self._built.get(key)
        if built is None or built.inputs != inputs:
            children = spec.build(owner, self.settings)
            built = _Built(
                inputs=inputs,
                config_hash=children.config_hash,
                applied=tuple(_compact(m) for m in children.applied),
                created=tuple(_compact(m) for m in children.created),
            )
            self._built[key] = built
            for child in (*built.applied, *built.created):
                self._desired[(child.kind, key[1], child.name)] = key
        return Children(
            applied=[json.loads(c.blob) for c in built.applied],
            created=[json.loads(c.blob) for c in built.created],
            config_hash=built.config_hash,
        )

    def busy(self, spec: KindSpec, namespace: str, name: str) -> bool:
        """A reconcile of this object is running (or waiting for the one that runs)."""
        lock = self._locks.get((spec.plural, namespace, name))
        return lock is not None and lock.locked()

    def seen(self, spec: KindSpec, body: Mapping[str, Any], *, deleted: bool = False) -> None:
        """Note the custom resource as its watch delivered it."""
        meta = body.get("metadata") or {}
        key = (spec.plural, str(meta.get("namespace")), str(meta.get("name")))
        if deleted:
            self._owners.pop(key, None)
            return
        known = self._owners.get(key)
        if known is not None and _older(meta, known["metadata"]):
            return  # a watch event still on its way from before the operator's own last write
        slim = {k: v for k, v in meta.items() if k != "managedFields"}
        self._owners[key] = {**{k: v for k, v in body.items() if k != "metadata"}, "metadata": slim}

    def last_seen(self, spec: KindSpec, namespace: str, name: str) -> dict[str, Any] | None:
        return self._owners.get((spec.plural, namespace, name))

    def known(self, spec: KindSpec, namespace: str | None) -> list[tuple[str, str]]:
        """(namespace, name) of the custom resources of ``spec`` seen on kopf's watch and not deleted since, in
        ``namespace`` (None: all)."""
        return [
            (ns, name)
            for plural, ns, name in self._owners
            if plural == spec.plural and (namespace is None or ns == namespace)
        ]

    def vanish(self, spec: KindSpec, namespace: str, name: str, list_version: str) -> bool:
        """A LIST as of ``list_version`` lacks this custom resource: forget it (and stop its timers' work) unless it
        was seen after that list. True if forgotten."""
        known = self._owners.get((spec.plural, namespace, name))
        if known is None or _older({**known["metadata"], "resourceVersion": list_version}, known["metadata"]):
            return False
        self._gone.add(str(known["metadata"].get("uid")))
        self.forget(spec, namespace, name)
        return True

    def mark_gone(self, body: Mapping[str, Any]) -> None:
        """A request found this custom resource deleted (404) though kopf has not seen its deletion."""
        self._gone.add(str((body.get("metadata") or {}).get("uid")))

    def is_gone(self, body: Mapping[str, Any]) -> bool:
        """This custom resource (by uid) is known to be deleted, though kopf may still run its timers."""
        return str((body.get("metadata") or {}).get("uid")) in self._gone

    def deleted(self, spec: KindSpec, body: Mapping[str, Any]) -> None:
        """kopf's watch saw the deletion: its timers stop, nothing more to remember."""
        self._gone.discard(str((body.get("metadata") or {}).get("uid")))
        self.seen(spec, body, deleted=True)

    def freshest(self, spec: KindSpec, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """``body`` (kopf's copy), or the operator's own later copy of the same object (e.g. its last status write)."""
        meta = body.get("metadata") or {}
        known = self._owners.get((spec.plural, str(meta.get("namespace")), str(meta.get("name"))))
        if known is not None and known["metadata"].get("uid") == meta.get("uid") and _older(meta, known["metadata"]):
            return known
        return body

    def forget(self, spec: KindSpec, namespace: str, name: str) -> None:
        self.metrics.forget(spec.kind, namespace, name)
        self._locks.pop((spec.plural, namespace, name), None)
        self._owners.pop((spec.plural, namespace, name), None)
        built = self._built.pop((spec.plural, namespace, name), None)
        for child in (*built.applied, *built.created) if built else ():
            self._desired.pop((child.kind, namespace, child.name), None)

    def child_is_current(self, child: Mapping[str, Any]) -> bool | None:
        """Whether a child seen in a watch event still carries what was last applied (None: not known here)."""
        meta = child.get("metadata") or {}
        kind, name = str(child.get("kind")), str(meta.get("name"))
        owner = self._desired.get((kind, str(meta.get("namespace")), name))
        built = self._built.get(owner) if owner is not None else None
        if built is None:
            return None
        blob = next((c.blob for c in built.applied if c.kind == kind and c.name == name), None)
        if blob is None:
            return None
        return is_current(json.loads(blob), child)[0]

    # -- reads -------------------------------------------------------------------------------------------------------
    async def fetch(self, spec: KindSpec, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return await self.kube.get(resource_path(spec.api_version, spec.plural, namespace, name))
        except NotFound:
            return None

    async def observe(
        self, spec: KindSpec, namespace: str, name: str, workload: Mapping[str, Any] | None
    ) -> Observation:
        pods = await self.kube.list(resource_path("v1", "pods", namespace), label_selector=spec.pod_selector(name))
        if workload is None:
            try:
                workload = await self.kube.get(resource_path(spec.workload_api, spec.workload_plural, namespace, name))
            except NotFound:
                workload = None
        return Observation(
            pods=tuple(PodView.from_pod(p) for p in pods.get("items") or []),
            workload=WorkloadView.from_workload(workload),
        )

    # -- the reconcile -----------------------------------------------------------------------------------------------
    async def reconcile(
        self,
        spec: KindSpec,
        namespace: str,
        name: str,
        *,
        full: bool = True,
        body: Mapping[str, Any] | None = None,
        optimistic: bool = False,
    ) -> Outcome:
        """``full``: children too; otherwise only observation + status (the cheap periodic check).

        ``optimistic`` (periodic checks): first decide from ``body`` (kopf's latest copy of the CR) and the watch
        cache, with no API request at all, whether anything needs writing; only if so, start over from fresh reads.
        """
        async with self._lock((spec.plural, namespace, name)):
            started = time.monotonic()
            result = "error"
            try:
                if optimistic:  # the newest copy as of now (the one passed may predate the reconcile just done)
                    body = self.freshest(spec, body) if body is not None else self.last_seen(spec, namespace, name)
                if optimistic and body is not None:
                    quiet = self._quiet(spec, namespace, name, body, full)
                    if quiet is not None:
                        result = "ok"
                        return quiet
                # a CR never reconciled: kopf's copy (or the operator's own later one) is as good as a fresh read
                known = self.freshest(spec, body) if body is not None and not optimistic else None
                hint = known if known is not None and _never_reconciled(known) else None
                async with self._slots:
                    outcome = await self._reconcile(spec, namespace, name, full, hint)
                result = "ok" if outcome.problem is None else "error"
                return outcome
            finally:
                self.metrics.reconciles.labels(spec.kind, result).inc()
                self.metrics.duration.labels(spec.kind).observe(time.monotonic() - started)

    def _quiet(self, spec: KindSpec, namespace: str, name: str, body: Mapping[str, Any], full: bool) -> Outcome | None:
        """An Outcome when the cached view shows nothing to write; None when a fresh reconcile must decide."""
        owner: dict[str, Any] = {**dict(body), "apiVersion": spec.api_version, "kind": spec.kind}
        try:
            children = self.build(spec, owner)
        except BuildError:
            return None
        if full:
            for manifest in children.applied:
                meta = manifest["metadata"]
                cached = self.cache.get(manifest["kind"], meta["namespace"], meta["name"])
                if cached is None or not is_current(manifest, cached)[0]:
                    return None
            for manifest in [] if _deleting(owner) else children.created:
                meta = manifest["metadata"]
                if not self.cache.has(manifest["kind"], meta["namespace"], meta["name"]):
                    return None
        workload = self.cache.get(spec.workload_kind, namespace, name)
        if workload is None:
            return None
        obs = Observation(
            pods=tuple(PodView.from_pod(p) for p in self.cache.pods(namespace, spec.app, name)),
            workload=WorkloadView.from_workload(workload),
        )
        now = self.clock()
        desired = spec.derive(
            owner,
            obs,
            now=now,
            settings=self.settings,
            config_hash=children.config_hash,
            problem=None if full else standing_problem(owner),
        )
        if status_update(owner, desired, now=now, observed=full).patch is not None:
            return None
        phase = str((owner.get("status") or {}).get("phase") or "")
        self.metrics.set_phase(spec.kind, namespace, name, phase)
        return Outcome(exists=True, phase=phase, active=desired.active)

    async def _reconcile(
        self, spec: KindSpec, namespace: str, name: str, full: bool, hint: Mapping[str, Any] | None = None
    ) -> Outcome:
        # the object as stored now (inside the lock): a handler's body may predate the last status write, and
        # comparing against it would write the same status twice; only a never-reconciled CR's copy (``hint``) has
        # no status to repeat
        owner = copy.deepcopy(dict(hint)) if hint is not None else await self.fetch(spec, namespace, name)
        if owner is None:
            known = self._owners.get((spec.plural, namespace, name))
            if known is not None:
                self._gone.add(str(known["metadata"].get("uid")))
            self.forget(spec, namespace, name)
            return Outcome(exists=False)
        owner.setdefault("apiVersion", spec.api_version)
        owner.setdefault("kind", spec.kind)
        problem: Problem | None = None
        children: Children | None = None
        results: list[ChildResult] = []
        workload: dict[str, Any] | None = None
        try:
            children = self.build(spec, owner)
        except BuildError as exc:
            problem = Problem(reason="InvalidSpec", message=str(exc))
        if children is not None:
            if full:
                problem, workload = await self._sync_children(
                    spec, children, results, new=_never_reconciled(owner), deleting=_deleting(owner)
                )
            else:  # a status-only check did not look at the children: a problem the last full pass found stands
                problem = standing_problem(owner)
        workload_created = any(r.kind == spec.workload_kind and r.action == "created" for r in results)
        if workload_created:  # no pod can be older than its workload: the pod watch reports the first one
            obs = Observation(workload=WorkloadView.from_workload(workload))
        elif _deleting(owner):  # the finalizer's "is the pod gone?" is answered by fresh reads, never by a cache
            obs = await self.observe(spec, namespace, name, None)
        else:
            obs = await self.observe(spec, namespace, name, workload)
        now = self.clock()
        desired = spec.derive(
            owner,
            obs,
            now=now,
            settings=self.settings,
            config_hash=children.config_hash if children else None,
            problem=problem,
        )
        update = status_update(owner, desired, now=now, observed=full)
        # a new CR's first phase (unset -> Pending) is told in the same Event as its created children
        first = update.phase_change
        folded = first if first and not first[0] and first[1] != "Failed" and _created(results) else None
        await self._announce_children(spec, owner, results, first_phase=folded)
        written = False
        if update.patch is not None:
            try:
                stored = await self.kube.patch(
                    resource_path(spec.api_version, spec.plural, namespace, name, "status"),
                    update.patch,
                    patch_type="merge",
                )
                if stored:  # the next optimistic check compares with what was just written, not an older copy
                    self.seen(spec, stored)
            except NotFound:
                self.forget(spec, namespace, name)
                return Outcome(exists=False, children=tuple(results), problem=problem)
            written = True
            self.metrics.status_writes.labels(spec.kind).inc()
            await self._announce_status(spec, owner, update, phase=folded is None)
        phase = update.phase_change[1] if update.phase_change else str((owner.get("status") or {}).get("phase") or "")
        self.metrics.set_phase(spec.kind, namespace, name, phase)
        return Outcome(
            exists=True,
            children=tuple(results),
            problem=problem,
            status_written=written,
            phase=phase,
            active=desired.active,
        )

    async def _sync_children(
        self,
        spec: KindSpec,
        children: Children,
        results: list[ChildResult],
        *,
        new: bool = False,
        deleting: bool = False,
    ) -> tuple[Problem | None, dict[str, Any] | None]:
        """``new``: the owner was never reconciled, so a child the watch cache does not know is most likely absent
        (created in one request, no read first). ``deleting``: the create-only children (the Lease, which the
        finalizer deletes) are not created again (a reconcile racing the finalizer would leave one behind)."""
        problem: Problem | None = None
        workload: dict[str, Any] | None = None
        created = [] if deleting else children.created
        plan = [(m, False) for m in children.applied] + [(m, True) for m in created]
        # two waves of concurrent requests instead of one request after the other: what others refer to (Role,
        # ServiceAccount, ConfigMap) first, then the RoleBinding (RBAC checks its Role) and the workload
        later = {"RoleBinding", spec.workload_kind}
        outcomes: list[tuple[ChildResult, dict[str, Any]] | BaseException] = []
        for wave in ([p for p in plan if p[0]["kind"] not in later], [p for p in plan if p[0]["kind"] in later]):
            outcomes += await asyncio.gather(*(self._sync_one(m, c, new) for m, c in wave), return_exceptions=True)
        order = [p for p in plan if p[0]["kind"] not in later] + [p for p in plan if p[0]["kind"] in later]
        for (manifest, _), outcome in zip(order, outcomes, strict=True):
            if isinstance(outcome, ChildConflictError):
                problem = problem or Problem(reason="ChildConflict", message=str(outcome))
                continue
            if isinstance(outcome, ApiError):
                what = f"{manifest['kind']} {manifest['metadata']['name']}"
                problem = problem or Problem(
                    reason="ReconcileError", message=f"{what}: {outcome.status} {outcome.message}"
                )
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            result, live = outcome
            results.append(result)
            if result.wrote:
                self.metrics.child_writes.labels(spec.kind, result.kind, result.action).inc()
                self.cache.update(result.kind, live)
            if manifest["kind"] == spec.workload_kind:
                workload = live
        return problem, workload

    async def _sync_one(
        self, manifest: dict[str, Any], create_only: bool, new: bool
    ) -> tuple[ChildResult, dict[str, Any]]:
        meta = manifest["metadata"]
        cached = self.cache.get(manifest["kind"], meta["namespace"], meta["name"])
        return await sync_child(self.kube, manifest, create_only=create_only, cached=cached, likely_absent=new)

    # -- events ------------------------------------------------------------------------------------------------------
    async def _post(
        self, spec: KindSpec, owner: Mapping[str, Any], type_: EventType, reason: str, message: str
    ) -> None:
        await self.events.post(owner, type_, reason, message)
        self.metrics.events.labels(spec.kind, type_).inc()

    async def _announce_children(
        self,
        spec: KindSpec,
        owner: Mapping[str, Any],
        results: list[ChildResult],
        *,
        first_phase: tuple[str, str] | None = None,
    ) -> None:
        created = [f"{r.kind} {r.name}" for r in results if r.action == "created"]
        updated = [f"{r.kind} {r.name}" for r in results if r.action == "updated"]
        repaired = [f"{r.kind} {r.name} ({', '.join(r.drift[:5])})" for r in results if r.action == "repaired"]
        if created:
            phase = f"; phase {first_phase[0] or 'unset'} -> {first_phase[1]}" if first_phase else ""
            await self._post(spec, owner, "Normal", "Created", "created " + ", ".join(created) + phase)
        if updated:
            await self._post(spec, owner, "Normal", "Updated", "applied the new spec to " + ", ".join(updated))
        if repaired:
            await self._post(spec, owner, "Warning", "DriftRepaired", "restored " + ", ".join(repaired))

    async def _announce_status(
        self, spec: KindSpec, owner: Mapping[str, Any], update: StatusUpdate, *, phase: bool = True
    ) -> None:
        for transition in update.transitions:
            if transition.old_status is None and (transition.healthy or transition.reason in _BENIGN_REASONS):
                continue  # a condition's first value is news only when it reports trouble
            await self._post(spec, owner, _event_type(transition), transition.reason, transition.describe())
        if update.phase_change and phase:
            old, new = update.phase_change
            await self._post(
                spec, owner, "Warning" if new == "Failed" else "Normal", new, f"phase {old or 'unset'} -> {new}"
            )


@dataclass(frozen=True)
class _Child:
    kind: str
    name: str
    blob: bytes


@dataclass(frozen=True)
class _Built:
    inputs: str
    config_hash: str
    applied: tuple[_Child, ...]
    created: tuple[_Child, ...]


def _compact(manifest: Mapping[str, Any]) -> _Child:
    blob = json.dumps(manifest, separators=(",", ":")).encode()
    return _Child(kind=str(manifest["kind"]), name=str(manifest["metadata"]["name"]), blob=blob)


def _older(meta: Mapping[str, Any], than: Mapping[str, Any]) -> bool:
    """``meta``'s resourceVersion is older than ``than``'s (etcd's revisions are integers; anything else: not older)."""
    try:
        return meta.get("uid") == than.get("uid") and int(meta["resourceVersion"]) < int(than["resourceVersion"])
    except (KeyError, TypeError, ValueError):
        return False


def _created(results: list[ChildResult]) -> bool:
    return any(r.action == "created" for r in results)


def _deleting(owner: Mapping[str, Any]) -> bool:
    return bool((owner.get("metadata") or {}).get("deletionTimestamp"))


def _never_reconciled(owner: Mapping[str, Any]) -> bool:
    return "observedGeneration" not in (owner.get("status") or {})


CHILD_PROBLEMS = frozenset({"ChildConflict", "ReconcileError"})


def standing_problem(owner: Mapping[str, Any]) -> Problem | None:
    """The children problem the CR's Degraded condition reports for its current generation, if any: only a full
    reconcile (which syncs the children) may clear it."""
    generation = (owner.get("metadata") or {}).get("generation")
    for cond in (owner.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "Degraded"
            and cond.get("status") == "True"
            and cond.get("reason") in CHILD_PROBLEMS
            and cond.get("observedGeneration") == generation
        ):
            return Problem(reason=str(cond["reason"]), message=str(cond.get("message") or ""))
    return None


def _event_type(transition: Transition) -> EventType:
    if transition.healthy or transition.reason in _BENIGN_REASONS:
        return "Normal"
    return "Warning"
