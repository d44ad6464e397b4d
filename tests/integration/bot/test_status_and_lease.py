"""The status reporter and the Lease on the real API server (library level; the process-level tests drive
``perpdex bot`` itself)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, resource_path
from bot_runtime.status import BotStatus, KubeStatusSink, LeaseElector, StatusReporter

pytestmark = pytest.mark.integration


async def test_status_patch_lands_and_leaves_operator_fields_alone(trading_bot) -> None:  # type: ignore[no-untyped-def]
    kube, namespace, name, _ = trading_bot
    status_path = resource_path("perpdex.io/v1alpha1", "tradingbots", namespace, name, "status")
    async with kube.client() as client:
        # what the operator writes
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "PodReady",
            "message": "",
            "lastTransitionTime": "2026-11-25T10:00:00Z",
            "observedGeneration": 1,
        }
        await client.patch(status_path, {"status": {"observedGeneration": 1, "conditions": [condition]}})
        reporter = StatusReporter(KubeStatusSink(client, namespace, name))
        status = BotStatus(
            phase="Running",
            position=Decimal("0.040"),
            avg_entry_price=Decimal("61234.5"),
            realized_pnl=Decimal("12.31"),
            unrealized_pnl=Decimal("-1.20"),
            funding_pnl=Decimal(0),
            open_orders=7,
            last_heartbeat=datetime(2026, 11, 25, 10, 0, 5, tzinfo=UTC),
            last_error="TransientNetworkError: timeout",
        )
        assert await reporter.flush(status, within_s=10)
        got = (await client.get(resource_path("perpdex.io/v1alpha1", "tradingbots", namespace, name)))["status"]
        assert got["phase"] == "Running"
        assert (got["position"], got["avgEntryPrice"], got["realizedPnl"], got["unrealizedPnl"]) == (
            "0.04",
            "61234.5",
            "12.31",
            "-1.2",
        )
        assert (got["fundingPnl"], got["openOrders"], got["lastHeartbeat"]) == ("0", 7, "2026-11-25T10:00:05Z")
        assert got["lastError"] == "TransientNetworkError: timeout"
        assert got["observedGeneration"] == 1 and got["conditions"] == [condition]
        # a cleared error disappears
        assert await reporter.flush(BotStatus(phase="Stopped", open_orders=0), within_s=10)
        got = (await client.get(resource_path("perpdex.io/v1alpha1", "tradingbots", namespace, name)))["status"]
        assert got["phase"] == "Stopped" and "lastError" not in got and got["conditions"] == [condition]
    # the printer columns read these fields
    out = kube.kubectl("get", "tradingbots", "-n", namespace, name, "-o", "wide")
    assert "Stopped" in out.stdout


async def test_two_electors_only_one_holds_release_hands_over(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    async with kube.client() as client:
        a = LeaseElector(client, namespace, "bot", "pod-a", duration=15, renew_interval=5, renew_deadline=10)
        b = LeaseElector(client, namespace, "bot", "pod-b", duration=15, renew_interval=5, renew_deadline=10)
        assert await a.try_acquire_or_renew()
        assert a.held
        assert not await b.try_acquire_or_renew()
        assert b.holder == "pod-a" and not b.held
        assert await a.try_acquire_or_renew()  # renew
        assert not await b.try_acquire_or_renew()
        lease = await client.get(resource_path("coordination.k8s.io/v1", "leases", namespace, "bot"))
        assert lease["spec"]["holderIdentity"] == "pod-a"
        assert lease["spec"]["leaseDurationSeconds"] == 15
        # b waits in acquire() while a holds; a's release lets it in at once
        stopping = asyncio.Event()
        waiter = asyncio.create_task(b.acquire(stopping))
        await asyncio.sleep(0.3)
        assert not waiter.done()
        await a.release()
        assert await asyncio.wait_for(waiter, 10)
        assert b.held and not a.held
        lease = await client.get(resource_path("coordination.k8s.io/v1", "leases", namespace, "bot"))
        assert lease["spec"]["holderIdentity"] == "pod-b"
        assert lease["spec"]["leaseTransitions"] == 0  # a released it: b took a free lease, not someone's


async def test_expired_lease_is_taken_over_only_after_its_duration(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    async with kube.client() as client:
        a = LeaseElector(client, namespace, "bot", "pod-a", duration=3, renew_interval=1, renew_deadline=2)
        b = LeaseElector(
            client, namespace, "bot", "pod-b", duration=3, renew_interval=1, renew_deadline=2, retry_interval=0.2
        )
        assert await a.try_acquire_or_renew()
        # a "crashes": no renewals, no release. b first observes the record now, and must see it unchanged for 3 s
        assert not await b.try_acquire_or_renew()
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(b.acquire(asyncio.Event()), 20)
        assert asyncio.get_running_loop().time() - started >= 3 - 0.3  # never before the duration elapsed
        lease = await client.get(resource_path("coordination.k8s.io/v1", "leases", namespace, "bot"))
        assert lease["spec"]["holderIdentity"] == "pod-b"
        assert lease["spec"]["leaseTransitions"] == 1
        # a comes back: it must notice it lost the lease
        lost: list[str] = []
        await asyncio.wait_for(a.keep(lost.append), 10)
        assert lost and "pod-b" in lost[0]
        assert not a.held


class RacingClient:
    """The real client, but a rival renews the lease between our GET and our PUT (the resourceVersion race)."""

    def __init__(self, client: KubeClient, rival: LeaseElector) -> None:
        self._client = client
        self._rival = rival

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        lease = await self._client.get(path, **params)
        await self._rival.try_acquire_or_renew()
        return lease

    async def create(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        return await self._client.create(path, body, **params)

    async def replace(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        return await self._client.replace(path, body, **params)


async def test_updates_are_resource_version_guarded(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    async with kube.client() as client:
        a = LeaseElector(client, namespace, "bot", "pod-a", duration=15, renew_interval=5, renew_deadline=10)
        assert await a.try_acquire_or_renew()
        # b sees a lease it may take (pretend it observed it long ago), but a renews in between: b's PUT conflicts
        b = LeaseElector(
            RacingClient(client, a),
            namespace,
            "bot",
            "pod-b",
            duration=15,
            renew_interval=5,  # type: ignore[arg-type]
            renew_deadline=10,
            clock=lambda: 1e12,
        )
        lease = await client.get(resource_path("coordination.k8s.io/v1", "leases", namespace, "bot"))
        spec = lease["spec"]
        b._observed = (spec["holderIdentity"], spec["renewTime"], spec.get("acquireTime"), spec["leaseDurationSeconds"])
        b._observed_at = 0.0
        assert not await b.try_acquire_or_renew()  # Conflict → not held
        lease = await client.get(resource_path("coordination.k8s.io/v1", "leases", namespace, "bot"))
        assert lease["spec"]["holderIdentity"] == "pod-a"


async def test_pre_created_lease_keeps_the_operators_metadata(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """The operator creates the Lease (the bot's Role cannot create one): acquiring and releasing it must keep its
    labels and ownerReferences."""
    leases = resource_path("coordination.k8s.io/v1", "leases", namespace)
    async with kube.client() as client:
        owner = await client.create(resource_path("v1", "configmaps", namespace), {"metadata": {"name": "owner"}})
        await client.create(
            leases,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": "bot",
                    "labels": {"app.kubernetes.io/name": "perpdex-bot"},
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
                    ],
                },
            },
        )
        a = LeaseElector(client, namespace, "bot", "pod-a")
        assert await a.try_acquire_or_renew()  # an empty spec is a free lease
        await a.release()
        lease = await client.get(f"{leases}/bot")
        assert lease["metadata"]["labels"] == {"app.kubernetes.io/name": "perpdex-bot"}
        assert lease["metadata"]["ownerReferences"][0]["name"] == "owner"
        assert "holderIdentity" not in lease["spec"]


async def test_the_operators_least_privilege_role_is_enough(trading_bot) -> None:  # type: ignore[no-untyped-def]
    """With only the Role the operator grants a bot (perpdex_operator.builders.tradingbot.role_rules) and a real
    service-account token, the bot can hold its pre-created Lease and patch its status — and nothing else."""
    from perpdex_operator.builders.tradingbot import role_rules

    kube, namespace, name, _ = trading_bot
    rbac = "rbac.authorization.k8s.io/v1"
    async with kube.client() as admin:
        await admin.create(resource_path("v1", "serviceaccounts", namespace), {"metadata": {"name": "bot-sa"}})
        await admin.create(
            resource_path(rbac, "roles", namespace), {"metadata": {"name": "bot"}, "rules": role_rules(name)}
        )
        await admin.create(
            resource_path(rbac, "rolebindings", namespace),
            {
                "metadata": {"name": "bot"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot-sa", "namespace": namespace}],
            },
        )
        await admin.create(  # the operator pre-creates the Lease: the bot's Role cannot create one
            resource_path("coordination.k8s.io/v1", "leases", namespace),
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name}},
        )
        token = await admin.create(
            resource_path("v1", "serviceaccounts", namespace, "bot-sa", "token"),
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
        )
    admin_cfg = kube.config()
    from bot_runtime.kube import ApiError, KubeConfig

    sa_cfg = KubeConfig(
        server=admin_cfg.server,
        token=token["status"]["token"],
        ca_data=admin_cfg.ca_data,
        ca_file=admin_cfg.ca_file,
        insecure=admin_cfg.insecure,
        namespace=namespace,
    )
    async with KubeClient(sa_cfg) as sa:
        lease = LeaseElector(sa, namespace, name, "bot-0")
        assert await lease.try_acquire_or_renew()
        assert await lease.try_acquire_or_renew()  # renew
        reporter = StatusReporter(KubeStatusSink(sa, namespace, name))
        assert await reporter.flush(BotStatus(phase="Running", open_orders=2), within_s=10)
        await lease.release()
        # and nothing beyond its own objects
        other = LeaseElector(sa, namespace, "another-bot", "bot-0")
        with pytest.raises(ApiError) as denied:
            await other.try_acquire_or_renew()
        assert denied.value.status == 403
    async with kube.client() as admin:
        got = await admin.get(resource_path("perpdex.io/v1alpha1", "tradingbots", namespace, name))
    assert got["status"]["phase"] == "Running" and got["status"]["openOrders"] == 2
