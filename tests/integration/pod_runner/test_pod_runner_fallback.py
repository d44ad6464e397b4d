"""The fallback without private namespaces (``--isolation none``, what ``auto`` does where ``unshare`` is not
permitted): pods share the host's filesystem and network, so mount paths in args are rewritten to the materialised
volumes, the token is found through ``PERPDEX_SERVICEACCOUNT_DIR``, and a port flag naming a container port gets a
free host port -- two pods that both want 8080 run side by side."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration.pod_runner.conftest import AppNamespace
from tests.integration.pod_runner.pod_runner_helpers import (
    Runner,
    container,
    container_status,
    create,
    get_pod,
    reports,
    statefulset,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture
def fallback_runner(kube, namespace: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    r = Runner(env=dict(kube.env), namespace=namespace, state_dir=tmp_path / "pods", extra=["--isolation=none"])
    r.start()
    try:
        yield r
    finally:
        if r.proc is not None and r.proc.poll() is None:
            r.stop()


async def test_fallback_rewrites_paths_and_ports_and_finds_the_token(
    app_ns: AppNamespace, fallback_runner: Runner
) -> None:
    ns, client = app_ns.name, app_ns.client
    args = ["--config=/etc/app/config.yaml"]
    env = [{"name": "WHOAMI", "value": "1"}]
    for name in ("one", "two"):
        await create(client, statefulset(name, ns, container(f"m-{uuid.uuid4().hex}", env=env, args=args)))

    async def both_ready() -> list[dict[str, Any]] | None:
        pods = [await get_pod(client, ns, f"{n}-0") for n in ("one", "two")]
        if all(p and container_status(p).get("ready") for p in pods):
            return [p for p in pods if p]
        return None

    pods = await wait_for("both pods ready on the shared host network", both_ready, timeout=90)
    host_ports = []
    for pod in pods:
        name = pod["metadata"]["name"]
        report = reports(fallback_runner.pod_log(name))[0]
        port = json.loads(pod["metadata"]["annotations"]["pod-runner.perpdex.io/ports"])["8080"]
        host_ports.append(port)
        # the one change to the command line: the port flag, to the host port recorded on the Pod
        cmd = report["cmdline"]
        assert cmd[cmd.index("--port") + 1] == str(port)
        # a mount path in args points at the materialised volume, which holds the ConfigMap's file
        assert report["config"] == "strategy: grid\nticker: BTC\n"
        assert not next(a for a in cmd if a.startswith("--config=")).startswith("--config=/etc/app/")
        assert report["env"]["PERPDEX_SERVICEACCOUNT_DIR"].startswith(str(fallback_runner.state_dir))
        assert report["whoami"] == f"system:serviceaccount:{ns}:app"
        assert pod["metadata"]["annotations"]["pod-runner.perpdex.io/isolation"] == ""
    assert len(set(host_ports)) == 2
