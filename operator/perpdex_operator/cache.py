"""What the operator's own watches last saw of its children and pods (fed by the child event handlers and by the
responses of its own writes).

Used only to decide cheaply that NOTHING needs doing (the periodic status and resync checks): whenever the cache
suggests a write, the reconcile starts over from fresh API reads, so a stale entry can cost a few reads, never a
wrong write. Drift seen in a watch event triggers a fresh reconcile by itself.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from perpdex_operator.constants import LABEL_INSTANCE, LABEL_NAME

Key = tuple[str, str, str]  # (kind, namespace, name)


class WatchCache:
    def __init__(self) -> None:
        self._objects: dict[Key, bytes] = {}
        self._pods: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}  # (ns, app, instance) -> name -> pod

    def __len__(self) -> int:
        return len(self._objects) + sum(len(p) for p in self._pods.values())

    def update(self, kind: str, body: Mapping[str, Any], *, deleted: bool = False) -> None:
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
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

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """A fresh copy (the caller may change it)."""
        blob = self._objects.get((kind, namespace, name))
        if blob is None:
            return None
        obj: dict[str, Any] = json.loads(blob)
        return obj

    def has(self, kind: str, namespace: str, name: str) -> bool:
        return (kind, namespace, name) in self._objects

    def pods(self, namespace: str, app: str, instance: str) -> list[dict[str, Any]]:
        return list(self._pods.get((namespace, app, instance), {}).values())


def _slim_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata without ``managedFields`` (often the larger part of a small object, and never read here)."""
    return {k: copy.deepcopy(v) for k, v in meta.items() if k != "managedFields"}
