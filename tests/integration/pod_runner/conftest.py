"""Fixtures of the pod-runner tests: a namespace holding the app's code, settings, Secret and ServiceAccount, and
the pod runner itself (a real ``perpdex dev pod-runner`` process) watching that namespace."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot_runtime.kube import KubeClient
from tests.integration.pod_runner.pod_runner_helpers import APP, Runner, create

pytestmark = pytest.mark.integration


@dataclass
class AppNamespace:
    name: str
    secret_value: str
    client: KubeClient


@pytest.fixture
async def app_ns(namespace: str, kube_client: KubeClient) -> AppNamespace:
    secret_value = f"s3cr3t-{secrets.token_hex(8)}"
    for doc in (
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", "namespace": namespace}},
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "stringData": {"API_KEY": secret_value},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "settings", "namespace": namespace},
            "data": {"LEVEL": "debug", "config.yaml": "strategy: grid\nticker: BTC\n"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "app-code", "namespace": namespace},
            "data": {"pod_runner_app.py": APP.read_text()},
        },
    ):
        await create(kube_client, doc)
    return AppNamespace(name=namespace, secret_value=secret_value, client=kube_client)


@pytest.fixture
def runner(kube, namespace: str, tmp_path: Path) -> Iterator[Runner]:  # type: ignore[no-untyped-def]
    r = Runner(env=dict(kube.env), namespace=namespace, state_dir=tmp_path / "pods")
    r.start()
    try:
        yield r
    finally:
        if r.proc is not None and r.proc.poll() is None:
            r.stop()
