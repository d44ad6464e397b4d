"""Helpers of the operator integration tests. The operator runs as a real subprocess (``perpdex operator``) against the real API server of the ``kube`` fixture.

A subprocess (not an in-process task) so that tests can SIGKILL it mid-reconcile, run two of them with peering, and
scrape its real /metrics and /healthz. Timers are shortened by flags; nothing else differs from production.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot_runtime.kube import KubeClient, NotFound, resource_path

REPO_ROOT = Path(__file__).resolve().parents[3]
PEERING_CRDS = REPO_ROOT / "operator" / "perpdex_operator" / "crds" / "kopf-peerings.yaml"
API = "perpdex.io/v1alpha1"
TEST_IMAGE = "registry.test/perpdex:it"
FUNDING_URL = "http://funding.test:8000"
INGEST_SECRET = "ingest-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    metrics_port: int
    liveness_port: int
    argv: list[str] = field(default_factory=list)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as rsp:
                return bool(rsp.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """Prometheus samples ``name{labels}`` → value."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as rsp:
            text = rsp.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def total(self, prefix: str) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)


class OperatorLauncher:
    def __init__(self, kube: Any, tmp: Path) -> None:
        self.kube = kube
        self.tmp = tmp
        self.started: list[OperatorProcess] = []

    def start(
        self,
        namespaces: list[str],
        *args: str,
        env: dict[str, str] | None = None,
        wait_healthy: bool = True,
    ) -> OperatorProcess:
        metrics_port, liveness_port = free_port(), free_port()
        argv = [
            sys.executable,
            "-m",
            "bot_runtime.cli",
            "operator",
            *(f"--namespace={ns}" for ns in namespaces),
            f"--image={TEST_IMAGE}",
            f"--funding-service-url={FUNDING_URL}",
            f"--ingest-token-secret={INGEST_SECRET}",
            f"--metrics-port={metrics_port}",
            f"--liveness-port={liveness_port}",
            "--status-interval-seconds=1",
            "--resync-interval-seconds=30",
            "--heartbeat-stale-seconds=5",
            "--delete-timeout-seconds=8",
            "--log-level=DEBUG",
            *args,
        ]
        if not any(a.startswith("--peering") for a in args):
            argv.append("--standalone")
        log_path = self.tmp / f"operator-{uuid.uuid4().hex[:6]}.log"
        full_env = {**self.kube.env, **(env or {})}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
            )
        op = OperatorProcess(proc, log_path, metrics_port, liveness_port, argv)
        self.started.append(op)
        if wait_healthy:
            deadline = time.monotonic() + 60
            while not op.healthy():
                if not op.alive() or time.monotonic() > deadline:
                    op.kill()
                    raise AssertionError(f"operator did not become healthy:\n{op.log()[-5000:]}")
                time.sleep(0.2)
        return op

    def stop_all(self) -> None:
        for op in self.started:
            op.stop()


def make_namespace(kube: Any, prefix: str = "op") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    kube.kubectl("create", "namespace", name)
    kube.kubectl("-n", name, "create", "secret", "generic", INGEST_SECRET, "--from-literal=token=ingest-secret-value-1")
    return name


# -- helpers ----------------------------------------------------------------------------------------------------------


async def eventually(
    check: Callable[[], Awaitable[Any]], *, timeout: float = 30, interval: float = 0.3, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy (returned) or raises no AssertionError."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = await check()
            if result:
                return result
            last = None
        except (AssertionError, NotFound) as exc:
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {last!r}")
        await asyncio.sleep(interval)


async def get_or_none(client: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        return await client.get(path)
    except NotFound:
        return None


def bot_path(namespace: str, name: str, sub: str | None = None) -> str:
    return resource_path(API, "tradingbots", namespace, name, sub)


def collector_path(namespace: str, name: str, sub: str | None = None) -> str:
    return resource_path(API, "fundingcollectors", namespace, name, sub)


def paper_bot(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": API,
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": {"quantity": "0.01", "takeProfit": "0.02", "maxOrders": 40, "waitTime": "450s"},
            "paper": {"startPrice": "60000", "seed": 7},
        },
    }
    body["spec"].update(spec)
    return body


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    raise AssertionError(f"no {type_} condition in {obj.get('status')}")


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def env_without_kube() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}


async def events_for(client: KubeClient, namespace: str, name: str) -> list[dict[str, Any]]:
    got = await client.list(resource_path("v1", "events", namespace), field_selector=f"involvedObject.name={name}")
    return list(got.get("items") or [])


async def create_bot(client: KubeClient, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
    return await client.create(resource_path(API, "tradingbots", namespace), body)


def child(api: str, plural: str, namespace: str, name: str) -> str:
    return resource_path(api, plural, namespace, name)


def sts_path(namespace: str, name: str) -> str:
    return resource_path("apps/v1", "statefulsets", namespace, name)


def fake_pod(name: str, bot: str, *, app: str = "tradingbot", service_account: str | None = None) -> dict[str, Any]:
    """A Pod carrying a bot's labels, standing in for the one the StatefulSet controller would create (no
    kube-controller-manager runs on the local control plane)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": app,
                "app.kubernetes.io/instance": bot,
                "app.kubernetes.io/managed-by": "perpdex-operator",
            },
        },
        "spec": {
            "serviceAccountName": service_account or f"{bot}-bot",
            "automountServiceAccountToken": False,
            "containers": [{"name": "bot", "image": TEST_IMAGE}],
        },
    }
