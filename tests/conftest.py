"""Session fixtures shared by every tier: a REAL kube-apiserver + etcd and a REAL PostgreSQL server.

- ``kube``: the local control plane (built/cached binaries, see perpdex_dev/control_plane.py), or, when ``KUBECONFIG``
  is set in the environment, the cluster it points at (the same tests then run there).
- ``crds_installed``: ``crds/*.yaml`` applied with the real kubectl and Established.
- ``postgres``: a throwaway PostgreSQL cluster in a temp dir on a free port (Debian's server binaries).
- ``namespace``: a fresh namespace per test (names are unique; namespaces are not deleted on the local control plane,
  which has no namespace controller to finalize them).

Nothing here is a mock: if a binary cannot be built or found, the session fails with what to install.

A session killed with SIGTERM or SIGHUP (a CI timeout, ``kill``) unwinds like Ctrl-C and stops what it started:
no etcd, kube-apiserver, PostgreSQL or service process outlives it (``perpdex_dev/exit_cleanup.py``).
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot_runtime.kube import KubeClient, KubeConfig
from perpdex_dev.control_plane import ControlPlane, assets_dir
from perpdex_dev.exit_cleanup import stop_at_exit, unwind_on_sigterm
from perpdex_dev.postgres import PostgresCluster

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Kube:
    kubeconfig: Path
    server: str
    env: dict[str, str]
    control_plane: ControlPlane | None = None
    _config: KubeConfig | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        """True on the local control plane (no controllers, no kubelet); False on a real cluster."""
        return self.control_plane is not None

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["kubectl", *args], env=self.env, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and out.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({out.returncode}):\n{out.stderr}\n{out.stdout}")
        return out

    def helm(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["helm", *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and out.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({out.returncode}):\n{out.stderr}\n{out.stdout}")
        return out

    def config(self) -> KubeConfig:
        if self._config is None:
            self._config = KubeConfig.load(self.kubeconfig)
        return self._config

    def client(self) -> KubeClient:
        """A new async client (use as ``async with kube.client() as k:``)."""
        return KubeClient(self.config())


def pytest_configure(config: pytest.Config) -> None:
    unwind_on_sigterm()


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    existing = os.environ.get("KUBECONFIG")
    if existing:
        env = dict(os.environ)
        assets = os.environ.get("KUBEBUILDER_ASSETS")
        if assets:
            env["PATH"] = f"{assets}{os.pathsep}{env['PATH']}"
        cfg = KubeConfig.load(existing)
        yield Kube(kubeconfig=Path(existing), server=cfg.server, env=env, _config=cfg)
        return
    cp = ControlPlane.create(assets=assets_dir())
    done = stop_at_exit(cp.stop)  # from here: a signal while it starts still stops it
    try:
        cp.start()
        yield Kube(kubeconfig=cp.kubeconfig, server=cp.server, env=cp.env(), control_plane=cp)
    finally:
        cp.stop()
        done()


@pytest.fixture(scope="session")
def crds_installed(kube: Kube) -> Kube:
    crds = sorted(str(p) for p in (REPO_ROOT / "crds").glob("*.yaml"))
    assert crds, "crds/*.yaml missing"
    for crd in crds:
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", crd)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"-f={c}" for c in crds))
    return kube


@pytest.fixture
def namespace(kube: Kube) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.kubectl("create", "namespace", name)
    return name


@pytest.fixture
async def kube_client(kube: Kube) -> AsyncIterator[KubeClient]:
    async with kube.client() as client:
        yield client


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    done = stop_at_exit(cluster.destroy)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
        done()
