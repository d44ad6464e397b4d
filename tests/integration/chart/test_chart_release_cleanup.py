"""``perpdex operator release-cleanup`` (the chart's pre-delete hook) against the real API server: it deletes only the
release's resources, waits while a finalizer holds one (the operator's job to release), and reports what is left."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.kube import KubeClient, resource_path
from perpdex_operator.release_cleanup import cleanup
from tests.conftest import Kube

pytestmark = pytest.mark.integration

RELEASE = {"app.kubernetes.io/instance": "rel", "app.kubernetes.io/managed-by": "Helm"}
SELECTOR = "app.kubernetes.io/instance=rel,app.kubernetes.io/managed-by=Helm"


def collector(name: str, labels: dict[str, str], finalizers: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {"name": name, "labels": labels, "finalizers": finalizers},
        "spec": {"exchanges": ["paper-a"]},
    }


async def test_deletes_the_release_resources_and_waits_for_their_finalizers(
    kube: Kube, crds_installed: Kube, namespace: str, kube_client: KubeClient
) -> None:
    path = resource_path("perpdex.io/v1alpha1", "fundingcollectors", namespace)
    await kube_client.create(path, collector("chart-made", RELEASE, ["perpdex.io/test-hold"]))
    await kube_client.create(path, collector("users-own", {}, []))

    left = await cleanup(kube_client, [namespace], SELECTOR, wait_s=1.0, poll=0.2)
    assert left == [f"fundingcollectors {namespace}/chart-made"]  # deleted, but held by its finalizer
    held = await kube_client.get(f"{path}/chart-made")
    assert held["metadata"].get("deletionTimestamp")

    async def release_finalizer() -> None:  # what the operator does once the children are gone
        await asyncio.sleep(0.5)
        await kube_client.patch(f"{path}/chart-made", {"metadata": {"finalizers": None}})

    task = asyncio.create_task(release_finalizer())
    assert await cleanup(kube_client, [namespace], SELECTOR, wait_s=30.0, poll=0.2) == []
    await task
    listed = await kube_client.list(path)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["users-own"]  # never selected


def test_command_exit_codes(kube: Kube, crds_installed: Kube, namespace: str) -> None:
    perpdex = str(Path(sys.executable).parent / "perpdex")
    env = dict(kube.env, KUBECONFIG=str(kube.kubeconfig))
    empty = subprocess.run(
        [perpdex, "operator", "release-cleanup", "-n", namespace, "--selector= "],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert empty.returncode == 2 and "every bot" in empty.stderr
    kube.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(collector("held", RELEASE, ["x.io/hold"])))
    stuck = subprocess.run(
        [perpdex, "operator", "release-cleanup", "-n", namespace, f"--selector={SELECTOR}", "--timeout=1"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert stuck.returncode == 1 and f"fundingcollectors {namespace}/held" in stuck.stderr
    kube.kubectl(
        "patch", "fundingcollector", "held", "-n", namespace, "--type=merge", "-p", '{"metadata":{"finalizers":null}}'
    )
    done = subprocess.run(
        [perpdex, "operator", "release-cleanup", "-n", namespace, f"--selector={SELECTOR}", "--timeout=30"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
