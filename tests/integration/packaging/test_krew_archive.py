"""The krew archive of ``kubectl perpdex`` (hack/krew/build.sh): built from this tree with uv.lock's core
dependencies, unpacked where krew would put it, found by kubectl as a plugin without the project's virtualenv on PATH,
and working against the REAL API server; the rendered manifest names that archive by its sha256."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration


def _uv() -> dict[str, str]:
    """The Makefile's pinned uv and its cache, when present (the build then needs no network)."""
    cache = Path.home() / ".cache" / "perpdex"
    found = sorted(cache.glob("uv-*/bin/uv"))
    return {"UV": str(found[-1]), "UV_CACHE_DIR": str(cache / "uv-cache"), "UV_OFFLINE": "1"} if found else {}


def test_archive_runs_as_a_kubectl_plugin(crds_installed: Any, namespace: str, tmp_path: Path) -> None:
    out = tmp_path / "dist"
    env = {**os.environ, **_uv()}
    built = subprocess.run(
        [str(REPO_ROOT / "hack" / "krew" / "build.sh"), str(out), "v0.0.0-test", "https://example.invalid/dl"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [archive] = out.glob("kubectl-perpdex-*.tar.gz")
    manifest = yaml.safe_load((out / "perpdex.yaml").read_text())
    assert manifest["kind"] == "Plugin" and manifest["metadata"]["name"] == "perpdex"
    assert manifest["spec"]["version"] == "v0.0.0-test"
    [platform] = manifest["spec"]["platforms"]
    assert platform["uri"] == f"https://example.invalid/dl/{archive.name}"
    assert platform["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert platform["bin"] == "kubectl-perpdex"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert "kubectl-perpdex/kubectl-perpdex" in names
        assert not any("/lib/kopf" in n or "/lib/lighter" in n for n in names)  # core dependencies only
        tar.extractall(tmp_path / "krew", filter="data")
    plugin_dir = tmp_path / "krew" / "kubectl-perpdex"
    # PATH: the archive and the API server's binaries, not the project's virtualenv
    kube = crds_installed
    path = os.pathsep.join([str(plugin_dir), kube.env["PATH"].split(os.pathsep)[0], "/usr/bin", "/bin"])
    run_env = {**kube.env, "PATH": path}
    plugins = subprocess.run(["kubectl", "plugin", "list"], env=run_env, capture_output=True, text=True, check=False)
    assert str(plugin_dir / "kubectl-perpdex") in plugins.stdout.splitlines()  # kubectl finds the archive's launcher
    listed = subprocess.run(
        ["kubectl", "perpdex", "list", "-n", namespace, "-o", "json"],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {"tradingBots": [], "fundingCollectors": []}
