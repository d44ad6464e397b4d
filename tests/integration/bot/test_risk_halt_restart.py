"""A risk halt survives a restart of ``perpdex bot``, on the real API server, with only the Role the operator grants
a bot (a real service-account token, in-cluster configuration): the halted process records ``status.riskHalt``; the
next process (same generation) stays halted and places no order; a spec change clears it (``paused`` true then false,
the documented way), and a start after raising the limit trades."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot_runtime.kube import resource_path
from tests.integration.bot.bot_harness import BotRun, fast_paper_spec, write_manifest

pytestmark = pytest.mark.integration

NAME = "halting"
TINY_LIMIT = {"maxPositionUsd": "100"}  # one 0.01 BTC entry at ~60000 is ~600 USD: the first order trips it


@pytest.fixture
def runs() -> Iterator[list[BotRun]]:
    started: list[BotRun] = []
    yield started
    for run in started:
        run.kill()


def tradingbot(kube: Any, namespace: str) -> dict[str, Any]:
    out = kube.kubectl("get", "tradingbot", NAME, "-n", namespace, "-o", "json")
    return dict(json.loads(out.stdout))


def eventually(check: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


async def grant_bot_role(kube: Any, namespace: str) -> str:
    """The operator's Role for the bot (perpdex_operator.builders.tradingbot.role_rules) bound to a ServiceAccount,
    the pre-created Lease (the Role cannot create one); returns a token of that ServiceAccount."""
    from perpdex_operator.builders.tradingbot import role_rules

    rbac = "rbac.authorization.k8s.io/v1"
    async with kube.client() as admin:
        await admin.create(resource_path("v1", "serviceaccounts", namespace), {"metadata": {"name": "bot-sa"}})
        await admin.create(
            resource_path(rbac, "roles", namespace), {"metadata": {"name": "bot"}, "rules": role_rules(NAME)}
        )
        await admin.create(
            resource_path(rbac, "rolebindings", namespace),
            {
                "metadata": {"name": "bot"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot"},
                "subjects": [{"kind": "ServiceAccount", "name": "bot-sa", "namespace": namespace}],
            },
        )
        await admin.create(
            resource_path("coordination.k8s.io/v1", "leases", namespace),
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": NAME}},
        )
        token = await admin.create(
            resource_path("v1", "serviceaccounts", namespace, "bot-sa", "token"),
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}},
        )
    return str(token["status"]["token"])


def service_account_env(kube: Any, namespace: str, tmp_path: Path) -> dict[str, str]:
    """What a bot pod gets: its Role, its Lease, and the token mounted where ``KubeConfig.load`` looks in a cluster."""
    token = asyncio.run(grant_bot_role(kube, namespace))
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(token)
    (sa_dir / "namespace").write_text(namespace)
    cfg = kube.config()
    if cfg.ca_data:
        (sa_dir / "ca.crt").write_text(cfg.ca_data)
    elif cfg.ca_file:
        (sa_dir / "ca.crt").write_text(Path(cfg.ca_file).read_text())
    server = urlsplit(cfg.server)
    env = {k: v for k, v in kube.env.items() if k != "KUBECONFIG"}  # only the token: nothing beyond the Role
    env.update(
        KUBECONFIG=str(tmp_path / "no-kubeconfig"),
        KUBERNETES_SERVICE_HOST=str(server.hostname),
        KUBERNETES_SERVICE_PORT=str(server.port or 443),
        PERPDEX_SERVICEACCOUNT_DIR=str(sa_dir),
        PERPDEX_BOT_NAME=NAME,
        PERPDEX_NAMESPACE=namespace,
        POD_NAME=f"{NAME}-0",
        POD_UID=f"uid-{NAME}-0",
        PERPDEX_GRACE_SECONDS="30",
    )
    return env


def start(config: Path, tmp_path: Path, env: dict[str, str], runs: list[BotRun], tag: str) -> BotRun:
    run = BotRun(config, tmp_path, env=env, tag=tag)
    runs.append(run)
    run.wait_for(lambda x: x.get("msg") == "lease acquired", 60, f"{tag}: the lease")
    return run


def orders(run: BotRun) -> list[dict[str, Any]]:
    return run.messages("order")


def test_a_risk_halt_survives_a_restart_until_the_spec_changes(
    crds_installed: Any, namespace: str, tmp_path: Path, runs: list[BotRun]
) -> None:
    kube = crds_installed
    spec = fast_paper_spec(risk=TINY_LIMIT)
    manifest = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": NAME, "namespace": namespace},
        "spec": spec,
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    config = write_manifest(tmp_path / "bot.yaml", NAME, spec, namespace)  # what the operator's ConfigMap holds
    env = service_account_env(kube, namespace, tmp_path)
    generation = tradingbot(kube, namespace)["metadata"]["generation"]

    # 1. the first order trips maxPositionUsd: RiskHalted, and the halt is recorded with the current generation
    first = start(config, tmp_path, env, runs, "first")
    first.wait_for(lambda x: x.get("msg") == "risk limit breached", 60, "first: the breach")
    obj = eventually(
        lambda: (
            (o := tradingbot(kube, namespace))["status"].get("riskHalt") and o["status"]["phase"] == "RiskHalted" and o
        ),
        30,
        "the recorded halt",
    )
    halt = obj["status"]["riskHalt"]
    assert halt["generation"] == generation == obj["metadata"]["generation"]  # status writes bump no generation
    assert (halt["limit"], halt["action"]) == ("maxPositionUsd", "pause")
    assert "maxPositionUsd 100" in halt["message"] and halt["at"].endswith("Z")
    assert "recorded in status.riskHalt" in obj["status"]["lastError"]
    assert orders(first) == []  # refused before it went out
    assert first.terminate() == 0
    obj = tradingbot(kube, namespace)
    assert obj["status"]["phase"] == "RiskHalted" and obj["status"]["riskHalt"] == halt

    # 2. a restart (crash, drain, the operator rolling the pod: no spec change) stays halted and places no order
    second = start(config, tmp_path, env, runs, "second")
    second.wait_for(lambda x: x.get("msg") == "a recorded risk halt holds: not trading", 30, "second: the hold")
    second.wait_for(lambda x: x.get("msg") == "phase" and x.get("phase") == "RiskHalted", 30, "second: RiskHalted")
    time.sleep(4)  # the first process placed its (refused) first order within a second of connecting
    assert orders(second) == [] and second.metric("perpdex_bot_orders_total") == 0
    status = eventually(
        lambda: (s := tradingbot(kube, namespace)["status"]).get("lastError", "").startswith("still halted") and s,
        30,
        "the hold in the status",
    )
    assert status["phase"] == "RiskHalted" and status["riskHalt"] == halt
    assert f"kubectl patch tradingbot {NAME} -n {namespace}" in status["lastError"]
    assert second.get("/healthz").status_code == 200  # alive: its liveness probe does not restart it
    assert second.terminate() == 0
    assert orders(second) == []  # not even onStop orders
    assert [x["on_stop"] for x in second.messages("onStop applied")] == []
    assert tradingbot(kube, namespace)["status"]["riskHalt"] == halt

    # 3. the documented way to clear it: paused true, then false (two new generations; the spec is the same)
    for paused in ("true", "false"):
        kube.kubectl(
            "patch", "tradingbot", NAME, "-n", namespace, "--type=merge", "-p", f'{{"spec":{{"paused":{paused}}}}}'
        )
    assert tradingbot(kube, namespace)["metadata"]["generation"] == generation + 2
    third = start(config, tmp_path, env, runs, "third")
    cleared = third.wait_for(lambda x: x.get("msg", "").startswith("the spec changed since the recorded"), 30, "clear")
    assert (cleared["halt_generation"], cleared["generation"]) == (generation, generation + 2)
    # the fresh risk manager lets it trade; the unchanged tiny limit halts it again, recorded at the new generation
    third.wait_for(lambda x: x.get("msg") == "risk limit breached", 60, "third: the breach again")
    eventually(
        lambda: (tradingbot(kube, namespace)["status"].get("riskHalt") or {}).get("generation") == generation + 2,
        30,
        "a new record",
    )
    assert third.terminate() == 0

    # 4. raising the limit (a new generation, a new rendered config): the next start clears the record and trades
    kube.kubectl(
        "patch",
        "tradingbot",
        NAME,
        "-n",
        namespace,
        "--type=merge",
        "-p",
        '{"spec":{"risk":{"maxPositionUsd":"1000000"}}}',
    )
    assert tradingbot(kube, namespace)["metadata"]["generation"] == generation + 3
    config = write_manifest(tmp_path / "bot.yaml", NAME, fast_paper_spec(risk={"maxPositionUsd": "1000000"}), namespace)
    fourth = start(config, tmp_path, env, runs, "fourth")
    fourth.wait_for(lambda x: x.get("msg") == "order", 60, "fourth: an order")
    status = eventually(
        lambda: (s := tradingbot(kube, namespace)["status"]).get("phase") == "Running" and "riskHalt" not in s and s,
        30,
        "Running without a record",
    )
    assert not str(status.get("lastError") or "").startswith("still halted")
    assert fourth.terminate() == 0
    final = tradingbot(kube, namespace)["status"]
    assert final["phase"] == "Stopped" and "riskHalt" not in final
