"""FundingCollector → ConfigMap, ServiceAccount, Role, RoleBinding, Service, Deployment (one replica)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from perpdex_operator.builders import Children
from perpdex_operator.builders.config import collector_config, to_yaml
from perpdex_operator.builders.credentials import secret_env
from perpdex_operator.builders.identity import identity_children
from perpdex_operator.builders.meta import labels, object_meta, selector_labels, with_applied_hash
from perpdex_operator.builders.paper import paper_exchange_env
from perpdex_operator.builders.pod import container, field_env, pod_spec, resources
from perpdex_operator.constants import (
    COLLECTOR_APP,
    COLLECTOR_PLURAL,
    CONFIG_HASH_ANNOTATION,
    CONFIG_KEY,
    GROUP,
    INGEST_TOKEN_KEY,
    METRICS_PORT,
    METRICS_PORT_NAME,
)
from perpdex_operator.hashing import stable_hash
from perpdex_operator.settings import OperatorSettings

COMPONENT: Final = "collector"
CONTAINER: Final = "collector"
GRACE_SECONDS: Final = 30
DEFAULT_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "768Mi"},
}


def config_map_name(collector: str) -> str:
    return f"{collector}-config"


def service_account_name(collector: str) -> str:
    return f"{collector}-collector"


def role_rules(collector: str) -> list[dict[str, Any]]:
    """Exactly the calls the collector makes: merge-PATCH its own FundingCollector's status. No Secrets (the ingest
    token arrives as an env var), no Events (it posts none), nothing else."""
    return [
        {
            "apiGroups": [GROUP],
            "resources": [f"{COLLECTOR_PLURAL}/status"],
            "resourceNames": [collector],
            "verbs": ["patch"],
        },
    ]


def desired_replicas(owner: Mapping[str, Any]) -> int:
    return 0 if owner["metadata"].get("deletionTimestamp") else 1


def build_collector_children(owner: Mapping[str, Any], settings: OperatorSettings) -> Children:
    meta = owner["metadata"]
    name: str = meta["name"]
    namespace: str = meta["namespace"]
    spec: Mapping[str, Any] = owner.get("spec") or {}
    child_labels = labels(COLLECTOR_APP, name, COMPONENT)
    sa = service_account_name(name)
    cm = config_map_name(name)

    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(cm, owner, child_labels),
        "data": {CONFIG_KEY: to_yaml(collector_config(owner, settings.funding_service_url))},
    }
    service_account, role, role_binding = identity_children(sa, namespace, owner, child_labels, role_rules(name))
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, owner, child_labels),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(COLLECTOR_APP, name),
            "publishNotReadyAddresses": True,
            "ports": [
                {"name": METRICS_PORT_NAME, "port": METRICS_PORT, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"}
            ],
        },
    }
    env = [
        {"name": "PERPDEX_COLLECTOR_NAME", "value": name},
        field_env("PERPDEX_NAMESPACE", "metadata.namespace"),
        field_env("POD_NAME", "metadata.name"),
        {"name": "TMPDIR", "value": "/tmp"},  # noqa: S108 - an emptyDir
        secret_env("PERPDEX_INGEST_TOKEN", settings.ingest_token_secret, INGEST_TOKEN_KEY),
        *paper_exchange_env(spec, [str(e) for e in spec.get("exchanges") or []], settings.paper_exchange_url),
    ]
    main = container(
        CONTAINER,
        image=str(spec.get("image") or settings.image),
        image_pull_policy=settings.image_pull_policy,
        subcommand="collect",
        env=env,
        resource_spec=resources(spec.get("resources"), DEFAULT_RESOURCES),
    )
    template_spec = pod_spec(
        service_account=sa,
        grace_seconds=GRACE_SECONDS,
        main=main,
        config_map=cm,
        image_pull_secrets=settings.image_pull_secrets,
    )
    config_hash = stable_hash({"config": config_map["data"], "pod": template_spec})
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(name, owner, child_labels, {CONFIG_HASH_ANNOTATION: config_hash}),
        "spec": {
            "replicas": desired_replicas(owner),
            "selector": {"matchLabels": selector_labels(COLLECTOR_APP, name)},
            "strategy": {"type": "Recreate"},  # never two collectors of one CR at once
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {
                    "labels": child_labels,
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: config_hash,
                        "kubectl.kubernetes.io/default-container": CONTAINER,
                    },
                },
                "spec": template_spec,
            },
        },
    }
    applied: list[dict[str, Any]] = [config_map, service_account, role, role_binding, service, deployment]
    return Children(applied=[with_applied_hash(m) for m in applied], config_hash=config_hash)
