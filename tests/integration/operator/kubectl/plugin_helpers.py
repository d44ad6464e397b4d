"""Running ``kubectl perpdex`` as a user does: kubectl finds the ``kubectl-perpdex`` console script on PATH (the
project's virtualenv) and runs it as a plugin, with the test API server's kubeconfig (or a restricted one)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BIN = Path(sys.executable).parent


@dataclass
class Plugin:
    kube: Any  # tests.conftest.Kube
    kubeconfig: Path | None = None  # None: the admin kubeconfig of the kube fixture

    def env(self) -> dict[str, str]:
        env = dict(self.kube.env)
        env["PATH"] = f"{BIN}:{env['PATH']}"
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["kubectl", "perpdex", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl perpdex {' '.join(args)} -> {out.returncode}\n{out.stderr}\n{out.stdout}")
        return out

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["kubectl", "perpdex", *args], env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


def apply(kube: Any, namespace: str, manifest: dict[str, Any]) -> None:
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))


def set_status(kube: Any, namespace: str, kind: str, name: str, status: dict[str, Any]) -> None:
    """Write the status subresource as the bot (or collector) does."""
    kube.kubectl(
        "patch",
        kind,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


def restricted_kubeconfig(kube: Any, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig of a ServiceAccount (a user with only the rights given to it): the admin kubeconfig's cluster
    with a token from the TokenRequest API."""
    kube.kubectl("create", "serviceaccount", account, "-n", namespace)
    token = kube.kubectl("create", "token", account, "-n", namespace).stdout.strip()
    admin = yaml.safe_load(Path(kube.kubeconfig).read_text())
    cluster = admin["clusters"][0]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [
            {"name": account, "context": {"cluster": cluster["name"], "user": account, "namespace": namespace}}
        ],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(doc))
    path.chmod(0o600)
    return path
