"""The paper exchange as the local stack runs it: the objects the chart renders with ``paperExchange.enabled``
(charts/perp-dex-operator/templates/paper-exchange.yaml), built for one namespace of the local pod runner.

A Deployment (one replica, ``Recreate``) whose ``migrate`` initContainer applies the schema and whose container serves
the venues, its PostgreSQL URL from a Secret, its venues (and any file they name, e.g. a ``priceFile``) from a
ConfigMap at ``/etc/perpdex``, restricted pod security, and a Service. Where the chart differs: the container port
carries a ``hostPort``, the node address a pod reaches a host service at. The pod runner has no Service DNS, and a
pod reaches the stack's other services (API server, funding service, PostgreSQL) at their host loopback ports; the
paper exchange is reached the same way, at ``http://127.0.0.1:<hostPort>``, from the bots, the collectors and the
host (docs/pod-runner.md, "Isolation").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

NAME = "paper-exchange"
CONFIG_DIR = "/etc/perpdex"
PORT = 8100  # the chart's paperExchange.port
MANAGED_BY = "perpdex-dev-stack"
LABELS = {
    "app.kubernetes.io/name": "perpdex-paper-exchange",
    "app.kubernetes.io/component": "paper-exchange",
    "app.kubernetes.io/managed-by": MANAGED_BY,
}
UID = 10001  # the chart's perpdex.podSecurity


def _database_env() -> dict[str, Any]:
    return {
        "name": "PERPDEX_PX_DATABASE_URL",
        "valueFrom": {"secretKeyRef": {"name": f"{NAME}-database", "key": "url"}},
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}


def manifests(
    namespace: str,
    database_url: str,
    host_port: int,
    venues: list[dict[str, Any]] | None = None,
    files: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ``v1 List`` to apply: ServiceAccount, Secret, ConfigMap (when ``venues`` or ``files`` are given), Deployment, Service.

    ``venues``: the venues file's entries (default: the service's own paper, paper-a..c); ``files``: more files for
    ``/etc/perpdex`` (name -> content) that the venues' options name by path."""
    config: dict[str, str] = dict(files or {})
    if venues is not None:
        config["venues.yaml"] = yaml.safe_dump(venues, sort_keys=False)
    meta = {"namespace": namespace, "labels": LABELS}
    items: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, **meta},
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{NAME}-database", **meta},
            "type": "Opaque",
            "stringData": {"url": database_url},
        },
    ]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - the pod's own emptyDir, as the chart mounts it
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
    env: list[dict[str, Any]] = [_database_env(), {"name": "PERPDEX_PX_PORT", "value": str(PORT)}]
    if config:
        items.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": NAME, **meta}, "data": config})
        mounts.append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
        volumes.append({"name": "config", "configMap": {"name": NAME}})
    if venues is not None:
        env.append({"name": "PERPDEX_PX_VENUES_FILE", "value": f"{CONFIG_DIR}/venues.yaml"})
    env.append({"name": "TMPDIR", "value": "/tmp"})  # noqa: S108 - the emptyDir above
    selector = {k: LABELS[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/component")}
    items.append(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, **meta},
            "spec": {
                "replicas": 1,  # one writer per venue
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": LABELS},
                    "spec": {
                        "serviceAccountName": NAME,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": UID,
                            "runAsGroup": UID,
                            "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "initContainers": [
                            {
                                "name": "migrate",
                                "image": "perp-dex-operator:local",
                                "command": ["perpdex", "paper-exchange", "migrate", "--wait=60"],
                                "env": [_database_env(), {"name": "TMPDIR", "value": "/tmp"}],  # noqa: S108
                                "securityContext": _container_security(),
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                            }
                        ],
                        "containers": [
                            {
                                "name": NAME,
                                "image": "perp-dex-operator:local",
                                "command": ["perpdex", "paper-exchange", "serve"],
                                "env": env,
                                "ports": [{"name": "http", "containerPort": PORT, "hostPort": host_port}],
                                "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10},
                                "livenessProbe": {
                                    "httpGet": {"path": "/ping", "port": "http"},
                                    "initialDelaySeconds": 10,
                                    "periodSeconds": 20,
                                },
                                "securityContext": _container_security(),
                                "volumeMounts": mounts,
                            }
                        ],
                        "volumes": volumes,
                    },
                },
            },
        }
    )
    items.append(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME, **meta},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
        }
    )
    return {"apiVersion": "v1", "kind": "List", "items": items}
