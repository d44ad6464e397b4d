"""The Helm chart with the real `helm` binary: lint, schema, rendering rules, and an install on the real API server."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Kube

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "perp-dex-operator"
KUBE_VERSION = "--kube-version=1.34.0"


def render(kube: Kube, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "t", str(CHART), KUBE_VERSION, "--namespace=perpdex"]
    for s in sets:
        args += ["--set", s]
    out = kube.helm(*args)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_chart_crds_are_the_repository_crds() -> None:
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert top == chart
    for name in top:
        assert (REPO / "crds" / name).read_bytes() == (CHART / "crds" / name).read_bytes(), name


def test_lint(kube: Kube) -> None:
    kube.helm("lint", str(CHART), KUBE_VERSION, "--strict")


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("operator.replicas=0", "replicas"),
        ("operator.scope=everywhere", "scope"),
        ("collector.exchanges={binance}", "exchanges"),
        ("collector.interval=soon", "interval"),
        ("postgresql.enabled=false", "existingSecret"),
        ("fundingService.port=80", "port"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("unknownKey=1", "unknownKey"),
    ],
)
def test_schema_rejects_bad_values(kube: Kube, value: str, field: str) -> None:
    out = kube.helm("template", "t", str(CHART), KUBE_VERSION, "--set", value, check=False)
    assert out.returncode != 0
    assert field in out.stderr


def test_every_pod_is_restricted_and_secrets_only_by_reference(kube: Kube) -> None:
    docs = render(
        kube,
        "collector.create=true",
        "networkPolicy.enabled=true",
        "networkPolicy.apiServerCIDR=10.0.0.1/32",
        "grafanaDashboard.enabled=true",
    )
    pods = []
    for d in docs:
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}:
            pods.append((d["metadata"]["name"], d["spec"]["template"]["spec"]))
    assert {n for n, _ in pods} >= {
        "t-perp-dex-operator-operator",
        "t-perp-dex-operator-funding-service",
        "t-perp-dex-operator-postgresql",
    }
    for name, spec in pods:
        psc = spec["securityContext"]
        assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault", name
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert "resources" in c and c["resources"].get("requests"), name
            for env in c.get("env", []):
                if any(k in env["name"] for k in ("TOKEN", "PASSWORD", "DATABASE_URL")):
                    assert "valueFrom" in env and "secretKeyRef" in env["valueFrom"], (name, env["name"])
    dashboards = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboard")]
    assert dashboards
    panels = json.loads(next(iter(dashboards[0]["data"].values())))["panels"]
    assert len(panels) >= 6


def test_namespaced_scope_uses_roles_only_in_watched_namespaces(kube: Kube) -> None:
    docs = render(kube, "operator.scope=namespaced", "operator.watchNamespaces={a,b}")
    roles = [(d["kind"], d["metadata"].get("namespace")) for d in docs if d["kind"] in {"Role", "RoleBinding"}]
    assert sorted(roles) == [("Role", "a"), ("Role", "b"), ("RoleBinding", "a"), ("RoleBinding", "b")]
    cluster_role = next(d for d in docs if d["kind"] == "ClusterRole")
    granted = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert "tradingbots" not in granted and "secrets" not in granted
    op = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-operator"))
    args = op["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=a" in args and "--namespace=b" in args and "--all-namespaces" not in args


def test_operator_never_reads_secrets(kube: Kube) -> None:
    docs = render(kube)
    for d in docs:
        if d["kind"] in {"ClusterRole", "Role"}:
            for rule in d["rules"]:
                assert "secrets" not in rule["resources"], d["metadata"]["name"]


def test_the_ingest_token_reaches_every_watched_namespace(kube: Kube) -> None:
    """Issue 20: a collector's pod reads the ingest token from a Secret of its own namespace, so in namespaced scope
    the chart renders the same token into every watched namespace; cluster scope only into the release's (the copy
    command is in docs/operations.md); an existing Secret named by the user is never rendered."""

    def tokens(docs: list[dict[str, Any]]) -> dict[str, str]:
        return {
            d["metadata"]["namespace"]: d["data"]["token"]
            for d in docs
            if d["kind"] == "Secret" and d["metadata"]["name"] == "t-perp-dex-operator-ingest-token"
        }

    namespaced = tokens(render(kube, "operator.scope=namespaced", "operator.watchNamespaces={a,perpdex,b}"))
    assert sorted(namespaced) == ["a", "b", "perpdex"]
    assert len(set(namespaced.values())) == 1  # one token: the funding service checks it
    op = next(
        d
        for d in render(kube, "operator.scope=namespaced", "operator.watchNamespaces={a,b}")
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-operator")
    )
    assert (
        "--ingest-token-secret=t-perp-dex-operator-ingest-token"
        in op["spec"]["template"]["spec"]["containers"][0]["args"]
    )
    assert sorted(tokens(render(kube))) == ["perpdex"]  # cluster scope
    assert tokens(render(kube, "operator.scope=namespaced", "fundingService.ingestToken.existingSecret=mine")) == {}
    operations = (REPO / "docs" / "operations.md").read_text()
    assert "kubectl create secret generic <release>-perp-dex-operator-ingest-token -n <namespace>" in operations


def _grants_escalate(docs: list[dict[str, Any]]) -> bool:
    return any(
        {"escalate", "bind"} & set(rule["verbs"])
        for d in docs
        if d["kind"] in {"ClusterRole", "Role"}
        for rule in d["rules"]
    )


def test_escalate_and_bind_only_with_the_admission_policy(kube: Kube) -> None:
    """A bot's Role grants `get` on its Secrets by name (issue 19), which the operator does not hold: it needs
    `escalate`/`bind` on Roles, and has them only while the admission policy pins the Roles it writes. Without the
    policy the operator renders no Secret rule (PERPDEX_OPERATOR_BOT_SECRET_VERSIONS=false)."""

    def operator_env(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        op = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-operator"))
        return list(op["spec"]["template"]["spec"]["containers"][0]["env"])

    docs = render(kube)
    assert _grants_escalate(docs)
    assert any(d["kind"] == "ValidatingAdmissionPolicy" for d in docs)
    assert not any(e["name"] == "PERPDEX_OPERATOR_BOT_SECRET_VERSIONS" for e in operator_env(docs))
    off = render(kube, "admissionPolicy.enabled=false")
    assert not _grants_escalate(off)
    assert {"name": "PERPDEX_OPERATOR_BOT_SECRET_VERSIONS", "value": "false"} in operator_env(off)


def test_install_and_upgrade_on_the_api_server_keeps_generated_secrets(
    kube: Kube, request: pytest.FixtureRequest
) -> None:
    ns = f"chart-{uuid.uuid4().hex[:8]}"
    release = "pdx"

    # a failed assertion must not leave this cluster-scoped release (its admission policies) to later tests
    def uninstall() -> None:
        kube.helm("uninstall", release, "-n", ns, "--no-hooks", check=False)

    request.addfinalizer(uninstall)
    # the pre-delete hook needs a running Job controller (not on the local control plane): no hooks here
    out = kube.helm(
        "install",
        release,
        str(CHART),
        "-n",
        ns,
        "--create-namespace",
        "--no-hooks",
        "--set",
        "collector.create=true",
        "--timeout=120s",
    )
    assert "kubectl -n" in out.stdout and "get tradingbots" in out.stdout  # NOTES
    kube.kubectl(
        "get",
        "deployment/pdx-perp-dex-operator-operator",
        "statefulset/pdx-perp-dex-operator-postgresql",
        "service/pdx-perp-dex-operator-funding-service",
        "fundingcollector/all-dexes",
        "-n",
        ns,
    )

    def secret(name: str, key: str) -> str:
        doc = json.loads(kube.kubectl("get", "secret", name, "-n", ns, "-o", "json").stdout)
        return base64.b64decode(doc["data"][key]).decode()

    password = secret("pdx-perp-dex-operator-database", "password")
    token = secret("pdx-perp-dex-operator-ingest-token", "token")
    assert len(password) == 32 and len(token) == 48
    assert password in secret("pdx-perp-dex-operator-database", "url")
    kube.helm(
        "upgrade",
        release,
        str(CHART),
        "-n",
        ns,
        "--no-hooks",
        "--set",
        "collector.create=true",
        "--set",
        "operator.replicas=2",
    )
    assert secret("pdx-perp-dex-operator-database", "password") == password
    assert secret("pdx-perp-dex-operator-ingest-token", "token") == token
    replicas = kube.kubectl(
        "get", "deployment/pdx-perp-dex-operator-operator", "-n", ns, "-o", "jsonpath={.spec.replicas}"
    ).stdout
    assert replicas == "2"
    # the operator's ServiceAccount may do exactly what it needs, and never touch Secrets
    sa = f"--as=system:serviceaccount:{ns}:pdx-perp-dex-operator-operator"

    def can(*args: str) -> bool:
        out = kube.kubectl("auth", "can-i", *args, sa, check=False)
        return out.stdout.strip() == "yes"

    for allowed in (
        ("create", "statefulsets.apps", "-n", "trading"),
        ("patch", "tradingbots.perpdex.io", "--subresource=status", "-n", "trading"),
        ("update", "tradingbots.perpdex.io", "--subresource=finalizers", "-n", "trading"),
        ("create", "roles.rbac.authorization.k8s.io", "-n", "trading"),
        # a bot's Role grants `get` on its Secrets by name, which the operator does not hold itself (issue 19); the
        # admission policy pins what those Roles and their bindings may hold (test_chart_admission)
        ("escalate", "roles.rbac.authorization.k8s.io", "-n", "trading"),
        ("bind", "roles.rbac.authorization.k8s.io", "-n", "trading"),
        ("create", "leases.coordination.k8s.io", "-n", "trading"),
        ("create", "events", "-n", "trading"),
        ("watch", "pods", "-n", "trading"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
    ):
        assert can(*allowed), allowed
    for denied in (
        ("get", "secrets", "-n", "trading"),
        ("list", "secrets", "-n", ns),
        ("create", "secrets", "-n", "trading"),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "tradingbots.perpdex.io", "-n", "trading"),
        ("delete", "pods", "-n", "trading"),
        ("create", "clusterroles.rbac.authorization.k8s.io"),
        ("escalate", "clusterroles.rbac.authorization.k8s.io"),
        ("bind", "clusterroles.rbac.authorization.k8s.io"),
        ("impersonate", "serviceaccounts"),
    ):
        assert not can(*denied), denied
    listing = kube.kubectl("auth", "can-i", "--list", sa, "-n", "trading").stdout
    for line in listing.splitlines()[1:]:
        resources, *_rest = line.split()
        assert resources != "*.*" and "[*]" not in line, line  # no wildcards

    kube.helm("uninstall", release, "-n", ns, "--no-hooks")
    # CRDs stay (Helm never deletes what crds/ installed): users' bots survive an uninstall
    kube.kubectl("get", "crd", "tradingbots.perpdex.io", "fundingcollectors.perpdex.io")
