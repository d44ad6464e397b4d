"""Kubernetes Events (``v1`` Events with ``involvedObject``) about the custom resources: one per transition.

Posting never fails a reconcile: an Event that cannot be written is logged and dropped. Messages come from the
operator's own conditions and the bot's ``lastError`` (which the bot keeps free of secrets); never from Secrets.
"""

from __future__ import annotations

import logging
import secrets
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from bot_runtime.kube import ApiError, KubeClient, resource_path
from perpdex_operator.constants import EVENT_COMPONENT

log = logging.getLogger(__name__)
EventType = Literal["Normal", "Warning"]
_MESSAGE_LIMIT = 1024


class EventRecorder:
    def __init__(self, kube: KubeClient, *, component: str = EVENT_COMPONENT, instance: str | None = None) -> None:
        self._kube = kube
        self.component = component
        self.instance = instance or socket.gethostname()
        self.posted = 0

    def build(self, obj: Mapping[str, Any], type_: EventType, reason: str, message: str) -> dict[str, Any]:
        meta = obj["metadata"]
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:_MESSAGE_LIMIT],
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }

    async def post(self, obj: Mapping[str, Any], type_: EventType, reason: str, message: str) -> None:
        body = self.build(obj, type_, reason, message)
        try:
            await self._kube.create(resource_path("v1", "events", body["metadata"]["namespace"]), body)
        except (ApiError, httpx.HTTPError) as exc:
            log.warning("could not post event %s for %s: %s", reason, obj["metadata"].get("name"), exc)
            return
        self.posted += 1
