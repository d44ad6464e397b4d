"""TradingBot → ConfigMap, ServiceAccount, Role, RoleBinding, headless Service, StatefulSet, PodDisruptionBudget
(+ its Lease).

Disruptions (docs/operations.md, Day 2): the PodDisruptionBudget (``maxUnavailable: 0``) makes a voluntary eviction
(``kubectl drain``, the cluster autoscaler) wait instead of moving a live bot on its own schedule, and the pod says
``cluster-autoscaler.kubernetes.io/safe-to-evict: "false"``; a restart is never destructive (the bot keeps its
take-profits), so moving a bot is a ``kubectl delete pod`` (or a pause) at a moment you choose.
``podManagementPolicy: Parallel``: a pod that never became Ready (a missing Secret, a wrong key) is replaced as soon as
the spec changes, instead of the StatefulSet waiting for it forever (OrderedReady). The field is immutable: a
StatefulSet created before keeps its policy (``perpdex_operator.children`` leaves it alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from bot_runtime.process.secret_watch import SECRET_NAMES_ENV
from perpdex_operator.builders import BuildError, Children
from perpdex_operator.builders.config import bot_config, to_yaml
from perpdex_operator.builders.credentials import bot_secret_env
from perpdex_operator.builders.identity import identity_children
from perpdex_operator.builders.meta import labels, object_meta, selector_labels, with_applied_hash
from perpdex_operator.builders.paper import bot_venues, paper_exchange_env
from perpdex_operator.builders.pod import container, field_env, pod_spec, resources
from perpdex_operator.constants import (
    BOT_APP,
    CONFIG_HASH_ANNOTATION,
    CONFIG_KEY,
    GROUP,
    METRICS_PORT,
    METRICS_PORT_NAME,
    TRADINGBOT_PLURAL,
)
from perpdex_operator.hashing import stable_hash
from perpdex_operator.settings import OperatorSettings

COMPONENT: Final = "bot"
CONTAINER: Final = "bot"
LEASE_API: Final = "coordination.k8s.io/v1"
SAFE_TO_EVICT_ANNOTATION: Final = "cluster-autoscaler.kubernetes.io/safe-to-evict"

DEFAULT_RESOURCES: Final[dict[str, dict[str, str]]] = {
    "requests": {"cpu": "50m", "memory": "128Mi"},
    "limits": {"memory": "512Mi"},
}

# seconds the pod gets after SIGTERM to apply onStop and report its final status
GRACE_SECONDS: Final[dict[str, int]] = {"leave": 20, "cancelEntries": 30, "cancelOrders": 30, "closePositions": 90}
FUNDING_ARB_EXTRA_GRACE: Final = 30  # two venues per pair
# a grid's stop cancels up to maxOrders take-profits, 8 at a time (bot_runtime.strategies.base.CANCEL_CONCURRENCY):
# this many seconds more per batch of 8 resting orders, so cancelOrders/closePositions finish inside the period
GRID_GRACE_PER_CANCEL_BATCH: Final = 2
CANCEL_BATCH: Final = 8


def config_map_name(bot: str) -> str:
    return f"{bot}-config"


def service_account_name(bot: str) -> str:
    return f"{bot}-bot"


def grace_seconds(spec: Mapping[str, Any]) -> int:
    on_stop = str(spec.get("onStop") or "cancelEntries")
    if on_stop not in GRACE_SECONDS:
        raise BuildError(f"spec.onStop: unknown value {on_stop!r}; one of {', '.join(GRACE_SECONDS)}")
    extra = FUNDING_ARB_EXTRA_GRACE if spec.get("strategy") == "fundingArb" else 0
    if spec.get("strategy", "grid") == "grid" and on_stop != "leave":
        max_orders = int((spec.get("grid") or {}).get("maxOrders") or 40)
        extra += -(-max_orders // CANCEL_BATCH) * GRID_GRACE_PER_CANCEL_BATCH
    return GRACE_SECONDS[on_stop] + extra


def desired_replicas(owner: Mapping[str, Any]) -> int:
    """1 while the bot should trade; 0 when paused or being deleted."""
    paused = bool((owner.get("spec") or {}).get("paused", False))
    deleting = bool(owner["metadata"].get("deletionTimestamp"))
    return 0 if paused or deleting else 1


def referenced_secrets(env: list[dict[str, Any]]) -> list[str]:
    """The Secrets a container's ``secretKeyRef`` env vars name, each once, in order."""
    names = [e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in (e.get("valueFrom") or {})]
    return list(dict.fromkeys(names))


def role_rules(bot: str, secrets: list[str] | None = None) -> list[dict[str, Any]]:
    """Least privilege, exactly the calls the bot makes: GET its own TradingBot (risk halt, stop kind), merge-PATCH
    its own status, GET and PUT (update) its own pre-created Lease, and GET exactly the Secrets its pod references
    (their versions: a changed one restarts a bot whose preflight failed; no new exposure, the pod holds their values
    already). Nothing else: no other Secret, no listing, no other bots, no Lease creation, no Events."""
    secret_rule = [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": secrets, "verbs": ["get"]}]
    return [
        {"apiGroups": [GROUP], "resources": [TRADINGBOT_PLURAL], "resourceNames": [bot], "verbs": ["get"]},
        {
            "apiGroups": [GROUP],
            "resources": [f"{TRADINGBOT_PLURAL}/status"],
            "resourceNames": [bot],
            "verbs": ["patch"],
        },
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [bot],
            "verbs": ["get", "update"],
        },
        *(secret_rule if secrets else []),
    ]


def build_tradingbot_children(owner: Mapping[str, Any], settings: OperatorSettings) -> Children:
    """All children of one TradingBot. Pure: the same CR and settings always give the same manifests."""
    meta = owner["metadata"]
    name: str = meta["name"]
    namespace: str = meta["namespace"]
    spec: Mapping[str, Any] = owner.get("spec") or {}
    child_labels = labels(BOT_APP, name, COMPONENT)
    sa = service_account_name(name)
    cm = config_map_name(name)

    config_yaml = to_yaml(bot_config(owner, settings.funding_service_url))
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(cm, owner, child_labels),
        "data": {CONFIG_KEY: config_yaml},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(name, owner, child_labels),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(BOT_APP, name),
            "publishNotReadyAddresses": True,
            "ports": [
                {"name": METRICS_PORT_NAME, "port": METRICS_PORT, "targetPort": METRICS_PORT_NAME, "protocol": "TCP"}
            ],
        },
    }

    grace = grace_seconds(spec)
    env = [
        {"name": "PERPDEX_BOT_NAME", "value": name},
        field_env("PERPDEX_NAMESPACE", "metadata.namespace"),
        field_env("POD_NAME", "metadata.name"),
        field_env("POD_UID", "metadata.uid"),  # the Lease holder identity: a replacement pod never shares it
        {"name": "TMPDIR", "value": "/tmp"},  # noqa: S108 - an emptyDir
        {"name": "PERPDEX_GRACE_SECONDS", "value": str(grace)},  # the bot fits its stop sequence into the grace period
        *bot_secret_env(spec),
        *paper_exchange_env(spec, bot_venues(spec), settings.paper_exchange_url),
    ]
    secrets = referenced_secrets(env) if settings.bot_secret_versions else []
    if secrets:  # the bot reads their versions (bot_runtime.process.secret_watch)
        env.append({"name": SECRET_NAMES_ENV, "value": ",".join(secrets)})
    service_account, role, role_binding = identity_children(
        sa, namespace, owner, child_labels, role_rules(name, secrets)
    )
    main = container(
        CONTAINER,
        image=str(spec.get("image") or settings.image),
        image_pull_policy=settings.image_pull_policy,
        subcommand="bot",
        env=env,
        resource_spec=resources(spec.get("resources"), DEFAULT_RESOURCES),
    )
    template_spec = pod_spec(
        service_account=sa,
        grace_seconds=grace,
        main=main,
        config_map=cm,
        image_pull_secrets=settings.image_pull_secrets,
    )
    config_hash = stable_hash({"config": config_map["data"], "pod": template_spec})
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(name, owner, child_labels, {CONFIG_HASH_ANNOTATION: config_hash}),
        "spec": {
            "replicas": desired_replicas(owner),
            "serviceName": name,
            "selector": {"matchLabels": selector_labels(BOT_APP, name)},
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "revisionHistoryLimit": 3,
            "template": {
                "metadata": {
                    "labels": child_labels,
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: config_hash,
                        "kubectl.kubernetes.io/default-container": CONTAINER,
                        SAFE_TO_EVICT_ANNOTATION: "false",
                    },
                },
                "spec": template_spec,
            },
        },
    }
    disruption_budget = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(name, owner, child_labels),
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": selector_labels(BOT_APP, name)}},
    }
    lease = {
        "apiVersion": LEASE_API,
        "kind": "Lease",
        "metadata": object_meta(name, owner, child_labels),
    }
    applied: list[dict[str, Any]] = [
        config_map,
        service_account,
        role,
        role_binding,
        service,
        statefulset,
        disruption_budget,
    ]
    return Children(
        applied=[with_applied_hash(m) for m in applied],
        created=[lease],
        config_hash=config_hash,
    )
