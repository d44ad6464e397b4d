"""A real local Kubernetes control plane: ``etcd`` + ``kube-apiserver`` on free loopback ports.

Binaries follow the envtest convention (``$KUBEBUILDER_ASSETS/{etcd,kube-apiserver,kubectl}``); when that variable is
unset they are built (once, cached under ``~/.cache/perpdex``) by ``hack/build-k8s-binaries.sh`` from the Go module proxy.

The API server runs with RBAC authorization, a static admin token (group ``system:masters``), and service-account
token signing, so ``TokenRequest`` and ``kubectl auth can-i --as system:serviceaccount:...`` behave as in a cluster.
There is no kube-controller-manager, scheduler or kubelet: no garbage collection, no namespace finalization, no pods
unless someone (the local pod runner) creates them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from perpdex_dev.exit_cleanup import terminate_group

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO_ROOT / "hack" / "build-k8s-binaries.sh"
ADMIN_USER = "perpdex-admin"


class ControlPlaneError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def assets_dir(build: bool = True) -> Path:
    """Where etcd, kube-apiserver, kubectl (and helm) live; builds them when ``KUBEBUILDER_ASSETS`` is unset."""
    env = os.environ.get("KUBEBUILDER_ASSETS")
    if env:
        path = Path(env)
    else:
        out = subprocess.run(
            [str(BUILD_SCRIPT), "all" if build else "--print-dir"], check=False, capture_output=True, text=True
        )
        if out.returncode != 0:
            raise ControlPlaneError(
                "could not build the control-plane binaries with the Go toolchain:\n"
                f"{out.stderr[-3000:]}\nInstall Go >= 1.24 or set KUBEBUILDER_ASSETS to a directory with "
                "etcd, kube-apiserver and kubectl."
            )
        path = Path(out.stdout.strip().splitlines()[-1])
    missing = [b for b in ("etcd", "kube-apiserver", "kubectl") if not (path / b).is_file()]
    if missing:
        raise ControlPlaneError(
            f"{path} lacks {', '.join(missing)}: set KUBEBUILDER_ASSETS to a directory holding etcd, kube-apiserver "
            f"and kubectl, or unset it so {BUILD_SCRIPT.name} builds them"
        )
    return path


def _write_certs(cert_dir: Path) -> None:
    """A CA, an apiserver serving certificate for loopback + in-cluster names, and the service-account key pair."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def key() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def pem_key(k: rsa.RSAPrivateKey) -> bytes:
        return k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )

    now = dt.datetime.now(dt.UTC)
    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "perpdex-local-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    srv_key = key()
    names: list[x509.GeneralName] = [
        x509.DNSName(n)
        for n in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "10.0.0.1", "::1")]
    srv = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(srv_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = key()
    (cert_dir / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (cert_dir / "apiserver.crt").write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    (cert_dir / "apiserver.key").write_bytes(pem_key(srv_key))
    (cert_dir / "sa.key").write_bytes(pem_key(sa_key))
    (cert_dir / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for name in ("apiserver.key", "sa.key"):
        (cert_dir / name).chmod(0o600)


@dataclass
class ControlPlane:
    """One etcd + kube-apiserver pair. ``start()`` blocks until ``/readyz`` answers; ``stop()`` leaves nothing behind."""

    workdir: Path
    assets: Path
    api_port: int = 0
    etcd_port: int = 0
    etcd_peer_port: int = 0
    token: str = ""
    pids: dict[str, int] = field(default_factory=dict)
    own_workdir: bool = True
    extra_args: list[str] = field(default_factory=list)  # appended to kube-apiserver's flags (e.g. audit logging)

    @classmethod
    def create(
        cls, workdir: Path | None = None, assets: Path | None = None, extra_args: list[str] | None = None
    ) -> ControlPlane:
        own = workdir is None
        wd = Path(tempfile.mkdtemp(prefix="perpdex-cp-")) if workdir is None else workdir
        wd.mkdir(parents=True, exist_ok=True)
        return cls(workdir=wd, assets=assets or assets_dir(), own_workdir=own, extra_args=list(extra_args or []))

    # paths ------------------------------------------------------------------------------------------------------
    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "certs" / "ca.crt"

    def env(self) -> dict[str, str]:
        """Environment for subprocesses that should talk to this control plane with kubectl/helm."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBEBUILDER_ASSETS"] = str(self.assets)
        env["PATH"] = f"{self.assets}{os.pathsep}{env.get('PATH', '')}"
        return env

    # lifecycle --------------------------------------------------------------------------------------------------
    def start(self, timeout: float = 120.0) -> None:
        certs = self.workdir / "certs"
        certs.mkdir(exist_ok=True)
        _write_certs(certs)
        self.token = secrets.token_urlsafe(32)
        (certs / "tokens.csv").write_text(f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        (certs / "tokens.csv").chmod(0o600)
        self.api_port, self.etcd_port, self.etcd_peer_port = free_port(), free_port(), free_port()
        logs = self.workdir / "logs"
        logs.mkdir(exist_ok=True)

        etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{self.etcd_peer_port}"
        self._spawn(
            "etcd",
            [
                str(self.assets / "etcd"),
                "--name=perpdex",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=perpdex={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=8589934592",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.assets / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--cert-dir={certs}",
                f"--tls-cert-file={certs / 'apiserver.crt'}",
                f"--tls-private-key-file={certs / 'apiserver.key'}",
                f"--client-ca-file={certs / 'ca.crt'}",
                f"--secure-port={self.api_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                "--service-cluster-ip-range=10.0.0.0/24",
                f"--token-auth-file={certs / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                # like envtest: no controller-manager creates default ServiceAccounts here
                "--disable-admission-plugins=ServiceAccount",
                "--allow-privileged=true",
                f"--service-account-key-file={certs / 'sa.pub'}",
                f"--service-account-signing-key-file={certs / 'sa.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--api-audiences=https://kubernetes.default.svc.cluster.local",
                "--v=0",
                *self.extra_args,
            ],
        )
        self._write_kubeconfig()
        self._wait_ready(timeout)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / "logs" / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.pids[name] = proc.pid
        self._procs = getattr(self, "_procs", {})
        self._procs[name] = proc

    def _write_kubeconfig(self) -> None:
        import base64

        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "perpdex-local",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority-data": base64.b64encode(self.ca_file.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "perpdex-local",
                    "context": {"cluster": "perpdex-local", "user": ADMIN_USER, "namespace": "default"},
                }
            ],
            "current-context": "perpdex-local",
        }
        self.kubeconfig.write_text(yaml.safe_dump(doc))
        self.kubeconfig.chmod(0o600)

    def _wait_ready(self, timeout: float) -> None:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            for name, proc in getattr(self, "_procs", {}).items():
                if proc.poll() is not None:
                    tail = (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                    self.stop()
                    raise ControlPlaneError(f"{name} exited with {proc.returncode}:\n{tail}")
            req = urllib.request.Request(  # noqa: S310 - https on loopback
                f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
            )
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=5) as resp:  # noqa: S310 - loopback https
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.25)
        self.stop()
        raise ControlPlaneError(f"kube-apiserver not ready after {timeout:.0f}s: {last}")

    def stop(self, grace: float = 10.0) -> None:
        """Stop the API server, then etcd (each process group), and remove the work dir if we made it."""
        for name in ("kube-apiserver", "etcd"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                terminate_group(pid, grace)
        for proc in getattr(self, "_procs", {}).values():
            proc.poll()
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # state for the detached CLI (`perpdex dev control-plane up|down|env`) ---------------------------------------
    def save_state(self, path: Path) -> None:
        state = asdict(self)
        state["workdir"], state["assets"] = str(self.workdir), str(self.assets)
        path.write_text(json.dumps(state, indent=2))

    @classmethod
    def load_state(cls, path: Path) -> ControlPlane:
        state = json.loads(path.read_text())
        state["workdir"], state["assets"] = Path(state["workdir"]), Path(state["assets"])
        return cls(**state)
