"""The chart's ValidatingAdmissionPolicies on the real API server (kube-apiserver v1.34, admissionregistration v1).

RBAC lets the operator's ServiceAccount write every Deployment, Role and RoleBinding in the cluster (cluster scope);
the policy narrows that to objects labelled ``app.kubernetes.io/managed-by=perpdex-operator``, outside the system
namespaces, and RoleBindings of a Role to the namespace's own ServiceAccounts. Requests are made as that
ServiceAccount with ``kubectl --as`` (impersonation), mutations as server-side dry runs, so admission runs in full and
nothing is written. Bot images and funding-service URLs are checked for everyone.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Kube

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "perp-dex-operator"
MANAGED = {"app.kubernetes.io/managed-by": "perpdex-operator"}
REPOSITORY = "ghcr.io/perpdex/perp-dex-operator"  # the chart's default image.repository


@pytest.fixture(scope="module")
def release(kube: Kube, crds_installed: Kube) -> Iterator[tuple[str, str, str]]:
    ns = f"vap-{uuid.uuid4().hex[:6]}"
    name = f"v{uuid.uuid4().hex[:5]}"
    kube.kubectl("create", "namespace", ns)
    kube.helm(
        "install", name, str(CHART), "-n", ns, "--no-hooks", "--timeout=120s",
        "--set", "admissionPolicy.fundingServiceURLPrefixes={https://funding.example.com/}",
    )  # fmt: skip
    victim = f"victim-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", victim)
    try:
        yield ns, name, victim
    finally:
        kube.helm("uninstall", name, "-n", ns, "--no-hooks", check=False)


def deployment(
    name: str,
    ns: str,
    labels: dict[str, str],
    *,
    service_account: str | None = None,
    image: str = f"{REPOSITORY}:0.1.0",
    pod: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A collector's Deployment as the operator builds it (its own ServiceAccount, the chart's image) unless told."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "serviceAccountName": service_account or f"{name}-collector",
                    "containers": [{"name": "c", "image": image}],
                    **(pod or {}),
                },
            },
        },
    }


def as_operator(
    kube: Kube, ns: str, name: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    sa = f"--as=system:serviceaccount:{ns}:{name}-perp-dex-operator-operator"
    return kube.kubectl(*args, sa, check=False, input=input)


def denied_by(out: subprocess.CompletedProcess[str], policy: str) -> bool:
    """Denied by this policy's own verdict (an expression that fails to evaluate also denies: not that)."""
    return (
        out.returncode != 0
        and f"ValidatingAdmissionPolicy '{policy}'" in out.stderr
        and "resulted in error" not in out.stderr
    )


def eventually_denied(
    what: str, attempt: Callable[[], subprocess.CompletedProcess[str]], policy: str, timeout: float = 30.0
) -> subprocess.CompletedProcess[str]:
    """A new policy is enforced once the API server's policy informer has it (a moment after the install)."""
    deadline = time.monotonic() + timeout
    while True:
        out = attempt()
        if denied_by(out, policy) or time.monotonic() > deadline:
            assert denied_by(out, policy), f"{what}: {out.returncode} {out.stderr}"
            return out
        time.sleep(0.5)


def test_operator_identity_writes_only_what_it_manages(kube: Kube, release: tuple[str, str, str]) -> None:
    ns, name, victim = release
    policy = f"{name}-perp-dex-operator-operator-writes"
    kube.kubectl("apply", "-f", "-", input=json.dumps(deployment("theirs", victim, {"team": "other"})))
    # RBAC alone would allow it: the operator's ClusterRole grants patch on every Deployment (cluster scope)
    can = as_operator(kube, ns, name, "auth", "can-i", "patch", "deployments.apps", "-n", victim)
    assert can.stdout.strip() == "yes"

    patch = ["patch", "deployment", "theirs", "-n", victim, "--type=merge", "--dry-run=server"]
    out = eventually_denied(
        "patch an unlabelled Deployment",
        lambda: as_operator(kube, ns, name, *patch, "-p", '{"spec":{"replicas":3}}'),
        policy,
    )
    assert "may change or delete only objects labelled app.kubernetes.io/managed-by=perpdex-operator" in out.stderr
    # nor take it over by adding the label
    takeover = '{"metadata":{"labels":{"app.kubernetes.io/managed-by":"perpdex-operator"}}}'
    assert denied_by(as_operator(kube, ns, name, *patch, "-p", takeover), policy)
    assert denied_by(
        as_operator(kube, ns, name, "delete", "deployment", "theirs", "-n", victim, "--dry-run=server"), policy
    )

    create = ["create", "--dry-run=server", "-f", "-"]
    unlabelled = json.dumps(deployment("new", victim, {}))
    assert denied_by(as_operator(kube, ns, name, *create, input=unlabelled), policy)
    labelled = json.dumps(deployment("new", victim, dict(MANAGED)))
    ok = as_operator(kube, ns, name, *create, input=labelled)
    assert ok.returncode == 0, ok.stderr  # what the operator does for a bot: allowed
    # a labelled workload still runs only as its own ServiceAccount, only the allowed images, nothing of the host
    for bad, message in (
        (deployment("new", victim, dict(MANAGED), service_account="default"), "names another ServiceAccount"),
        (deployment("new", victim, dict(MANAGED), image="docker.io/evil/miner:1"), "runs only images of"),
        (deployment("new", victim, dict(MANAGED), pod={"hostNetwork": True}), "no host namespaces"),
        (
            deployment("new", victim, dict(MANAGED), pod={"volumes": [{"name": "h", "hostPath": {"path": "/"}}]}),
            "no hostPath volumes",
        ),
    ):
        out = as_operator(kube, ns, name, *create, input=json.dumps(bad))
        assert denied_by(out, policy) and message in out.stderr, out.stderr
    privileged = deployment("new", victim, dict(MANAGED))
    privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    assert denied_by(as_operator(kube, ns, name, *create, input=json.dumps(privileged)), policy)
    system = json.dumps(deployment("new", "kube-system", dict(MANAGED)))
    out = as_operator(kube, ns, name, *create, input=system)
    assert denied_by(out, policy) and "never writes in namespace kube-system" in out.stderr

    # a RoleBinding granting a Role to everyone, to another namespace's ServiceAccount, or to a ServiceAccount of
    # another name (the operator's own), is refused; binding a <name>-bot Role to the ServiceAccount <name>-bot (what
    # the operator does for each bot) passes. The operator holds `bind` on Roles (a bot's Role grants `get` on its
    # Secrets, which the operator does not hold), so admission decides.
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": "r-bot", "namespace": victim, "labels": dict(MANAGED)},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(role))

    def binding(subject: dict[str, str], role: str = "r-bot") -> str:
        return json.dumps(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "grant", "namespace": victim, "labels": dict(MANAGED)},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                "subjects": [subject],
            }
        )

    everyone = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"}
    out = as_operator(kube, ns, name, *create, input=binding(everyone))
    assert denied_by(out, policy) and "ServiceAccounts of the RoleBinding's own namespace" in out.stderr
    foreign = {"kind": "ServiceAccount", "name": "r-bot", "namespace": "kube-system"}
    out = as_operator(kube, ns, name, *create, input=binding(foreign))
    assert denied_by(out, policy), out.stderr
    itself = {"kind": "ServiceAccount", "name": f"{name}-perp-dex-operator-operator", "namespace": victim}
    out = as_operator(kube, ns, name, *create, input=binding(itself))
    assert denied_by(out, policy) and "to the ServiceAccount of the same" in out.stderr, out.stderr
    kube.kubectl("apply", "-f", "-", input=json.dumps({**role, "metadata": {**role["metadata"], "name": "r"}}))
    out = as_operator(kube, ns, name, *create, input=binding({"kind": "ServiceAccount", "name": "r"}, role="r"))
    assert denied_by(out, policy), out.stderr  # not a bot's or a collector's Role
    own = {"kind": "ServiceAccount", "name": "r-bot", "namespace": victim}
    ok = as_operator(kube, ns, name, *create, input=binding(own))
    assert ok.returncode == 0, ok.stderr

    # the Roles it writes grant only what bots and collectors use: `get` on Secrets only by name, in a bot's Role
    # (issue 19: the bot reads its Secrets' versions). The operator holds `escalate` for that one rule.
    def bot_role(rules: list[dict[str, Any]], role: str = "x-bot") -> str:
        meta = {"name": role, "namespace": victim, "labels": dict(MANAGED)}
        return json.dumps(
            {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta, "rules": rules}
        )

    secret_get = {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["lighter-main"], "verbs": ["get"]}
    lease = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["x"], "verbs": ["get"]}
    ok = as_operator(kube, ns, name, *create, input=bot_role([lease, secret_get]))
    assert ok.returncode == 0, ok.stderr  # what the operator builds for a bot with credentials
    for bad in (
        [{**secret_get, "resourceNames": []}],  # every Secret
        [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}],
        [{**secret_get, "verbs": ["get", "list"]}],
        [{**secret_get, "resources": ["secrets", "configmaps"]}],
        [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}],
        [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        [{"apiGroups": ["perpdex.io"], "resources": ["tradingbots"], "verbs": ["delete"]}],
    ):
        out = as_operator(kube, ns, name, *create, input=bot_role(bad))
        assert denied_by(out, policy) and "writes only Roles granting" in out.stderr, (bad, out.stderr)
    out = as_operator(kube, ns, name, *create, input=bot_role([secret_get], role=f"{name}-perp-dex-operator-operator"))
    assert denied_by(out, policy), out.stderr  # a Secret rule only in a bot's Role

    # everyone else is not concerned: the cluster admin patches the same Deployment
    kube.kubectl(*patch, "-p", '{"spec":{"replicas":3}}')


def bot(name: str, image: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {"quantity": "0.01", "takeProfit": "0.02", "direction": "buy", "maxOrders": 2},
        "paused": True,
    }
    if image is not None:
        spec["image"] = image
    return {"apiVersion": "perpdex.io/v1alpha1", "kind": "TradingBot", "metadata": {"name": name}, "spec": spec}


def collector(url: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"exchanges": ["paper-a"]}
    if url is not None:
        spec["fundingService"] = {"url": url}
    return {"apiVersion": "perpdex.io/v1alpha1", "kind": "FundingCollector", "metadata": {"name": "c"}, "spec": spec}


def test_bot_images_and_funding_service_urls_are_allowlisted(kube: Kube, release: tuple[str, str, str]) -> None:
    _ns, name, victim = release

    def create(doc: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return kube.kubectl("create", "--dry-run=server", "-n", victim, "-f", "-", input=json.dumps(doc), check=False)

    images = f"{name}-perp-dex-operator-bot-images"
    out = eventually_denied("a foreign image", lambda: create(bot("b", "docker.io/evil/miner:1")), images)
    assert f"spec.image docker.io/evil/miner:1 is not from an allowed repository ({REPOSITORY})" in out.stderr
    assert "admissionPolicy.imageRepositories" in out.stderr
    assert denied_by(create(bot("b", f"{REPOSITORY}-evil:1")), images)  # a longer name is another repository
    for allowed in (None, f"{REPOSITORY}:0.2.0", f"{REPOSITORY}@sha256:{'a' * 64}"):
        out = create(bot("b", allowed))
        assert out.returncode == 0, (allowed, out.stderr)

    urls = f"{name}-perp-dex-operator-funding-service-urls"
    out = eventually_denied("an outside URL", lambda: create(collector("http://collector.attacker.example/")), urls)
    assert "receives the ingest token: it must be an in-cluster Service" in out.stderr
    assert denied_by(create(collector("http://10.0.0.5:8000")), urls)
    for allowed in (
        None,
        "http://perpdex-funding-service.perpdex.svc:8000",
        "http://fs.other.svc.cluster.local:8000/api",
        "https://funding.example.com/v1",
    ):
        out = create(collector(allowed))
        assert out.returncode == 0, (allowed, out.stderr)
