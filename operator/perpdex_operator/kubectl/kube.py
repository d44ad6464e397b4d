"""The plugin's only way to the cluster: ``kubectl`` as a subprocess, JSON in and out.

kubectl carries the user's kubeconfig, context, namespace and credentials (exec plugins included); the plugin passes
``--kubeconfig``/``--context`` through and turns kubectl's failures into the few errors a user can act on:
:class:`NoCrds` (the CRDs are not installed), :class:`Forbidden` (RBAC), :class:`NotFound` (no such object), or a
plain :class:`KubectlError` with kubectl's own message.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

GROUP = "perpdex.io"
VERSION = "v1alpha1"
TRADINGBOTS = f"tradingbots.{GROUP}"
COLLECTORS = f"fundingcollectors.{GROUP}"
FIELD_MANAGER = "kubectl-perpdex"

_NO_RESOURCE = re.compile(r"the server doesn't have a resource type \"?([a-z.]+)\"?")
_SERVER_ERROR = re.compile(r"Error from server \((\w+)\): (.*)", re.DOTALL)


class KubectlError(Exception):
    """kubectl failed; the message is kubectl's (never contains a Secret's value: the plugin never reads one)."""


class NoCrds(KubectlError):
    def __init__(self, resource: str) -> None:
        super().__init__(
            f"the {resource} resource is not installed in this cluster (no perp-dex-operator CRDs): install the chart "
            "(helm install ... charts/perp-dex-operator) or `kubectl apply --server-side -f crds/`"
        )


class Forbidden(KubectlError):
    pass


class NotFound(KubectlError):
    pass


@dataclass(frozen=True)
class Kubectl:
    """``kubectl`` with the user's ``--kubeconfig``/``--context`` (None: kubectl's own defaults)."""

    kubeconfig: str | None = None
    context: str | None = None
    binary: str = "kubectl"

    def check(self) -> None:
        if shutil.which(self.binary) is None:
            raise KubectlError(f"{self.binary} not found on PATH: the plugin runs kubectl for every call")

    def argv(self, args: Sequence[str]) -> list[str]:
        out = [self.binary]
        if self.kubeconfig:
            out.append(f"--kubeconfig={self.kubeconfig}")
        if self.context:
            out.append(f"--context={self.context}")
        return [*out, *args]

    def run(self, args: Sequence[str], *, input: str | None = None, timeout: float = 60) -> str:
        """Run kubectl; stdout on success, a typed error otherwise."""
        try:
            proc = subprocess.run(
                self.argv(args), input=input, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl {' '.join(args[:3])} did not answer within {timeout:.0f}s") from exc
        if proc.returncode != 0:
            raise classify(proc.stderr or proc.stdout)
        return proc.stdout

    def completed(self, args: Sequence[str], *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run kubectl and return the process whatever its exit status (``exec``: the command's own status)."""
        try:
            return subprocess.run(self.argv(args), capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise KubectlError(f"kubectl {' '.join(args[:3])} did not answer within {timeout:.0f}s") from exc

    def json(self, args: Sequence[str], *, input: str | None = None, timeout: float = 60) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run([*args, "-o", "json"], input=input, timeout=timeout) or "{}")
        return data

    def raw(self, path: str, *, timeout: float = 60) -> str:
        """``kubectl get --raw PATH``: any API path (the service proxy among them)."""
        return self.run(["get", "--raw", path], timeout=timeout)

    def current_namespace(self) -> str:
        out = self.run(["config", "view", "--minify", "-o", "jsonpath={..namespace}"]).strip()
        return out or "default"

    def stream(self, args: Sequence[str]) -> Iterator[str]:
        """Lines of a long-running kubectl (``logs -f``) as they come; a failure raises after the output."""
        with subprocess.Popen(
            self.argv(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        ) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            yield from proc.stdout
            err = proc.stderr.read()
            if proc.wait() != 0:
                raise classify(err)


def classify(stderr: str) -> KubectlError:
    """kubectl's stderr → the error a user can act on."""
    text = stderr.strip()
    missing = _NO_RESOURCE.search(text)
    if missing:
        return NoCrds(missing.group(1))
    server = _SERVER_ERROR.search(text)
    if server:
        reason, message = server.group(1), server.group(2).strip()
        if reason == "Forbidden":
            return Forbidden(f"forbidden: {message} (ask for RBAC rights; the plugin uses yours, nothing more)")
        if reason == "NotFound":
            return NotFound(message)
        return KubectlError(f"{reason}: {message}")
    return KubectlError(text.removeprefix("error: ") or "kubectl failed without a message")
