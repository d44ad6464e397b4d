"""Create-or-update of child objects with server-side apply, writing NOTHING when the live child already carries
the desired manifest.

A child is current when its ``perpdex.io/applied-hash`` annotation equals the desired manifest's hash (so nothing the
operator dropped from its manifest lingers) AND every desired field is still present with its value (so an edit by
someone else, e.g. ``kubectl scale``, is seen as drift and repaired). Objects whose controller is something else are
never touched (``ChildConflictError``); an object controlled by an earlier incarnation of the same CR (same kind and
name, other uid) is adopted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot_runtime.kube import Conflict, KubeClient, NotFound, resource_path
from perpdex_operator.constants import APPLIED_HASH_ANNOTATION, FIELD_MANAGER
from perpdex_operator.drift import differences

# kind -> (apiVersion, plural)
CHILD_RESOURCES: dict[str, tuple[str, str]] = {
    "ConfigMap": ("v1", "configmaps"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Service": ("v1", "services"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "Deployment": ("apps/v1", "deployments"),
    "Lease": ("coordination.k8s.io/v1", "leases"),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets"),
    "Pod": ("v1", "pods"),
}

Action = Literal["unchanged", "created", "updated", "repaired"]


class ChildConflictError(Exception):
    """A child's name is taken by an object this CR does not control."""


class ChildResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    action: Action
    drift: tuple[str, ...] = ()

    @property
    def wrote(self) -> bool:
        return self.action != "unchanged"


def child_path(manifest: Mapping[str, Any], *, collection: bool = False) -> str:
    api_version, plural = CHILD_RESOURCES[manifest["kind"]]
    meta = manifest["metadata"]
    return resource_path(api_version, plural, meta["namespace"], None if collection else meta["name"])


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((ref for ref in refs if ref.get("controller")), None)


def check_ownership(manifest: Mapping[str, Any], live: Mapping[str, Any]) -> None:
    wanted = controller_of(manifest)
    actual = controller_of(live)
    if wanted is None:
        return
    same_owner = actual is not None and all(actual.get(k) == wanted.get(k) for k in ("kind", "name"))
    same_group = (
        actual is not None and str(actual.get("apiVersion", "")).split("/")[0] == wanted["apiVersion"].split("/")[0]
    )
    if not (same_owner and same_group):
        holder = "nothing" if actual is None else f"{actual.get('kind')}/{actual.get('name')}"
        raise ChildConflictError(
            f"{manifest['kind']} {manifest['metadata']['name']} already exists and is controlled by {holder}; "
            "rename or delete it"
        )


# fields the API server refuses to change on an existing object: a live child keeps its value (the desired one applies
# to children created from now on), so an operator upgrade never wedges on them
IMMUTABLE_SPEC_FIELDS: dict[str, tuple[str, ...]] = {"StatefulSet": ("podManagementPolicy",)}


def keep_immutable(desired: Mapping[str, Any], live: Mapping[str, Any]) -> Mapping[str, Any]:
    """``desired`` with the live values of the fields the API server cannot change (see IMMUTABLE_SPEC_FIELDS)."""
    fields = IMMUTABLE_SPEC_FIELDS.get(str(desired.get("kind")), ())
    live_spec = live.get("spec") or {}
    kept = {f: live_spec[f] for f in fields if f in live_spec and live_spec[f] != (desired.get("spec") or {}).get(f)}
    if not kept:
        return desired
    return {**desired, "spec": {**desired["spec"], **kept}}


def is_current(desired: Mapping[str, Any], live: Mapping[str, Any]) -> tuple[bool, tuple[str, ...]]:
    """(current?, drifted paths)."""
    want = (desired["metadata"].get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
    have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
    drift = tuple(differences(desired, live))
    return want == have and not drift, drift


# an apply carrying this resourceVersion only creates: etcd revisions start at 1 and every stored object has a later
# one, so on an existing object the precondition fails with 409 and nothing is touched (see ``sync_child``)
_CREATE_ONLY_VERSION = "1"


async def sync_child(
    kube: KubeClient,
    manifest: Mapping[str, Any],
    *,
    create_only: bool = False,
    cached: Mapping[str, Any] | None = None,
    likely_absent: bool = False,
) -> tuple[ChildResult, dict[str, Any]]:
    """Make the cluster hold ``manifest``; returns what was done and the live object.

    ``cached``: the watch cache's copy of the child. When it shows the child current (and ours), nothing is sent:
    a later change of the live child arrives as a watch event and triggers its own reconcile.
    ``likely_absent`` (no cached copy, and the owner was never reconciled): try to create the child in one request,
    without reading it first; if it exists after all, the create is refused without touching it (409) and the usual
    read-compare-apply path decides.
    """
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    if cached is not None:
        if create_only:  # the Lease (see below)
            return ChildResult(kind=kind, name=name, action="unchanged"), dict(cached)
        check_ownership(manifest, cached)
        manifest = keep_immutable(manifest, cached)
        if (cached.get("metadata") or {}).get("deletionTimestamp") or is_current(manifest, cached)[0]:
            return ChildResult(kind=kind, name=name, action="unchanged"), dict(cached)
    elif likely_absent:
        try:
            if create_only:
                created = await kube.create(child_path(manifest, collection=True), manifest)
            else:
                created = await kube.patch(
                    child_path(manifest),
                    {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": _CREATE_ONLY_VERSION}},
                    patch_type="apply",
                    field_manager=FIELD_MANAGER,
                    force=True,
                )
            return ChildResult(kind=kind, name=name, action="created"), created
        except Conflict:
            pass  # it exists: read it and decide as usual
    try:
        live: dict[str, Any] | None = await kube.get(child_path(manifest))
    except NotFound:
        live = None
    if live is not None:
        if create_only:  # the Lease: its holder (the bot) rewrites it, so only its existence is ours to ensure
            return ChildResult(kind=kind, name=name, action="unchanged"), live
        check_ownership(manifest, live)
        if (live.get("metadata") or {}).get("deletionTimestamp"):
            return ChildResult(kind=kind, name=name, action="unchanged"), live
        manifest = keep_immutable(manifest, live)
        current, drift = is_current(manifest, live)
        if current:
            return ChildResult(kind=kind, name=name, action="unchanged"), live
        want = (manifest["metadata"].get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
        have = ((live.get("metadata") or {}).get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
        action: Action = "repaired" if want == have else "updated"
    else:
        drift, action = (), "created"
    if create_only:
        try:
            applied = await kube.create(child_path(manifest, collection=True), manifest)
        except Conflict:  # created in between (by its user, e.g. the bot)
            return ChildResult(kind=kind, name=name, action="unchanged"), await kube.get(child_path(manifest))
    else:
        applied = await kube.patch(
            child_path(manifest), manifest, patch_type="apply", field_manager=FIELD_MANAGER, force=True
        )
    return ChildResult(kind=kind, name=name, action=action, drift=drift), applied
