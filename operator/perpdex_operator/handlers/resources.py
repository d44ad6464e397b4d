"""Handlers of TradingBot and FundingCollector: reconcile on create/update/resume, periodic status and resync
timers, and the finalizer (scale to 0, wait bounded for the pod to be gone, then release).

Under API faults: a handler that meets an API error (5xx, 429, a dropped connection) or a refused child write is
retried by kopf with growing backoff (1 s doubling up to ``--retry-max-seconds``), never given up; the finalizer is
released only after the scale-down and the Lease deletion have landed. Timers of a custom resource known to be
deleted (kopf missed its deletion: a re-list after 410 Gone) send nothing."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import httpx
import kopf

from bot_runtime.kube import ApiError, NotFound, resource_path
from perpdex_operator.children import controller_of
from perpdex_operator.constants import GROUP, VERSION
from perpdex_operator.kinds import TRADINGBOT, KindSpec
from perpdex_operator.runtime import OperatorRuntime
from perpdex_operator.scheduling import backoff

log = logging.getLogger(__name__)
ERROR_BACKOFF = 5.0  # kopf's retry delay after an exception the handlers do not turn into a TemporaryError
DELETE_POLL = 2.0
Handler = Callable[..., Awaitable[None]]


def register_kind(registry: Any, rt: OperatorRuntime, spec: KindSpec) -> None:
    on: dict[str, Any] = {"registry": registry, "backoff": ERROR_BACKOFF}
    s = rt.settings

    def retry_in(kwargs: Mapping[str, Any]) -> float:
        return backoff(int(kwargs.get("retry") or 0) + 1, cap=s.retry_max_seconds)

    def retrying(handler: Handler) -> Handler:
        """API errors become kopf retries with growing backoff (kopf's own backoff is one constant)."""

        @functools.wraps(handler)
        async def wrapper(**kwargs: Any) -> None:
            try:
                await handler(**kwargs)
            except (ApiError, httpx.HTTPError) as exc:
                raise kopf.TemporaryError(f"{type(exc).__name__}: {exc}", delay=retry_in(kwargs)) from exc

        return wrapper

    @retrying
    async def reconcile(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body)
        if outcome.problem is not None and outcome.problem.reason == "ReconcileError":
            raise kopf.TemporaryError(outcome.problem.message, delay=retry_in(kwargs))

    @retrying
    async def resume(**kwargs: Any) -> None:
        """An operator (re)start: nothing is sent when the watch caches already show the object settled."""
        body, name, namespace = _identity(kwargs)
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body, optimistic=True)
        if outcome.problem is not None and outcome.problem.reason == "ReconcileError":
            raise kopf.TemporaryError(outcome.problem.message, delay=retry_in(kwargs))

    kopf.on.create(GROUP, VERSION, spec.plural, id="reconcile", **on)(reconcile)
    kopf.on.update(GROUP, VERSION, spec.plural, id="reconcile", **on)(reconcile)
    kopf.on.resume(GROUP, VERSION, spec.plural, id="reconcile", **on)(resume)

    @retrying
    async def status(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        if body.get("metadata", {}).get("deletionTimestamp") or rt.reconciler.is_gone(body):
            return
        if rt.reconciler.busy(spec, namespace, name):
            return  # a reconcile is under way: it writes the status, this tick would only repeat its reads
        # a spec change not reconciled yet (generation ahead of observedGeneration): kopf's own create/update cycle
        # normally does it, but kopf can lose that cycle (its finalizer patch refused by a conflict, then no event
        # for the object: seen under API faults, a paused bot never scaled down); so the tick reconciles the
        # children too. At steady state the generations match and the tick stays status-only.
        fresh = rt.reconciler.freshest(spec, body)
        full = fresh["metadata"].get("generation") != (fresh.get("status") or {}).get("observedGeneration")
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=full, body=body, optimistic=True)
        if not outcome.exists:
            rt.reconciler.mark_gone(body)

    @retrying
    async def resync(**kwargs: Any) -> None:
        body, name, namespace = _identity(kwargs)
        if body.get("metadata", {}).get("deletionTimestamp") or rt.reconciler.is_gone(body):
            return
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True, body=body, optimistic=True)
        if not outcome.exists:
            rt.reconciler.mark_gone(body)
        elif outcome.problem is not None and outcome.problem.reason == "ReconcileError":
            raise kopf.TemporaryError(outcome.problem.message, delay=retry_in(kwargs))

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
        event_type = kwargs["event"].get("type")
        if event_type == "DELETED":
            seen.pop(key, None)
            rt.reconciler.deleted(spec, body)
            return
        if event_type is None and rt.reconciler.last_seen(spec, namespace, name) is not None:
            rt.relister.request(namespace)  # listed again (410 Gone): a resource the list lacks sends no event
        rt.reconciler.seen(spec, body)
        rt.deletions.seen(spec, body)
        status = body.get("status") or {}
        signature = (status.get("phase"), status.get("lastError"), bool(status.get("lastHeartbeat")))
        if seen.get(key) == signature:
            return
        first = key not in seen
        seen[key] = signature
        if not first:  # the create/resume handler covers an object's first sighting
            rt.coalescer.request((spec.plural, namespace, name), full=False)

    kopf.on.event(GROUP, VERSION, spec.plural, id="reported", registry=registry)(reported)

    @retrying
    async def finalize(**kwargs: Any) -> None:
        """Scale to 0 (the pod applies onStop on SIGTERM), wait bounded for it to be gone, then release. A refused
        scale-down or Lease deletion is retried with backoff for as long as it takes, never skipped."""
        body, name, namespace = _identity(kwargs)
        rt.deletions.attempted(body)
        runtime: timedelta = kwargs["runtime"]
        outcome = await rt.reconciler.reconcile(spec, namespace, name, full=True)
        problem = outcome.problem
        if (
            outcome.exists
            and problem is not None
            and problem.reason == "ReconcileError"
            and not any(r.kind == spec.workload_kind for r in outcome.children)
        ):
            raise kopf.TemporaryError(f"scaling down: {problem.message}", delay=retry_in(kwargs))
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
    except ApiError as exc:
        if exc.status >= 500 or exc.status == 429:
            raise  # the finalizer is retried: the bot's Lease has no owner left to garbage-collect it
        log.warning("could not delete Lease %s/%s: %s", meta["namespace"], meta["name"], exc)
