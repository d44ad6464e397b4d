"""Helpers of the pod-runner integration tests: the runner as a real subprocess, workload manifests running
``pod_runner_app.py``, polling, and a look at the machine's processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bot_runtime.kube import KubeClient, NotFound, resource_path
from perpdex_dev.pod_runner.runner import READY_LINE

APP = Path(__file__).with_name("pod_runner_app.py")
BIN = Path(sys.executable).parent
MANAGED = {"app.kubernetes.io/managed-by": "perpdex-operator"}
T = TypeVar("T")


@dataclass
class Runner:
    """``perpdex dev pod-runner`` for one namespace, as a real process."""

    env: dict[str, str]
    namespace: str
    state_dir: Path
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir.parent / f"runner-{self.namespace}.log"

    def start(self, timeout: float = 60.0) -> None:
        argv = [
            str(BIN / "perpdex"),
            "dev",
            "pod-runner",
            f"--namespace={self.namespace}",
            f"--state-dir={self.state_dir}",
            "--backoff-initial=1",
            "--backoff-max=4",
            "--config-retry=1",
            *self.extra,
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE in self.log():
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"pod runner exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"pod runner not ready after {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 120.0) -> int:
        """SIGTERM to the runner alone (not its group: the runner must stop its pods itself)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError(f"pod runner did not stop within {timeout}s:\n{self.log()}") from None

    def pod_log(self, pod: str) -> str:
        path = self.state_dir / self.namespace / f"{pod}.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def wait_for(what: str, probe: Callable[[], Awaitable[T | None]], timeout: float = 60.0, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await probe()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def reports(log: str) -> list[dict[str, Any]]:
    return [json.loads(line[len("REPORT ") :]) for line in log.splitlines() if line.startswith("REPORT ")]


def lines(log: str) -> list[str]:
    """The app's own markers, in order (REPORT lines shortened to ``REPORT <REV env>``)."""
    out = []
    for line in log.splitlines():
        if line.startswith("REPORT "):
            out.append(f"REPORT {json.loads(line[7:])['env'].get('REV', '')}")
        elif line in {"SIGTERM", "EXIT", "SIGTERM ignored"} or line.startswith("SERVING"):
            out.append(line)
    return out


def processes_with(marker: str) -> list[int]:
    """PIDs on this machine whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


def host_paths(*paths: str) -> dict[str, bool]:
    """Which of ``paths`` exist on the host (not in any pod's mount namespace)."""
    return {p: os.path.lexists(p) for p in paths}


def text_of(path: str | Path) -> str:
    return Path(path).read_text(errors="replace")


def group_alive(pgid: int) -> bool:
    """A live (not zombie) process in process group ``pgid``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


# manifests -------------------------------------------------------------------------------------------------------
def container(
    marker: str,
    *,
    env: list[dict[str, Any]] | None = None,
    env_from: list[dict[str, Any]] | None = None,
    args: list[str] | None = None,
    readiness: bool = True,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "app",
        "image": "perp-dex-operator:local",
        "command": ["python", "/opt/app/pod_runner_app.py"],
        "args": ["--port", "8080", f"--marker={marker}", *(args or [])],
        "env": env or [],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "code", "mountPath": "/opt/app", "readOnly": True},
            {"name": "settings", "mountPath": "/etc/app", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if env_from:
        doc["envFrom"] = env_from
    if readiness:
        doc["readinessProbe"] = {
            "httpGet": {"path": "/readyz", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        }
    return doc


def pod_template(name: str, main: dict[str, Any], *, grace: int = 10) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}, "annotations": {"perpdex.io/config-hash": "one"}},
        "spec": {
            "serviceAccountName": "app",
            "automountServiceAccountToken": True,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": grace,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001},
            "containers": [main],
            "volumes": [
                {"name": "code", "configMap": {"name": "app-code"}},
                {"name": "settings", "configMap": {"name": "settings"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            ],
        },
    }


def statefulset(
    name: str, namespace: str, main: dict[str, Any], *, replicas: int = 1, grace: int = 10
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED)},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, main, grace=grace),
        },
    }


def deployment(
    name: str, namespace: str, main: dict[str, Any], *, replicas: int = 1, grace: int = 10
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED)},
        "spec": {
            "replicas": replicas,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": {"app": name}},
            "template": pod_template(name, main, grace=grace),
        },
    }


# API shortcuts ---------------------------------------------------------------------------------------------------
def workload_path(kind: str, namespace: str, name: str | None = None, sub: str | None = None) -> str:
    plural = {"StatefulSet": "statefulsets", "Deployment": "deployments"}[kind]
    return resource_path("apps/v1", plural, namespace, name, sub)


async def create(client: KubeClient, doc: dict[str, Any]) -> dict[str, Any]:
    meta = doc["metadata"]
    if doc["kind"] in {"StatefulSet", "Deployment"}:
        path = workload_path(doc["kind"], meta["namespace"])
    else:
        plural = {"ConfigMap": "configmaps", "Secret": "secrets", "ServiceAccount": "serviceaccounts"}[doc["kind"]]
        path = resource_path("v1", plural, meta["namespace"])
    return await client.create(path, doc)


async def get_pod(client: KubeClient, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        return await client.get(resource_path("v1", "pods", namespace, name))
    except NotFound:
        return None


async def list_pods(client: KubeClient, namespace: str, app: str) -> list[dict[str, Any]]:
    listed = await client.list(resource_path("v1", "pods", namespace), label_selector=f"app={app}")
    items: list[dict[str, Any]] = listed.get("items") or []
    return items


def container_status(pod: dict[str, Any]) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return statuses[0]
