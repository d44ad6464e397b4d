"""``kubectl perpdex`` on the whole local stack (control plane, PostgreSQL, funding service, operator, local pod
runner, a paper collector and a paper grid bot): list, describe, logs of the running bot pod, then flatten (onStop
closePositions, the pod restarts, pause, the bot stops flat) and resume, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from perpdex_dev.control_plane import REPO_ROOT
from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster
from perpdex_dev.stack import LocalStack
from tests.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BOT = "paper-btc-grid"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kube: Kube, postgres: PostgresCluster) -> Iterator[LocalStack]:
    run_dir = tmp_path_factory.mktemp("plugin-stack")
    s = LocalStack(run_dir=run_dir, namespace=f"plugin-{int(time.time()) % 100000}")
    done = stop_at_exit(s.stop)
    s.kubeconfig, s.assets = str(kube.kubeconfig), str(kube.env["PATH"].split(":")[0])
    s.database = "perpdex_plugin_e2e"
    postgres.create_database(s.database)
    s.pg_port = postgres.port
    s.install_crds()
    try:
        s.start_funding_service()
        s.prepare_namespace()
        s.start_operator()
        s.start_pod_runner()
        yield s
    finally:
        s.pg_dir = ""
        s.control_plane_dir = ""
        s.stop()
        done()


def wait(what: str, predicate: Callable[[], Any], timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def bot(stack: LocalStack) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        stack.kubectl("get", "tradingbot", BOT, "-n", stack.namespace, "-o", "json").stdout
    )
    return found


def plugin(stack: LocalStack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "perpdex", *args], env=stack.env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_list_describe_logs_flatten_resume(stack: LocalStack) -> None:
    ns = stack.namespace
    for manifest in ("paper-collector.yaml", "paper-grid.yaml"):
        stack.kubectl("apply", "-n", ns, "-f", str(REPO_ROOT / "examples" / manifest))
    on_stop = bot(stack)["spec"].get("onStop")

    def holds_a_position() -> bool:
        status = bot(stack).get("status") or {}
        return status.get("phase") == "Running" and Decimal(status.get("position") or 0) != 0

    wait("the bot to hold a position", holds_a_position)
    listed = json.loads(plugin(stack, "list", "-n", ns, "-o", "json").stdout)
    [row] = listed["tradingBots"]
    assert (row["name"], row["phase"], row["venues"]) == (BOT, "Running", ["paper"])
    assert Decimal(row["position"]) != 0 and row["heartbeatAgeSeconds"] < 60

    def collector_ok() -> bool:
        venues = json.loads(plugin(stack, "list", "-n", ns, "-o", "json").stdout)["fundingCollectors"]
        return bool(venues) and all(v["health"] == "ok" for v in venues)

    wait("the collector's venues to be healthy", collector_ok)
    described = plugin(stack, "describe", BOT, "-n", ns)
    assert described.returncode == 0 and f"Pod:           {BOT}-0 Running, ready True" in described.stdout
    logs = plugin(stack, "logs", BOT, "-n", ns, "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    assert len(logs.stdout.splitlines()) == 5 and all(json.loads(line)["ts"] for line in logs.stdout.splitlines())

    flat = plugin(stack, "flatten", BOT, "-n", ns, "--timeout", "240")
    assert flat.returncode == 0, flat.stderr + flat.stdout
    assert f"{BOT} is flat and paused" in flat.stdout
    after = bot(stack)
    assert after["spec"]["paused"] is True and after["spec"].get("onStop") == on_stop  # the user's onStop is back
    assert after["status"]["phase"] == "Paused" and Decimal(after["status"]["position"]) == 0
    assert not after["status"].get("legs")
    log = next(Path(stack.run_dir).rglob(f"{BOT}-0.log")).read_text()
    stop = log.rindex('"signal read as a stop"')
    assert '"onStop applied","on_stop":"closePositions"' in log[stop:]

    again = plugin(stack, "flatten", BOT, "-n", ns)
    assert again.returncode == 0 and "already paused and flat" in again.stdout
    assert plugin(stack, "resume", BOT, "-n", ns).returncode == 0
    wait("the bot to run again", lambda: (bot(stack).get("status") or {}).get("phase") == "Running")
