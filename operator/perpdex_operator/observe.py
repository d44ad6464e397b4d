"""What is actually running for a custom resource: its pods (if Pod objects exist) and its workload's status.

Without a kubelet (the local pod runner) there may be no Pod objects at all; the runner reflects readiness into the
workload's ``status`` instead, so "a pod is present" means a Pod object with the CR's labels OR a workload status that
counts replicas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from perpdex_operator.constants import CONFIG_HASH_ANNOTATION

CRASH_LOOP = "CrashLoopBackOff"


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class PodView(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    phase: str | None = None
    ready: bool = False
    terminating: bool = False
    config_hash: str | None = None
    restart_count: int = 0
    waiting_reason: str | None = None
    waiting_message: str | None = None  # e.g. 'secret "x" not found' for CreateContainerConfigError
    last_exit_code: int | None = None
    last_exit_reason: str | None = None
    last_finished_at: datetime | None = None

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodView:
        meta = pod.get("metadata") or {}
        status = pod.get("status") or {}
        statuses: Sequence[Mapping[str, Any]] = status.get("containerStatuses") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        restarts = max((int(c.get("restartCount") or 0) for c in statuses), default=0)
        waiting_state = next((c["state"]["waiting"] for c in statuses if (c.get("state") or {}).get("waiting")), None)
        waiting = None if waiting_state is None else waiting_state.get("reason")
        terminated = next(
            (c["lastState"]["terminated"] for c in statuses if (c.get("lastState") or {}).get("terminated")),
            None,
        )
        return cls(
            name=str(meta.get("name", "")),
            phase=status.get("phase"),
            ready=ready,
            terminating=bool(meta.get("deletionTimestamp")),
            config_hash=(meta.get("annotations") or {}).get(CONFIG_HASH_ANNOTATION),
            restart_count=restarts,
            waiting_reason=waiting,
            waiting_message=None if waiting_state is None else waiting_state.get("message"),
            last_exit_code=None if terminated is None else terminated.get("exitCode"),
            last_exit_reason=None if terminated is None else terminated.get("reason"),
            last_finished_at=None if terminated is None else parse_time(terminated.get("finishedAt")),
        )

    @property
    def gone(self) -> bool:
        return self.phase in {"Succeeded", "Failed"}


class WorkloadView(BaseModel):
    model_config = ConfigDict(frozen=True)

    exists: bool = False
    spec_replicas: int | None = None
    status_replicas: int = 0
    ready_replicas: int = 0

    @classmethod
    def from_workload(cls, workload: Mapping[str, Any] | None) -> WorkloadView:
        if not workload:
            return cls()
        spec = workload.get("spec") or {}
        status = workload.get("status") or {}
        return cls(
            exists=True,
            spec_replicas=spec.get("replicas"),
            status_replicas=int(status.get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
        )


class CrashLoop(BaseModel):
    model_config = ConfigDict(frozen=True)

    pod: str
    backing_off: bool  # waiting in CrashLoopBackOff right now (the process is not running)
    message: str


class Observation(BaseModel):
    model_config = ConfigDict(frozen=True)

    pods: tuple[PodView, ...] = ()
    workload: WorkloadView = WorkloadView()

    @property
    def live_pods(self) -> tuple[PodView, ...]:
        return tuple(p for p in self.pods if not p.gone)

    @property
    def pod_present(self) -> bool:
        """A pod exists (or is still terminating), or the workload's status counts one."""
        return bool(self.live_pods) or self.workload.status_replicas > 0

    def rolling(self, config_hash: str) -> bool:
        """A pod of an older config is still around (the new spec is not applied yet)."""
        return any(p.config_hash and p.config_hash != config_hash for p in self.live_pods)

    def crash_loop(self, *, now: datetime, restarts: int, window: timedelta, failing: bool = False) -> CrashLoop | None:
        """A container waiting in CrashLoopBackOff, or ``restarts`` restarts with a non-zero exit within ``window``.
        ``failing`` (the loop was already seen): any recent non-zero exit keeps it a loop between back-offs, so the
        conditions do not flap while the container is briefly running again."""
        for pod in self.live_pods:
            backing_off = pod.waiting_reason == CRASH_LOOP
            recent = pod.last_finished_at is not None and now - pod.last_finished_at <= window
            crashed = recent and pod.last_exit_code not in (None, 0) and pod.restart_count > 0
            if backing_off or (crashed and (failing or pod.restart_count >= restarts)):
                reason = pod.last_exit_reason or "Error"
                code = "" if pod.last_exit_code is None else f" (exit code {pod.last_exit_code})"
                return CrashLoop(
                    pod=pod.name,
                    backing_off=backing_off,
                    message=f"pod {pod.name} restarts: {pod.restart_count}; last exit: {reason}{code}",
                )
        return None
