"""Install and upgrade paths of the chart on the real API server: migrations before the service, CRD upgrades.

- The funding service's schema migrations run in an initContainer of its own pod (never a post-install hook, which
  `helm install --wait` reaches only after the pods it waits for are Ready, so an install never finished).
- Helm installs ``crds/`` once and never upgrades them: the documented upgrade path (docs/operations.md) is
  ``helm show crds CHART | kubectl apply --server-side --force-conflicts -f -`` before ``helm upgrade``. Tested with a
  "previous release" CRD that lacks a field: the API server prunes the field, ``helm upgrade`` leaves the CRD as it
  was, and after the documented command the field is kept.
"""

from __future__ import annotations

import copy
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
NEW_FIELD = "resources"  # spec.resources of a TradingBot: absent from the "previous release" CRD below


def render(kube: Kube, *sets: str) -> list[dict[str, Any]]:
    args = ["template", "t", str(CHART), KUBE_VERSION, "--namespace=perpdex"]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(kube.helm(*args).stdout) if d]


def test_migrations_run_in_an_init_container_not_a_hook(kube: Kube) -> None:
    for sets in ((), ("postgresql.enabled=false", "postgresql.external.existingSecret=pg")):
        docs = render(kube, *sets)
        hooks = [d for d in docs if "helm.sh/hook" in (d["metadata"].get("annotations") or {})]
        assert not [h for h in hooks if "install" in h["metadata"]["annotations"]["helm.sh/hook"]], hooks
        fs = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-funding-service"))
        spec = fs["spec"]["template"]["spec"]
        (init,) = spec["initContainers"]
        assert init["command"][:3] == ["perpdex", "funding-service", "migrate"]
        assert any(a.startswith("--wait=") for a in init["command"])
        # the same database as the service, and nothing else secret (the ingest token is not the migration's)
        env = {e["name"]: e for e in init["env"]}
        assert (
            env["PERPDEX_FS_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
            == next(e for e in spec["containers"][0]["env"] if e["name"] == "PERPDEX_FS_DATABASE_URL")["valueFrom"][
                "secretKeyRef"
            ]
        )
        assert "PERPDEX_FS_INGEST_TOKEN" not in env
        assert init["securityContext"]["readOnlyRootFilesystem"] is True
        assert init["imagePullPolicy"] == spec["containers"][0]["imagePullPolicy"]
        # the service is Ready only with current migrations, so --wait now waits for exactly that
        assert spec["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/api/v1/health/ready"


def _tradingbot_crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "crds" / "tradingbots.yaml").read_text())
    return loaded


def _previous_release(crd: dict[str, Any]) -> dict[str, Any]:
    old = copy.deepcopy(crd)
    for version in old["spec"]["versions"]:
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        del spec["properties"][NEW_FIELD]
    return old


def _bot(name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "perpdex.io/v1alpha1",
            "kind": "TradingBot",
            "metadata": {"name": name},
            "spec": {
                "strategy": "grid",
                "exchange": "paper",
                "ticker": "BTC",
                "grid": {"quantity": "0.01", "takeProfit": "0.02", "direction": "buy", "maxOrders": 2},
                "paused": True,
                NEW_FIELD: {"requests": {"cpu": "10m", "memory": "64Mi"}},
            },
        }
    )


def assert_unknown_field(kube: Kube, ns: str, name: str) -> None:
    """Under the old CRD: kubectl's strict validation refuses the new field; without it, the server prunes it."""
    strict = kube.kubectl("apply", "-n", ns, "-f", "-", input=_bot(name), check=False)
    assert strict.returncode != 0 and f'unknown field "spec.{NEW_FIELD}"' in strict.stderr, strict.stderr
    kube.kubectl("apply", "-n", ns, "--validate=false", "-f", "-", input=_bot(name))
    stored = json.loads(kube.kubectl("get", "tb", name, "-n", ns, "-o", "json").stdout)
    assert NEW_FIELD not in stored["spec"]  # silently dropped


def test_crd_upgrade_path_adds_a_field(kube: Kube) -> None:
    crd = _tradingbot_crd()
    assert NEW_FIELD in crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    ns = f"crdup-{uuid.uuid4().hex[:8]}"
    release = f"r{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", ns)
    try:
        # the cluster runs the previous release's CRD (applied by an earlier `helm install`)
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(_previous_release(crd)))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/tradingbots.perpdex.io")
        common = ["-n", ns, "--no-hooks", "--set", "operator.scope=namespaced", "--timeout=120s"]
        kube.helm("install", release, str(CHART), *common)
        assert_unknown_field(kube, ns, "before")

        # `helm upgrade` never touches crds/: the field is still unknown afterwards
        kube.helm("upgrade", release, str(CHART), *common)
        assert_unknown_field(kube, ns, "after-helm-upgrade")

        # the documented upgrade path (docs/operations.md, "Upgrade"): the chart's CRDs, applied server-side
        shown = kube.helm("show", "crds", str(CHART)).stdout
        assert "tradingbots.perpdex.io" in shown and "fundingcollectors.perpdex.io" in shown
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=shown)
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/tradingbots.perpdex.io")
        kube.kubectl("apply", "-n", ns, "-f", "-", input=_bot("after-crd-upgrade"))
        upgraded = json.loads(kube.kubectl("get", "tb", "after-crd-upgrade", "-n", ns, "-o", "json").stdout)
        assert upgraded["spec"][NEW_FIELD] == {"requests": {"cpu": "10m", "memory": "64Mi"}}
        # the objects stored under the old schema are still served
        kube.kubectl("get", "tb", "before", "-n", ns)
    finally:
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds" / "tradingbots.yaml"))
        kube.kubectl("delete", "tb", "--all", "-n", ns, "--wait=false", check=False)
        kube.helm("uninstall", release, "-n", ns, "--no-hooks", check=False)
