"""The whole product as local processes, for ``make demo`` and the e2e tests.

Real parts throughout: etcd + kube-apiserver, PostgreSQL, the funding service (uvicorn), the operator (kopf), and the
local pod runner, which runs every pod template the operator creates as a local process, and the paper exchange as the
chart deploys it (a Deployment + Service whose migrate step is an initContainer, its own schema in the same database,
:mod:`perpdex_dev.paper_exchange_pod`). Each process runs in its own process group with its log in the run directory;
:meth:`LocalStack.stop` stops the bots first (their onStop reaches the paper exchange), then everything else, and
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from perpdex_dev import paper_exchange_pod
from perpdex_dev.control_plane import REPO_ROOT, ControlPlane, assets_dir, free_port
from perpdex_dev.postgres import PostgresCluster

INGEST_SECRET = "perpdex-ingest-token"  # noqa: S105 - the Secret's name, not a value
BIN_DIR = Path(sys.executable).parent
# the pod runner runs the operator's workloads and the stack's own (the paper exchange)
RUNNER_SELECTOR = f"app.kubernetes.io/managed-by in (perpdex-operator,{paper_exchange_pod.MANAGED_BY})"
BOT_PODS = "app.kubernetes.io/component=bot,app.kubernetes.io/managed-by=perpdex-operator"


class StackError(RuntimeError):
    pass


@dataclass
class LocalStack:
    run_dir: Path
    namespace: str = "perpdex-demo"
    kubeconfig: str = ""
    assets: str = ""
    control_plane_dir: str = ""
    pg_dir: str = ""
    pg_port: int = 0
    pg_bindir: str = ""
    database: str = "perpdex"
    funding_port: int = 0
    paper_port: int = 0
    ingest_token: str = ""
    pids: dict[str, int] = field(default_factory=dict)

    # state -------------------------------------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.run_dir / "stack.json"

    def save(self) -> None:
        data = asdict(self)
        data["run_dir"] = str(self.run_dir)
        self.state_file.write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, run_dir: Path) -> LocalStack:
        data = json.loads((run_dir / "stack.json").read_text())
        data["run_dir"] = Path(data["run_dir"])
        return cls(**data)

    @property
    def funding_url(self) -> str:
        return f"http://127.0.0.1:{self.funding_port}"

    @property
    def paper_url(self) -> str:
        return f"http://127.0.0.1:{self.paper_port}"

    @property
    def database_url(self) -> str:
        return f"postgresql://perpdex@127.0.0.1:{self.pg_port}/{self.database}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = self.kubeconfig
        env["PATH"] = os.pathsep.join([self.assets, str(BIN_DIR), env.get("PATH", "")])
        env.pop("KUBERNETES_SERVICE_HOST", None)
        return env

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        out = subprocess.run(
            ["kubectl", *args], env=self.env(), capture_output=True, text=True, input=input, check=False, timeout=120
        )
        if check and out.returncode != 0:
            raise StackError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out

    # pieces ------------------------------------------------------------------------------------------------------
    def start_control_plane(self, existing_kubeconfig: str | None = None) -> None:
        if existing_kubeconfig:
            self.kubeconfig = existing_kubeconfig
            self.assets = os.environ.get("KUBEBUILDER_ASSETS", str(assets_dir()))
            return
        cp_dir = self.run_dir / "control-plane"
        shutil.rmtree(cp_dir, ignore_errors=True)
        cp = ControlPlane.create(workdir=cp_dir, assets=assets_dir())
        cp.start()
        self.control_plane_dir = str(cp_dir)
        cp.save_state(cp_dir / "state.json")
        self.kubeconfig, self.assets = str(cp.kubeconfig), str(cp.assets)
        self.pids.update({f"cp-{k}": v for k, v in cp.pids.items()})
        self.save()

    def install_crds(self) -> None:
        crds = sorted(str(p) for p in (REPO_ROOT / "crds").glob("*.yaml"))
        for crd in crds:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", crd)
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"-f={c}" for c in crds))

    def start_postgres(self) -> None:
        pg = PostgresCluster()
        pg.start()
        self.pg_dir, self.pg_port, self.pg_bindir = str(pg.workdir), pg.port, str(pg.bindir)
        self.save()
        pg.create_database(self.database)

    def start_funding_service(self) -> None:
        self.ingest_token = self.ingest_token or secrets.token_urlsafe(32)
        self.funding_port = self.funding_port or free_port()
        env = self._fs_env()
        out = subprocess.run(
            [str(BIN_DIR / "perpdex"), "funding-service", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if out.returncode != 0:
            raise StackError(f"funding-service migrate failed: {out.stderr.strip()[-2000:]}")
        self.spawn("funding-service", [str(BIN_DIR / "perpdex"), "funding-service", "serve"], env)
        self.wait_http(f"{self.funding_url}/api/v1/health/ready", "funding service", timeout=60)

    def _fs_env(self) -> dict[str, str]:
        env = self.env()
        env.update(
            PERPDEX_FS_DATABASE_URL=self.database_url,
            PERPDEX_FS_INGEST_TOKEN=self.ingest_token,
            PERPDEX_FS_HOST="127.0.0.1",
            PERPDEX_FS_PORT=str(self.funding_port),
        )
        return env

    def start_paper_exchange(
        self, venues: list[dict[str, Any]] | None = None, files: Mapping[str, str] | None = None
    ) -> None:
        """The paper venues' service as a Deployment of the pod runner (started here if it is not running yet, with the
        namespace), on the stack's database
        (schema ``paper_exchange``, migrated by its initContainer). ``venues``: its venues file (default paper,
        paper-a..c); ``files``: more files next to it in ``/etc/perpdex`` (a venue's ``priceFile``). Its container
        port is exposed on the host port :attr:`paper_port` (a ``hostPort``), where the bots, the collectors and the
        host reach it; the operator started after this points paper bots and collectors at it."""
        self.paper_port = self.paper_port or free_port()
        self._ensure_namespace()
        self.start_pod_runner()
        objects = paper_exchange_pod.manifests(self.namespace, self.database_url, self.paper_port, venues, files)
        self.kubectl("apply", "-f", "-", input=json.dumps(objects))
        self.wait_http(f"{self.paper_url}/health", "paper exchange", timeout=90)

    def _ensure_namespace(self) -> None:
        if self.kubectl("get", "namespace", self.namespace, check=False).returncode != 0:
            self.kubectl("create", "namespace", self.namespace)

    def prepare_namespace(self) -> None:
        self._ensure_namespace()
        secret = self.kubectl(
            "create",
            "secret",
            "generic",
            INGEST_SECRET,
            "-n",
            self.namespace,
            f"--from-literal=token={self.ingest_token}",
            "--dry-run=client",
            "-o",
            "yaml",
        ).stdout
        self.kubectl("apply", "-f", "-", input=secret)

    def start_operator(self, name: str = "operator", extra: list[str] | None = None) -> None:
        argv = [
            str(BIN_DIR / "perpdex"),
            "operator",
            f"--namespace={self.namespace}",
            f"--funding-service-url={self.funding_url}",
            *([f"--paper-exchange-url={self.paper_url}"] if self.paper_port else []),
            f"--ingest-token-secret={INGEST_SECRET}",
            "--image=perp-dex-operator:local",
            f"--liveness-port={free_port()}",
            f"--metrics-port={free_port()}",
            *(extra or ["--standalone"]),
        ]
        self.spawn(name, argv, self.env())

    def start_pod_runner(self) -> None:
        """The local pod runner for the namespace (once: a no-op while it runs)."""
        if self.alive("pod-runner"):
            return
        argv = [
            str(BIN_DIR / "perpdex"),
            "dev",
            "pod-runner",
            f"--namespace={self.namespace}",
            f"--selector={RUNNER_SELECTOR}",
            f"--state-dir={self.run_dir / 'pods'}",
        ]
        self.spawn("pod-runner", argv, self.env())

    # processes ---------------------------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log_path = self.run_dir / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO_ROOT
            )
        self.pids[name] = proc.pid
        self.save()

    def alive(self, name: str) -> bool:
        pid = self.pids.get(name)
        if pid is None:
            return False
        try:
            waited, _ = os.waitpid(pid, os.WNOHANG)
            return waited == 0
        except ChildProcessError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return True

    def wait_http(self, url: str, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - loopback http
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.3)
        raise StackError(f"{what} not ready at {url} after {timeout:.0f}s: {last}")

    def stop_process(self, name: str, grace: float = 30.0) -> None:
        pid = self.pids.pop(name, None)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                waited, _ = os.waitpid(pid, os.WNOHANG)
                if waited == pid:
                    break
            except ChildProcessError:
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    break
            time.sleep(0.1)
        # past the grace period, or children that outlived their leader: kill the whole group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)

    def stop_bots(self, timeout: float = 300.0) -> None:
        """Delete every TradingBot of the namespace and wait until their pods and the CRs are gone: each bot applies
        its onStop (cancelling orders on the paper exchange, still running) within its grace period, and the operator's
        finalizer lets the CR go once the pod has stopped. Skipped when the operator or the pod runner is not running
        (nothing would stop the pods); past ``timeout`` the runner's stop takes the rest."""
        operators = [n for n in self.pids if n.startswith("operator")]
        if not self.kubeconfig or not any(self.alive(n) for n in operators) or not self.alive("pod-runner"):
            return
        if self.kubectl("delete", "tradingbots", "--all", "-n", self.namespace, "--wait=false", check=False).returncode:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bots = self.kubectl("get", "tradingbots", "-n", self.namespace, "-o", "name", check=False)
            pods = self.kubectl("get", "pods", "-n", self.namespace, "-l", BOT_PODS, "-o", "name", check=False)
            if bots.returncode == pods.returncode == 0 and not bots.stdout.strip() and not pods.stdout.strip():
                return
            time.sleep(1)

    def stop(self) -> None:
        """Everything, in reverse order of dependence: the bots first (deleted while the operator, the pod runner and
        the paper exchange still run, so their onStop reaches the venue: :meth:`stop_bots`), then the other pods (the
        paper exchange, collectors) via the runner, the operator, the funding service, PostgreSQL, and the control
        plane."""
        self.stop_bots()
        for name in [
            "pod-runner",
            *[n for n in self.pids if n.startswith("operator")],
            "funding-service",
        ]:
            self.stop_process(name, grace=60.0 if name == "pod-runner" else 15.0)
        if self.pg_dir:
            PostgresCluster(
                workdir=Path(self.pg_dir), port=self.pg_port, bindir=Path(self.pg_bindir), _initialised=True
            ).destroy()
            self.pg_dir = ""
        if self.control_plane_dir:
            state = Path(self.control_plane_dir) / "state.json"
            if state.exists():
                cp = ControlPlane.load_state(state)
                cp.own_workdir = True
                cp.stop()
            self.control_plane_dir = ""
        for name in list(self.pids):
            self.stop_process(name, grace=5.0)
        if self.state_file.exists():
            self.state_file.unlink()
