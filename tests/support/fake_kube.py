"""The few Kubernetes API calls a bot process makes, in memory (tests only).

Lease get/create/replace, TradingBot get, and JSON merge patches of the TradingBot's status: a dict of objects, so
several in-process :class:`~bot_runtime.process.bot.BotProcess` instances can share one "API server" (the lease
between them, the TradingBot they all read). The real API server is covered by the tests under
tests/integration/bot that start ``perpdex bot`` as a process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot_runtime.kube import NotFound, resource_path
from bot_runtime.status import GROUP_VERSION, LEASE_API


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = merge(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeKube:
    """One TradingBot (``namespace``/``name``) and its Lease, in memory."""

    def __init__(self, tradingbot: dict[str, Any], *, namespace: str = "ns", name: str = "bot") -> None:
        self.bot_path = resource_path(GROUP_VERSION, "tradingbots", namespace, name)
        self.status_path = f"{self.bot_path}/status"
        self.lease_path = resource_path(LEASE_API, "leases", namespace, name)
        self.objects: dict[str, dict[str, Any]] = {self.bot_path: tradingbot}
        self.status_patches: list[dict[str, Any]] = []
        self.gets: list[str] = []
        self.after_get: Callable[[str], None] | None = None

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        self.gets.append(path)
        if path not in self.objects:
            raise NotFound(404, "NotFound", path)
        obj = copy.deepcopy(self.objects[path])
        if self.after_get is not None:
            self.after_get(path)
        return obj

    async def create(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.objects[f"{path}/{body['metadata']['name']}"] = copy.deepcopy(body)
        return body

    async def replace(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.objects[path] = copy.deepcopy(body)
        return body

    async def patch(self, path: str, body: dict[str, Any], patch_type: str = "merge", **params: Any) -> dict[str, Any]:
        assert path == self.status_path and patch_type == "merge"
        self.status_patches.append(copy.deepcopy(body))
        if self.bot_path not in self.objects:
            raise NotFound(404, "NotFound", path)
        return merge(self.objects[self.bot_path], copy.deepcopy(body))

    async def close(self) -> None:
        pass

    # the test's hands ------------------------------------------------------------------------------------------------
    @property
    def status(self) -> dict[str, Any]:
        return dict(self.objects[self.bot_path].get("status") or {})

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.objects[self.bot_path].setdefault("spec", {})
        return spec

    @property
    def lease_holder(self) -> str | None:
        lease = self.objects.get(self.lease_path)
        return None if lease is None else (lease.get("spec") or {}).get("holderIdentity")

    def expire_lease(self) -> None:
        """Let the Lease's duration pass since its last renewal (what the clock does to a dead holder's lease)."""
        lease = self.objects[self.lease_path]
        past = datetime.now(UTC) - timedelta(seconds=3600)
        lease["spec"]["renewTime"] = past.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def mark_deleted(self) -> None:
        self.objects[self.bot_path]["metadata"]["deletionTimestamp"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
