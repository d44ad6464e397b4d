"""A light async Kubernetes API client on httpx.

Bot pods only patch their own status and renew a Lease; the full Kubernetes client library would cost as much memory
as a venue SDK (see the SDK notes), so this module speaks the REST API directly: JSON in, JSON out, no models.

Configuration, in order: an explicit kubeconfig path; in-cluster (``KUBERNETES_SERVICE_HOST`` + the service-account
directory, ``PERPDEX_SERVICEACCOUNT_DIR`` overriding ``/var/run/secrets/kubernetes.io/serviceaccount``); ``$KUBECONFIG``;
``~/.kube/config``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import yaml

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
_MAX_CONNECTIONS = 64
PatchType = Literal["merge", "json", "strategic", "apply"]
_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class ConfigError(Exception):
    """No usable cluster configuration."""


class ApiError(Exception):
    """A non-2xx answer of the API server (``status`` is the HTTP code, ``reason`` the Status reason)."""

    def __init__(self, status: int, reason: str, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.body = dict(body or {})


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    """409: a resourceVersion conflict or an object that already exists (``reason`` tells which)."""


class Gone(ApiError):
    """410: a watch's resourceVersion is too old; list again."""


def _error_for(status: int) -> type[ApiError]:
    return {404: NotFound, 409: Conflict, 410: Gone}.get(status, ApiError)


def resource_path(
    api_version: str,
    plural: str,
    namespace: str | None = None,
    name: str | None = None,
    subresource: str | None = None,
) -> str:
    """``("v1", "pods", "ns", "p")`` → ``/api/v1/namespaces/ns/pods/p``; ``("apps/v1", ...)`` → ``/apis/apps/v1/...``."""
    parts = ["/api/v1" if api_version == "v1" else f"/apis/{api_version}"]
    if namespace:
        parts.append(f"namespaces/{namespace}")
    parts.append(plural)
    if name:
        parts.append(name)
        if subresource:
            parts.append(subresource)
    return "/".join(parts)


@dataclass
class KubeConfig:
    server: str
    token: str | None = None
    token_file: str | None = None  # re-read on every request (projected tokens rotate)
    ca_file: str | None = None
    ca_data: str | None = None  # PEM
    client_cert_file: str | None = None
    client_key_file: str | None = None
    insecure: bool = False
    namespace: str = "default"
    _tmpfiles: list[str] = field(default_factory=list, repr=False)

    # loading ------------------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, kubeconfig: str | os.PathLike[str] | None = None, context: str | None = None) -> KubeConfig:
        if kubeconfig is not None:
            return cls.from_kubeconfig(kubeconfig, context)
        incluster = cls.in_cluster_or_none()
        if incluster is not None:
            return incluster
        path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or str(Path.home() / ".kube" / "config")
        if not Path(path).exists():
            raise ConfigError(
                "no Kubernetes configuration: not in a cluster (KUBERNETES_SERVICE_HOST unset) and no kubeconfig "
                f"at {path} (set KUBECONFIG)"
            )
        return cls.from_kubeconfig(path, context)

    @classmethod
    def in_cluster_or_none(cls) -> KubeConfig | None:
        host = os.environ.get("KUBERNETES_SERVICE_HOST")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        sa_dir = Path(os.environ.get("PERPDEX_SERVICEACCOUNT_DIR", SERVICEACCOUNT_DIR))
        if not host or not (sa_dir / "token").exists():
            return None
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        namespace_file = sa_dir / "namespace"
        return cls(
            server=f"https://{host}:{port}",
            token_file=str(sa_dir / "token"),
            ca_file=str(sa_dir / "ca.crt") if (sa_dir / "ca.crt").exists() else None,
            namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        )

    @classmethod
    def from_kubeconfig(cls, path: str | os.PathLike[str], context: str | None = None) -> KubeConfig:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        base = Path(path).parent
        ctx_name = context or doc.get("current-context")
        ctx = _named(doc.get("contexts"), ctx_name, "context", path).get("context", {})
        cluster = _named(doc.get("clusters"), ctx.get("cluster"), "cluster", path).get("cluster", {})
        user = _named(doc.get("users"), ctx.get("user"), "user", path).get("user", {}) if ctx.get("user") else {}
        if "exec" in user or "auth-provider" in user:
            raise ConfigError(
                f"{path}: exec/auth-provider credentials are not supported; use a token or client certificate"
            )

        def rel(p: str | None) -> str | None:
            return str(base / p) if p and not os.path.isabs(p) else p

        config = cls(
            server=cluster["server"].rstrip("/"),
            token=user.get("token"),
            token_file=rel(user.get("tokenFile")),
            ca_file=rel(cluster.get("certificate-authority")),
            ca_data=_b64(cluster.get("certificate-authority-data")),
            client_cert_file=rel(user.get("client-certificate")),
            client_key_file=rel(user.get("client-key")),
            insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
            namespace=ctx.get("namespace", "default"),
        )
        for data_key, attr in (("client-certificate-data", "client_cert_file"), ("client-key-data", "client_key_file")):
            if user.get(data_key):
                setattr(config, attr, config._write_tmp(_b64(user[data_key]) or ""))
        return config

    # use ----------------------------------------------------------------------------------------------------------
    def bearer_token(self) -> str | None:
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https"):
            return False
        if self.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cafile=self.ca_file, cadata=self.ca_data)
        if self.client_cert_file:
            ctx.load_cert_chain(self.client_cert_file, self.client_key_file)
        return ctx

    def _write_tmp(self, content: str) -> str:
        fd, name = tempfile.mkstemp(prefix="perpdex-kube-", suffix=".pem")
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        self._tmpfiles.append(name)
        return name


def _named(items: list[dict[str, Any]] | None, name: str | None, what: str, path: object) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return item
    raise ConfigError(f"{path}: {what} {name!r} not found")


def _b64(value: str | None) -> str | None:
    return base64.b64decode(value).decode() if value else None


class KubeClient:
    """``async with KubeClient(KubeConfig.load()) as kube: await kube.get(resource_path(...))``."""

    def __init__(
        self,
        config: KubeConfig | None = None,
        *,
        timeout: float = 30.0,
        user_agent: str = "perpdex",
        max_in_flight: int | None = None,
    ) -> None:
        """``max_in_flight``: at most that many requests (watch streams excepted) at once; the others wait their turn
        in FIFO order here instead of in httpcore's pool, whose scan of waiting requests against its connections
        costs O(waiting x connections) per change (measured: 81 % of a busy operator's CPU with ~1000 waiting).
        Keep it below the pool size (64) so watch streams still find a connection. None: no bound."""
        if max_in_flight is not None and not 1 <= max_in_flight <= _MAX_CONNECTIONS:
            raise ValueError(f"max_in_flight must be within 1..{_MAX_CONNECTIONS}")
        self.config = config or KubeConfig.load()
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight is not None else None
        self._client = httpx.AsyncClient(
            base_url=self.config.server,
            verify=self.config.ssl_context(),
            timeout=httpx.Timeout(timeout),
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            # every connection stays alive: a smaller keep-alive pool than the connection cap turns each burst into
            # TLS handshakes (measured in bench/operator_scale: ~2 handshakes per request at 100 bots)
            limits=httpx.Limits(max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS),
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers: dict[str, str] = {}
        token = self.config.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        content = None if body is None else json.dumps(body).encode()
        async with self._slots if self._slots is not None else contextlib.nullcontext():
            response = await self._client.request(
                method,
                path,
                params={k: v for k, v in (params or {}).items() if v is not None},
                content=content,
                headers=self._headers(content_type if content is not None else None),
            )
        if response.status_code >= 400:
            raise _api_error(response.status_code, response.content)
        if not response.content:
            return {}
        data: dict[str, Any] = response.json()
        return data

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def list(
        self, path: str, *, label_selector: str | None = None, field_selector: str | None = None, **params: Any
    ) -> dict[str, Any]:
        return await self.request(
            "GET", path, params={"labelSelector": label_selector, "fieldSelector": field_selector, **params}
        )

    async def create(self, path: str, body: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        return await self.request("POST", path, params=params, body=body)

    async def replace(self, path: str, body: Mapping[str, Any], **params: Any) -> dict[str, Any]:
        return await self.request("PUT", path, params=params, body=body)

    async def patch(
        self,
        path: str,
        body: Any,
        *,
        patch_type: PatchType = "merge",
        field_manager: str | None = None,
        force: bool | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Patch; ``patch_type="apply"`` is server-side apply (needs ``field_manager``)."""
        if patch_type == "apply" and not field_manager:
            raise ValueError("server-side apply needs a field_manager")
        query = {"fieldManager": field_manager, "force": ("true" if force else None), **params}
        return await self.request("PATCH", path, params=query, body=body, content_type=_CONTENT_TYPES[patch_type])

    async def delete(
        self,
        path: str,
        *,
        propagation_policy: Literal["Foreground", "Background", "Orphan"] | None = None,
        grace_period_seconds: int | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] | None = None
        if propagation_policy or grace_period_seconds is not None:
            body = {"kind": "DeleteOptions", "apiVersion": "v1"}
            if propagation_policy:
                body["propagationPolicy"] = propagation_policy
            if grace_period_seconds is not None:
                body["gracePeriodSeconds"] = grace_period_seconds
        return await self.request("DELETE", path, body=body)

    async def watch(
        self,
        path: str,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        timeout_seconds: int | None = None,
        allow_bookmarks: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield watch events ``{"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}`` until the server ends the
        stream (after ``timeout_seconds``). An ``ERROR`` event with code 410 raises :class:`Gone`: list again."""
        params = {
            "watch": "true",
            "resourceVersion": resource_version,
            "labelSelector": label_selector,
            "fieldSelector": field_selector,
            "timeoutSeconds": timeout_seconds,
            "allowWatchBookmarks": "true" if allow_bookmarks else None,
        }
        timeout = httpx.Timeout(30.0, read=(timeout_seconds + 30) if timeout_seconds else None)
        async with self._client.stream(
            "GET",
            path,
            params={k: v for k, v in params.items() if v is not None},
            headers=self._headers(),
            timeout=timeout,
        ) as response:
            if response.status_code >= 400:
                raise _api_error(response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event: dict[str, Any] = json.loads(line)
                if event.get("type") == "ERROR":
                    status = event.get("object", {})
                    code = int(status.get("code", 500))
                    raise _error_for(code)(code, status.get("reason", ""), status.get("message", ""), status)
                yield event


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {"message": raw[:500].decode(errors="replace")}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    return _error_for(status)(status, str(body.get("reason", "")), str(body.get("message", "")), body)
