"""The pod runner's own end: SIGTERM stops every pod gracefully and leaves no process, no Pod object and no pod
files behind; a SIGKILLed runner's containers die with it and the next runner cleans up; ``logs`` prints a pod's
output."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.kube import resource_path
from tests.integration.pod_runner.conftest import AppNamespace
from tests.integration.pod_runner.pod_runner_helpers import (
    BIN,
    Runner,
    container,
    container_status,
    create,
    deployment,
    group_alive,
    lines,
    list_pods,
    processes_with,
    reports,
    statefulset,
    wait_for,
    workload_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


async def _all_ready(client: Any, ns: str, apps: list[str]) -> list[dict[str, Any]] | None:
    pods = []
    for app in apps:
        found = await list_pods(client, ns, app)
        if len(found) != 1 or not container_status(found[0]).get("ready"):
            return None
        pods.append(found[0])
    return pods


def _pod_files(state_dir: Path, ns: str) -> list[str]:
    root = state_dir / ns
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


async def test_runner_sigterm_stops_everything_and_leaves_nothing(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    bot_marker, collector_marker = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"
    graceful = [{"name": "STOP_MODE", "value": "graceful"}, {"name": "STOP_DELAY", "value": "1"}]
    await create(client, statefulset("bot", ns, container(bot_marker, env=graceful)))
    child = [*graceful, {"name": "SPAWN_CHILD", "value": "1"}]
    await create(client, deployment("collector", ns, container(collector_marker, env=child)))
    pods = await wait_for("both pods ready", lambda: _all_ready(client, ns, ["bot", "collector"]), timeout=90)
    names = [p["metadata"]["name"] for p in pods]
    # the app's pid is its process group (the runner starts each container in a session of its own)
    groups = [reports(runner.pod_log(name))[0]["pid"] for name in names]
    assert all(group_alive(g) for g in groups)

    assert runner.stop() == 0

    assert processes_with(bot_marker) == [] and processes_with(collector_marker) == []

    async def groups_dead() -> bool:  # SIGKILL is asynchronous: give the kernel a moment
        return not any(group_alive(g) for g in groups)

    await wait_for("no process left in the pods' process groups (the collector's child too)", groups_dead, timeout=5)
    for name in names:
        assert lines(runner.pod_log(name))[-2:] == ["SIGTERM", "EXIT"]  # each got its graceful stop
    listed = await client.list(resource_path("v1", "pods", ns))
    assert listed["items"] == []
    # only the logs stay; volumes, tokens and secrets materialised for the pods are gone
    assert _pod_files(runner.state_dir, ns) == sorted(f"{n}.log" for n in names)
    sts = await client.get(workload_path("StatefulSet", ns, "bot"))
    assert sts["status"].get("replicas", 0) == 0 and not sts["status"].get("readyReplicas")
    assert "pod runner stopped" in runner.log()
    assert app_ns.secret_value not in runner.log()


async def test_sigkilled_runner_takes_its_containers_along_and_the_next_one_cleans_up(
    kube,  # type: ignore[no-untyped-def]
    app_ns: AppNamespace,
    runner: Runner,
    tmp_path: Path,
) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    await create(client, statefulset("bot", ns, container(marker)))
    first = await wait_for("the pod ready", lambda: _all_ready(client, ns, ["bot"]))
    assert runner.proc is not None
    runner.proc.kill()
    runner.proc.wait()

    async def orphan_gone() -> bool:
        return not processes_with(marker)

    await wait_for("the container to die with the runner (parent-death signal)", orphan_gone, timeout=10)

    second = Runner(env=dict(kube.env), namespace=ns, state_dir=tmp_path / "pods2")
    second.start()
    try:

        async def replaced() -> list[dict[str, Any]] | None:
            pods = await _all_ready(client, ns, ["bot"])
            return pods if pods and pods[0]["metadata"]["uid"] != first[0]["metadata"]["uid"] else None

        await wait_for("the leftover replaced by a pod of the new runner", replaced, timeout=90)
        assert len(processes_with(marker)) == 1
        assert "deleting leftover pod" in second.log()
    finally:
        assert second.stop() == 0
    assert processes_with(marker) == []


async def test_logs_subcommand_prints_the_pod_output(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    await create(client, statefulset("bot", ns, container(f"m-{uuid.uuid4().hex}")))

    async def reported() -> bool:
        return bool(reports(runner.pod_log("bot-0")))

    await wait_for("the pod's output", reported)
    argv = [str(BIN / "perpdex"), "dev", "pod-runner", "logs", f"{ns}/bot-0", f"--state-dir={runner.state_dir}"]
    out = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True, check=False, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout == runner.pod_log("bot-0")
    assert out.stdout.startswith("REPORT ")
    missing = await asyncio.to_thread(
        subprocess.run,
        [*argv[:4], f"{ns}/nope-0", f"--state-dir={runner.state_dir}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert missing.returncode == 1
    assert f"known pods: {ns}/bot-0" in missing.stderr
