"""Which of the pod's Secrets changed since this process started (issue 19: "fixing the Secret retries" preflight).

Credentials reach the pod only as ``secretKeyRef`` env vars, resolved when the container starts: a fixed Secret
reaches the process only through a container restart. The operator lists the Secrets the pod references in
``PERPDEX_SECRET_NAMES`` and grants the bot ``get`` on exactly those (``resourceNames``; the pod already holds their
values). While preflight has failed, the bot compares each one's ``metadata.resourceVersion`` with the one it read at
start; a change ends the process with exit code 0 and the kubelet restarts the container with the new values.

Only ``metadata.resourceVersion`` is kept: a Secret's data is never stored, logged or written anywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot_runtime.kube import ApiError, resource_path

log = logging.getLogger(__name__)

SECRET_NAMES_ENV = "PERPDEX_SECRET_NAMES"  # noqa: S105 - the env var holding the names, no value
SECRET_POLL_S = 30.0


class SecretReader(Protocol):
    async def get(self, path: str, **params: Any) -> dict[str, Any]: ...


def secret_names(env: Mapping[str, str]) -> list[str]:
    """The Secrets the pod references, in the order the operator listed them (comma-separated)."""
    return [name.strip() for name in env.get(SECRET_NAMES_ENV, "").split(",") if name.strip()]


class SecretWatch:
    def __init__(self, client: SecretReader, namespace: str, names: list[str]) -> None:
        self.client = client
        self.namespace = namespace
        self.names = names
        self.started: dict[str, str | None] = {}  # name → resourceVersion at start (None: absent then)
        self.readable = bool(names)

    async def _version(self, name: str) -> str | None:
        """The Secret's resourceVersion; None when it does not exist. Raises ApiError for anything else."""
        try:
            secret = await self.client.get(resource_path("v1", "secrets", self.namespace, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return str(secret.get("metadata", {}).get("resourceVersion") or "")

    async def remember(self) -> None:
        """Read every Secret's resourceVersion once, at start. Without permission (403) the watch is off."""
        for name in self.names:
            try:
                self.started[name] = await self._version(name)
            except ApiError as exc:
                log.warning(
                    "cannot read the Secrets' versions: a fixed Secret needs a pod restart",
                    extra={"secret": name, "status": exc.status},
                )
                self.readable = False
                return
            except OSError as exc:
                log.warning("cannot read the Secrets' versions", extra={"secret": name, "error": type(exc).__name__})
                self.readable = False
                return

    async def changed(self) -> str | None:
        """The first Secret whose resourceVersion differs from the one at start (created or changed; a deleted one
        would only turn a restart into CreateContainerConfigError, so it is no reason to restart)."""
        if not self.readable:
            return None
        for name in self.names:
            try:
                version = await self._version(name)
            except (ApiError, OSError) as exc:
                log.warning("cannot read a Secret's version", extra={"secret": name, "error": type(exc).__name__})
                continue
            if version is not None and version != self.started.get(name):
                return name
        log.debug("Secret versions unchanged", extra={"secrets": len(self.names)})
        return None
