"""Each child object of a TradingBot / FundingCollector has exactly the expected spec on the real API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.config import load_config
from bot_runtime.kube import resource_path
from perpdex_operator.builders.fundingcollector import build_collector_children
from perpdex_operator.builders.tradingbot import build_tradingbot_children
from perpdex_operator.drift import differences
from perpdex_operator.settings import OperatorSettings
from tests.integration.operator.operator_helpers import (
    API,
    FUNDING_URL,
    INGEST_SECRET,
    TEST_IMAGE,
    bot_path,
    collector_path,
    condition,
    create_bot,
    events_for,
    eventually,
)

pytestmark = pytest.mark.integration

LIGHTER_SECRET_VALUES = {
    "API_KEY_PRIVATE_KEY": "0xdeadbeefcafebabe0123456789abcdef0123456789abcdef",
    "LIGHTER_ACCOUNT_INDEX": "424242424242",
    "LIGHTER_API_KEY_INDEX": "777777777",
}
TELEGRAM_VALUES = {"TELEGRAM_BOT_TOKEN": "123456789:AAH-telegram-token-value-xyz", "TELEGRAM_CHAT_ID": "-100998877665"}

RESTRICTED_CONTAINER = {
    "runAsNonRoot": True,
    "runAsUser": 10001,
    "runAsGroup": 10001,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def operator_settings(namespace: str) -> OperatorSettings:
    """The settings the test operator runs with (see OperatorLauncher.start)."""
    return OperatorSettings(
        namespaces=[namespace], image=TEST_IMAGE, funding_service_url=FUNDING_URL, ingest_token_secret=INGEST_SECRET
    )


def live_bot(name: str) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "strategy": "grid",
            "exchange": "lighter",
            "ticker": "BTC",
            "credentials": {"lighter": {"secretName": "lighter-main"}},
            "grid": {"quantity": "0.01", "takeProfit": "0.02", "direction": "buy", "maxOrders": 40, "waitTime": "450s"},
            "risk": {"maxPositionUsd": "5000", "onBreach": "pause"},
            "notifications": {"telegram": {"secretName": "tg-bot"}, "lark": {"secretName": "lark-hook"}},
            "onStop": "closePositions",
            "image": "registry.test/perpdex:override",
            "resources": {"limits": {"cpu": "0.5", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "256Mi"}},
        },
    }


async def _children(client: Any, namespace: str, name: str) -> dict[str, dict[str, Any]]:
    paths = {
        "ConfigMap": resource_path("v1", "configmaps", namespace, f"{name}-config"),
        "ServiceAccount": resource_path("v1", "serviceaccounts", namespace, f"{name}-bot"),
        "Role": resource_path("rbac.authorization.k8s.io/v1", "roles", namespace, f"{name}-bot"),
        "RoleBinding": resource_path("rbac.authorization.k8s.io/v1", "rolebindings", namespace, f"{name}-bot"),
        "Service": resource_path("v1", "services", namespace, name),
        "StatefulSet": resource_path("apps/v1", "statefulsets", namespace, name),
        "Lease": resource_path("coordination.k8s.io/v1", "leases", namespace, name),
        "PodDisruptionBudget": resource_path("policy/v1", "poddisruptionbudgets", namespace, name),
    }
    return {kind: await client.get(path) for kind, path in paths.items()}


async def test_tradingbot_children_are_exact_and_hold_no_secret(
    kube: Any, operator: Any, op_namespace: str, tmp_path: Path
) -> None:
    ns, name = op_namespace, "exact-grid"
    for secret, values in (("lighter-main", LIGHTER_SECRET_VALUES), ("tg-bot", TELEGRAM_VALUES)):
        kube.kubectl(
            "-n", ns, "create", "secret", "generic", secret, *(f"--from-literal={k}={v}" for k, v in values.items())
        )
    async with kube.client() as client:
        created = await create_bot(client, ns, live_bot(name))
        uid = created["metadata"]["uid"]
        children = await eventually(lambda: _children(client, ns, name), what="all children")
        cr = await client.get(bot_path(ns, name))

        # the whole desired manifest (builder output) is present on every child, nothing drifted
        desired = build_tradingbot_children(cr, operator_settings(ns))
        for manifest in [*desired.applied, *desired.created]:
            live = children[manifest["kind"]]
            assert differences(manifest, live) == [], manifest["kind"]

        owner = {
            "apiVersion": API,
            "kind": "TradingBot",
            "name": name,
            "uid": uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
        labels = {
            "app.kubernetes.io/name": "tradingbot",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "bot",
            "app.kubernetes.io/managed-by": "perpdex-operator",
            "app.kubernetes.io/part-of": "perp-dex-operator",
        }
        for kind, obj in children.items():
            assert obj["metadata"]["ownerReferences"] == [owner], kind
            assert obj["metadata"]["labels"] == labels, kind

        sts = children["StatefulSet"]
        assert sts["spec"]["replicas"] == 1
        assert sts["spec"]["serviceName"] == name
        assert sts["spec"]["selector"] == {
            "matchLabels": {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": name}
        }
        template = sts["spec"]["template"]
        assert template["metadata"]["labels"] == labels
        assert template["metadata"]["annotations"]["perpdex.io/config-hash"] == desired.config_hash
        pod = template["spec"]
        assert pod["serviceAccountName"] == f"{name}-bot"
        assert pod["terminationGracePeriodSeconds"] == 100  # onStop closePositions, 40 orders to cancel
        assert pod["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        [container] = pod["containers"]
        assert container["image"] == "registry.test/perpdex:override"
        assert container["command"] == [
            "perpdex",
            "bot",
            "--config",
            "/etc/perpdex/config.yaml",
            "--metrics-port",
            "8080",
        ]
        assert container["securityContext"] == RESTRICTED_CONTAINER
        assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["resources"] == {
            "limits": {"cpu": "500m", "memory": "1Gi"},
            "requests": {"cpu": "100m", "memory": "256Mi"},
        }
        assert {"name": "config", "mountPath": "/etc/perpdex", "readOnly": True} in container["volumeMounts"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert {"name": "config", "configMap": {"name": f"{name}-config", "defaultMode": 420}} in pod["volumes"]

        env = {e["name"]: e for e in container["env"]}
        assert env["PERPDEX_BOT_NAME"] == {"name": "PERPDEX_BOT_NAME", "value": name}
        assert env["PERPDEX_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
        assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        assert env["TMPDIR"]["value"] == "/tmp"
        for key in LIGHTER_SECRET_VALUES:
            assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "lighter-main", "key": key}}
        for key in ("LIGHTER_BASE_URL", "LIGHTER_WS_URL", "LIGHTER_CHAIN_ID"):
            assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "lighter-main", "key": key, "optional": True}}
        for key in TELEGRAM_VALUES:
            assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "tg-bot", "key": key}}
        for key in ("LARK_TOKEN", "LARK_WEBHOOK_URL"):
            assert env[key]["valueFrom"] == {"secretKeyRef": {"name": "lark-hook", "key": key, "optional": True}}
        assert env["PERPDEX_GRACE_SECONDS"] == {
            "name": "PERPDEX_GRACE_SECONDS",
            "value": str(pod["terminationGracePeriodSeconds"]),
        }
        # the Secrets the pod references, by name only: the bot reads their versions (issue 19)
        assert env["PERPDEX_SECRET_NAMES"] == {"name": "PERPDEX_SECRET_NAMES", "value": "lighter-main,tg-bot,lark-hook"}
        plain = {"PERPDEX_BOT_NAME", "TMPDIR", "PERPDEX_GRACE_SECONDS", "PERPDEX_SECRET_NAMES"}
        secretish = [e for e in container["env"] if "value" in e and e["name"] not in plain]
        assert secretish == []

        svc = children["Service"]["spec"]
        assert svc["clusterIP"] == "None"
        assert svc["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
        assert svc["selector"] == {"app.kubernetes.io/name": "tradingbot", "app.kubernetes.io/instance": name}

        rules = children["Role"]["rules"]
        assert {
            "apiGroups": ["perpdex.io"],
            "resources": ["tradingbots/status"],
            "resourceNames": [name],
            "verbs": ["patch"],
        } in rules
        assert {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [name],
            "verbs": ["get", "update"],
        } in rules
        # `get` on exactly the Secrets the pod references (it holds their values already): nothing else of Secrets
        assert [r for r in rules if "secrets" in r["resources"]] == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["lighter-main", "tg-bot", "lark-hook"],
                "verbs": ["get"],
            }
        ]
        assert children["RoleBinding"]["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{name}-bot", "namespace": ns}
        ]

        # the rendered config loads with the bot's own loader, carries the runtime fields and only Secret NAMES
        config_file = tmp_path / "config.yaml"
        config_file.write_text(children["ConfigMap"]["data"]["config.yaml"])
        config = load_config(config_file)
        assert (config.name, config.namespace, config.funding_service_url) == (name, ns, FUNDING_URL)
        assert config.credentials["lighter"].secret_name == "lighter-main"
        assert "paused" not in yaml.safe_load(config_file.read_text())

        # Ready/Progressing/... with observedGeneration, phase Pending (no pod)
        cr = await eventually(lambda: _with_status(client, ns, name), what="status with conditions")
        assert cr["status"]["phase"] == "Pending"
        assert cr["status"]["observedGeneration"] == cr["metadata"]["generation"]
        for type_ in ("Ready", "Progressing", "Degraded", "RiskLimitBreached"):
            cond = condition(cr, type_)
            assert cond["observedGeneration"] == cr["metadata"]["generation"]
            assert cond["reason"] and cond["lastTransitionTime"]
        assert condition(cr, "Ready")["status"] == "False"
        assert cr["metadata"]["finalizers"] == ["perpdex.io/finalizer"]

        # no secret value anywhere the operator wrote: children, the CR, its events
        events = await events_for(client, ns, name)
        assert any(e["reason"] == "Created" for e in events)
        dumped = json.dumps([children, cr, events])
        for value in [*LIGHTER_SECRET_VALUES.values(), *TELEGRAM_VALUES.values()]:
            assert value not in dumped


async def _with_status(client: Any, ns: str, name: str) -> dict[str, Any] | None:
    cr: dict[str, Any] = await client.get(bot_path(ns, name))
    status = cr.get("status") or {}
    return cr if status.get("conditions") and status.get("phase") else None


async def test_fundingcollector_children_are_exact(kube: Any, operator: Any, op_namespace: str, tmp_path: Path) -> None:
    ns, name = op_namespace, "collector-a"
    body = {
        "apiVersion": API,
        "kind": "FundingCollector",
        "metadata": {"name": name},
        "spec": {"exchanges": ["paper-a", "paper-b"], "interval": "30s", "timeout": "10s"},
    }
    async with kube.client() as client:
        created = await client.create(resource_path(API, "fundingcollectors", ns), body)
        dep_path = resource_path("apps/v1", "deployments", ns, name)
        dep = await eventually(lambda: client.get(dep_path), what="deployment")
        cm = await client.get(resource_path("v1", "configmaps", ns, f"{name}-config"))
        svc = await client.get(resource_path("v1", "services", ns, name))
        cr = await client.get(collector_path(ns, name))
        desired = build_collector_children(cr, operator_settings(ns))
        for manifest in desired.applied:
            api, plural = {
                "ConfigMap": ("v1", "configmaps"),
                "ServiceAccount": ("v1", "serviceaccounts"),
                "Role": ("rbac.authorization.k8s.io/v1", "roles"),
                "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings"),
                "Service": ("v1", "services"),
                "Deployment": ("apps/v1", "deployments"),
            }[manifest["kind"]]
            live = await client.get(resource_path(api, plural, ns, manifest["metadata"]["name"]))
            assert differences(manifest, live) == [], manifest["kind"]
            assert live["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert dep["spec"]["replicas"] == 1
        assert dep["spec"]["strategy"]["type"] == "Recreate"
        [container] = dep["spec"]["template"]["spec"]["containers"]
        assert container["command"] == [
            "perpdex",
            "collect",
            "--config",
            "/etc/perpdex/config.yaml",
            "--metrics-port",
            "8080",
        ]
        assert container["securityContext"] == RESTRICTED_CONTAINER
        env = {e["name"]: e for e in container["env"]}
        assert env["PERPDEX_COLLECTOR_NAME"]["value"] == name
        assert env["PERPDEX_INGEST_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": INGEST_SECRET, "key": "token"}}
        assert svc["spec"]["clusterIP"] == "None"
        config = yaml.safe_load(cm["data"]["config.yaml"])
        assert config["fundingServiceUrl"] == FUNDING_URL
        assert config["exchanges"] == ["paper-a", "paper-b"]
        assert "ingest-secret-value-1" not in json.dumps([dep, cm, svc])

        # the CR's own URL wins over the operator default, and changing it rolls the pod
        old_hash = dep["spec"]["template"]["metadata"]["annotations"]["perpdex.io/config-hash"]
        await client.patch(collector_path(ns, name), {"spec": {"fundingService": {"url": "http://elsewhere:9000"}}})

        async def rolled() -> bool:
            d = await client.get(dep_path)
            return d["spec"]["template"]["metadata"]["annotations"]["perpdex.io/config-hash"] != old_hash

        await eventually(rolled, what="collector config hash change")
        cm = await client.get(resource_path("v1", "configmaps", ns, f"{name}-config"))
        assert yaml.safe_load(cm["data"]["config.yaml"])["fundingServiceUrl"] == "http://elsewhere:9000"

        async def pending() -> bool:
            c = await client.get(collector_path(ns, name))
            return (c.get("status") or {}).get("phase") == "Pending" and c["status"]["observedGeneration"] == 2

        await eventually(pending, what="collector status")
