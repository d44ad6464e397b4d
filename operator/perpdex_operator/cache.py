"""What the operator's own watches last saw of its children and pods (fed by the child event handlers and by the
responses of its own writes).

Used only to decide cheaply that NOTHING needs doing (the periodic status and resync checks): whenever the cache
suggests a write, the reconcile starts over from fresh API reads, so a stale entry can cost a few reads, never a
wrong write. Drift seen in a watch event triggers a fresh reconcile by itself.

A cached entry is trusted to exist, so the cache must learn of every deletion: a watch that cannot resume (410 Gone)
lists again and sends no DELETED event for what the new list lacks. :meth:`WatchCache.replace` applies such a fresh
list as the whole truth of one kind in one namespace (see :mod:`perpdex_operator.relist`).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from perpdex_operator.constants import LABEL_INSTANCE, LABEL_NAME

Key = tuple[str, str, str]  # (kind, namespace, name)


class WatchCache:
    def __init__(self) -> None:
        self._objects: dict[Key, bytes] = {}
        self._pods: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}  # (ns, app, instance) -> name -> pod
        self._watched: set[Key] = set()  # delivered by a watch at least once (a second listing of one is a re-list)
        # the newest resourceVersion applied per object, deletions included: the answer to one of the operator's
        # writes can arrive after a newer watch event of the same object (the pod runner or the kubelet writes the
        # workload's status within milliseconds of the operator's scale-down), and must not overwrite it
        self._versions: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self._objects) + sum(len(p) for p in self._pods.values())

    def update(self, kind: str, body: Mapping[str, Any], *, deleted: bool = False, watched: bool = False) -> None:
        """``watched``: the body comes from a watch event (not from the answer to one of the operator's writes)."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if not self._newer(kind, namespace, name, meta.get("resourceVersion"), deleted=deleted):
            return
        if deleted:
            self._watched.discard((kind, namespace, name))
        elif watched:
            self._watched.add((kind, namespace, name))
        if kind == "Pod":
            labels = meta.get("labels") or {}
            group = (namespace, str(labels.get(LABEL_NAME, "")), str(labels.get(LABEL_INSTANCE, "")))
            pods = self._pods.setdefault(group, {})
            if deleted:
                pods.pop(name, None)
                if not pods:
                    self._pods.pop(group, None)
            else:  # conditions read only the pod's metadata and status
                pods[name] = {"metadata": _slim_meta(meta), "status": copy.deepcopy(body.get("status") or {})}
            return
        if deleted:
            self._objects.pop((kind, namespace, name), None)
        else:  # compact JSON: a few KB per child instead of tens of KB of dicts (thousands of children at scale)
            meta = {k: v for k, v in meta.items() if k != "managedFields"}  # serialised at once: no copy needed
            slim = {**{k: v for k, v in body.items() if k != "metadata"}, "metadata": meta, "kind": kind}
            self._objects[(kind, namespace, name)] = json.dumps(slim, separators=(",", ":")).encode()

    def _newer(self, kind: str, namespace: str, name: str, resource_version: object, *, deleted: bool) -> bool:
        """Record ``resource_version`` for the object and say whether it is newer than what the cache applied last.
        A deletion always applies (its event may carry the last live version); a body older than the last applied
        version (a late write answer, or a resurrection after a deletion) is ignored."""
        key = (kind, namespace, name)
        version = _version(resource_version)
        last = self._versions.get(key)
        if last is not None and version >= 0 and version < last and not deleted:
            return False
        if deleted and kind == "Pod":
            self._versions.pop(key, None)  # pods are only watched (never written here): watch order is enough
        elif version >= 0:
            self._versions[key] = max(version, last or -1)
        return True

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A fresh copy (the caller may change it)."""
        blob = self._objects.get((kind, namespace, name))
        if blob is None:
            return None
        obj: dict[str, Any] = json.loads(blob)
        return obj

    def watched(self, kind: str, namespace: str, name: str) -> bool:
        """A watch already delivered this object (so a listing event for it means its kind is being listed again)."""
        return (kind, namespace, name) in self._watched

    def replace(
        self, kind: str, namespace: str, items: Iterable[Mapping[str, Any]], list_version: str
    ) -> list[dict[str, Any]]:
        """Take a fresh LIST of ``kind`` in ``namespace`` (as of resourceVersion ``list_version``) as the truth: a
        listed object newer than its entry replaces it; an entry the list lacks and older than the list is dropped.
        Returns the dropped objects (their owners need a reconcile). Entries newer than the list (written or watched
        since) are kept."""
        as_of = _version(list_version)
        listed: set[str] = set()
        for item in items:
            meta = item.get("metadata") or {}
            name = str(meta.get("name", ""))
            listed.add(name)
            known = self._get_any(kind, namespace, name)
            if known is None or _version(known["metadata"].get("resourceVersion")) <= _version(
                meta.get("resourceVersion")
            ):
                self.update(kind, item)
        dropped = [
            obj
            for obj in self._all(kind, namespace)
            if obj["metadata"].get("name") not in listed and _version(obj["metadata"].get("resourceVersion")) < as_of
        ]
        for obj in dropped:
            self.update(kind, obj, deleted=True)
        return dropped

    def namespaces(self, kind: str) -> set[str]:
        """The namespaces holding cached objects of ``kind``."""
        if kind == "Pod":
            return {ns for ns, _, _ in self._pods}
        return {ns for k, ns, _ in self._objects if k == kind}

    def _get_any(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind != "Pod":
            return self.get(kind, namespace, name)
        return next((o for o in self._all(kind, namespace) if o["metadata"].get("name") == name), None)

    def _all(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        if kind == "Pod":
            return [
                {**pod, "metadata": {**pod["metadata"], "namespace": namespace}}
                for (ns, _, _), pods in self._pods.items()
                if ns == namespace
                for pod in pods.values()
            ]
        out: list[dict[str, Any]] = []
        for (k, ns, _), blob in self._objects.items():
            if k == kind and ns == namespace:
                out.append(json.loads(blob))
        return out

    def has(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, namespace, name) in self._objects

    def pods(self, namespace: str, app: str, instance: str) -> list[dict[str, Any]]:
        return list(self._pods.get((namespace, app, instance), {}).values())


def _version(resource_version: object) -> int:
    """etcd's revisions are integers; anything else sorts first (an entry without one is never newer than a list)."""
    try:
        return int(str(resource_version))
    except ValueError:
        return -1


def _slim_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata without ``managedFields`` (often the larger part of a small object, and never read here)."""
    return {k: copy.deepcopy(v) for k, v in meta.items() if k != "managedFields"}
