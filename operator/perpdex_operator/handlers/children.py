"""Watch the operator's children (and pods) by label: a deleted or edited child re-reconciles its owner (drift
repair); workload and pod changes refresh the owner's conditions. Work is coalesced per owner. A second listing of a
child (kopf lists again after 410 Gone) has the namespace's cache checked against fresh lists
(:mod:`perpdex_operator.relist`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from perpdex_operator.constants import LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME, MANAGED_BY
from perpdex_operator.kinds import KINDS_BY_APP
from perpdex_operator.runtime import WATCHED_CHILDREN, OperatorRuntime

_WORKLOADS = frozenset({"StatefulSet", "Deployment"})


def register_children(registry: Any, rt: OperatorRuntime) -> None:
    async def on_child(**kwargs: Any) -> None:
        event: Mapping[str, Any] = kwargs["event"]
        body: Mapping[str, Any] = kwargs["body"]
        resource: Any = kwargs["resource"]
        meta = body.get("metadata") or {}
        labels = meta.get("labels") or {}
        spec = KINDS_BY_APP.get(str(labels.get(LABEL_NAME)))
        instance = labels.get(LABEL_INSTANCE)
        namespace = meta.get("namespace")
        if spec is None or not instance or not namespace:
            return
        key = (spec.plural, str(namespace), str(instance))
        kind = str(resource.kind)
        event_type = event.get("type")
        if event_type is None and rt.cache.watched(kind, str(namespace), str(meta.get("name"))):
            rt.relister.request(str(namespace))  # listed again (410 Gone): what the list lacks sends no event
        rt.cache.update(kind, body, deleted=event_type == "DELETED", watched=True)
        if kind == "Pod":
            rt.coalescer.request(key, full=False)
            return
        if event_type == "DELETED":
            rt.coalescer.request(key, full=True)
            return
        if kind == "Lease":
            return  # the bot rewrites its Lease all the time; only its deletion matters
        current = rt.reconciler.child_is_current({**body, "kind": kind})
        if current is None:
            if event_type is not None:  # not the initial listing (resume handlers cover that)
                rt.coalescer.request(key, full=True)
        elif not current:
            rt.coalescer.request(key, full=True)
        elif kind in _WORKLOADS:
            rt.coalescer.request(key, full=False)

    for group, version, plural in WATCHED_CHILDREN:
        selector = (f"{group}/{version}" if group else version, plural)
        kopf.on.event(*selector, id=f"child-{plural}", labels={LABEL_MANAGED_BY: MANAGED_BY}, registry=registry)(
            on_child
        )
