"""API-server plumbing for the local pod runner: list+watch loops, Kubernetes Events, service-account tokens."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from bot_runtime.kube import ApiError, Gone, KubeClient, NotFound, resource_path

log = logging.getLogger("perpdex.pod_runner.kube")

COMPONENT = "perpdex-pod-runner"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_ref(obj: Mapping[str, Any], kind: str, api_version: str) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "kind": kind,
        "apiVersion": api_version,
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
    }


class EventRecorder:
    """Posts core/v1 Events (best effort: a failure is logged, never raised)."""

    def __init__(self, client: KubeClient, node: str) -> None:
        self._client = client
        self._node = node
        self._tasks: set[asyncio.Task[None]] = set()
        self._host = socket.gethostname()

    def emit(self, ref: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        task = asyncio.ensure_future(self._post(dict(ref), type_, reason, message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, ref: dict[str, Any], type_: str, reason: str, message: str) -> None:
        ns = ref.get("namespace") or "default"
        stamp = now_rfc3339()
        micro = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{ref.get('name', 'object')}.{secrets.token_hex(8)}", "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": COMPONENT, "host": self._node},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._host,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "eventTime": micro,
            "action": reason,
            "count": 1,
        }
        try:
            await self._client.create(resource_path("v1", "events", ns), body)
        except (ApiError, httpx.HTTPError) as exc:
            log.debug("event %s/%s not recorded: %s", ns, reason, exc)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def request_token(
    client: KubeClient, *, namespace: str, service_account: str, pod_name: str, pod_uid: str, ttl: int
) -> tuple[str, dt.datetime]:
    """A token for the pod's ServiceAccount, bound to the Pod object (invalid once the Pod is deleted), with the API
    server's default audiences, as the kubelet requests it for the projected ``kube-api-access`` volume."""
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": ttl,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": pod_name, "uid": pod_uid},
        },
    }
    path = resource_path("v1", "serviceaccounts", namespace, service_account, "token")
    doc = await client.create(path, body)
    status = doc.get("status") or {}
    token = str(status.get("token") or "")
    if not token:
        raise ApiError(500, "NoToken", "TokenRequest returned no token")
    expires = status.get("expirationTimestamp")
    try:
        expiry = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    except ValueError:
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
    return token, expiry


EventHandler = Callable[[str, dict[str, Any]], Awaitable[None]]
SyncHandler = Callable[[list[dict[str, Any]]], Awaitable[None]]


async def informer(
    client: KubeClient,
    path: str,
    kind: str,
    on_sync: SyncHandler,
    on_event: EventHandler,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    retry_seconds: float = 2.0,
) -> None:
    """List, then watch from the list's resourceVersion; list again after a 410 or any error. ``on_sync`` gets the
    full list each time (objects missing from it were deleted meanwhile); ``on_event`` each watch event."""
    while True:
        try:
            listed = await client.list(path, label_selector=label_selector, field_selector=field_selector)
            items: list[dict[str, Any]] = listed.get("items") or []
            for item in items:
                item.setdefault("kind", kind)
            await on_sync(items)
            rv = str((listed.get("metadata") or {}).get("resourceVersion") or "")
            while True:
                async for event in client.watch(
                    path,
                    resource_version=rv,
                    label_selector=label_selector,
                    field_selector=field_selector,
                    timeout_seconds=240,
                ):
                    obj = event.get("object") or {}
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if event.get("type") in {"ADDED", "MODIFIED", "DELETED"}:
                        obj.setdefault("kind", kind)
                        await on_event(str(event["type"]), obj)
        except asyncio.CancelledError:
            raise
        except Gone:
            continue
        except (ApiError, httpx.HTTPError, ValueError) as exc:
            log.warning("watch %s: %s; listing again in %.0fs", path, exc, retry_seconds)
            await asyncio.sleep(retry_seconds)


async def cancel_all(tasks: list[asyncio.Task[None]] | set[asyncio.Task[None]]) -> None:
    """Cancel and wait until every task is really done (re-cancelling: on Python 3.11 a cancellation can be lost
    when it races with the completion of an inner ``wait_for``)."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=1.0)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.debug("task %s ended with %r", task.get_name(), task.exception())


async def delete_quietly(client: KubeClient, path: str, grace: int | None = None) -> None:
    with contextlib.suppress(NotFound):
        await client.delete(path, grace_period_seconds=grace)
