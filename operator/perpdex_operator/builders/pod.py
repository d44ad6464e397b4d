"""Pieces of the restricted pod template shared by bot and collector pods."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from perpdex_operator.constants import CONFIG_DIR, CONFIG_PATH, METRICS_PORT, METRICS_PORT_NAME, RUN_AS_USER

TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir: the root filesystem is read-only
TMP_SIZE_LIMIT = "64Mi"


def pod_security_context() -> dict[str, Any]:
    """Pod Security Standard ``restricted``."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def probes() -> dict[str, Any]:
    """``/healthz`` (the process is alive) and ``/readyz`` (it is trading / collecting) on the metrics port."""
    return {
        "startupProbe": {
            "httpGet": {"path": "/healthz", "port": METRICS_PORT_NAME},
            "periodSeconds": 2,
            "failureThreshold": 60,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": METRICS_PORT_NAME},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": METRICS_PORT_NAME},
            "periodSeconds": 5,
            "failureThreshold": 2,
            "timeoutSeconds": 2,
        },
    }


def resources(override: Mapping[str, Any] | None, default: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    """``spec.resources`` when given (``limits``/``requests`` only), else the operator's defaults."""
    chosen = {k: dict(v) for k, v in (override or {}).items() if k in {"limits", "requests"} and v}
    return chosen or {k: dict(v) for k, v in default.items()}


def field_env(name: str, field_path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": field_path}}}


def command(subcommand: str) -> list[str]:
    return ["perpdex", subcommand, "--config", CONFIG_PATH, "--metrics-port", str(METRICS_PORT)]


def container(
    name: str,
    *,
    image: str,
    image_pull_policy: str,
    subcommand: str,
    env: list[dict[str, Any]],
    resource_spec: dict[str, Any],
) -> dict[str, Any]:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": image_pull_policy,
        "command": command(subcommand),
        "env": env,
        "ports": [{"name": METRICS_PORT_NAME, "containerPort": METRICS_PORT, "protocol": "TCP"}],
        **probes(),
        "resources": resource_spec,
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": TMP_DIR},
        ],
    }


def volumes(config_map: str) -> list[dict[str, Any]]:
    return [
        {"name": "config", "configMap": {"name": config_map}},
        {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
    ]


def pod_spec(
    *,
    service_account: str,
    grace_seconds: int,
    main: dict[str, Any],
    config_map: str,
    image_pull_secrets: Sequence[str] = (),
) -> dict[str, Any]:
    pull = {"imagePullSecrets": [{"name": n} for n in image_pull_secrets]} if image_pull_secrets else {}
    return {
        **pull,
        "serviceAccountName": service_account,
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": grace_seconds,
        "securityContext": pod_security_context(),
        "containers": [main],
        "volumes": volumes(config_map),
    }
