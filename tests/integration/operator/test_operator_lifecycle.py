"""Lifecycle on the real API server: spec change rolls, pause/resume, delete with finalizer, drift repair, zero writes
at steady state, heartbeat staleness, crash loops, risk halts, name conflicts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, resource_path
from tests.integration.operator.operator_helpers import (
    API,
    OperatorLauncher,
    bot_path,
    collector_path,
    condition,
    create_bot,
    events_for,
    eventually,
    fake_pod,
    get_or_none,
    make_namespace,
    paper_bot,
    sts_path,
    utc_now,
)

pytestmark = pytest.mark.integration


def _hash(sts: dict[str, Any]) -> str:
    return str(sts["spec"]["template"]["metadata"]["annotations"]["perpdex.io/config-hash"])


async def _settled(client: KubeClient, ns: str, name: str, phase: str = "Pending") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        cr = await client.get(bot_path(ns, name))
        status = cr.get("status") or {}
        ok = status.get("phase") == phase and status.get("observedGeneration") == cr["metadata"]["generation"]
        return cr if ok else None

    result: dict[str, Any] = await eventually(check, what=f"{name} phase {phase}")
    return result


async def _cond(client: KubeClient, ns: str, name: str, type_: str, status: str, reason: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        cr = await client.get(bot_path(ns, name))
        try:
            c = condition(cr, type_)
        except AssertionError:
            return None
        return cr if (c["status"], c["reason"]) == (status, reason) else None

    result: dict[str, Any] = await eventually(check, what=f"{name} {type_}={status}/{reason}")
    return result


async def test_spec_change_rolls_the_pod_and_pause_does_not(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "roll"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        sts = await eventually(lambda: client.get(sts_path(ns, name)), what="statefulset")
        first = _hash(sts)
        await client.patch(bot_path(ns, name), {"spec": {"grid": {"quantity": "0.02"}}})

        async def rolled() -> dict[str, Any] | None:
            s = await client.get(sts_path(ns, name))
            return s if _hash(s) != first else None

        sts = await eventually(rolled, what="new config hash")
        second = _hash(sts)
        cm = await client.get(resource_path("v1", "configmaps", ns, f"{name}-config"))
        assert "quantity: '0.02'" in cm["data"]["config.yaml"]
        cr = await _settled(client, ns, name)
        assert cr["status"]["observedGeneration"] == 2
        assert all(c["observedGeneration"] == 2 for c in cr["status"]["conditions"])
        assert any(e["reason"] == "Updated" for e in await events_for(client, ns, name))

        # pausing scales to 0 without touching the pod template
        await client.patch(bot_path(ns, name), {"spec": {"paused": True}})

        async def scaled_down() -> dict[str, Any] | None:
            s = await client.get(sts_path(ns, name))
            return s if s["spec"]["replicas"] == 0 else None

        sts = await eventually(scaled_down, what="replicas 0")
        assert _hash(sts) == second


async def test_pause_waits_for_the_pod_then_resume(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "pauser"
    pods = resource_path("v1", "pods", ns)
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name, "Pending")
        # the bot is up and speaking (as the runtime would report)
        await client.create(pods, fake_pod(f"{name}-0", name))
        await client.patch(bot_path(ns, name, "status"), {"status": {"phase": "Running", "lastHeartbeat": utc_now()}})
        await _cond(client, ns, name, "Ready", "True", "Running")

        await client.patch(bot_path(ns, name), {"spec": {"paused": True}})
        cr = await _cond(client, ns, name, "Progressing", "True", "Stopping")
        assert cr["status"]["phase"] == "Running"  # the pod still speaks for itself
        assert (await client.get(sts_path(ns, name)))["spec"]["replicas"] == 0
        assert condition(cr, "Ready")["reason"] == "Paused"

        # the bot stops (final status), its pod goes away -> Paused
        await client.patch(bot_path(ns, name, "status"), {"status": {"phase": "Stopped", "lastHeartbeat": utc_now()}})
        await client.delete(resource_path("v1", "pods", ns, f"{name}-0"))
        cr = await _settled(client, ns, name, "Paused")
        assert (condition(cr, "Ready")["status"], condition(cr, "Ready")["reason"]) == ("False", "Paused")
        assert condition(cr, "Progressing")["status"] == "False"
        assert any(e["reason"] == "Paused" for e in await events_for(client, ns, name))

        await client.patch(bot_path(ns, name), {"spec": {"paused": False}})
        await _settled(client, ns, name, "Pending")
        assert (await client.get(sts_path(ns, name)))["spec"]["replicas"] == 1


async def test_delete_without_a_pod_releases_at_once(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "gone-fast"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name)
        lease_path = resource_path("coordination.k8s.io/v1", "leases", ns, name)
        await eventually(lambda: client.get(lease_path), what="the Lease")
        await client.delete(bot_path(ns, name))

        async def gone() -> bool:
            return await get_or_none(client, bot_path(ns, name)) is None

        await eventually(gone, timeout=20, what="CR removed")
        # no garbage collector here: the StatefulSet stays, scaled to 0 by the finalizer
        assert (await client.get(sts_path(ns, name)))["spec"]["replicas"] == 0
        assert await get_or_none(client, lease_path) is None


async def test_delete_waits_for_the_pod(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "gone-slow"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name)
        await client.create(resource_path("v1", "pods", ns), fake_pod(f"{name}-0", name))
        await client.delete(bot_path(ns, name))

        async def scaled_down() -> bool:
            return bool((await client.get(sts_path(ns, name)))["spec"]["replicas"] == 0)

        await eventually(scaled_down, what="replicas 0 on delete")
        await asyncio.sleep(3)  # several finalizer polls: the pod is still there, so the CR must stay
        cr = await client.get(bot_path(ns, name))
        assert cr["metadata"].get("deletionTimestamp")
        assert condition(cr, "Ready")["reason"] == "Deleting"
        await client.delete(resource_path("v1", "pods", ns, f"{name}-0"))

        async def gone() -> bool:
            return await get_or_none(client, bot_path(ns, name)) is None

        await eventually(gone, timeout=20, what="CR removed after the pod")


async def test_delete_times_out_with_a_warning(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "stuck"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name)
        await client.create(resource_path("v1", "pods", ns), fake_pod(f"{name}-0", name))
        await client.delete(bot_path(ns, name))

        async def gone() -> bool:
            return await get_or_none(client, bot_path(ns, name)) is None

        await eventually(gone, timeout=40, what="CR released after the delete timeout (8 s)")
        warnings = [e for e in await events_for(client, ns, name) if e["reason"] == "DeleteTimeout"]
        assert warnings and warnings[0]["type"] == "Warning"


async def test_drift_is_repaired(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "drifty"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        sts = await eventually(lambda: client.get(sts_path(ns, name)), what="statefulset")
        await _settled(client, ns, name)

        # deleted StatefulSet comes back
        await client.delete(sts_path(ns, name))

        async def recreated() -> dict[str, Any] | None:
            s = await get_or_none(client, sts_path(ns, name))
            return s if s and s["metadata"]["uid"] != sts["metadata"]["uid"] else None

        await eventually(recreated, what="statefulset recreated")

        # an edited replica count is restored
        await client.patch(sts_path(ns, name), {"spec": {"replicas": 3}})

        async def restored() -> bool:
            return bool((await client.get(sts_path(ns, name)))["spec"]["replicas"] == 1)

        await eventually(restored, what="replicas restored")

        # edited ConfigMap data and a deleted Role are restored too
        cm_path = resource_path("v1", "configmaps", ns, f"{name}-config")
        original = (await client.get(cm_path))["data"]["config.yaml"]
        await client.patch(cm_path, {"data": {"config.yaml": "strategy: tampered\n"}})
        role_path = resource_path("rbac.authorization.k8s.io/v1", "roles", ns, f"{name}-bot")
        await client.delete(role_path)

        async def healed() -> bool:
            cm = await client.get(cm_path)
            return cm["data"]["config.yaml"] == original and await get_or_none(client, role_path) is not None

        await eventually(healed, what="configmap and role restored")
        assert any(e["reason"] == "DriftRepaired" for e in await events_for(client, ns, name))


async def test_steady_state_makes_no_writes_and_no_requests(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher
) -> None:
    """Own namespace and operator (status check every 1 s, full resync every 2 s): once settled, the periodic checks
    decide from kopf's copy of the CR and the watch cache, so neither kopf nor the reconciler sends anything."""
    ns = make_namespace(kube, "steady")
    op = launcher.start([ns], "--resync-interval-seconds=2")
    names = ["steady-a", "steady-b", "steady-c"]
    async with kube.client() as client:
        for name in names:
            await create_bot(client, ns, paper_bot(name))
        await client.create(
            collector_path(ns, "steady-fc").rsplit("/", 1)[0],
            {
                "apiVersion": API,
                "kind": "FundingCollector",
                "metadata": {"name": "steady-fc"},
                "spec": {"exchanges": ["paper"]},
            },
        )
        for name in names:
            await _settled(client, ns, name)
        await asyncio.sleep(4)  # let the create burst drain
        paths = [collector_path(ns, "steady-fc")]
        for name in names:
            paths += [
                bot_path(ns, name),
                sts_path(ns, name),
                resource_path("v1", "configmaps", ns, f"{name}-config"),
                resource_path("v1", "services", ns, name),
                resource_path("v1", "serviceaccounts", ns, f"{name}-bot"),
                resource_path("rbac.authorization.k8s.io/v1", "roles", ns, f"{name}-bot"),
                resource_path("rbac.authorization.k8s.io/v1", "rolebindings", ns, f"{name}-bot"),
                resource_path("coordination.k8s.io/v1", "leases", ns, name),
            ]
        before = [(await client.get(p))["metadata"]["resourceVersion"] for p in paths]
        requests_before = op.total("perpdex_operator_api_requests_total")
        reconciles_before = op.total("perpdex_operator_reconciles_total")
        events_before = len((await client.list(resource_path("v1", "events", ns)))["items"])
        await asyncio.sleep(8)  # 8 status checks and 4 full resyncs per object
        after = [(await client.get(p))["metadata"]["resourceVersion"] for p in paths]
        assert after == before
        assert op.total("perpdex_operator_reconciles_total") - reconciles_before >= 4 * 8  # it did look
        assert op.total("perpdex_operator_api_requests_total") == requests_before
        assert len((await client.list(resource_path("v1", "events", ns)))["items"]) == events_before

        # one change still gets through at once: the next check sees it in the cache and goes to the API
        await client.patch(sts_path(ns, "steady-a"), {"spec": {"replicas": 2}})

        async def restored() -> bool:
            return bool((await client.get(sts_path(ns, "steady-a")))["spec"]["replicas"] == 1)

        await eventually(restored, what="replicas restored")
    op.stop()


async def test_heartbeat_staleness_and_risk(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "beat"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name)
        status = bot_path(ns, name, "status")
        await client.patch(status, {"status": {"phase": "Running", "lastHeartbeat": utc_now(), "position": "0.01"}})
        cr = await _cond(client, ns, name, "Ready", "True", "Running")
        assert cr["status"]["position"] == "0.01"  # the bot's fields are left alone
        assert condition(cr, "Progressing")["status"] == "False"

        old = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 120))
        await client.patch(status, {"status": {"lastHeartbeat": old}})
        cr = await _cond(client, ns, name, "Ready", "False", "HeartbeatStale")
        assert (condition(cr, "Degraded")["status"], condition(cr, "Degraded")["reason"]) == ("True", "HeartbeatStale")
        assert cr["status"]["phase"] == "Running"  # the operator does not overwrite the bot's phase
        stale = [e for e in await events_for(client, ns, name) if e["reason"] == "HeartbeatStale"]
        assert any(e["type"] == "Warning" for e in stale)

        await client.patch(
            status,
            {"status": {"phase": "RiskHalted", "lastHeartbeat": utc_now(), "lastError": "maxDailyLossUsd breached"}},
        )
        cr = await _cond(client, ns, name, "RiskLimitBreached", "True", "RiskHalted")
        assert condition(cr, "RiskLimitBreached")["message"] == "maxDailyLossUsd breached"
        assert condition(cr, "Ready")["status"] == "False"


async def test_crash_loop_is_degraded(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "crashy"
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot(name))
        await _settled(client, ns, name)
        pod = f"{name}-0"
        await client.create(resource_path("v1", "pods", ns), fake_pod(pod, name))
        await client.patch(
            resource_path("v1", "pods", ns, pod, "status"),
            {
                "status": {
                    "phase": "Running",
                    "containerStatuses": [
                        {
                            "name": "bot",
                            "image": "registry.test/perpdex:it",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 6,
                            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
                            "lastState": {
                                "terminated": {
                                    "exitCode": 2,
                                    "reason": "Error",
                                    "startedAt": utc_now(),
                                    "finishedAt": utc_now(),
                                }
                            },
                        }
                    ],
                }
            },
        )
        cr = await _cond(client, ns, name, "Degraded", "True", "CrashLoopBackOff")
        assert cr["status"]["phase"] == "Failed"
        assert "restarts: 6" in condition(cr, "Degraded")["message"]

        async def failed_events() -> list[dict[str, Any]]:  # posted right after the status write that the CR shows
            return [e for e in await events_for(client, ns, name) if e["reason"] == "Failed"]

        failed = await eventually(failed_events, what="the Failed event")
        assert any(e["type"] == "Warning" for e in failed)
        await client.delete(resource_path("v1", "pods", ns, pod))
        await _cond(client, ns, name, "Degraded", "False", "AsExpected")


async def test_a_name_taken_by_a_foreign_object_is_not_touched(kube: Any, operator: Any, op_namespace: str) -> None:
    ns, name = op_namespace, "clash"
    cm_path = resource_path("v1", "configmaps", ns, f"{name}-config")
    async with kube.client() as client:
        await client.create(
            resource_path("v1", "configmaps", ns),
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config"}, "data": {"mine": "yes"}},
        )
        await create_bot(client, ns, paper_bot(name))
        cr = await _cond(client, ns, name, "Degraded", "True", "ChildConflict")
        assert f"{name}-config" in condition(cr, "Degraded")["message"]
        cm = await client.get(cm_path)
        assert cm["data"] == {"mine": "yes"} and "ownerReferences" not in cm["metadata"]


async def test_the_bots_own_reports_update_conditions_at_once(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher
) -> None:
    """With a status check only every 5 minutes, a phase the bot reports still turns into conditions right away."""
    ns = make_namespace(kube, "prompt")
    op = launcher.start([ns], "--status-interval-seconds=300", "--resync-interval-seconds=300")
    async with kube.client() as client:
        await create_bot(client, ns, paper_bot("prompt"))
        await _settled(client, ns, "prompt")
        status = bot_path(ns, "prompt", "status")
        await client.patch(status, {"status": {"phase": "Running", "lastHeartbeat": utc_now()}})
        await eventually(lambda: _cond(client, ns, "prompt", "Ready", "True", "Running"), timeout=15, what="Ready")
        await client.patch(status, {"status": {"phase": "RiskHalted", "lastError": "maxDrawdownPct"}})
        await eventually(
            lambda: _cond(client, ns, "prompt", "RiskLimitBreached", "True", "RiskHalted"), timeout=15, what="risk"
        )
    op.stop()


async def test_a_collector_without_its_ingest_token_names_the_secret(
    kube: Any, operator: Any, op_namespace: str
) -> None:
    """Issue 20: a FundingCollector in a namespace without the ingest-token Secret: the kubelet leaves its container
    in CreateContainerConfigError (the pod stands in for it: no kubelet here) and the collector's Ready condition
    says which Secret is missing."""
    ns, name = op_namespace, "no-token"
    body = {"apiVersion": API, "kind": "FundingCollector", "metadata": {"name": name}, "spec": {"exchanges": ["paper"]}}
    async with kube.client() as client:
        await client.create(resource_path(API, "fundingcollectors", ns), body)
        await eventually(lambda: client.get(resource_path("apps/v1", "deployments", ns, name)), what="deployment")
        pod = f"{name}-6f7c9-abcde"
        await client.create(
            resource_path("v1", "pods", ns),
            fake_pod(pod, name, app="fundingcollector", service_account=f"{name}-collector"),
        )
        missing = 'secret "perpdex-ingest-token" not found'
        await client.patch(
            resource_path("v1", "pods", ns, pod, "status"),
            {
                "status": {
                    "phase": "Pending",
                    "containerStatuses": [
                        {
                            "name": "bot",
                            "image": "registry.test/perpdex:it",
                            "imageID": "",
                            "ready": False,
                            "restartCount": 0,
                            "state": {"waiting": {"reason": "CreateContainerConfigError", "message": missing}},
                        }
                    ],
                }
            },
        )

        async def ready_names_it() -> dict[str, Any] | None:
            cr = await client.get(collector_path(ns, name))
            try:
                ready = condition(cr, "Ready")
            except AssertionError:
                return None
            return ready if ready["reason"] == "CreateContainerConfigError" else None

        ready = await eventually(ready_names_it, what="Ready=False/CreateContainerConfigError")
        assert ready["status"] == "False" and ready["message"] == f"{pod}: {missing}"
