"""Handlers of TradingBot and FundingCollector: reconcile on create/update/resume, periodic status and resync
timers, and the finalizer (scale to 0, wait bounded for the pod to be gone, then release)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import kopf

from bot_runtime.kube import ApiError, NotFound, resource_path
from perpdex_operator.children import controller_of
from perpdex_operator.constants import GROUP, VERSION
from perpdex_operator.kinds import TRADINGBOT, KindSpec
from perpdex_operator.runtime import OperatorRuntime

log = logging.getLogger(__name__)
RETRY_DELAY = 10.0
ERROR_BACKOFF = 5.0  # retry after an unexpected error (e.g. a dropped connection); kopf's default is 60 s
DELETE_POLL = 2.0


def register_kind(registry: Any, rt: OperatorRuntime, spec: KindSpec) -> None:
    on: dict[str, Any] = {"registry": registry, "backoff": ERROR_BACKOFF}

    async def reconcile(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body)
        if outcome.problem is not None and outcome.problem.reason == "ReconcileError":
            raise kopf.TemporaryError(outcome.problem.message, delay=RETRY_DELAY)

    async def resume(**kwargs: Any) -> None:
        """An operator (re)start: nothing is sent when the watch caches already show the object settled."""
        body, name, namespace = _identity(kwargs)
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body, optimistic=True)
        if outcome.problem is not None and outcome.problem.reason == "ReconcileError":
            raise kopf.TemporaryError(outcome.problem.message, delay=RETRY_DELAY)

    kopf.on.create(GROUP, VERSION, spec.plural, id="reconcile", **on)(reconcile)
    kopf.on.update(GROUP, VERSION, spec.plural, id="reconcile", **on)(reconcile)
    kopf.on.resume(GROUP, VERSION, spec.plural, id="reconcile", **on)(resume)

    async def status(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        if body.get("metadata", {}).get("deletionTimestamp"):
            return
        if rt.reconciler.busy(spec, namespace, name):
            return  # a reconcile is under way: it writes the status, this tick would only repeat its reads
        await rt.reconciler.reconcile(spec, namespace, name, full=False, body=body, optimistic=True)

    async def resync(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        if not body.get("metadata", {}).get("deletionTimestamp"):
            await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body, optimistic=True)

    s = rt.settings
    kopf.timer(
        GROUP,
        VERSION,
        spec.plural,
        id="status",
        interval=s.status_interval_seconds,
        initial_delay=s.status_interval_seconds,  # the create/resume handler goes first
        **on,
    )(status)
    kopf.timer(
        GROUP,
        VERSION,
        spec.plural,
        id="resync",
        interval=s.resync_interval_seconds,
        initial_delay=s.resync_interval_seconds,
        **on,
    )(resync)

    seen: dict[tuple[str, str], tuple[Any, ...]] = {}

    async def reported(**kwargs: Any) -> None:
        """The pod's own status writes (phase, error) re-derive the conditions at once instead of at the next status
        check; heartbeat-only writes do not (staleness is the timer's job)."""
        body, name, namespace = _identity(kwargs)
        key = (namespace, name)
        if kwargs["event"].get("type") == "DELETED":
            seen.pop(key, None)
            rt.reconciler.seen(spec, body, deleted=True)
            return
        rt.reconciler.seen(spec, body)
        status = body.get("status") or {}
        signature = (status.get("phase"), status.get("lastError"), bool(status.get("lastHeartbeat")))
        if seen.get(key) == signature:
            return
        first = key not in seen
        seen[key] = signature
        if not first:  # the create/resume handler covers an object's first sighting
            rt.coalescer.request((spec.plural, namespace, name), full=False)

    kopf.on.event(GROUP, VERSION, spec.plural, id="reported", registry=registry)(reported)

    async def finalize(**kwargs: Any) -> None:
        """Scale to 0 (the pod applies onStop on SIGTERM), wait bounded for it to be gone, then release."""
        body, name, namespace = _identity(kwargs)
        runtime: timedelta = kwargs["runtime"]
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True)
        if outcome.exists and outcome.active:
            limit = s.delete_timeout_seconds
            if runtime.total_seconds() < limit:
                raise kopf.TemporaryError(f"waiting for the {spec.app} pod to stop", delay=DELETE_POLL)
            await rt.events.post(
                body,
                "Warning",
                "DeleteTimeout",
                f"the pod did not stop within {int(limit)}s; releasing the finalizer anyway",
            )
            rt.metrics.events.labels(spec.kind, "Warning").inc()
        if spec is TRADINGBOT:
            await _delete_lease(rt, body)
        rt.reconciler.forget(spec, namespace, name)

    kopf.on.delete(GROUP, VERSION, spec.plural, id="finalize", **on)(finalize)


def _identity(kwargs: Mapping[str, Any]) -> tuple[Mapping[str, Any], str, str]:
    return kwargs["body"], str(kwargs["name"]), str(kwargs["namespace"])


async def _delete_lease(rt: OperatorRuntime, owner: Mapping[str, Any]) -> None:
    """The bot's Lease loses its owner reference when the bot rewrites it, so garbage collection cannot be relied on:
    delete it once the pod is gone (unless something else controls a Lease of that name)."""
    meta = owner["metadata"]
    path = resource_path("coordination.k8s.io/v1", "leases", meta["namespace"], meta["name"])
    try:
        lease = await rt.kube.get(path)
        ctrl = controller_of(lease)
        if ctrl is not None and ctrl.get("uid") != meta.get("uid"):
            return
        await rt.kube.delete(path)
        rt.metrics.child_writes.labels(TRADINGBOT.kind, "Lease", "deleted").inc()
    except NotFound:
        return
    except (ApiError, httpx.HTTPError) as exc:
        log.warning("could not delete Lease %s/%s: %s", meta["namespace"], meta["name"], exc)
