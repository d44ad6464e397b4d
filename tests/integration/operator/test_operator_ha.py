"""An operator killed mid-reconcile converges after a restart with no duplicates; with peering only one of two
operators acts, and the other takes over when the first dies; the per-bot RBAC is least privilege."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, resource_path
from perpdex_operator.builders.tradingbot import build_tradingbot_children
from perpdex_operator.drift import differences
from tests.integration.operator.operator_helpers import (
    OperatorLauncher,
    bot_path,
    create_bot,
    eventually,
    make_namespace,
    paper_bot,
    sts_path,
)
from tests.integration.operator.test_operator_children import operator_settings

pytestmark = pytest.mark.integration

CHILD_LISTS = {
    "ConfigMap": ("v1", "configmaps"),
    "ServiceAccount": ("v1", "serviceaccounts"),
    "Service": ("v1", "services"),
    "Role": ("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "Lease": ("coordination.k8s.io/v1", "leases"),
}


async def _managed(client: KubeClient, ns: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for kind, (api, plural) in CHILD_LISTS.items():
        got = await client.list(
            resource_path(api, plural, ns), label_selector="app.kubernetes.io/managed-by=perpdex-operator"
        )
        out[kind] = sorted(item["metadata"]["name"] for item in got["items"])
    return out


async def test_restart_mid_reconcile_converges_without_duplicates(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher
) -> None:
    ns = make_namespace(kube, "restart")
    names = [f"bot-{i:02d}" for i in range(12)]
    async with kube.client() as client:
        first = launcher.start([ns])
        for name in names:
            await create_bot(client, ns, paper_bot(name))

        async def some_children() -> bool:
            return len((await _managed(client, ns))["StatefulSet"]) >= 1

        await eventually(some_children, interval=0.05, what="the first StatefulSet")
        first.kill()  # SIGKILL: mid-reconcile, no cleanup

        second = launcher.start([ns])

        async def converged() -> bool:
            if (await _managed(client, ns))["Lease"] != names:
                return False
            for name in names:
                cr = await client.get(bot_path(ns, name))
                status = cr.get("status") or {}
                if status.get("phase") != "Pending" or status.get("observedGeneration") != cr["metadata"]["generation"]:
                    return False
            return True

        await eventually(converged, timeout=90, what="all bots reconciled after the restart")
        managed = await _managed(client, ns)
        assert managed["StatefulSet"] == names
        assert managed["Service"] == names
        assert managed["Lease"] == names
        assert managed["ConfigMap"] == [f"{n}-config" for n in names]
        for kind in ("ServiceAccount", "Role", "RoleBinding"):
            assert managed[kind] == [f"{n}-bot" for n in names]
        settings = operator_settings(ns)
        for name in names:
            cr = await client.get(bot_path(ns, name))
            sts = await client.get(sts_path(ns, name))
            drift = differences(build_tradingbot_children(cr, settings).workload, sts)
            assert drift == [], (name, drift, second.log()[-4000:])
            assert cr["metadata"]["finalizers"] == ["perpdex.io/finalizer"]
        second.stop()


async def test_two_operators_with_peering_only_one_acts(
    kube: Any, peering_crds: Any, launcher: OperatorLauncher
) -> None:
    ns = make_namespace(kube, "peer")
    env = {"PERPDEX_OPERATOR_PEERING_LIFETIME_SECONDS": "10"}
    a = launcher.start([ns], "--peering=perpdex-it", env=env)
    await asyncio.sleep(1.5)  # a distinct start second: the earlier operator ranks higher
    b = launcher.start([ns], "--peering=perpdex-it", env=env)
    async with kube.client() as client:
        peering = await client.get(resource_path("kopf.dev/v1", "kopfpeerings", ns, "perpdex-it"))
        assert peering["kind"] == "KopfPeering"

        async def both_registered() -> bool:
            p = await client.get(resource_path("kopf.dev/v1", "kopfpeerings", ns, "perpdex-it"))
            return len(p.get("status") or {}) == 2

        await eventually(both_registered, what="two peers in the KopfPeering")
        await asyncio.sleep(2)
        for i in range(3):
            await create_bot(client, ns, paper_bot(f"peer-{i}"))
        for i in range(3):
            await eventually(lambda i=i: client.get(sts_path(ns, f"peer-{i}")), what=f"peer-{i} children")
        await asyncio.sleep(2)
        assert a.total("perpdex_operator_reconciles_total") > 0, a.log()[-3000:]
        assert b.total("perpdex_operator_reconciles_total") == 0, b.log()[-3000:]

        # the active one dies: the standby takes over once its peer entry expires
        a.kill()
        await create_bot(client, ns, paper_bot("after-failover"))
        await eventually(lambda: client.get(sts_path(ns, "after-failover")), timeout=60, what="standby takes over")
        assert b.total("perpdex_operator_reconciles_total") > 0
        b.stop()


def _can(kube: Any, ns: str, sa: str, *args: str) -> bool:
    out = kube.kubectl("auth", "can-i", *args, "-n", ns, "--as", f"system:serviceaccount:{ns}:{sa}", check=False)
    return out.stdout.strip() == "yes"


async def test_bot_service_account_is_least_privilege(kube: Any, operator: Any, op_namespace: str) -> None:
    ns = op_namespace
    async with kube.client() as client:
        for name in ("rbac-a", "rbac-b"):
            await create_bot(client, ns, paper_bot(name))
        for name in ("rbac-a", "rbac-b"):
            await eventually(
                lambda name=name: client.get(
                    resource_path("rbac.authorization.k8s.io/v1", "rolebindings", ns, f"{name}-bot")
                ),
                what="rolebinding",
            )
    sa = "rbac-a-bot"
    assert _can(kube, ns, sa, "patch", "tradingbots.perpdex.io/rbac-a", "--subresource=status")
    assert _can(kube, ns, sa, "get", "tradingbots.perpdex.io/rbac-a")
    assert _can(kube, ns, sa, "get", "leases.coordination.k8s.io/rbac-a")
    assert _can(kube, ns, sa, "update", "leases.coordination.k8s.io/rbac-a")
    # only the calls the bot makes: a merge PATCH of its status, GET + PUT of its Lease, no Events
    assert not _can(kube, ns, sa, "update", "tradingbots.perpdex.io/rbac-a", "--subresource=status")
    assert not _can(kube, ns, sa, "patch", "leases.coordination.k8s.io/rbac-a")
    assert not _can(kube, ns, sa, "create", "events")
    # nothing of the other bot, nothing of its own spec, no Lease creation, no Secrets, no listing
    assert not _can(kube, ns, sa, "patch", "tradingbots.perpdex.io/rbac-b", "--subresource=status")
    assert not _can(kube, ns, sa, "patch", "tradingbots.perpdex.io/rbac-a")
    assert not _can(kube, ns, sa, "update", "leases.coordination.k8s.io/rbac-b")
    assert not _can(kube, ns, sa, "create", "leases.coordination.k8s.io")
    assert not _can(kube, ns, sa, "list", "tradingbots.perpdex.io")
    assert not _can(kube, ns, sa, "get", "secrets")
    assert not _can(kube, ns, sa, "list", "secrets")
    assert not _can(kube, ns, sa, "get", "secrets/lighter-main")
    assert not _can(kube, ns, sa, "delete", "statefulsets.apps/rbac-a")


async def test_a_live_bot_may_get_exactly_its_own_secrets(kube: Any, operator: Any, op_namespace: str) -> None:
    """Issue 19: a bot whose preflight failed restarts when its credentials Secret changes, so it may GET exactly
    the Secrets its pod references (their values are in its env already): no other Secret, no list/watch/write."""
    ns = op_namespace
    body = paper_bot("rbac-live", exchange="lighter", credentials={"lighter": {"secretName": "lighter-rbac"}})
    del body["spec"]["paper"]
    async with kube.client() as client:
        await create_bot(client, ns, body)
        await eventually(
            lambda: client.get(resource_path("rbac.authorization.k8s.io/v1", "rolebindings", ns, "rbac-live-bot")),
            what="rolebinding",
        )
    sa = "rbac-live-bot"
    assert _can(kube, ns, sa, "get", "secrets/lighter-rbac")
    assert not _can(kube, ns, sa, "get", "secrets/lighter-main")
    assert not _can(kube, ns, sa, "get", "secrets")
    assert not _can(kube, ns, sa, "list", "secrets")
    assert not _can(kube, ns, sa, "watch", "secrets")
    assert not _can(kube, ns, sa, "update", "secrets/lighter-rbac")
    assert not _can(kube, ns, sa, "patch", "secrets/lighter-rbac")
