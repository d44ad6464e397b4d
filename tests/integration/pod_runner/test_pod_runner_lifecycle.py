"""Pod lifecycle under the local pod runner: readiness reflected into the Pod and the workload, replicas 0 with
SIGTERM and the grace period, a template change replacing the pod (never two at once), crash loops with restarts,
and deletions of the Pod or of the workload."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
import uuid
from typing import Any

import pytest

from bot_runtime.kube import resource_path
from tests.integration.pod_runner.conftest import AppNamespace
from tests.integration.pod_runner.pod_runner_helpers import (
    Runner,
    container,
    container_status,
    create,
    deployment,
    get_pod,
    lines,
    list_pods,
    processes_with,
    reports,
    statefulset,
    wait_for,
    workload_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _http_get(url: str) -> int:
    with urllib.request.urlopen(url, timeout=5) as resp:
        status: int = resp.status
        return status


async def _ready_pod(client: Any, ns: str, name: str) -> dict[str, Any] | None:
    pod = await get_pod(client, ns, name)
    return pod if pod and container_status(pod).get("ready") else None


async def test_readiness_is_reflected_into_pod_and_statefulset(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    main = container(f"m-{uuid.uuid4().hex}", env=[{"name": "READY_AFTER", "value": "3"}])
    await create(client, statefulset("app", ns, main))

    async def running_not_ready() -> dict[str, Any] | None:
        pod = await get_pod(client, ns, "app-0")
        if pod is None:
            return None
        status = container_status(pod)
        return pod if status.get("state", {}).get("running") and status.get("ready") is False else None

    pod = await wait_for("the pod running but not ready yet", running_not_ready)
    ready_cond = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
    assert ready_cond["status"] == "False"
    assert pod["status"]["phase"] == "Running"
    sts = await client.get(workload_path("StatefulSet", ns, "app"))
    assert not sts["status"].get("readyReplicas")

    pod = await wait_for("the pod ready", lambda: _ready_pod(client, ns, "app-0"))
    assert next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"

    async def sts_ready() -> dict[str, Any] | None:
        sts = await client.get(workload_path("StatefulSet", ns, "app"))
        return sts if sts["status"].get("readyReplicas") == 1 else None

    sts = await wait_for("readyReplicas 1", sts_ready)
    status = sts["status"]
    assert status["replicas"] == 1
    assert status["availableReplicas"] == 1
    assert status["updatedReplicas"] == 1
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    assert status["currentRevision"] == status["updateRevision"] == f"app-{status['updateRevision'][4:]}"

    # the container port is reachable from the host through the port recorded on the Pod
    ports = json.loads(pod["metadata"]["annotations"]["pod-runner.perpdex.io/ports"])
    assert await asyncio.to_thread(_http_get, f"http://127.0.0.1:{ports['8080']}/readyz") == 200


async def test_replicas_zero_sigterm_with_grace_then_pod_gone(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    env = [{"name": "STOP_MODE", "value": "graceful"}, {"name": "STOP_DELAY", "value": "3"}]
    await create(client, statefulset("app", ns, container(marker, env=env), grace=20))
    await wait_for("the pod ready", lambda: _ready_pod(client, ns, "app-0"))
    assert len(processes_with(marker)) == 1

    await client.patch(workload_path("StatefulSet", ns, "app"), {"spec": {"replicas": 0}})

    async def terminating() -> dict[str, Any] | None:
        pod = await get_pod(client, ns, "app-0")
        return pod if pod and pod["metadata"].get("deletionTimestamp") else None

    # while the process applies its shutdown, the Pod is Terminating and the process is still there
    pod = await wait_for("the pod terminating", terminating)
    assert pod["metadata"]["deletionGracePeriodSeconds"] == 20
    assert processes_with(marker), "SIGTERM must not kill at once: the process is in its grace period"

    async def gone() -> bool:
        return await get_pod(client, ns, "app-0") is None

    await wait_for("the pod gone", gone)
    assert processes_with(marker) == []
    assert lines(runner.pod_log("app-0"))[-2:] == ["SIGTERM", "EXIT"]  # it finished its own shutdown

    async def sts_zero() -> dict[str, Any] | None:
        sts = await client.get(workload_path("StatefulSet", ns, "app"))
        return sts if sts["status"].get("replicas", 0) == 0 else None

    sts = await wait_for("status replicas 0", sts_zero)
    assert not sts["status"].get("readyReplicas")


async def test_sigkill_after_the_grace_period(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    await create(
        client, statefulset("app", ns, container(marker, env=[{"name": "STOP_MODE", "value": "ignore"}]), grace=2)
    )
    await wait_for("the pod ready", lambda: _ready_pod(client, ns, "app-0"))
    await client.patch(workload_path("StatefulSet", ns, "app"), {"spec": {"replicas": 0}})

    async def gone() -> bool:
        return await get_pod(client, ns, "app-0") is None

    await wait_for("the pod gone", gone)
    assert processes_with(marker) == []
    assert lines(runner.pod_log("app-0"))[-1] == "SIGTERM ignored"  # it never exited by itself: killed


async def test_template_change_replaces_the_pod_never_two_at_once(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    env = [
        {"name": "REV", "value": "1"},
        {"name": "STOP_MODE", "value": "graceful"},
        {"name": "STOP_DELAY", "value": "2"},
    ]
    await create(client, statefulset("app", ns, container(marker, env=env)))
    first = await wait_for("the pod ready", lambda: _ready_pod(client, ns, "app-0"))

    most = 0
    sampling = True

    async def sample() -> None:
        nonlocal most
        while sampling:
            most = max(most, len(await asyncio.to_thread(processes_with, marker)))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        new_env = [dict(e, value="2") if e["name"] == "REV" else e for e in env]
        template = {"metadata": {"annotations": {"perpdex.io/config-hash": "two"}}, "spec": {"containers": []}}
        sts = await client.get(workload_path("StatefulSet", ns, "app"))
        containers = sts["spec"]["template"]["spec"]["containers"]
        containers[0]["env"] = new_env
        template["spec"]["containers"] = containers
        await client.patch(workload_path("StatefulSet", ns, "app"), {"spec": {"template": template}})

        async def replaced() -> dict[str, Any] | None:
            pod = await _ready_pod(client, ns, "app-0")
            if pod and pod["metadata"]["uid"] != first["metadata"]["uid"]:
                return pod
            return None

        second = await wait_for("the replacement ready", replaced)
    finally:
        sampling = False
        await sampler
    assert most == 1, f"{most} instances of the pod ran at the same time"
    assert second["metadata"]["annotations"]["perpdex.io/config-hash"] == "two"
    log = lines(runner.pod_log("app-0"))
    assert log == ["REPORT 1", "SERVING 8080", "SIGTERM", "EXIT", "REPORT 2", "SERVING 8080"]
    sts = await client.get(workload_path("StatefulSet", ns, "app"))
    assert second["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"]
    assert first["metadata"]["labels"]["controller-revision-hash"] != sts["status"]["updateRevision"]


async def test_crash_restarts_with_backoff_and_restart_count(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    main = container(f"m-{uuid.uuid4().hex}", env=[{"name": "EXIT_CODE", "value": "3"}])
    await create(client, deployment("crashy", ns, main))
    seen_backoff = False

    async def crash_looping() -> dict[str, Any] | None:
        nonlocal seen_backoff
        pods = await list_pods(client, ns, "crashy")
        if len(pods) != 1:
            return None
        status = container_status(pods[0])
        if status.get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff":
            seen_backoff = True
        return pods[0] if seen_backoff and status.get("restartCount", 0) >= 2 else None

    pod = await wait_for("restarts", crash_looping, timeout=90)
    status = container_status(pod)
    terminated = status["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (3, "Error")
    # the same pod ran the container again and again (restartCount counts the containers started after the first)
    assert len(reports(runner.pod_log(pod["metadata"]["name"]))) >= status["restartCount"] >= 2
    events = await client.list(
        resource_path("v1", "events", ns), field_selector=f"involvedObject.name={pod['metadata']['name']}"
    )
    assert any(e["reason"] == "BackOff" for e in events["items"])
    dep = await client.get(workload_path("Deployment", ns, "crashy"))
    assert not dep["status"].get("availableReplicas")
    assert dep["status"]["unavailableReplicas"] == 1
    available = next(c for c in dep["status"]["conditions"] if c["type"] == "Available")
    assert available["status"] == "False"


async def test_deleted_pod_is_stopped_and_recreated(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    await create(client, statefulset("app", ns, container(marker, env=[{"name": "STOP_MODE", "value": "graceful"}])))
    first = await wait_for("the pod ready", lambda: _ready_pod(client, ns, "app-0"))
    await client.delete(resource_path("v1", "pods", ns, "app-0"))

    async def recreated() -> dict[str, Any] | None:
        pod = await _ready_pod(client, ns, "app-0")
        return pod if pod and pod["metadata"]["uid"] != first["metadata"]["uid"] else None

    await wait_for("a new app-0", recreated)
    assert lines(runner.pod_log("app-0")) == ["REPORT ", "SERVING 8080", "SIGTERM", "EXIT", "REPORT ", "SERVING 8080"]
    assert len(processes_with(marker)) == 1


async def test_deleted_workload_stops_its_pods(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    marker = f"m-{uuid.uuid4().hex}"
    await create(client, deployment("app", ns, container(marker, env=[{"name": "STOP_MODE", "value": "graceful"}])))

    async def ready() -> list[dict[str, Any]] | None:
        pods = await list_pods(client, ns, "app")
        return pods if pods and container_status(pods[0]).get("ready") else None

    pods = await wait_for("the pod ready", ready)
    await client.delete(workload_path("Deployment", ns, "app"))

    async def gone() -> bool:
        return not await list_pods(client, ns, "app") and not processes_with(marker)

    await wait_for("the pod and its process gone", gone)
    assert lines(runner.pod_log(pods[0]["metadata"]["name"]))[-2:] == ["SIGTERM", "EXIT"]


async def test_a_host_port_exposes_the_container_port_on_exactly_that_port(
    app_ns: AppNamespace, runner: Runner
) -> None:
    """``ports[].hostPort``: the container port is exposed on that host port (what every other pod reaches at
    127.0.0.1:<hostPort>, as it reaches the host's services); a replacement pod takes the same port."""
    ns, client = app_ns.name, app_ns.client
    host_port = _free_port()
    main = container(f"h-{uuid.uuid4().hex}")
    main["ports"][0]["hostPort"] = host_port
    await create(client, deployment("hp", ns, main))
    pods = await wait_for("the pod", lambda: _ready_listed(client, ns))
    ports = json.loads(pods[0]["metadata"]["annotations"]["pod-runner.perpdex.io/ports"])
    assert ports == {"8080": host_port}
    assert await asyncio.to_thread(_http_get, f"http://127.0.0.1:{host_port}/readyz") == 200

    first = pods[0]["metadata"]["name"]
    await client.delete(resource_path("v1", "pods", ns, first))

    async def replaced() -> list[dict[str, Any]] | None:
        listed = await _ready_listed(client, ns)
        return listed if listed and listed[0]["metadata"]["name"] != first else None

    await wait_for("the replacement pod ready", replaced)
    assert await asyncio.to_thread(_http_get, f"http://127.0.0.1:{host_port}/readyz") == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _ready_listed(client: Any, ns: str) -> list[dict[str, Any]] | None:
    listed = [p for p in await list_pods(client, ns, "hp") if not p["metadata"].get("deletionTimestamp")]
    return listed if len(listed) == 1 and container_status(listed[0]).get("ready") else None
