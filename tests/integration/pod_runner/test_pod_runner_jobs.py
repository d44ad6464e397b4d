"""What the chart's workloads need of the pod runner beyond bots: init containers run in order before the main
container (a failing one restarted with back-off), a Deployment's ReplicaSet (Helm's ``--wait`` reads readiness from
it), and Jobs run to ``Complete`` / ``Failed`` as Helm's hook wait and ``kubectl wait`` expect."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, NotFound, resource_path
from tests.integration.pod_runner.conftest import AppNamespace
from tests.integration.pod_runner.pod_runner_helpers import (
    MANAGED,
    Runner,
    container,
    container_status,
    create,
    deployment,
    list_pods,
    reports,
    wait_for,
    workload_path,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# exits 1 on its first run and 0 on the next (the emptyDir at /tmp survives container restarts of one pod)
FLAKY = "import os,sys; p='/tmp/tried'; ok=os.path.exists(p); open(p,'w').close(); print('FLAKY', ok); sys.exit(0 if ok else 1)"


def _init(name: str, marker: str, code: int = 0) -> dict[str, Any]:
    c = container(marker, env=[{"name": "EXIT_CODE", "value": str(code)}], readiness=False)
    c["name"] = name
    c.pop("ports")
    return c


async def _get(client: KubeClient, path: str) -> dict[str, Any] | None:
    try:
        return await client.get(path)
    except NotFound:
        return None


async def test_init_containers_then_main_and_a_replicaset(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    first, main = f"m-{uuid.uuid4().hex}", f"m-{uuid.uuid4().hex}"
    flaky = _init("flaky", "unused")
    flaky["command"], flaky["args"] = ["python", "-c", FLAKY], []
    doc = deployment("web", ns, container(main))
    doc["spec"]["template"]["spec"]["initContainers"] = [_init("first", first), flaky]
    created = await create(client, doc)

    async def ready_pod() -> dict[str, Any] | None:
        pods = await list_pods(client, ns, "web")
        return pods[0] if len(pods) == 1 and container_status(pods[0]).get("ready") else None

    pod = await wait_for("the main container ready", ready_pod, timeout=90)
    log = runner.pod_log(pod["metadata"]["name"])
    # in order: the first init container, the flaky one twice (failed, then ok), then the main container
    order = [line.split()[0] for line in log.splitlines() if line.startswith(("REPORT", "FLAKY"))]
    assert order == ["REPORT", "FLAKY", "FLAKY", "REPORT"], log
    assert [f"--marker={m}" in r["argv"] for r, m in zip(reports(log), (first, main), strict=True)] == [True, True]
    inits = {s["name"]: s for s in pod["status"]["initContainerStatuses"]}
    assert inits["first"]["restartCount"] == 0 and inits["flaky"]["restartCount"] == 1
    assert all(s["state"]["terminated"]["exitCode"] == 0 for s in inits.values())
    conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conditions["Initialized"] == "True" and conditions["Ready"] == "True"

    # the Deployment's ReplicaSet, as Helm's readiness check finds it (controller owner, template + hash, status)
    hash_ = pod["metadata"]["labels"]["pod-template-hash"]
    rs_path = resource_path("apps/v1", "replicasets", ns, f"web-{hash_}")

    async def rs_ready() -> dict[str, Any] | None:
        rs = await _get(client, rs_path)
        return rs if rs and (rs.get("status") or {}).get("readyReplicas") == 1 else None

    rs = await wait_for("the ReplicaSet ready", rs_ready, timeout=30)
    (owner,) = rs["metadata"]["ownerReferences"]
    assert owner["uid"] == created["metadata"]["uid"] and owner["controller"] is True
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": hash_}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == hash_
    assert rs["status"]["observedGeneration"] == rs["metadata"]["generation"]

    # no garbage collector here: deleting the Deployment takes its ReplicaSet and pods with it
    await client.delete(workload_path("Deployment", ns, "web"))

    async def all_gone() -> bool:
        return await _get(client, rs_path) is None and not await list_pods(client, ns, "web")

    await wait_for("ReplicaSet and pods gone", all_gone, timeout=60)


def _job(name: str, ns: str, code: int, restart: str, backoff: int) -> dict[str, Any]:
    c = container(f"m-{uuid.uuid4().hex}", env=[{"name": "EXIT_CODE", "value": str(code)}], readiness=False)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": ns, "labels": dict(MANAGED)},
        "spec": {
            "backoffLimit": backoff,
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "restartPolicy": restart,
                    "serviceAccountName": "app",
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [c],
                    "volumes": [
                        {"name": "code", "configMap": {"name": "app-code"}},
                        {"name": "settings", "configMap": {"name": "settings"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


async def _job_condition(client: KubeClient, ns: str, name: str) -> dict[str, Any] | None:
    job = await _get(client, resource_path("batch/v1", "jobs", ns, name))
    status = (job or {}).get("status") or {}
    done = {c["type"] for c in status.get("conditions") or [] if c["status"] == "True"} & {"Complete", "Failed"}
    return status if done else None


async def test_jobs_complete_or_fail_and_their_pods_go_with_them(app_ns: AppNamespace, runner: Runner) -> None:
    ns, client = app_ns.name, app_ns.client
    jobs = resource_path("batch/v1", "jobs", ns)
    await client.create(jobs, _job("ok", ns, 0, "OnFailure", 2))
    await client.create(jobs, _job("bad", ns, 3, "Never", 1))

    ok = await wait_for("job ok finished", lambda: _job_condition(client, ns, "ok"), timeout=90)
    assert {c["type"] for c in ok["conditions"]} == {"SuccessCriteriaMet", "Complete"}
    assert ok["succeeded"] == 1 and ok.get("active", 0) == 0 and ok.get("failed", 0) == 0
    assert ok["completionTime"] and ok["startTime"]
    (pod,) = await list_pods(client, ns, "ok")
    assert pod["status"]["phase"] == "Succeeded"

    bad = await wait_for("job bad finished", lambda: _job_condition(client, ns, "bad"), timeout=90)
    assert {c["type"] for c in bad["conditions"]} == {"FailureTarget", "Failed"}
    assert bad["failed"] == 2 and "completionTime" not in bad  # backoffLimit 1: a first failure and one retry
    assert all(c["reason"] == "BackoffLimitExceeded" for c in bad["conditions"])
    failed_pods = await list_pods(client, ns, "bad")
    assert [p["status"]["phase"] for p in failed_pods] == ["Failed", "Failed"]

    for name in ("ok", "bad"):
        await client.delete(resource_path("batch/v1", "jobs", ns, name), propagation_policy="Background")

    async def pods_gone() -> bool:
        return not await list_pods(client, ns, "ok") and not await list_pods(client, ns, "bad")

    await wait_for("the Jobs' pods gone", pods_gone, timeout=60)
