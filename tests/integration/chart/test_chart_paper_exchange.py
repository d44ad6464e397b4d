"""The chart's paper exchange (paperExchange.enabled): a restricted Deployment that migrates its schema first, a
Service, the operator pointed at it, NetworkPolicies letting only bots and collectors in and it out only to DNS and
PostgreSQL; nothing of it when disabled; the schema refuses a venue that is not a paper venue."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from perpdex_dev import paper_exchange_pod
from tests.conftest import Kube
from tests.integration.chart.test_chart import CHART, KUBE_VERSION, render

pytestmark = pytest.mark.integration

ON = ("paperExchange.enabled=true", "networkPolicy.enabled=true", "networkPolicy.apiServerCIDR=10.0.0.1/32")


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_enabled_paper_exchange_is_deployed_restricted_and_wired(kube: Kube) -> None:
    docs = render(kube, *ON, "paperExchange.venues[0].name=paper-a", "paperExchange.venues[0].options.volatility=0.3")
    dep = named(docs, "Deployment", "t-perp-dex-operator-paper-exchange")
    spec = dep["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert [c["command"] for c in spec["initContainers"]] == [["perpdex", "paper-exchange", "migrate", "--wait=300"]]
    [main] = spec["containers"]
    assert main["command"] == ["perpdex", "paper-exchange", "serve"]
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in main["env"]}
    assert "secretKeyRef" in env["PERPDEX_PX_DATABASE_URL"]["valueFrom"]
    assert env["PERPDEX_PX_VENUES_FILE"]["value"] == "/etc/perpdex/venues.yaml"
    venues = named(docs, "ConfigMap", "t-perp-dex-operator-paper-exchange")["data"]["venues.yaml"]
    assert "paper-a" in venues
    named(docs, "Service", "t-perp-dex-operator-paper-exchange")
    operator = named(docs, "Deployment", "t-perp-dex-operator-operator")
    op_env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert op_env["PERPDEX_OPERATOR_PAPER_EXCHANGE_URL"] == "http://t-perp-dex-operator-paper-exchange.perpdex.svc:8100"
    policy = named(docs, "NetworkPolicy", "t-perp-dex-operator-paper-exchange")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    [ingress] = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": 8100, "protocol": "TCP"}]
    assert {p["ports"][0]["port"] for p in policy["spec"]["egress"]} == {53, 5432}
    bots = named(docs, "NetworkPolicy", "t-perp-dex-operator-bots-to-paper-exchange")
    assert bots["spec"]["policyTypes"] == ["Egress"]
    db = named(docs, "NetworkPolicy", "t-perp-dex-operator-postgresql-from-paper-exchange")
    assert db["spec"]["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]


def test_disabled_by_default(kube: Kube) -> None:
    docs = render(kube, "networkPolicy.enabled=true", "networkPolicy.apiServerCIDR=10.0.0.1/32")
    assert not [d for d in docs if "paper-exchange" in d["metadata"]["name"]]
    operator = named(docs, "Deployment", "t-perp-dex-operator-operator")
    names = {e["name"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "PERPDEX_OPERATOR_PAPER_EXCHANGE_URL" not in names


def test_the_schema_refuses_a_live_venue_name(kube: Kube) -> None:
    out = kube.helm(
        "template", "t", str(CHART), KUBE_VERSION, "--set", "paperExchange.venues[0].name=lighter", check=False
    )
    assert out.returncode != 0
    assert "name" in out.stderr


def test_the_local_stack_runs_the_charts_shape(kube: Kube) -> None:
    """``make demo`` and the e2e stacks run the paper exchange from perpdex_dev.paper_exchange_pod: the same Deployment
    as the chart's (commands, env, probes, security, mounts, strategy) and Service port; only names, labels, the
    migration wait and the hostPort (the pod runner's stand-in for Service DNS) differ."""
    venues = [{"name": "paper-a", "options": {"volatility": 0.3}}]
    docs = render(kube, *ON, "paperExchange.venues[0].name=paper-a", "paperExchange.venues[0].options.volatility=0.3")
    chart_dep = named(docs, "Deployment", "t-perp-dex-operator-paper-exchange")
    local = paper_exchange_pod.manifests("ns", "postgresql://x@127.0.0.1:5432/db", 40000, venues)["items"]
    local_dep = named(local, "Deployment", paper_exchange_pod.NAME)
    chart_pod, local_pod = chart_dep["spec"]["template"]["spec"], local_dep["spec"]["template"]["spec"]
    assert local_dep["spec"]["strategy"] == chart_dep["spec"]["strategy"]
    assert local_dep["spec"]["replicas"] == chart_dep["spec"]["replicas"]
    assert local_pod["securityContext"] == chart_pod["securityContext"]

    def shape(container: dict[str, Any]) -> dict[str, Any]:
        env = {e["name"]: ("secretKeyRef" in e.get("valueFrom", {})) or e.get("value") for e in container["env"]}
        return {
            "command": [part for part in container["command"] if not part.startswith("--wait=")],
            "env": env,
            "ports": [{k: v for k, v in p.items() if k != "hostPort"} for p in container.get("ports", [])],
            "probes": [container.get(p) for p in ("readinessProbe", "livenessProbe", "startupProbe")],
            "security": container["securityContext"],
            "mounts": sorted(m["mountPath"] for m in container.get("volumeMounts", [])),
        }

    assert [shape(c) for c in local_pod["initContainers"]] == [shape(c) for c in chart_pod["initContainers"]]
    assert [shape(c) for c in local_pod["containers"]] == [shape(c) for c in chart_pod["containers"]]
    assert local_pod["containers"][0]["ports"][0]["hostPort"] == 40000
    chart_svc = named(docs, "Service", "t-perp-dex-operator-paper-exchange")
    local_svc = named(local, "Service", paper_exchange_pod.NAME)
    assert [p["port"] for p in local_svc["spec"]["ports"]] == [p["port"] for p in chart_svc["spec"]["ports"]]
    assert named(local, "Secret", f"{paper_exchange_pod.NAME}-database")["stringData"]["url"].startswith("postgresql")
    assert yaml.safe_load(named(local, "ConfigMap", paper_exchange_pod.NAME)["data"]["venues.yaml"]) == venues
