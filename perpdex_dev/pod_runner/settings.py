"""Options of ``perpdex dev pod-runner`` and the services every local pod shares."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

import bot_runtime
from bot_runtime.kube import KubeClient
from perpdex_dev.pod_runner.kube import EventRecorder
from perpdex_dev.pod_runner.net import NamespaceSockets

DEFAULT_SELECTOR = "app.kubernetes.io/managed-by=perpdex-operator"
DEFAULT_NODE = "perpdex-pod-runner"
ANNOTATION_PREFIX = "pod-runner.perpdex.io"
PORTS_ANNOTATION = f"{ANNOTATION_PREFIX}/ports"  # JSON {"<containerPort>": <host port>}
LOG_ANNOTATION = f"{ANNOTATION_PREFIX}/log"
ISOLATION_ANNOTATION = f"{ANNOTATION_PREFIX}/isolation"
REWRITTEN_ANNOTATION = f"{ANNOTATION_PREFIX}/rewritten-args"


def default_state_dir() -> Path:
    return Path(tempfile.gettempdir()) / "perpdex-pod-runner"


Isolation = Literal["auto", "namespaces", "none"]


class RunnerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str | None = None  # None: every namespace
    selector: str = DEFAULT_SELECTOR
    state_dir: Path = Field(default_factory=default_state_dir)
    kubeconfig: str | None = None
    isolation: Isolation = "auto"
    node_name: str = DEFAULT_NODE
    backoff_initial: float = Field(default=10.0, gt=0)  # the kubelet's CrashLoopBackOff: 10 s doubling to 5 min
    backoff_max: float = Field(default=300.0, gt=0)
    backoff_reset: float = Field(default=600.0, gt=0)  # a container that ran this long starts from the initial delay
    config_retry: float = Field(default=5.0, gt=0)  # retry period for CreateContainerConfigError / FailedMount
    token_ttl: int = Field(default=3607, ge=600)
    host_scan_interval: float = Field(default=1.0, gt=0)
    venv_bin: Path = Field(default_factory=lambda: Path(sys.executable).parent)
    image_entrypoint: list[str] = Field(default_factory=lambda: ["perpdex"])
    image_uid: int | None = None  # the image's USER; None: the runner's own user
    image_gid: int | None = None


@dataclass
class Isolating:
    """What this machine lets the runner do for each pod."""

    mount_ns: bool
    net_ns: bool
    switch_user: bool
    reason: str = ""


@dataclass
class ApiEndpoint:
    host: str
    port: int

    @classmethod
    def from_server(cls, server: str) -> ApiEndpoint:
        parts = urlsplit(server)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(host=parts.hostname or "127.0.0.1", port=port)

    @property
    def loopback(self) -> bool:
        return self.host in {"localhost", "::1"} or self.host.startswith("127.")

    def service_env(self) -> dict[str, str]:
        """The ``kubernetes`` Service variables every container gets (pointing at the real API server here)."""
        host, port = self.host, str(self.port)
        url_host = f"[{host}]" if ":" in host else host
        return {
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{url_host}:{port}",
            f"KUBERNETES_PORT_{port}_TCP": f"tcp://{url_host}:{port}",
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": port,
            f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
        }


def image_paths() -> list[str]:
    """What the "image" consists of here: the interpreter, the virtualenv and the project itself (the folder holding
    ``bot_runtime``: an editable install imports every package of ours from there)."""
    return [sys.base_prefix, sys.prefix, str(Path(bot_runtime.__file__).resolve().parents[1])]


@dataclass
class RunnerContext:
    settings: RunnerSettings
    client: KubeClient
    events: EventRecorder
    isolating: Isolating
    api: ApiEndpoint
    ca_pem: str
    runner_id: str
    sockets: NamespaceSockets | None = None
    host_listeners: dict[int, str] = field(default_factory=dict)

    @property
    def runtime_paths(self) -> list[str]:
        return image_paths()

    def image_env(self, hostname: str, uid: int | None) -> dict[str, str]:
        """What the image and the container runtime put in every container's environment."""
        path = ":".join([str(self.settings.venv_bin), "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
        return {
            "PATH": path,
            "HOSTNAME": hostname,
            "HOME": "/root" if uid == 0 else "/",
            "LANG": "C.UTF-8",
        }
