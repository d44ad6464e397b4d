"""Labels, owner references and the applied-hash annotation every child carries."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from perpdex_operator.constants import (
    APPLIED_HASH_ANNOTATION,
    LABEL_COMPONENT,
    LABEL_INSTANCE,
    LABEL_MANAGED_BY,
    LABEL_NAME,
    LABEL_PART_OF,
    MANAGED_BY,
    PART_OF,
)
from perpdex_operator.hashing import stable_hash


def selector_labels(app: str, instance: str) -> dict[str, str]:
    """The immutable pod selector of a workload."""
    return {LABEL_NAME: app, LABEL_INSTANCE: instance}


def labels(app: str, instance: str, component: str) -> dict[str, str]:
    return {
        **selector_labels(app, instance),
        LABEL_COMPONENT: component,
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PART_OF: PART_OF,
    }


def owner_reference(owner: Mapping[str, Any]) -> dict[str, Any]:
    """The controller reference to the custom resource (foreground deletion waits for the child)."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_meta(
    name: str,
    owner: Mapping[str, Any],
    child_labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": owner["metadata"]["namespace"],
        "labels": dict(child_labels),
        "ownerReferences": [owner_reference(owner)],
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def manifest_hash(manifest: Mapping[str, Any]) -> str:
    """Hash of a manifest ignoring its own applied-hash annotation."""
    clean = copy.deepcopy(dict(manifest))
    annotations = clean.get("metadata", {}).get("annotations", {})
    annotations.pop(APPLIED_HASH_ANNOTATION, None)
    if not annotations:
        clean.get("metadata", {}).pop("annotations", None)
    return stable_hash(clean)


def with_applied_hash(manifest: dict[str, Any]) -> dict[str, Any]:
    """Stamp ``perpdex.io/applied-hash`` so a later reconcile sees at a glance whether the child is current."""
    digest = manifest_hash(manifest)
    manifest["metadata"].setdefault("annotations", {})[APPLIED_HASH_ANNOTATION] = digest
    return manifest
