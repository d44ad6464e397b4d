"""The chart's NetworkPolicies as the real ``helm`` renders them (and, for the API server's address, as it derives it
from the real API server): the funding service is reached only by bots, collectors, monitoring and named clients;
bot and collector /metrics only by the monitoring namespaces; the API server egress is never 0.0.0.0/0; every
namespace where bots run gets its policy."""

from __future__ import annotations

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
ON = ("networkPolicy.enabled=true", "networkPolicy.apiServerCIDR=10.96.0.1/32")


def render(kube: Kube, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "t", str(CHART), KUBE_VERSION, "--namespace=perpdex"]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(kube.helm(*args).stdout) if d]


def policies(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "NetworkPolicy"}


def test_funding_service_ingress_only_from_bots_collectors_monitoring_and_named_clients(kube: Kube) -> None:
    docs = render(kube, *ON, "networkPolicy.fundingServiceClients[0].podSelector.matchLabels.app=dashboard")
    fs = policies(docs)[("perpdex", "t-perp-dex-operator-funding-service")]["spec"]
    (rule,) = fs["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    peers = rule["from"]
    assert len(peers) == 3 and all(p for p in peers)  # never an empty peer (that would be "everyone")
    bots, monitoring, dashboard = peers
    assert bots["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["perpdex"]}
    ]
    components = {e["key"]: e["values"] for e in bots["podSelector"]["matchExpressions"]}
    assert components == {
        "app.kubernetes.io/component": ["bot", "collector"],
        "app.kubernetes.io/managed-by": ["perpdex-operator"],
    }
    assert monitoring == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    assert dashboard == {"podSelector": {"matchLabels": {"app": "dashboard"}}}


def test_bot_metrics_only_from_monitoring_and_a_policy_in_every_watched_namespace(kube: Kube) -> None:
    docs = render(kube, *ON, "operator.scope=namespaced", "operator.watchNamespaces={alpha,beta}")
    found = policies(docs)
    assert {ns for ns, name in found if name.endswith("-bots")} == {"alpha", "beta"}
    for ns in ("alpha", "beta"):
        spec = found[(ns, "t-perp-dex-operator-bots")]["spec"]
        (ingress,) = spec["ingress"]
        assert ingress["from"] == [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ]
        assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
        api = next(
            e for e in spec["egress"] if any("ipBlock" in t and "except" not in t["ipBlock"] for t in e.get("to", []))
        )
        assert api["to"] == [{"ipBlock": {"cidr": "10.96.0.1/32"}}]
        # the funding service, in the release's namespace, by namespace AND pod selector
        fs = next(e for e in spec["egress"] if any("podSelector" in t for t in e.get("to", [])))
        (peer,) = fs["to"]
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "perpdex"}}
    fs_ingress = found[("perpdex", "t-perp-dex-operator-funding-service")]["spec"]["ingress"][0]["from"][0]
    assert fs_ingress["namespaceSelector"]["matchExpressions"][0]["values"] == ["alpha", "beta"]
    # cluster scope: the namespaces named in botNamespaces (default: the release's)
    docs = render(kube, *ON, "networkPolicy.botNamespaces={trading,research}")
    assert {ns for ns, name in policies(docs) if name.endswith("-bots")} == {"trading", "research"}
    assert {ns for ns, name in policies(render(kube, *ON)) if name.endswith("-bots")} == {"perpdex"}


def test_no_open_api_server_cidr(kube: Kube) -> None:
    for value, message in (
        ("", "networkPolicy.apiServerCIDR is required"),
        ("0.0.0.0/0", "would let bots reach every address"),
    ):
        out = kube.helm(
            "template", "t", str(CHART), KUBE_VERSION,
            "--set", "networkPolicy.enabled=true", "--set", f"networkPolicy.apiServerCIDR={value}",
            check=False,
        )  # fmt: skip
        assert out.returncode != 0 and message in out.stderr, out.stderr
    for d in render(kube, *ON, "collector.create=true"):
        if d["kind"] == "NetworkPolicy":
            for rule in d["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    block = peer.get("ipBlock")
                    if block is not None and block["cidr"] == "0.0.0.0/0":
                        # only the exchanges' HTTPS, never the private ranges
                        assert rule["ports"] == [{"port": 443, "protocol": "TCP"}] and "10.0.0.0/8" in block["except"]


def test_api_server_cidr_is_derived_from_the_cluster(kube: Kube, crds_installed: Kube) -> None:
    """On a real API server (server-side dry run, so `lookup` works), the CIDR comes from the `kubernetes`
    EndpointSlice. The local control plane advertises 127.0.0.1, which an EndpointSlice may not hold, so it has none:
    the test writes it as a cluster's API server does (a TEST-NET address) and removes it afterwards."""
    ns = f"np-{uuid.uuid4().hex[:6]}"
    install = ["install", "np", str(CHART), "-n", ns, "--create-namespace", "--dry-run=server"]
    existing = kube.kubectl("get", "endpointslice", "kubernetes", "-n", "default", "-o", "json", check=False)
    created = existing.returncode != 0
    if created:
        out = kube.helm(*install, "--set", "networkPolicy.enabled=true", check=False)
        assert out.returncode != 0 and "networkPolicy.apiServerCIDR is required" in out.stderr  # nothing to derive
        endpoints = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kubernetes",
                "namespace": "default",
                "labels": {"kubernetes.io/service-name": "kubernetes"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["192.0.2.10"]}],
            "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}],
        }
        kube.kubectl("create", "-f", "-", input=json.dumps(endpoints))
    try:
        got = json.loads(kube.kubectl("get", "endpointslice", "kubernetes", "-n", "default", "-o", "json").stdout)
        ips = [ip for e in got["endpoints"] for ip in e["addresses"]]
        out = kube.helm(*install, "--set", "networkPolicy.enabled=true")
        manifest = out.stdout.split("MANIFEST:", 1)[1].split("NOTES:", 1)[0]
        docs = [d for d in yaml.safe_load_all(manifest) if d]
        bots = next(d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("-bots"))
        cidrs = [t["ipBlock"]["cidr"] for e in bots["spec"]["egress"] for t in e.get("to", []) if "ipBlock" in t]
        assert [f"{ip}/32" for ip in ips] == [c for c in cidrs if c != "0.0.0.0/0"]
    finally:
        if created:
            kube.kubectl("delete", "endpointslice", "kubernetes", "-n", "default", check=False)
