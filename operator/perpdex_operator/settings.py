"""The operator's settings: flags of ``perpdex operator`` with defaults from ``PERPDEX_OPERATOR_*`` env vars."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _package_version() -> str:
    try:
        return version("perp-dex-operator")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.1.0"


DEFAULT_IMAGE = f"ghcr.io/perp-dex-operator/perpdex:{_package_version()}"


class OperatorSettings(BaseSettings):
    """Everything the operator needs besides the cluster connection. Immutable once built."""

    model_config = SettingsConfigDict(env_prefix="PERPDEX_OPERATOR_", frozen=True, extra="ignore")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="namespaces to watch (env: comma-separated)"
    )
    all_namespaces: bool = Field(False, description="watch every namespace (cluster-wide)")
    image: str = Field(DEFAULT_IMAGE, min_length=1, description="default runtime image of bot and collector pods")
    image_pull_policy: str = Field("IfNotPresent", pattern="^(Always|IfNotPresent|Never)$")
    image_pull_secrets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="imagePullSecrets of bot and collector pods (env: comma-separated)"
    )
    funding_service_url: str = Field(
        "http://perpdex-funding-service.perpdex.svc:8000",
        min_length=1,
        description="default funding service base URL rendered into bot and collector configs",
    )
    paper_exchange_url: str | None = Field(
        None,
        description="default paper exchange base URL rendered into paper bots and collectors (the chart sets its "
        "service when paperExchange.enabled); unset: paper venues are simulated inside each pod",
    )
    ingest_token_secret: str = Field(
        "perpdex-ingest-token", min_length=1, description="Secret (key `token`) with the collectors' ingest token"
    )
    bot_secret_versions: bool = Field(
        True,
        description="grant each bot `get` on exactly the Secrets its pod references (it restarts when one is fixed "
        "while preflight fails); the chart sets false when no admission policy pins the Roles the operator writes",
    )
    peering: str | None = Field(None, description="kopf peering name (several replicas, one active)")
    priority: int | None = Field(None, description="peering priority; default: earlier start = higher priority")
    standalone: bool = Field(False, description="no peering at all (a single replica)")
    liveness_port: int | None = Field(8081, ge=0, le=65535, description="/healthz port (kopf liveness); 0 = off")
    metrics_port: int | None = Field(8082, ge=0, le=65535, description="/metrics port; 0 = off")
    liveness_host: str = "0.0.0.0"  # noqa: S104 - probes come from the kubelet
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped by Prometheus

    heartbeat_stale_seconds: float = Field(60.0, gt=0, description="lastHeartbeat older than this → HeartbeatStale")
    delete_timeout_seconds: float = Field(
        150.0,
        gt=0,
        description="how long deletion waits for the pod to be gone; keep it above the longest pod grace period "
        "(120 s: a fundingArb bot with onStop closePositions)",
    )
    status_interval_seconds: float = Field(10.0, gt=0, description="how often conditions are re-derived")
    resync_interval_seconds: float = Field(300.0, gt=0, description="periodic full reconcile of the children")
    retry_max_seconds: float = Field(
        60.0, gt=0, description="longest wait between retries of a failed reconcile (the backoff doubles from 1 s)"
    )
    crashloop_restarts: int = Field(3, ge=1, description="restarts within crashloop_window_seconds → Degraded")
    crashloop_window_seconds: float = Field(600.0, gt=0)
    peering_lifetime_seconds: int = Field(60, ge=5, description="how long a silent peer is considered alive")

    @field_validator("namespaces", "image_pull_secrets", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _scope(self) -> OperatorSettings:
        if self.all_namespaces and self.namespaces:
            raise ValueError("give either namespaces or all_namespaces, not both")
        if not self.all_namespaces and not self.namespaces:
            raise ValueError("no namespace to watch: pass --namespace NS (repeatable) or --all-namespaces")
        if self.standalone and self.peering:
            raise ValueError("--standalone and --peering exclude each other")
        return self

    @property
    def clusterwide(self) -> bool:
        return self.all_namespaces
