"""The chart's paper exchange (paperExchange.enabled): a restricted Deployment that migrates its schema first, a
Service, the operator pointed at it, NetworkPolicies letting only bots and collectors in and it out only to DNS and
PostgreSQL; nothing of it when disabled; the schema refuses a venue that is not a paper venue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.chart.test_chart import CHART, KUBE_VERSION, render

pytestmark = pytest.mark.integration

ON = ("paperExchange.enabled=true", "networkPolicy.enabled=true", "networkPolicy.apiServerCIDR=10.0.0.1/32")


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def test_enabled_paper_exchange_is_deployed_restricted_and_wired(kube) -> None:  # type: ignore[no-untyped-def]
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


def test_disabled_by_default(kube) -> None:  # type: ignore[no-untyped-def]
    docs = render(kube, "networkPolicy.enabled=true", "networkPolicy.apiServerCIDR=10.0.0.1/32")
    assert not [d for d in docs if "paper-exchange" in d["metadata"]["name"]]
    operator = named(docs, "Deployment", "t-perp-dex-operator-operator")
    names = {e["name"] for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "PERPDEX_OPERATOR_PAPER_EXCHANGE_URL" not in names


def test_the_schema_refuses_a_live_venue_name(kube) -> None:  # type: ignore[no-untyped-def]
    out = kube.helm(
        "template", "t", str(CHART), KUBE_VERSION, "--set", "paperExchange.venues[0].name=lighter", check=False
    )
    assert out.returncode != 0
    assert "name" in out.stderr
