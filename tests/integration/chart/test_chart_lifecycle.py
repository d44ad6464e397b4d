"""Release lifecycle rules of the chart, on what the real ``helm`` renders: every object carries the release's
instance label, cluster-scoped names include the release (two releases coexist), the image pull settings reach every
pod (and, through the operator's flags, every bot and collector pod), the chart's own custom resources are deleted by
a pre-delete hook while the operator still runs, and Prometheus scrapes each target exactly once.

The uninstall itself, with the hook Job run by the pod runner, is in tests/e2e/test_chart_install.py.
"""

from __future__ import annotations

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
EVERYTHING = (
    "collector.create=true",
    "networkPolicy.enabled=true",
    "networkPolicy.apiServerCIDR=10.0.0.1/32",
    "grafanaDashboard.enabled=true",
    "metrics.serviceMonitor.enabled=true",
    "imagePullSecrets[0].name=regcred",
    "image.pullPolicy=Always",
)


def render(kube: Kube, *sets: str, release: str = "t", hooks: bool = True) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), KUBE_VERSION, "--namespace=perpdex"]
    if not hooks:
        args.append("--no-hooks")
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(kube.helm(*args).stdout) if d]


def pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (d["metadata"]["name"], d["spec"]["template"]["spec"])
        for d in docs
        if d["kind"] in {"Deployment", "StatefulSet", "Job"}
    ]


@pytest.mark.parametrize("scope", ["cluster", "namespaced"])
def test_every_object_carries_the_release_and_cluster_names_include_it(kube: Kube, scope: str) -> None:
    docs = render(kube, *EVERYTHING, f"operator.scope={scope}", release="alpha")
    for d in docs:
        labels = d["metadata"].get("labels") or {}
        assert labels.get("app.kubernetes.io/instance") == "alpha", (d["kind"], d["metadata"]["name"])
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", (d["kind"], d["metadata"]["name"])
    other = render(kube, *EVERYTHING, f"operator.scope={scope}", release="beta")
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering"}
    alpha = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] in cluster_scoped}
    beta = {(d["kind"], d["metadata"]["name"]) for d in other if d["kind"] in cluster_scoped}
    assert alpha and beta and not alpha & beta  # two releases never share (or delete) a cluster-scoped object
    assert all("alpha" in name for _, name in alpha)
    # the peering object and the operator's --peering flag agree, per release
    peering = next(d for d in docs if d["kind"] in {"ClusterKopfPeering", "KopfPeering"})["metadata"]["name"]
    op = next(c for n, s in pods(docs) if n.endswith("-operator") for c in s["containers"])
    assert f"--peering={peering}" in op["args"] and "alpha" in peering


def test_image_pull_settings_reach_every_pod_and_the_operators_children(kube: Kube) -> None:
    docs = render(kube, *EVERYTHING)
    found = pods(docs)
    assert {n for n, _ in found} >= {
        "t-perp-dex-operator-operator",
        "t-perp-dex-operator-funding-service",
        "t-perp-dex-operator-release-cleanup",
    }
    for name, spec in found:
        if name.endswith("-postgresql"):
            continue  # the bundled database's own public image
        assert spec.get("imagePullSecrets") == [{"name": "regcred"}], name
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            assert c["imagePullPolicy"] == "Always", (name, c["name"])
    op = next(c for n, s in found if n.endswith("-operator") for c in s["containers"])
    # bots and collectors: the operator's flags (settings) put the same into their pods
    assert "--image-pull-policy=Always" in op["args"] and "--image-pull-secret=regcred" in op["args"]


def test_operator_flags_put_pull_settings_into_bot_and_collector_pods() -> None:
    from perpdex_operator.builders.fundingcollector import build_collector_children
    from perpdex_operator.builders.tradingbot import build_tradingbot_children
    from perpdex_operator.main import build_parser, settings_from_args

    args = build_parser().parse_args(
        ["--namespace=a", "--image-pull-policy=Always", "--image-pull-secret=one", "--image-pull-secret=two"]
    )
    settings = settings_from_args(args)
    meta = {"namespace": "a", "uid": "u", "generation": 1}
    bot = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {**meta, "name": "b"},
        "spec": {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.01"}},
    }
    fc = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {**meta, "name": "c"},
        "spec": {"exchanges": ["paper-a"]},
    }
    for children in (build_tradingbot_children(bot, settings), build_collector_children(fc, settings)):
        spec = children.workload["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "one"}, {"name": "two"}]
        assert spec["containers"][0]["imagePullPolicy"] == "Always"


def test_pre_delete_hook_deletes_only_the_releases_resources(kube: Kube) -> None:
    assert not [d for d in render(kube) if d["kind"] == "Job"]  # nothing to clean without chart-made resources
    docs = render(kube, "collector.create=true")
    hooks = [d for d in docs if (d["metadata"].get("annotations") or {}).get("helm.sh/hook")]
    assert {d["kind"] for d in hooks} == {"ServiceAccount", "Role", "RoleBinding", "Job"}
    assert all(d["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete" for d in hooks)
    weights = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"]) for d in hooks}
    assert weights["Job"] > max(weights["ServiceAccount"], weights["Role"], weights["RoleBinding"])
    job = next(d for d in hooks if d["kind"] == "Job")
    cmd = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert cmd[:3] == ["perpdex", "operator", "release-cleanup"]
    assert "--selector=app.kubernetes.io/instance=t,app.kubernetes.io/managed-by=Helm" in cmd
    (collector,) = [d for d in docs if d["kind"] == "FundingCollector"]
    labels = collector["metadata"]["labels"]
    assert labels["app.kubernetes.io/instance"] == "t" and labels["app.kubernetes.io/managed-by"] == "Helm"
    role = next(d for d in hooks if d["kind"] == "Role")
    assert role["rules"] == [
        {"apiGroups": ["perpdex.io"], "resources": ["tradingbots", "fundingcollectors"], "verbs": ["list", "delete"]}
    ]


def test_each_target_is_scraped_once(kube: Kube) -> None:
    both = kube.helm(
        "template",
        "t",
        str(CHART),
        KUBE_VERSION,
        "--set",
        "metrics.serviceMonitor.enabled=true",
        "--set",
        "metrics.podMonitor.enabled=true",
        check=False,
    )
    assert both.returncode != 0 and "twice" in both.stderr
    docs = render(kube, "metrics.serviceMonitor.enabled=true")
    (sm,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
    ports = {e["port"] for e in sm["spec"]["endpoints"]}
    # every scraped Service names its port as an endpoint: the funding service's API port serves /metrics too
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    fs = services["t-perp-dex-operator-funding-service"]
    assert {p["name"] for p in fs["spec"]["ports"]} & ports
    op = services["t-perp-dex-operator-operator-metrics"]
    assert {p["name"] for p in op["spec"]["ports"]} & ports
    # the bundled database is not a target
    pg = services["t-perp-dex-operator-postgresql"]
    component = pg["metadata"]["labels"]["app.kubernetes.io/component"]
    allowed = next(e for e in sm["spec"]["selector"]["matchExpressions"] if e["key"] == "app.kubernetes.io/component")
    assert component not in allowed["values"]
    # namespaced: only the watched namespaces (two releases never scrape each other's bots)
    docs = render(kube, "metrics.podMonitor.enabled=true", "operator.scope=namespaced", "operator.watchNamespaces={a}")
    (pm,) = [d for d in docs if d["kind"] == "PodMonitor"]
    assert pm["spec"]["namespaceSelector"] == {"matchNames": ["a", "perpdex"]}


def test_no_value_is_left_unused() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    templates = "".join(p.read_text() for p in (CHART / "templates").iterdir())
    assert "defaultBotResources" not in (CHART / "values.yaml").read_text()
    aliases = {"networkPolicy": "$np"}  # networkpolicies.yaml reads its section through {{ $np := ... }}
    for section in ("image", "operator", "fundingService", "postgresql", "collector", "networkPolicy", "uninstall"):
        for key in values[section]:
            spelled = (f".Values.{section}.{key}", f"{aliases.get(section, '.Values.' + section)}.{key}")
            assert any(s in templates for s in spelled), (section, key)


def test_two_releases_coexist_on_the_api_server(kube: Kube, crds_installed: Kube) -> None:
    """Installed side by side (both cluster-scoped: the most cluster-wide objects), neither collides with the other's
    cluster-scoped objects (a shared ClusterKopfPeering name made the second install fail), and uninstalling one
    leaves the other's in place."""
    suffix = uuid.uuid4().hex[:5]
    releases = {f"a{suffix}": "cluster", f"b{suffix}": "cluster"}
    cluster_kinds = "clusterroles,clusterrolebindings,clusterkopfpeerings,validatingadmissionpolicies"
    try:
        for name, scope in releases.items():
            kube.helm(
                "install", name, str(CHART), "-n", f"ns-{name}", "--create-namespace", "--no-hooks",
                "--set", f"operator.scope={scope}", "--set", "collector.create=true", "--timeout=120s",
            )  # fmt: skip
        first, second = releases
        kube.helm("uninstall", first, "-n", f"ns-{first}", "--no-hooks")
        left = kube.kubectl("get", cluster_kinds, "-o", "name").stdout
        assert f"{first}-perp-dex-operator" not in left
        assert f"clusterrole.rbac.authorization.k8s.io/{second}-perp-dex-operator-operator-cluster" in left
        assert f"clusterkopfpeering.kopf.dev/{second}-perp-dex-operator" in left
    finally:
        for name in releases:
            kube.helm("uninstall", name, "-n", f"ns-{name}", "--no-hooks", check=False)
            kube.kubectl("delete", "fundingcollectors", "--all", "-n", f"ns-{name}", "--wait=false", check=False)
