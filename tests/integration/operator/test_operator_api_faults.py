"""The operator behind a fault-injecting proxy (tests/support/kube_fault_proxy.py) in front of the real API server:
5xx and lost replies on writes, 429 with Retry-After, 409 on creates, slow writes, dropped watches, 410 Gone on
reconnect, an outage and a SIGKILL mid-burst. Once the API server answers again, every bot converges (exact children,
observedGeneration, phase, no finalizer left on a deleted one, no Lease of a deleted one) and the operator falls quiet
(no request through the proxy besides its watches).

The full resync is set far beyond the tests' bounds (600 s), so convergence cannot come from it: it must come from the
watches, the re-list after a 410 and the retries of failed reconciles (backoff capped at 5 s here, 60 s by default).
Bounds are generous (they are not timings).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, resource_path
from perpdex_operator.drift import differences
from perpdex_operator.kinds import FUNDINGCOLLECTOR, TRADINGBOT, KindSpec
from tests.integration.operator.operator_helpers import (
    API,
    OperatorLauncher,
    OperatorProcess,
    bot_path,
    condition,
    create_bot,
    eventually,
    get_or_none,
    make_namespace,
    paper_bot,
    sts_path,
)
from tests.integration.operator.test_operator_children import operator_settings
from tests.support.kube_fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

FAULT_FLAGS = ("--resync-interval-seconds=600", "--retry-max-seconds=5")
CONVERGE = 150.0  # seconds: far above what convergence takes, far below the resync
QUIET_WINDOW = 6.0  # seconds of status checks (every 1 s) that must send nothing


@pytest.fixture
def proxy(kube: Any) -> Iterator[FaultProxy]:
    p = FaultProxy(kube.config()).start()
    yield p
    p.stop()


def _start(launcher: OperatorLauncher, proxy: FaultProxy, ns: str, tmp_path: Path) -> OperatorProcess:
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy-kubeconfig", ns)
    return launcher.start([ns], *FAULT_FLAGS, env={"KUBECONFIG": str(kubeconfig)})


async def _resource_version(client: KubeClient, ns: str) -> str:
    """The API server's current revision (a fresh list's resourceVersion)."""
    got = await client.list(resource_path("v1", "configmaps", ns), limit=1)
    return str(got["metadata"]["resourceVersion"])


async def _converged(
    client: KubeClient, ns: str, bot: str, *, phase: str | None, kind: KindSpec = TRADINGBOT
) -> list[str]:
    """What still differs from a converged bot (or collector; empty when converged). ``phase`` None: any."""
    cr = await get_or_none(client, resource_path(kind.api_version, kind.plural, ns, bot))
    if cr is None:
        return [f"{bot}: CR missing"]
    status = cr.get("status") or {}
    out: list[str] = []
    if status.get("observedGeneration") != cr["metadata"]["generation"]:
        out.append(f"{bot}: observedGeneration {status.get('observedGeneration')} != {cr['metadata']['generation']}")
    if phase is not None and status.get("phase") != phase:
        out.append(f"{bot}: phase {status.get('phase')} != {phase}")
    children = kind.build(cr, operator_settings(ns))
    for manifest in [*children.applied, *children.created]:
        meta = manifest["metadata"]
        api, child_kind = manifest["apiVersion"], manifest["kind"]
        plural = {"Lease": "leases", "ServiceAccount": "serviceaccounts"}.get(child_kind, child_kind.lower() + "s")
        live = await get_or_none(client, resource_path(api, plural, ns, meta["name"]))
        if live is None:
            out.append(f"{bot}: {child_kind} {meta['name']} missing")
        elif manifest in children.applied and (drift := differences(manifest, live)):
            out.append(f"{bot}: {child_kind} {meta['name']} differs at {drift[:3]}")
    return out


async def _gone(client: KubeClient, ns: str, bot: str) -> list[str]:
    out = []
    cr = await get_or_none(client, bot_path(ns, bot))
    if cr is not None:
        out.append(f"{bot}: CR still there, finalizers {cr['metadata'].get('finalizers')}")
    if await get_or_none(client, resource_path("coordination.k8s.io/v1", "leases", ns, bot)) is not None:
        out.append(f"{bot}: Lease still there")
    return out


async def _wait_converged(client: KubeClient, ns: str, op: OperatorProcess, expect: dict[str, str | None]) -> None:
    """``expect``: bot -> phase, or None for a deleted bot."""
    last: list[str] = []

    async def check() -> bool:
        nonlocal last
        last = []
        for bot, phase in expect.items():
            last += await (_gone(client, ns, bot) if phase is None else _converged(client, ns, bot, phase=phase))
        return not last

    started = time.monotonic()
    try:
        await eventually(check, timeout=CONVERGE, interval=0.5, what="convergence")
    except AssertionError as exc:
        # the operator's lines about what still differs (a tail of the whole log shows only the other bots' timers)
        stuck = {line.split(":", 1)[0] for line in last}
        about = [line for line in op.log().splitlines() if any(f'"name":"{name}"' in line for name in stuck)]
        raise AssertionError(
            f"{exc}\nstill differing: {last}\noperator log about them:\n" + "\n".join(about[-150:])
        ) from None
    print(f"converged: {len(expect)} objects in {time.monotonic() - started:.1f} s")  # a figure, not an assertion


async def _assert_quiet(proxy: FaultProxy, op: OperatorProcess) -> None:
    """Once converged, the operator falls silent: a window of QUIET_WINDOW seconds (several status checks per object)
    with no request through the proxy besides its watch streams. A retry kopf scheduled just before convergence may
    still land in the first windows (later on a loaded machine), so up to eight windows are tried; a storm fills every
    one of them."""
    await asyncio.sleep(2.0)  # the last writes' own watch events come back
    windows: list[int] = []
    for _ in range(8):
        mark = proxy.mark()
        await asyncio.sleep(QUIET_WINDOW)
        sent = proxy.requests_since(mark)
        if not sent:
            return
        windows.append(len(sent))
    detail = [(s.method, s.path) for s in sent[:20]]
    raise AssertionError(f"requests in every window after convergence: {windows}; last: {detail}\n{op.log()[-4000:]}")


async def test_a_burst_under_api_faults_converges_and_falls_quiet(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher, proxy: FaultProxy, tmp_path: Path
) -> None:
    """20 bots applied, then edited, paused and deleted while 20 % of writes fail (plus lost replies, 429s, 409s on
    creates, slow writes); the operator is SIGKILLed mid-burst, and a 503 outage with dropped watches and 410 Gone on
    reconnect hits during the deletions."""
    ns = make_namespace(kube, "faults")
    names = [f"bot-{i:02d}" for i in range(20)]
    edited, paused, deleted = names[0:5], names[5:10], names[10:15]
    f = proxy.faults
    f.write_error_rate, f.lost_reply_rate, f.throttle_rate, f.conflict_rate, f.write_delay = 0.2, 0.05, 0.05, 0.2, 0.05
    async with kube.client() as client:
        first = _start(launcher, proxy, ns, tmp_path)
        for name in names:
            await create_bot(client, ns, paper_bot(name))

        async def some_children() -> bool:
            got = await client.list(
                resource_path("apps/v1", "statefulsets", ns), label_selector="app.kubernetes.io/managed-by"
            )
            return len(got["items"]) >= 3

        await eventually(some_children, interval=0.05, timeout=60, what="the first StatefulSets")
        first.kill()  # SIGKILL mid-burst
        op = _start(launcher, proxy, ns, tmp_path)

        for name in edited:
            await client.patch(bot_path(ns, name), {"spec": {"grid": {"quantity": "0.02"}}})
        for name in paused:
            await client.patch(bot_path(ns, name), {"spec": {"paused": True}})

        async def finalizers_on() -> bool:
            for name in deleted:
                cr = await client.get(bot_path(ns, name))
                if "perpdex.io/finalizer" not in (cr["metadata"].get("finalizers") or []):
                    return False
            return True

        await eventually(finalizers_on, timeout=CONVERGE, what="finalizers on the bots to delete")
        for name in deleted[:2]:
            await client.delete(bot_path(ns, name))
        f.outage = True  # the rest are deleted while the API server answers the operator 503
        proxy.drop_watches()
        for name in deleted[2:]:
            await client.delete(bot_path(ns, name))
        await asyncio.sleep(3)
        proxy.expire_before(await _resource_version(client, ns))
        f.clear()

        expect: dict[str, str | None] = {n: "Pending" for n in names}
        expect |= {n: "Paused" for n in paused} | {n: None for n in deleted}
        await _wait_converged(client, ns, op, expect)
        for name in edited:
            sts = await client.get(sts_path(ns, name))
            assert sts["spec"]["replicas"] == 1
        for name in [*paused, *deleted]:
            assert (await client.get(sts_path(ns, name)))["spec"]["replicas"] == 0
        assert proxy.injected > 0
        await _assert_quiet(proxy, op)
        op.stop()


async def test_children_deleted_while_watches_are_down_are_recreated_after_410(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The children watches are cut and refused (503) while children are deleted and a CR loses its finalizer and
    goes; on reconnect the watches get 410 Gone and list again: no DELETED event ever arrives. The re-list must still
    bring every child back (a collector's Deployment too), forget the vanished CR, and leave the operator quiet."""
    ns = make_namespace(kube, "relist")
    names = ["keep-a", "keep-b", "keep-c", "vanish"]
    async with kube.client() as client:
        op = _start(launcher, proxy, ns, tmp_path)
        for name in names:
            await create_bot(client, ns, paper_bot(name))
        collector = {"apiVersion": API, "kind": "FundingCollector", "metadata": {"name": "fc"}}
        await client.create(
            resource_path(API, "fundingcollectors", ns), {**collector, "spec": {"exchanges": ["paper"]}}
        )
        await _wait_converged(client, ns, op, dict.fromkeys(names, "Pending"))

        async def collector_converged() -> bool:
            return not await _converged(client, ns, "fc", phase=None, kind=FUNDINGCOLLECTOR)

        await eventually(collector_converged, timeout=CONVERGE, what="the collector converged")

        proxy.faults.outage = True
        proxy.drop_watches()
        await client.delete(resource_path("v1", "configmaps", ns, "keep-a-config"))
        await client.delete(sts_path(ns, "keep-b"))
        await client.delete(resource_path("v1", "services", ns, "keep-c"))
        await client.delete(resource_path("rbac.authorization.k8s.io/v1", "rolebindings", ns, "keep-c-bot"))
        await client.patch(bot_path(ns, "vanish"), {"metadata": {"finalizers": None}})
        await client.delete(bot_path(ns, "vanish"))
        await client.delete(resource_path("apps/v1", "deployments", ns, "fc"))
        await asyncio.sleep(2)
        proxy.expire_before(await _resource_version(client, ns))
        proxy.faults.clear()

        await _wait_converged(client, ns, op, {"keep-a": "Pending", "keep-b": "Pending", "keep-c": "Pending"})
        await eventually(collector_converged, timeout=CONVERGE, what="the collector's Deployment recreated")
        await _assert_quiet(proxy, op)
        op.stop()


async def test_a_failed_drift_repair_is_retried_before_the_resync(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Drift seen while the API server refuses writes to StatefulSets (the status write passes): the bot says
    Degraded/ReconcileError, the repair is retried with growing backoff and lands once the writes pass, long before
    the (600 s) resync."""
    ns = make_namespace(kube, "repair")
    async with kube.client() as client:
        op = _start(launcher, proxy, ns, tmp_path)
        await create_bot(client, ns, paper_bot("drifty"))
        await _wait_converged(client, ns, op, {"drifty": "Pending"})

        proxy.faults.refuse_writes_to = "/statefulsets/"
        mark = proxy.mark()
        await client.patch(sts_path(ns, "drifty"), {"spec": {"replicas": 3}})

        async def degraded() -> bool:
            cr = await client.get(bot_path(ns, "drifty"))
            return condition(cr, "Degraded").get("reason") == "ReconcileError"

        await eventually(degraded, timeout=CONVERGE, what="Degraded/ReconcileError while the repair is refused")

        async def retried() -> bool:  # tried (and refused) again after the status said so
            refused = [s for s in proxy.requests_since(mark) if s.status == 503 and "/statefulsets/" in s.path]
            return len(refused) >= 3

        await eventually(retried, timeout=CONVERGE, what="repair attempts")
        proxy.faults.clear()

        async def repaired() -> bool:
            return bool((await client.get(sts_path(ns, "drifty")))["spec"]["replicas"] == 1)

        await eventually(repaired, timeout=CONVERGE, what="the drift repaired after writes pass again")
        await _wait_converged(client, ns, op, {"drifty": "Pending"})
        await eventually(lambda: _healthy(client, ns, "drifty"), timeout=CONVERGE, what="Degraded cleared")
        await _assert_quiet(proxy, op)
        op.stop()


async def _healthy(client: KubeClient, ns: str, name: str) -> bool:
    return condition(await client.get(bot_path(ns, name)), "Degraded").get("status") == "False"


async def test_an_outage_longer_than_kopfs_retries_never_strands_a_finalizer(
    kube: Any, crds_installed: Any, launcher: OperatorLauncher, proxy: FaultProxy, tmp_path: Path
) -> None:
    """Bots deleted at the start of a 65 s outage (kopf's own requests used to give up after 54 s, and a deleted bot
    then kept its finalizer and Lease until an operator restart): once the API server answers, they go."""
    ns = make_namespace(kube, "outage")
    names = ["stays", "goes-a", "goes-b"]
    async with kube.client() as client:
        op = _start(launcher, proxy, ns, tmp_path)
        for name in names:
            await create_bot(client, ns, paper_bot(name))
        await _wait_converged(client, ns, op, dict.fromkeys(names, "Pending"))

        proxy.faults.outage = True
        proxy.drop_watches()
        await client.delete(bot_path(ns, "goes-a"))
        await client.delete(bot_path(ns, "goes-b"))
        await asyncio.sleep(65)
        assert op.alive(), op.log()[-4000:]
        proxy.faults.clear()

        await _wait_converged(client, ns, op, {"stays": "Pending", "goes-a": None, "goes-b": None})
        await _assert_quiet(proxy, op)
        op.stop()
