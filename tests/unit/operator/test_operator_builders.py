"""The builders are pure: exact child manifests from a CR and the operator settings."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.config import load_config
from bot_runtime.exchanges.registry import VENUES
from perpdex_operator.builders import BuildError
from perpdex_operator.builders.fundingcollector import build_collector_children
from perpdex_operator.builders.meta import manifest_hash
from perpdex_operator.builders.tradingbot import build_tradingbot_children
from perpdex_operator.settings import OperatorSettings

SETTINGS = OperatorSettings(
    namespaces=["trading"],
    image="registry.test/perpdex:1",
    funding_service_url="http://funding.test:8000",
    ingest_token_secret="ingest",
)
UID = "0b7c2f0e-1111-2222-3333-444455556666"
LABELS = {
    "app.kubernetes.io/name": "tradingbot",
    "app.kubernetes.io/instance": "btc-grid",
    "app.kubernetes.io/component": "bot",
    "app.kubernetes.io/managed-by": "perpdex-operator",
    "app.kubernetes.io/part-of": "perp-dex-operator",
}
OWNER_REF = {
    "apiVersion": "perpdex.io/v1alpha1",
    "kind": "TradingBot",
    "name": "btc-grid",
    "uid": UID,
    "controller": True,
    "blockOwnerDeletion": True,
}


def grid_bot(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "btc-grid", "namespace": "trading", "uid": UID, "generation": 1, "resourceVersion": "10"},
        "spec": {
            "strategy": "grid",
            "exchange": "lighter",
            "ticker": "BTC",
            "credentials": {"lighter": {"secretName": "lighter-main"}},
            "grid": {"quantity": "0.01", "takeProfit": "0.02", "waitTime": "450s"},
            "notifications": {"telegram": {"secretName": "tg-bot"}},
            "paused": False,
            "onStop": "cancelOrders",
        },
    }
    body["spec"].update(spec)
    return body


def farb_bot() -> dict[str, Any]:
    body = grid_bot()
    body["spec"] = {
        "strategy": "fundingArb",
        "exchange": "multi",
        "credentials": {"lighter": {"secretName": "l"}, "grvt": {"secretName": "g"}},
        "fundingArb": {"exchanges": ["lighter", "grvt", "paper-a"], "minNetApr": "0.15", "exitNetApr": "0.03"},
        "onStop": "closePositions",
    }
    return body


def by_kind(children: Any) -> dict[str, dict[str, Any]]:
    return {m["kind"]: m for m in [*children.applied, *children.created]}


def bot_container(children: Any) -> dict[str, Any]:
    [container] = children.workload["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_every_child_is_owned_labelled_and_named() -> None:
    kids = by_kind(build_tradingbot_children(grid_bot(), SETTINGS))
    assert sorted(kids) == [
        "ConfigMap",
        "Lease",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ]
    names = {k: m["metadata"]["name"] for k, m in kids.items()}
    assert names == {
        "ConfigMap": "btc-grid-config",
        "ServiceAccount": "btc-grid-bot",
        "Role": "btc-grid-bot",
        "RoleBinding": "btc-grid-bot",
        "Service": "btc-grid",
        "StatefulSet": "btc-grid",
        "Lease": "btc-grid",
        "PodDisruptionBudget": "btc-grid",
    }
    for kind, manifest in kids.items():
        assert manifest["metadata"]["namespace"] == "trading", kind
        assert manifest["metadata"]["labels"] == LABELS, kind
        assert manifest["metadata"]["ownerReferences"] == [OWNER_REF], kind


def test_statefulset_is_exact() -> None:
    children = build_tradingbot_children(grid_bot(), SETTINGS)
    sts = children.workload
    spec = sts["spec"]
    assert spec["replicas"] == 1
    assert spec["serviceName"] == "btc-grid"
    assert spec["selector"] == {
        "matchLabels": {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": "btc-grid"}
    }
    template = spec["template"]
    assert template["metadata"]["labels"] == LABELS
    assert template["metadata"]["annotations"]["perpdex.io/config-hash"] == children.config_hash
    pod = template["spec"]
    assert pod["serviceAccountName"] == "btc-grid-bot"
    assert pod["terminationGracePeriodSeconds"] == 40  # cancelEntries: 30 s + 2 s per 8 of the 40 maxOrders
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["volumes"] == [
        {"name": "config", "configMap": {"name": "btc-grid-config"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    c = bot_container(children)
    assert c["name"] == "bot"
    assert c["image"] == "registry.test/perpdex:1"
    assert c["command"] == ["perpdex", "bot", "--config", "/etc/perpdex/config.yaml", "--metrics-port", "8080"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert c["volumeMounts"] == [
        {"name": "config", "mountPath": "/etc/perpdex", "readOnly": True},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def test_env_is_field_refs_and_secret_refs_only() -> None:
    children = build_tradingbot_children(grid_bot(), SETTINGS)
    env = bot_container(children)["env"]
    grace = by_kind(children)["StatefulSet"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert env[:6] == [
        {"name": "PERPDEX_BOT_NAME", "value": "btc-grid"},
        {"name": "PERPDEX_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},  # the Lease holder identity
        {"name": "TMPDIR", "value": "/tmp"},
        {"name": "PERPDEX_GRACE_SECONDS", "value": str(grace)},  # the bot's stop budget is the pod's grace period
    ]
    lighter = VENUES["lighter"]
    expected = [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": "lighter-main", "key": k}}} for k in lighter.required_env
    ] + [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": "lighter-main", "key": k, "optional": True}}}
        for k in lighter.optional_env
    ]
    expected += [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": "tg-bot", "key": k}}}
        for k in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID")
    ]
    assert env[6:-1] == expected
    # the Secrets the pod references, each once: the bot reads their versions (a changed one restarts it)
    assert env[-1] == {"name": "PERPDEX_SECRET_NAMES", "value": "lighter-main,tg-bot"}


def test_lark_keys_are_optional_and_paper_needs_no_secret() -> None:
    body = grid_bot(exchange="paper", credentials={}, notifications={"lark": {"secretName": "lark-hook"}})
    env = bot_container(build_tradingbot_children(body, SETTINGS))["env"]
    refs = [e for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    assert refs == [
        {"name": k, "valueFrom": {"secretKeyRef": {"name": "lark-hook", "key": k, "optional": True}}}
        for k in ("LARK_TOKEN", "LARK_WEBHOOK_URL")
    ]


def test_funding_arb_gets_every_live_venue_and_a_longer_grace() -> None:
    children = build_tradingbot_children(farb_bot(), SETTINGS)
    env = bot_container(children)["env"]
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert {k: secrets[k] for k in VENUES["lighter"].required_env} == dict.fromkeys(VENUES["lighter"].required_env, "l")
    assert {k: secrets[k] for k in VENUES["grvt"].required_env} == dict.fromkeys(VENUES["grvt"].required_env, "g")
    assert children.workload["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 120


@pytest.mark.parametrize(
    ("on_stop", "grace"), [("leave", 20), ("cancelEntries", 40), ("cancelOrders", 40), ("closePositions", 100)]
)
def test_grace_period_fits_on_stop(on_stop: str, grace: int) -> None:
    """The period by onStop, plus 2 s per batch of 8 resting orders a grid may have to cancel (maxOrders 40)."""
    sts = build_tradingbot_children(grid_bot(onStop=on_stop), SETTINGS).workload
    assert sts["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == grace
    [main] = sts["spec"]["template"]["spec"]["containers"]
    assert {"name": "PERPDEX_GRACE_SECONDS", "value": str(grace)} in main["env"]  # the bot's stop budget


def test_no_secret_value_can_reach_a_manifest() -> None:
    """The builders only ever see Secret names; a value placed where a name belongs would show up verbatim."""
    children = build_tradingbot_children(grid_bot(), SETTINGS)
    text = json.dumps([*children.applied, *children.created])
    # name, TMPDIR, PERPDEX_GRACE_SECONDS, PERPDEX_SECRET_NAMES (Secret names only)
    plain = ('"value": "btc-grid"', '"value": "/tmp"', '"value": "40"', '"value": "lighter-main,tg-bot"')
    for value in plain:
        text = text.replace(value, "")
    assert '"value": "' not in text
    config = yaml.safe_load(by_kind(children)["ConfigMap"]["data"]["config.yaml"])
    assert config["credentials"] == {"lighter": {"secretName": "lighter-main"}}


def test_rbac_is_limited_to_the_bot() -> None:
    kids = by_kind(build_tradingbot_children(grid_bot(), SETTINGS))
    assert kids["Role"]["rules"] == [
        {"apiGroups": ["perpdex.io"], "resources": ["tradingbots"], "resourceNames": ["btc-grid"], "verbs": ["get"]},
        {
            "apiGroups": ["perpdex.io"],
            "resources": ["tradingbots/status"],
            "resourceNames": ["btc-grid"],
            "verbs": ["patch"],
        },
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["btc-grid"],
            "verbs": ["get", "update"],
        },
        # exactly the Secrets the pod references (their versions; the pod holds their values already)
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["lighter-main", "tg-bot"], "verbs": ["get"]},
    ]
    paper = by_kind(build_tradingbot_children(grid_bot(exchange="paper", credentials={}, notifications={}), SETTINGS))
    assert not any("secrets" in rule["resources"] for rule in paper["Role"]["rules"])  # no Secret, no rule
    assert kids["RoleBinding"]["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "btc-grid-bot",
    }
    assert kids["RoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "btc-grid-bot", "namespace": "trading"}
    ]
    assert kids["Service"]["spec"] == {
        "clusterIP": "None",
        "selector": {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": "btc-grid"},
        "publishNotReadyAddresses": True,
        "ports": [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}],
    }
    assert "spec" not in kids["Lease"]  # the bot owns the Lease's spec


def test_rendered_config_loads_with_the_bot_loader(tmp_path: Path) -> None:
    cm = by_kind(build_tradingbot_children(grid_bot(), SETTINGS))["ConfigMap"]
    path = tmp_path / "config.yaml"
    path.write_text(cm["data"]["config.yaml"])
    config = load_config(path)
    assert (config.name, config.namespace, config.funding_service_url) == (
        "btc-grid",
        "trading",
        "http://funding.test:8000",
    )
    assert config.grid is not None and config.grid.quantity == Decimal("0.01")
    raw = yaml.safe_load(path.read_text())
    assert not {"paused", "image", "resources"} & set(raw)


def _hash(body: dict[str, Any], settings: OperatorSettings = SETTINGS) -> str:
    return build_tradingbot_children(body, settings).config_hash


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["grid"].update(quantity="0.02"),
        lambda s: s.update(image="registry.test/perpdex:2"),
        lambda s: s.update(resources={"limits": {"memory": "1Gi"}}),
        lambda s: s["credentials"]["lighter"].update(secretName="lighter-other"),
        lambda s: s.update(onStop="closePositions"),
        lambda s: s.update(notifications={}),
        lambda s: s.update(risk={"maxPositionUsd": "100"}),
    ],
)
def test_config_hash_changes_with_the_spec(change: Any) -> None:
    body = grid_bot()
    changed = copy.deepcopy(body)
    change(changed["spec"])
    assert _hash(changed) != _hash(body)


def test_config_hash_ignores_what_must_not_roll_the_pod() -> None:
    body = grid_bot()
    same = copy.deepcopy(body)
    same["spec"]["paused"] = True
    same["metadata"].update(generation=7, resourceVersion="999", annotations={"note": "x"})
    same["status"] = {"phase": "Running", "lastHeartbeat": "2026-11-25T10:00:00Z"}
    assert _hash(same) == _hash(body)
    assert build_tradingbot_children(same, SETTINGS).workload["spec"]["replicas"] == 0
    assert _hash(body, SETTINGS.model_copy(update={"image": "registry.test/perpdex:9"})) != _hash(body)


def test_deleting_scales_to_zero() -> None:
    body = grid_bot()
    body["metadata"]["deletionTimestamp"] = "2026-11-25T10:00:00Z"
    assert build_tradingbot_children(body, SETTINGS).workload["spec"]["replicas"] == 0


def test_applied_hash_is_stable_and_covers_the_manifest() -> None:
    one = build_tradingbot_children(grid_bot(), SETTINGS)
    two = build_tradingbot_children(grid_bot(), SETTINGS)
    assert one.applied == two.applied
    for manifest in one.applied:
        assert manifest["metadata"]["annotations"]["perpdex.io/applied-hash"] == manifest_hash(manifest)
    paused = build_tradingbot_children(grid_bot(paused=True), SETTINGS)
    assert (
        by_kind(paused)["StatefulSet"]["metadata"]["annotations"]["perpdex.io/applied-hash"]
        != by_kind(one)["StatefulSet"]["metadata"]["annotations"]["perpdex.io/applied-hash"]
    )
    assert by_kind(paused)["ConfigMap"] == by_kind(one)["ConfigMap"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"credentials": {}}, "spec.credentials"),
        ({"grid": {"quantity": "-1"}}, "spec.grid.quantity"),
        ({"onStop": "explode"}, "spec.on"),
    ],
)
def test_invalid_spec_is_a_build_error_naming_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(BuildError) as err:
        build_tradingbot_children(grid_bot(**spec), SETTINGS)
    assert field.lower() in str(err.value).lower().replace("_", "")


def test_collector_children_are_exact() -> None:
    body = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {"name": "all-dexes", "namespace": "trading", "uid": UID, "generation": 1},
        "spec": {
            "exchanges": ["lighter", "paper-a"],
            "interval": "60s",
            "timeout": "20s",
            "symbols": [],
            "fundingService": {},
        },
    }
    children = build_collector_children(body, SETTINGS)
    kids = by_kind(children)
    assert sorted(kids) == ["ConfigMap", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"]
    dep = kids["Deployment"]
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    [c] = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["perpdex", "collect", "--config", "/etc/perpdex/config.yaml", "--metrics-port", "8080"]
    assert [e["name"] for e in c["env"]] == [
        "PERPDEX_COLLECTOR_NAME",
        "PERPDEX_NAMESPACE",
        "POD_NAME",
        "TMPDIR",
        "PERPDEX_INGEST_TOKEN",
    ]
    assert c["env"][-1] == {
        "name": "PERPDEX_INGEST_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "ingest", "key": "token"}},
    }
    assert dep["metadata"]["labels"]["app.kubernetes.io/component"] == "collector"
    config = yaml.safe_load(kids["ConfigMap"]["data"]["config.yaml"])
    assert config == {
        "name": "all-dexes",
        "namespace": "trading",
        "fundingServiceUrl": "http://funding.test:8000",
        "exchanges": ["lighter", "paper-a"],
        "interval": "60s",
        "timeout": "20s",
        "symbols": [],
    }
    body["spec"]["fundingService"] = {"url": "http://own:9000"}
    own = build_collector_children(body, SETTINGS)
    assert yaml.safe_load(by_kind(own)["ConfigMap"]["data"]["config.yaml"])["fundingServiceUrl"] == "http://own:9000"
    assert own.config_hash != children.config_hash
    body["metadata"]["deletionTimestamp"] = "2026-11-25T10:00:00Z"
    assert build_collector_children(body, SETTINGS).workload["spec"]["replicas"] == 0


def test_collector_exchange_options_reach_the_funding_sources(tmp_path: Path) -> None:
    """spec.exchangeOptions is rendered into the collector's config as is, and the collector hands each venue its
    own options: a FundingCollector can collect Paradex's testnet (prod without the option)."""
    from bot_runtime.collector.config import load_collector_config
    from bot_runtime.exchanges.paradex.funding import ParadexFundingSource
    from bot_runtime.exchanges.registry import create_funding_source

    body = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {"name": "dexes", "namespace": "trading", "uid": UID, "generation": 1},
        "spec": {
            "exchanges": ["paradex", "lighter"],
            "exchangeOptions": {"paradex": {"environment": "testnet"}},
        },
    }
    rendered = by_kind(build_collector_children(body, SETTINGS))["ConfigMap"]["data"]["config.yaml"]
    assert yaml.safe_load(rendered)["exchangeOptions"] == {"paradex": {"environment": "testnet"}}
    path = tmp_path / "config.yaml"
    path.write_text(rendered)
    config = load_collector_config(path)
    testnet = create_funding_source("paradex", config.exchange_options.get("paradex", {}))
    prod = create_funding_source("paradex", {})
    assert isinstance(testnet, ParadexFundingSource) and isinstance(prod, ParadexFundingSource)
    assert testnet.settings.base_url == "https://api.testnet.paradex.trade/v1"
    assert prod.settings.base_url == "https://api.prod.paradex.trade/v1"


def test_a_live_bot_has_a_disruption_budget_and_is_not_safe_to_evict() -> None:
    children = build_tradingbot_children(grid_bot(), SETTINGS)
    kinds = by_kind(children)
    pdb = kinds["PodDisruptionBudget"]
    assert pdb["apiVersion"] == "policy/v1" and pdb["metadata"]["name"] == "btc-grid"
    assert pdb["spec"] == {
        "maxUnavailable": 0,
        "selector": {"matchLabels": kinds["StatefulSet"]["spec"]["selector"]["matchLabels"]},
    }
    sts = kinds["StatefulSet"]["spec"]
    assert sts["podManagementPolicy"] == "Parallel"  # a pod that never became Ready is replaced on a fix
    annotations = sts["template"]["metadata"]["annotations"]
    assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_an_existing_statefulset_keeps_its_immutable_pod_management_policy() -> None:
    from perpdex_operator.children import is_current, keep_immutable

    desired = by_kind(build_tradingbot_children(grid_bot(), SETTINGS))["StatefulSet"]
    live = {**desired, "spec": {**desired["spec"], "podManagementPolicy": "OrderedReady"}}
    kept = keep_immutable(desired, live)
    assert kept["spec"]["podManagementPolicy"] == "OrderedReady"
    assert is_current(kept, live)[0]  # no endless repair of a field the API server refuses to change
