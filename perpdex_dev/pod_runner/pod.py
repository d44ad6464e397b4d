"""One local pod: what the kubelet does for a pod bound to its node.

Creates the Pod object (spec = the workload's template, ``nodeName`` = the runner), resolves volumes and env (a
missing required key → ``CreateContainerConfigError``, a missing volume source → ``FailedMount``; both retried),
runs the init containers one after the other to completion (a failing one is restarted with back-off, or fails
the pod under ``restartPolicy: Never``), then starts the container process in its sandbox, probes it, restarts it
with CrashLoopBackOff when it exits (``restartPolicy: Always``; ``OnFailure`` only after a non-zero exit; a Job's pod
that ends stays ``Succeeded``/``Failed`` until its Job goes), keeps the Pod's status and Events current, rotates the
service-account token, and on stop: marks the Pod terminating, SIGTERM, waits ``terminationGracePeriodSeconds``,
SIGKILLs the process group, deletes the Pod object and the pod's files.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot_runtime.kube import ApiError, Conflict, NotFound, resource_path
from perpdex_dev.pod_runner.env import ContainerConfigError, EnvResolver, PodFacts
from perpdex_dev.pod_runner.kube import cancel_all, delete_quietly, now_rfc3339, request_token
from perpdex_dev.pod_runner.models import Container, PodTemplateSpec, Workload, effective_security
from perpdex_dev.pod_runner.net import HostNetwork, IsolatedNetwork, PodNetwork, host_listeners, rewrite_port_args
from perpdex_dev.pod_runner.probe import ExecContext, Prober, probe_once
from perpdex_dev.pod_runner.process import ContainerProcess, StartError
from perpdex_dev.pod_runner.sandbox import MountSpec, SandboxSpec
from perpdex_dev.pod_runner.settings import (
    ISOLATION_ANNOTATION,
    LOG_ANNOTATION,
    PORTS_ANNOTATION,
    RunnerContext,
)
from perpdex_dev.pod_runner.volumes import (
    SERVICEACCOUNT_DIR,
    Mount,
    VolumeBuilder,
    VolumeError,
    plan_exposures,
    prepare_mountpoints,
    write_token,
)

log = logging.getLogger("perpdex.pod_runner.pod")


@dataclass
class Launch:
    spec: SandboxSpec
    exec_ctx: ExecContext
    mounts: list[Mount]


def _rewrite_path(value: str, mapping: list[tuple[str, str]], keep: Sequence[str] = ()) -> str:
    """Without a private mount namespace: a value naming a path under a mountPath → the materialised path.
    Paths of the image itself (``keep``: interpreter, venv, project) are never volume content and stay as they are,
    even when this machine keeps them under a mountPath (a checkout under /tmp)."""
    head, eq, tail = value.partition("=")
    for target, source in mapping:
        for candidate, prefix in ((value, ""), (tail, head + eq) if eq else (None, "")):
            if candidate is None:
                continue
            if any(candidate == k or candidate.startswith(k.rstrip("/") + "/") for k in keep):
                continue
            if candidate == target or candidate.startswith(target.rstrip("/") + "/"):
                return prefix + source + candidate[len(target.rstrip("/")) :]
    return value


class LocalPod:
    def __init__(
        self,
        ctx: RunnerContext,
        workload: Workload,
        *,
        raw_template: Mapping[str, Any],
        name: str,
        revision: str,
        extra_labels: Mapping[str, str],
        on_change: Callable[[], None],
    ) -> None:
        self.ctx = ctx
        self.workload = workload
        self.namespace = workload.metadata.namespace
        self.name = name
        self.revision = revision
        self.template = PodTemplateSpec.model_validate(raw_template)
        self._raw_template = raw_template
        self._extra_labels = dict(extra_labels)
        self._on_change = on_change
        self.container: Container = self.template.spec.containers[0]
        self.init_containers: list[Container] = list(self.template.spec.init_containers)
        self._init_done = 0  # init containers that completed, in order
        self._init_states: list[dict[str, Any]] = [
            {"waiting": {"reason": "PodInitializing"}} for _ in self.init_containers
        ]
        self._init_last: list[dict[str, Any]] = [{} for _ in self.init_containers]
        self._init_restarts = [0 for _ in self.init_containers]
        self.restart_policy = self.template.spec.restart_policy
        self.failures = 0  # non-zero exits (a Job counts them against its backoffLimit)
        self.uid = ""
        self.created = time.monotonic()
        # status
        self.phase = "Pending"
        self.ready = False
        self.started = False
        self.restart_count = 0
        self.state: dict[str, Any] = {
            "waiting": {"reason": "PodInitializing" if self.init_containers else "ContainerCreating"}
        }
        self.last_state: dict[str, Any] = {}
        self.start_time = now_rfc3339()
        self.ready_since: float | None = None
        # lifecycle
        self.stopping = False
        self.done = asyncio.Event()
        self._stop = asyncio.Event()
        self._unhealthy = asyncio.Event()
        self._unhealthy_reason = ""
        self._grace = self.template.spec.termination_grace_period_seconds
        self._task: asyncio.Task[None] | None = None
        self._helpers: list[asyncio.Task[None]] = []
        self._status_lock = asyncio.Lock()
        self._last_status: dict[str, Any] | None = None
        self._token: str | None = None
        self._token_expiry: dt.datetime | None = None
        self._attempts = 0
        self._backoff_count = 0
        self.pid: int | None = None
        self._proc: ContainerProcess | None = None
        # files and network
        ns_dir = ctx.settings.state_dir / self.namespace
        self.dir = ns_dir / name
        self.log_path = ns_dir / f"{name}.log"
        ports = [p.container_port for p in self.container.ports if p.protocol.upper() == "TCP"]
        for probe in (self.container.readiness_probe, self.container.liveness_probe, self.container.startup_probe):
            action = None if probe is None else (probe.http_get or probe.tcp_socket)
            if action is not None:
                number = self.container.port_number(action.port)
                if number is not None:
                    ports.append(number)
        fixed = {p.container_port: p.host_port for p in self.container.ports if p.host_port}
        self.network: PodNetwork
        if self.template.spec.host_network:
            self.network = HostNetwork(ports, exact=True)
        elif ctx.isolating.net_ns and ctx.sockets is not None:
            self.network = IsolatedNetwork(ports, ctx.sockets, fixed)
        else:
            self.network = HostNetwork(ports, fixed)

    # identity --------------------------------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return resource_path("v1", "pods", self.namespace, self.name)

    @property
    def ref(self) -> dict[str, Any]:
        return {"kind": "Pod", "apiVersion": "v1", "namespace": self.namespace, "name": self.name, "uid": self.uid}

    @property
    def workload_ref(self) -> dict[str, Any]:
        meta = self.workload.metadata
        return {
            "kind": self.workload.kind,
            "apiVersion": self.workload.api_version,
            "namespace": meta.namespace,
            "name": meta.name,
            "uid": meta.uid,
        }

    @property
    def hostname(self) -> str:
        return (self.template.spec.hostname or self.name)[:63]

    @property
    def fqdn(self) -> str | None:
        sub = self.template.spec.subdomain
        return f"{self.hostname}.{sub}.{self.namespace}.svc.cluster.local" if sub else None

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def initialized(self) -> bool:
        return self._init_done >= len(self.init_containers)

    @property
    def finished(self) -> bool:
        """Succeeded or Failed: the pod's containers will not run again (never under ``restartPolicy: Always``)."""
        return self.phase in {"Succeeded", "Failed"}

    def labels(self) -> dict[str, str]:
        return {**self.template.metadata.labels, **self._extra_labels}

    def manifest(self) -> dict[str, Any]:
        spec = json.loads(json.dumps(self._raw_template.get("spec") or {}))
        spec["nodeName"] = self.ctx.settings.node_name
        if self.workload.kind == "StatefulSet":
            spec.setdefault("hostname", self.name)
            if self.workload.spec.service_name:
                spec.setdefault("subdomain", self.workload.spec.service_name)
        annotations = dict(self.template.metadata.annotations)
        annotations[PORTS_ANNOTATION] = json.dumps({str(k): v for k, v in self.network.host_ports.items()})
        annotations[LOG_ANNOTATION] = str(self.log_path)
        annotations[ISOLATION_ANNOTATION] = ",".join(
            name
            for name, on in (
                ("mount", self.ctx.isolating.mount_ns),
                ("network", self.network.isolated),
                ("user", self.ctx.isolating.switch_user),
            )
            if on
        )
        meta = self.workload.metadata
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels(),
                "annotations": annotations,
                "ownerReferences": [
                    {
                        "apiVersion": self.workload.api_version,
                        "kind": self.workload.kind,
                        "name": meta.name,
                        "uid": meta.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": spec,
        }

    # control ---------------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod {self.namespace}/{self.name}")

    def request_stop(self, grace: int | None = None) -> None:
        if grace is not None:
            self._grace = min(self._grace, max(grace, 0))
        if not self.stopping:
            self.stopping = True
            self._stop.set()
            self._on_change()

    async def stop(self, grace: int | None = None) -> None:
        self.request_stop(grace)
        await self.done.wait()

    def _changed(self) -> None:
        self._on_change()

    # status ----------------------------------------------------------------------------------------------------------
    def status_doc(self) -> dict[str, Any]:
        ready = self.ready and self.running
        stamp = now_rfc3339()

        def cond(type_: str, ok: bool) -> dict[str, Any]:
            return {"type": type_, "status": "True" if ok else "False", "lastTransitionTime": stamp}

        container_status: dict[str, Any] = {
            "name": self.container.name,
            "image": self.container.image,
            "imageID": "",
            "ready": ready,
            "started": self.started and self.running,
            "restartCount": self.restart_count,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.pid is not None and self.running:
            container_status["containerID"] = f"local://{self.pid}"
        init_statuses = [
            {
                "name": c.name,
                "image": c.image,
                "imageID": "",
                "ready": i < self._init_done,
                "started": "running" in self._init_states[i],
                "restartCount": self._init_restarts[i],
                "state": self._init_states[i],
                "lastState": self._init_last[i],
            }
            for i, c in enumerate(self.init_containers)
        ]
        doc: dict[str, Any] = {
            "phase": self.phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "conditions": [
                cond("PodScheduled", True),
                cond("Initialized", self.initialized),
                cond("ContainersReady", ready),
                cond("Ready", ready),
            ],
            "containerStatuses": [container_status],
        }
        if init_statuses:
            doc["initContainerStatuses"] = init_statuses
        return doc

    def _comparable(self, doc: dict[str, Any]) -> str:
        return json.dumps(
            {
                **doc,
                "conditions": [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in doc["conditions"]],
            },
            sort_keys=True,
        )

    async def push_status(self) -> None:
        if not self.uid:
            return
        async with self._status_lock:
            doc = self.status_doc()
            if self._last_status is not None and self._comparable(doc) == self._comparable(self._last_status):
                return
            if self._last_status is not None:  # keep transition times of conditions that did not change
                old = {c["type"]: c for c in self._last_status["conditions"]}
                for c in doc["conditions"]:
                    prev = old.get(c["type"])
                    if prev is not None and prev["status"] == c["status"]:
                        c["lastTransitionTime"] = prev["lastTransitionTime"]
            try:
                await self.ctx.client.patch(self.path + "/status", {"status": doc})
                self._last_status = doc
            except NotFound:
                return
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, exc)
                return
        self._changed()

    def event(self, type_: str, reason: str, message: str) -> None:
        if self.uid:
            self.ctx.events.emit(self.ref, type_, reason, message)

    async def _set_waiting(self, reason: str, message: str) -> None:
        self.state = {"waiting": {"reason": reason, "message": message}}
        self.ready = False
        await self.push_status()

    # the pod's life ----------------------------------------------------------------------------------------------
    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def _create_object(self) -> bool:
        delay = 1.0
        while not self._stop.is_set():
            try:
                created = await self.ctx.client.create(resource_path("v1", "pods", self.namespace), self.manifest())
                self.uid = str(created["metadata"]["uid"])
                self.ctx.events.emit(
                    self.workload_ref,
                    "Normal",
                    "SuccessfulCreate",
                    f"create Pod {self.name} in {self.workload.kind} {self.workload.metadata.name} successful",
                )
                self.event(
                    "Normal",
                    "Scheduled",
                    f"Successfully assigned {self.namespace}/{self.name} to "
                    f"{self.ctx.settings.node_name} (local pod runner)",
                )
                return True
            except Conflict:
                # a leftover of an earlier runner: it is not running anywhere
                log.warning("pod %s/%s already exists: replacing the leftover", self.namespace, self.name)
                await delete_quietly(self.ctx.client, self.path, grace=0)
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("pod %s/%s: create failed: %s", self.namespace, self.name, exc)
                self.ctx.events.emit(
                    self.workload_ref,
                    "Warning",
                    "FailedCreate",
                    f"create Pod {self.name} in {self.workload.kind} {self.workload.metadata.name} failed: {exc}",
                )
                await self._sleep(delay)
                delay = min(delay * 2, 30.0)
        return False

    async def _run(self) -> None:
        try:
            self.ctx.settings.state_dir.joinpath(self.namespace).mkdir(parents=True, exist_ok=True, mode=0o711)
            await self.network.open()  # the host ports go into the Pod's annotations
            if not await self._create_object():
                return
            await self.push_status()
            while not self._stop.is_set() and not self.initialized and not self.finished:
                await self._run_init_container(self._init_done)
            while not self._stop.is_set() and not self.finished:
                launch = await self._prepare_or_wait(self.container)
                if launch is None:
                    continue
                await self._run_container(launch)
            if self.finished:
                self._changed()
                await self._stop.wait()  # a Job's pod stays (Succeeded/Failed) until the Job is deleted
        except Exception:
            log.exception("pod %s/%s: runner error", self.namespace, self.name)
            raise
        finally:
            await self._cleanup()

    async def _prepare_or_wait(self, container: Container) -> Launch | None:
        try:
            return await self._prepare(container)
        except ContainerConfigError as exc:
            message = str(exc)
            await self._set_waiting("CreateContainerConfigError", message)
            self.event("Warning", "Failed", f"Error: {message}")
        except VolumeError as exc:
            await self._set_waiting("ContainerCreating", str(exc))
            self.event("Warning", "FailedMount", f"MountVolume.SetUp failed: {exc}")
        except (ApiError, httpx.HTTPError, OSError) as exc:
            await self._set_waiting("ContainerCreating", f"cannot prepare the container: {exc}")
            log.warning("pod %s/%s: cannot prepare the container: %s", self.namespace, self.name, exc)
        await self._sleep(self.ctx.settings.config_retry)
        return None

    async def _get_object(self, kind: str, name: str) -> Mapping[str, Any] | None:
        plural = {"ConfigMap": "configmaps", "Secret": "secrets", "ServiceAccount": "serviceaccounts"}[kind]
        try:
            return await self.ctx.client.get(resource_path("v1", plural, self.namespace, name))
        except NotFound:
            return None

    def _facts(self) -> PodFacts:
        return PodFacts(
            name=self.name,
            namespace=self.namespace,
            uid=self.uid,
            labels=self.labels(),
            annotations=self.template.metadata.annotations,
            node_name=self.ctx.settings.node_name,
            service_account=self.template.spec.service_account_name or "default",
        )

    async def _service_account_token(self) -> str | None:
        spec = self.template.spec
        sa_name = spec.service_account_name or "default"
        automount = spec.automount_service_account_token
        sa = await self._get_object("ServiceAccount", sa_name)
        if sa is None:
            raise VolumeError(f'serviceaccount "{sa_name}" not found')
        if automount is None:
            automount = sa.get("automountServiceAccountToken") is not False
        if not automount:
            return None
        if self._token is None or self._token_expiry is None:
            self._token, self._token_expiry = await request_token(
                self.ctx.client,
                namespace=self.namespace,
                service_account=sa_name,
                pod_name=self.name,
                pod_uid=self.uid,
                ttl=self.ctx.settings.token_ttl,
            )
        return self._token

    def _identity(self, container: Container) -> tuple[int | None, int | None, list[int]]:
        spec = self.template.spec
        uid, gid, non_root = effective_security(spec.security_context, container.security_context)
        if uid is None:
            uid = self.ctx.settings.image_uid if self.ctx.settings.image_uid is not None else os.geteuid()
        if non_root and uid == 0:
            raise ContainerConfigError(
                f"container has runAsNonRoot and image will run as root (pod: {self.name}_{self.namespace}, "
                f"container: {container.name})"
            )
        if gid is None:
            gid = self.ctx.settings.image_gid if self.ctx.settings.image_gid is not None else 0
        groups = list(spec.security_context.supplemental_groups)
        if spec.security_context.fs_group is not None:
            groups.append(spec.security_context.fs_group)
        return uid, gid, groups

    async def _prepare(self, container: Container) -> Launch:
        spec = self.template.spec
        uid, gid, groups = self._identity(container)
        facts = self._facts()
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700 if self.ctx.isolating.mount_ns else 0o711)
        token = await self._service_account_token()
        builder = VolumeBuilder(self.dir, self._get_object, self.namespace, spec.security_context.fs_group)
        mounts = await builder.build(
            spec, container, facts, token=token, ca_pem=self.ctx.ca_pem, hostname=self.hostname, fqdn=self.fqdn
        )
        service_env = self.ctx.api.service_env()
        resolved = await EnvResolver(self._get_object, self.namespace).resolve(
            container, facts, service_env, self.ctx.settings.image_entrypoint
        )
        env = {**self.ctx.image_env(self.hostname, uid), **service_env, **resolved.env}
        argv = resolved.argv
        if isinstance(self.network, HostNetwork) and not spec.host_network:
            rewritten = rewrite_port_args(argv, self.network.host_ports)
            if rewritten != argv:
                log.warning(
                    "pod %s/%s: shared host network: port flags rewritten to host ports %s",
                    self.namespace,
                    self.name,
                    self.network.host_ports,
                )
            argv = rewritten
        mount_ns = self.ctx.isolating.mount_ns
        overlays: list[str] = []
        if mount_ns:
            overlays = prepare_mountpoints(mounts)
        else:
            mapping = sorted(
                ((m.target, m.source) for m in mounts if not m.target.startswith("/etc/host")),
                key=lambda t: len(t[0]),
                reverse=True,
            )
            keep = self.ctx.runtime_paths
            argv = [_rewrite_path(a, mapping, keep) for a in argv]
            env = {k: _rewrite_path(v, mapping, keep) for k, v in env.items()}
            sa = next((m.source for m in mounts if m.target == SERVICEACCOUNT_DIR), None)
            if sa is not None:
                env["PERPDEX_SERVICEACCOUNT_DIR"] = sa
        switch = self.ctx.isolating.switch_user and mount_ns
        sc = container.security_context
        exposures = []
        if switch and mount_ns and uid is not None and uid != 0:
            exposures = plan_exposures(self.ctx.runtime_paths, uid, {gid or 0, *groups})
        sandbox = SandboxSpec(
            argv=argv,
            env=env,
            working_dir=container.working_dir or "/",
            mounts=[MountSpec(m.source, m.target, m.read_only, m.is_dir) for m in mounts] if mount_ns else [],
            exposures=exposures,
            runtime=self.ctx.runtime_paths if mount_ns else [],
            overlays=overlays,
            scratch_dir=str(self.dir / "layers"),
            mount_ns=mount_ns,
            net_ns=self.network.isolated,
            hostname=self.hostname,
            read_only_root=bool(sc and sc.read_only_root_filesystem) and mount_ns,
            uid=uid if switch else None,
            gid=gid if switch else None,
            groups=groups if switch else [],
            no_new_privs=bool(sc and sc.allow_privilege_escalation is False),
            runner_pid=os.getpid(),
        )
        exec_ctx = ExecContext(pid=0, env=env, uid=uid if switch else None, gid=gid if switch else None)
        return Launch(spec=sandbox, exec_ctx=exec_ctx, mounts=mounts)

    async def _wire(self, pid: int) -> None:
        await self.network.attach(pid)
        listeners = host_listeners()
        listeners.setdefault(self.ctx.api.port, "127.0.0.1")
        await self.network.mirror(listeners)

    def _backoff_delay(self, ran_for: float) -> float:
        settings = self.ctx.settings
        if ran_for >= settings.backoff_reset:
            self._backoff_count = 0
        self._backoff_count += 1
        return float(min(settings.backoff_initial * 2 ** (self._backoff_count - 1), settings.backoff_max))

    async def _run_container(self, launch: Launch) -> None:
        started_at = now_rfc3339()
        t0 = time.monotonic()
        self._attempts += 1
        self.restart_count = self._attempts - 1
        try:
            proc = await ContainerProcess.start(launch.spec, self.log_path, self._wire)
        except StartError as exc:
            await self.network.detach()
            message = str(exc)
            self.last_state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": message,
                    "startedAt": started_at,
                    "finishedAt": now_rfc3339(),
                }
            }
            self.event("Warning", "Failed", f"Error: {message}")
            await self._back_off(0.0)
            return
        self.pid = proc.pid
        self._proc = proc
        launch.exec_ctx.pid = proc.pid
        self.phase = "Running"
        self.started = self.container.startup_probe is None
        self.ready = False
        self.ready_since = None
        self.state = {"running": {"startedAt": started_at}}
        self._unhealthy.clear()
        self.event("Normal", "Started", f"Started container {self.container.name}")
        await self.push_status()
        self._start_helpers(launch)
        outcome = await self._supervise(proc)
        await cancel_all(self._helpers)
        self._helpers = []
        await self.network.detach()
        code, reason = outcome
        self.last_state = {
            "terminated": {
                "exitCode": code,
                "reason": reason,
                "startedAt": started_at,
                "finishedAt": now_rfc3339(),
                "containerID": f"local://{proc.pid}",
            }
        }
        self.pid = None
        self._proc = None
        self.ready = False
        self.started = False
        if self._stop.is_set():
            self.state = {"terminated": dict(self.last_state["terminated"])}
            await self.push_status()
            return
        log.info("pod %s/%s: container exited with %s (%s)", self.namespace, self.name, code, reason)
        if code != 0:
            self.failures += 1
        if self.restart_policy == "Never" or (self.restart_policy == "OnFailure" and code == 0):
            self.phase = "Succeeded" if code == 0 else "Failed"
            self.state = {"terminated": dict(self.last_state["terminated"])}
            await self.push_status()
            return
        await self._back_off(time.monotonic() - t0)

    async def _run_init_container(self, index: int) -> None:
        """One init container to completion: exit 0 → the next one; else back-off and again (``Never``: Failed)."""
        container = self.init_containers[index]
        launch = await self._prepare_or_wait(container)
        if launch is None:
            return
        started_at = now_rfc3339()
        t0 = time.monotonic()
        try:
            proc = await ContainerProcess.start(launch.spec, self.log_path, self._wire)
        except StartError as exc:
            await self.network.detach()
            code, reason, pid = 128, "StartError", None
            self.event("Warning", "Failed", f"Error: {exc}")
        else:
            pid = proc.pid
            self._proc = proc
            self._init_states[index] = {"running": {"startedAt": started_at}}
            self.event("Normal", "Started", f"Started container {container.name}")
            await self.push_status()
            exited = asyncio.ensure_future(proc.wait())
            stop = asyncio.ensure_future(self._stop.wait())
            try:
                done, _ = await asyncio.wait({exited, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
            if exited in done:
                code = exited.result()
                proc.reap_group()
            else:
                self.event("Normal", "Killing", f"Stopping container {container.name}")
                await self._mark_terminating()
                code = await proc.terminate(self._grace)
                exited.cancel()
            self._proc = None
            await self.network.detach()
            reason = "Completed" if code == 0 else "Error"
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started_at,
            "finishedAt": now_rfc3339(),
        }
        if pid is not None:
            terminated["containerID"] = f"local://{pid}"
        self._init_states[index] = {"terminated": terminated}
        if self._stop.is_set():
            await self.push_status()
            return
        log.info("pod %s/%s: init container %s exited with %s", self.namespace, self.name, container.name, code)
        if code == 0:
            self._init_done = index + 1
            if self.initialized:
                self.state = {"waiting": {"reason": "ContainerCreating"}}
            await self.push_status()
            return
        self.failures += 1
        self._init_last[index] = {"terminated": terminated}
        if self.restart_policy == "Never":
            self.phase = "Failed"
            await self.push_status()
            return
        self._init_restarts[index] += 1
        delay = self._backoff_delay(time.monotonic() - t0)
        self._init_states[index] = {
            "waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off {delay:g}s restarting failed container={container.name} "
                f"pod={self.name}_{self.namespace}({self.uid})",
            }
        }
        await self.push_status()
        self.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {container.name} in pod {self.name}_{self.namespace}({self.uid})",
        )
        await self._sleep(delay)

    async def _back_off(self, ran_for: float) -> None:
        delay = self._backoff_delay(ran_for)
        message = (
            f"back-off {delay:g}s restarting failed container={self.container.name} pod={self.name}_{self.namespace}"
            f"({self.uid})"
        )
        await self._set_waiting("CrashLoopBackOff", message)
        self.event(
            "Warning",
            "BackOff",
            f"Back-off restarting failed container {self.container.name} in pod "
            f"{self.name}_{self.namespace}({self.uid})",
        )
        await self._sleep(delay)

    async def _supervise(self, proc: ContainerProcess) -> tuple[int, str]:
        exited = asyncio.ensure_future(proc.wait())
        stop = asyncio.ensure_future(self._stop.wait())
        unhealthy = asyncio.ensure_future(self._unhealthy.wait())
        try:
            done, _ = await asyncio.wait({exited, stop, unhealthy}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            unhealthy.cancel()
        if exited in done:
            code = exited.result()
            proc.reap_group()
            return code, "Completed" if code == 0 else "Error"
        if stop in done:
            self.event("Normal", "Killing", f"Stopping container {self.container.name}")
            # the Pod object turns Terminating (deletionTimestamp) while the container shuts down
            await self._mark_terminating()
        else:
            self.event(
                "Normal", "Killing", f"Container {self.container.name} {self._unhealthy_reason}, will be restarted"
            )
        code = await proc.terminate(self._grace)
        exited.cancel()
        return code, "Completed" if code == 0 else "Error"

    async def _mark_terminating(self) -> None:
        with contextlib.suppress(NotFound, ApiError, httpx.HTTPError):
            await self.ctx.client.delete(self.path, grace_period_seconds=max(self._grace, 1))

    # probes and token rotation ---------------------------------------------------------------------------------------
    def _start_helpers(self, launch: Launch) -> None:
        c = self.container
        namespaces = self.ctx.isolating.mount_ns or self.network.isolated

        def attempt(probe: Any) -> Callable[[], Any]:
            return lambda: probe_once(probe, c, self.network, launch.exec_ctx, namespaces)

        readiness = c.readiness_probe
        liveness = c.liveness_probe

        async def on_ready(ok: bool, message: str) -> None:
            self.ready = ok
            self.ready_since = time.monotonic() if ok else None
            if not ok:
                self.event("Warning", "Unhealthy", f"Readiness probe failed: {message}")
            await self.push_status()

        async def on_live(ok: bool, message: str) -> None:
            if not ok:
                self.event("Warning", "Unhealthy", f"Liveness probe failed: {message}")
                self._unhealthy_reason = "failed liveness probe"
                self._unhealthy.set()

        async def after_startup() -> None:
            if readiness is not None:
                self._helpers.append(
                    asyncio.create_task(Prober("readiness", readiness, attempt(readiness), on_ready).run())
                )
            else:
                self.ready = True
                self.ready_since = time.monotonic()
                await self.push_status()
            if liveness is not None:
                self._helpers.append(
                    asyncio.create_task(Prober("liveness", liveness, attempt(liveness), on_live).run())
                )

        async def on_started(ok: bool, message: str) -> None:
            if ok:
                self.started = True
                await self.push_status()
                await after_startup()
                return
            self.event("Warning", "Unhealthy", f"Startup probe failed: {message}")
            self._unhealthy_reason = "failed startup probe"
            self._unhealthy.set()

        startup = c.startup_probe
        if startup is not None:
            self._helpers.append(
                asyncio.create_task(Prober("startup", startup, attempt(startup), on_started, until_success=True).run())
            )
        else:
            self._helpers.append(asyncio.create_task(after_startup()))
        if self._token_expiry is not None:
            self._helpers.append(asyncio.create_task(self._rotate_token()))

    async def _rotate_token(self) -> None:
        while self._token_expiry is not None:
            remaining = (self._token_expiry - dt.datetime.now(dt.UTC)).total_seconds()
            await asyncio.sleep(max(remaining * 0.8, 5.0) if remaining > 0 else 5.0)
            try:
                token, expiry = await request_token(
                    self.ctx.client,
                    namespace=self.namespace,
                    service_account=self.template.spec.service_account_name or "default",
                    pod_name=self.name,
                    pod_uid=self.uid,
                    ttl=self.ctx.settings.token_ttl,
                )
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("pod %s/%s: token rotation failed: %s", self.namespace, self.name, exc)
                continue
            self._token, self._token_expiry = token, expiry
            sa_dir = self.dir / "serviceaccount"
            if sa_dir.is_dir():
                write_token(sa_dir, token)

    # the end -----------------------------------------------------------------------------------------------------
    async def _cleanup(self) -> None:
        await cancel_all(self._helpers)
        self._helpers = []
        if self._proc is not None and self._proc.returncode is None:
            await self._proc.kill()  # only on an unexpected error or cancellation: stop() is graceful
        self._proc = None
        await self.network.close()
        if self.uid:
            try:
                await delete_quietly(self.ctx.client, self.path, grace=0)
                self.ctx.events.emit(
                    self.workload_ref,
                    "Normal",
                    "SuccessfulDelete",
                    f"delete Pod {self.name} in {self.workload.kind} {self.workload.metadata.name} successful",
                )
            except (ApiError, httpx.HTTPError) as exc:
                log.warning("pod %s/%s: delete failed: %s", self.namespace, self.name, exc)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.done.set()
        self._on_change()


def ensure_state_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o711)
