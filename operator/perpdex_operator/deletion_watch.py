"""A custom resource marked for deletion whose finalizer kopf stopped working on gets a fresh event.

kopf drives each object by its watch events. It can lose an object's handling cycle: a JSON patch of its finalizers
refused by a conflict keeps the change "for the next cycle", and when the next event's body makes that patch a no-op
no handler runs and no further event comes (seen under API faults; a CR deleted then keeps its finalizer, and
``kubectl delete`` hangs, until something else touches it). Timers cannot help: kopf stops them once deletion starts.

So every CR seen marked for deletion is watched here: while the finalizer handler keeps attempting (it polls every few
seconds while the pod stops, or retries with backoff), nothing is done; once it has made no attempt for ``quiet``
seconds and the object is still there, the object's ``perpdex.io/nudged-at`` annotation is set, which is a new watch
event with the current body, and kopf runs the finalizer again. Nothing runs for objects not being deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bot_runtime.kube import ApiError, KubeClient, NotFound, resource_path
from perpdex_operator.constants import FINALIZER
from perpdex_operator.kinds import KindSpec
from perpdex_operator.reconcile import Reconciler

log = logging.getLogger(__name__)

NUDGE_ANNOTATION = "perpdex.io/nudged-at"


class DeletionWatch:
    def __init__(
        self,
        kube: KubeClient,
        reconciler: Reconciler,
        *,
        quiet: float,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._kube = kube
        self._reconciler = reconciler
        self.quiet = quiet
        self._clock = clock
        self._attempts: dict[str, float] = {}  # uid -> when the finalizer handler last ran for it
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.nudges = 0

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def attempted(self, body: Mapping[str, Any]) -> None:
        """The finalizer handler runs for this object now."""
        self._attempts[_uid(body)] = self._now()

    def seen(self, spec: KindSpec, body: Mapping[str, Any]) -> None:
        """A watch event of a custom resource: one marked for deletion with the operator's finalizer is watched."""
        meta = body.get("metadata") or {}
        uid = _uid(body)
        if not meta.get("deletionTimestamp") or FINALIZER not in (meta.get("finalizers") or []) or uid in self._tasks:
            return
        self._attempts.setdefault(uid, self._now())
        task = asyncio.create_task(
            self._watch(spec, str(meta.get("namespace")), str(meta.get("name")), uid), name=f"deletion-{uid}"
        )
        self._tasks[uid] = task
        task.add_done_callback(lambda _: self._done(uid))

    def _done(self, uid: str) -> None:
        self._tasks.pop(uid, None)
        self._attempts.pop(uid, None)

    async def _watch(self, spec: KindSpec, namespace: str, name: str, uid: str) -> None:
        while True:
            due = self._attempts.get(uid, self._now()) + self.quiet
            await asyncio.sleep(max(due - self._now(), 0.0))
            known = self._reconciler.last_seen(spec, namespace, name)
            if known is None or _uid(known) != uid:
                return  # deleted (kopf saw it go) or forgotten after the finalizer handler finished
            if FINALIZER not in ((known.get("metadata") or {}).get("finalizers") or []):
                return  # released: what remains is the API server's (or another finalizer's) business
            if self._now() - self._attempts.get(uid, self._now()) < self.quiet:
                continue  # the handler is at work
            self._attempts[uid] = self._now()  # kopf (or the next try) gets a full quiet period
            path = resource_path(spec.api_version, spec.plural, namespace, name)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            try:
                await self._kube.patch(path, {"metadata": {"annotations": {NUDGE_ANNOTATION: stamp}}})
            except NotFound:
                return
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("could not touch %s %s/%s to resume its deletion: %s", spec.kind, namespace, name, exc)
                continue
            self.nudges += 1
            log.warning(
                "%s %s/%s: its finalizer has not been worked on for %.0fs; touched it so that kopf resumes",
                spec.kind,
                namespace,
                name,
                self.quiet,
            )

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _uid(body: Mapping[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("uid"))
