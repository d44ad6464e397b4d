"""``perpdex dev pod-runner``: runs the pods of the operator's StatefulSets and Deployments as local processes.

A TEST AND DEMO HARNESS, never deployed: this machine has an API server but no kubelet, no container runtime and no
workload controllers, so this plays all three for the workloads it selects. See docs/pod-runner.md.

    perpdex dev pod-runner [run] [--namespace NS] [--selector LABELS] [--state-dir DIR] [--isolation auto|...]
    perpdex dev pod-runner logs NAMESPACE/POD [--follow] [--state-dir DIR]

Each pod's first container runs with exactly its command, args and env (ConfigMap/Secret refs resolved from the API
server, fieldRefs, ``$(VAR)`` expansion), its volumes at their mount paths and the service-account token where
in-cluster config looks for it -- in a private mount, network and UTS namespace per pod -- and a real Pod object
mirrors it (status, readiness from its probes, restarts, CrashLoopBackOff), with the workload's status kept current.
SIGTERM/SIGINT stop every pod gracefully (each with its grace period), delete their Pod objects and leave no process
and no temporary file behind.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from bot_runtime.kube import ApiError, ConfigError, KubeClient, KubeConfig, resource_path
from perpdex_dev.pod_runner.kube import EventRecorder, cancel_all, delete_quietly, informer
from perpdex_dev.pod_runner.models import API_VERSIONS, PLURALS
from perpdex_dev.pod_runner.net import NamespaceSockets, host_listeners
from perpdex_dev.pod_runner.pod import LocalPod, ensure_state_dir
from perpdex_dev.pod_runner.settings import (
    DEFAULT_NODE,
    DEFAULT_SELECTOR,
    ApiEndpoint,
    Isolating,
    RunnerContext,
    RunnerSettings,
    default_state_dir,
)
from perpdex_dev.pod_runner.workload import WorkloadController

log = logging.getLogger("perpdex.pod_runner")

READY_LINE = "pod runner ready"


class RunnerError(Exception):
    pass


def detect_isolation(settings: RunnerSettings, api: ApiEndpoint) -> Isolating:
    root = os.geteuid() == 0
    if settings.isolation == "none":
        return Isolating(mount_ns=False, net_ns=False, switch_user=False, reason="--isolation=none")
    probe = subprocess.run(
        [sys.executable, "-E", "-s", "-m", "perpdex_dev.pod_runner.sandbox", "--probe"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"LC_ALL": "C.UTF-8"},
    )
    if probe.returncode != 0:
        why = probe.stderr.strip() or f"exit code {probe.returncode}"
        if settings.isolation == "namespaces":
            raise RunnerError(f"private namespaces are not permitted here: {why}")
        log.warning(
            "private mount/network namespaces are not permitted here (%s): FALLING BACK to the host's filesystem and "
            "network: mount paths in args/env are rewritten to the materialised volumes, PERPDEX_SERVICEACCOUNT_DIR "
            "points at the token, --*port flags are rewritten to free host ports, and pods run as the runner's user",
            why,
        )
        return Isolating(mount_ns=False, net_ns=False, switch_user=False, reason=why)
    if not api.loopback:
        log.warning(
            "the API server (%s) is not on loopback: pods share the host network (port flags rewritten to free ports)",
            api.host,
        )
        return Isolating(mount_ns=True, net_ns=False, switch_user=root, reason="API server not on loopback")
    return Isolating(mount_ns=True, net_ns=True, switch_user=root)


class PodRunner:
    def __init__(self, settings: RunnerSettings) -> None:
        self.settings = settings
        self.controllers: dict[tuple[str, str, str], WorkloadController] = {}
        self.ctx: RunnerContext | None = None

    # lookups -----------------------------------------------------------------------------------------------------
    def _workload_path(self, kind: str) -> str:
        return resource_path(API_VERSIONS[kind], PLURALS[kind], self.settings.namespace)

    def find_pod(self, namespace: str, name: str) -> LocalPod | None:
        for controller in self.controllers.values():
            if controller.namespace == namespace:
                pod = controller.pod(name)
                if pod is not None:
                    return pod
        return None

    def local_pods(self) -> list[LocalPod]:
        return [p for c in self.controllers.values() for p in c.pods.values()]

    # workload events ---------------------------------------------------------------------------------------------
    def _upsert(self, raw: dict[str, Any]) -> None:
        assert self.ctx is not None
        meta = raw.get("metadata") or {}
        key = (str(raw.get("kind")), str(meta.get("namespace")), str(meta.get("name")))
        if meta.get("deletionTimestamp"):
            # no garbage collector here: a workload being deleted (foreground) loses its pods now
            self._remove(key)
            return
        controller = self.controllers.get(key)
        if controller is not None:
            if controller.workload.metadata.uid != meta.get("uid"):
                self._remove(key)
                controller = None
            else:
                controller.update(raw)
                return
        try:
            controller = WorkloadController(self.ctx, raw)
        except ValidationError as exc:
            log.warning("%s %s/%s: cannot run this pod template: %s", *key, exc)
            return
        self.controllers[key] = controller
        log.info("%s %s/%s: watching (replicas %s)", *key, controller.workload.spec.replicas)
        controller.start()

    def _remove(self, key: tuple[str, str, str]) -> None:
        controller = self.controllers.pop(key, None)
        if controller is not None:
            log.info("%s %s/%s: gone; stopping its pods", *key)
            self._spawn(controller.close(update_status=False))

    _background: set[asyncio.Task[Any]]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _workload_handlers(self, kind: str) -> tuple[Any, Any]:
        async def on_sync(items: list[dict[str, Any]]) -> None:
            seen = set()
            for item in items:
                self._upsert(item)
                meta = item.get("metadata") or {}
                seen.add((kind, meta.get("namespace"), meta.get("name")))
            for key in [k for k in self.controllers if k[0] == kind and k not in seen]:
                self._remove(key)

        async def on_event(type_: str, obj: dict[str, Any]) -> None:
            meta = obj.get("metadata") or {}
            if type_ == "DELETED":
                key = (kind, str(meta.get("namespace")), str(meta.get("name")))
                controller = self.controllers.get(key)
                if controller is not None and controller.workload.metadata.uid == meta.get("uid"):
                    self._remove(key)
            else:
                self._upsert(obj)

        return on_sync, on_event

    # pod events (deletions by someone else) ----------------------------------------------------------------------
    def _on_pod(self, obj: Mapping[str, Any], deleted: bool) -> None:
        meta = obj.get("metadata") or {}
        pod = self.find_pod(str(meta.get("namespace")), str(meta.get("name")))
        if pod is None or pod.stopping or not pod.uid or pod.uid != meta.get("uid"):
            return
        if deleted:
            log.info("pod %s/%s was deleted: stopping it", pod.namespace, pod.name)
            pod.request_stop()
        elif meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds")
            log.info("pod %s/%s is being deleted: stopping it", pod.namespace, pod.name)
            pod.request_stop(int(grace) if grace is not None else None)

    def _pod_handlers(self) -> tuple[Any, Any]:
        async def on_sync(items: list[dict[str, Any]]) -> None:
            present = {(i["metadata"].get("namespace"), i["metadata"].get("name")): i for i in items}
            for item in items:
                self._on_pod(item, deleted=False)
            for pod in self.local_pods():
                if pod.uid and (pod.namespace, pod.name) not in present:
                    self._on_pod({"metadata": {"namespace": pod.namespace, "name": pod.name, "uid": pod.uid}}, True)

        async def on_event(type_: str, obj: dict[str, Any]) -> None:
            self._on_pod(obj, deleted=type_ == "DELETED")

        return on_sync, on_event

    async def _delete_leftovers(self, client: KubeClient) -> None:
        """Pods bound to this runner's node by an earlier run (it is not running them any more)."""
        listed = await client.list(
            resource_path("v1", "pods", self.settings.namespace),
            field_selector=f"spec.nodeName={self.settings.node_name}",
        )
        for item in listed.get("items") or []:
            meta = item["metadata"]
            log.info("deleting leftover pod %s/%s of an earlier run", meta["namespace"], meta["name"])
            await delete_quietly(client, resource_path("v1", "pods", meta["namespace"], meta["name"]), grace=0)

    async def _scan_host_ports(self) -> None:
        assert self.ctx is not None
        while True:
            await asyncio.sleep(self.settings.host_scan_interval)
            listeners = host_listeners()
            listeners.setdefault(self.ctx.api.port, "127.0.0.1")
            self.ctx.host_listeners = listeners
            for pod in self.local_pods():
                if pod.network.isolated and pod.running:
                    try:
                        await pod.network.mirror(listeners)
                    except OSError as exc:
                        log.debug("pod %s/%s: mirroring host ports: %s", pod.namespace, pod.name, exc)

    # the run -----------------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        self._background = set()
        settings = self.settings
        config = KubeConfig.load(settings.kubeconfig)
        ca_pem = config.ca_data or (await asyncio.to_thread(_read_text, config.ca_file) if config.ca_file else "")
        if not ca_pem:
            log.warning("the kubeconfig has no CA certificate: pods get an empty ca.crt (in-cluster TLS will fail)")
        api = ApiEndpoint.from_server(config.server)
        ensure_state_dir(settings.state_dir)
        isolating = await asyncio.to_thread(detect_isolation, settings, api)
        sockets = NamespaceSockets() if isolating.net_ns else None
        async with KubeClient(config, user_agent="perpdex-pod-runner") as client:
            events = EventRecorder(client, settings.node_name)
            self.ctx = RunnerContext(
                settings=settings,
                client=client,
                events=events,
                isolating=isolating,
                api=api,
                ca_pem=ca_pem or "",
                runner_id=f"{os.uname().nodename}-{os.getpid()}",
                sockets=sockets,
            )
            tasks: list[asyncio.Task[None]] = []
            try:
                await self._delete_leftovers(client)
                for kind in PLURALS:
                    on_sync, on_event = self._workload_handlers(kind)
                    tasks.append(
                        asyncio.create_task(
                            informer(
                                client,
                                self._workload_path(kind),
                                kind,
                                on_sync,
                                on_event,
                                label_selector=settings.selector or None,
                            )
                        )
                    )
                pod_sync, pod_event = self._pod_handlers()
                tasks.append(
                    asyncio.create_task(
                        informer(
                            client,
                            resource_path("v1", "pods", settings.namespace),
                            "Pod",
                            pod_sync,
                            pod_event,
                            field_selector=f"spec.nodeName={settings.node_name}",
                        )
                    )
                )
                if isolating.net_ns:
                    tasks.append(asyncio.create_task(self._scan_host_ports()))
                scope = f"namespace {settings.namespace}" if settings.namespace else "all namespaces"
                mode = (
                    "mount+network namespaces"
                    if isolating.net_ns
                    else ("mount namespace, host network" if isolating.mount_ns else "no namespaces (fallback)")
                )
                log.info(
                    "%s: %s, selector %r, %s, state in %s",
                    READY_LINE,
                    scope,
                    settings.selector,
                    mode,
                    settings.state_dir,
                )
                await stop.wait()
                log.info("stopping: every pod gets its grace period")
            finally:
                await cancel_all(tasks)
                controllers = list(self.controllers.values())
                self.controllers.clear()
                await asyncio.gather(*(c.close(update_status=True) for c in controllers), return_exceptions=True)
                if self._background:
                    await asyncio.gather(*list(self._background), return_exceptions=True)
                await events.flush()
                if sockets is not None:
                    sockets.close()
        log.info("pod runner stopped")
        return 0


def _read_text(path: str) -> str:
    return Path(path).read_text()


# CLI -----------------------------------------------------------------------------------------------------------------
def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="perpdex dev pod-runner",
        description="Run the pods of the operator's StatefulSets/Deployments as local processes (test/demo harness).",
    )
    p.add_argument("--namespace", "-n", default=None, help="only this namespace (default: all namespaces)")
    p.add_argument("--all-namespaces", "-A", action="store_true", help="every namespace (the default)")
    p.add_argument("--selector", "-l", default=DEFAULT_SELECTOR, help=f"workload label selector ({DEFAULT_SELECTOR})")
    p.add_argument(
        "--state-dir", type=Path, default=default_state_dir(), help="pod logs and files (default %(default)s)"
    )
    p.add_argument("--kubeconfig", default=None, help="kubeconfig (default: $KUBECONFIG)")
    p.add_argument(
        "--isolation",
        choices=["auto", "namespaces", "none"],
        default="auto",
        help="private mount/network/UTS namespace per pod (auto: when permitted, else the fallback)",
    )
    p.add_argument("--node-name", default=DEFAULT_NODE, help="spec.nodeName of the pods (default %(default)s)")
    p.add_argument("--backoff-initial", type=float, default=10.0, help="first CrashLoopBackOff delay, seconds")
    p.add_argument("--backoff-max", type=float, default=300.0, help="longest CrashLoopBackOff delay, seconds")
    p.add_argument("--config-retry", type=float, default=5.0, help="retry period of a pod that cannot start, seconds")
    p.add_argument("--image-uid", type=int, default=None, help="user of containers without runAsUser (default: own)")
    p.add_argument("--image-gid", type=int, default=None, help="group of containers without runAsGroup (default 0)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _settings(args: argparse.Namespace) -> RunnerSettings:
    return RunnerSettings(
        namespace=None if args.all_namespaces else args.namespace,
        selector=args.selector,
        state_dir=args.state_dir.resolve(),
        kubeconfig=args.kubeconfig,
        isolation=args.isolation,
        node_name=args.node_name,
        backoff_initial=args.backoff_initial,
        backoff_max=max(args.backoff_max, args.backoff_initial),
        config_retry=args.config_retry,
        image_uid=args.image_uid,
        image_gid=args.image_gid,
    )


def _dump_tasks() -> None:
    """SIGUSR1: log what every task is waiting for (debugging a stuck runner)."""
    for task in asyncio.all_tasks():
        chain: list[str] = []
        coro: Any = task.get_coro()
        while coro is not None and len(chain) < 20:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        log.warning("task %s: %s", task.get_name(), " -> ".join(chain) or "(done)")


async def _serve(settings: RunnerSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
    try:
        return await PodRunner(settings).run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            loop.remove_signal_handler(sig)


def run_main(argv: list[str]) -> int:
    args = _run_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        print(f"perpdex dev pod-runner: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve(settings))
    except (RunnerError, ConfigError) as exc:
        print(f"perpdex dev pod-runner: {exc}", file=sys.stderr)
        return 1
    except (ApiError, httpx.HTTPError) as exc:
        print(f"perpdex dev pod-runner: the API server failed: {exc}", file=sys.stderr)
        return 1


def logs_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="perpdex dev pod-runner logs", description="print a local pod's log")
    p.add_argument("pod", help="NAMESPACE/POD")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing what the pod writes")
    p.add_argument("--state-dir", type=Path, default=default_state_dir())
    args = p.parse_args(argv)
    namespace, _, name = str(args.pod).partition("/")
    if not namespace or not name:
        print("perpdex dev pod-runner logs: give the pod as NAMESPACE/POD", file=sys.stderr)
        return 2
    path = args.state_dir / namespace / f"{name}.log"
    if not path.is_file():
        known = sorted(f"{namespace}/{q.stem}" for q in (args.state_dir / namespace).glob("*.log"))
        hint = f"; known pods: {', '.join(known)}" if known else ""
        print(f"perpdex dev pod-runner logs: no log for {namespace}/{name} in {args.state_dir}{hint}", file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                out.write(chunk)
                continue
            out.flush()
            if not args.follow:
                return 0
            try:
                time.sleep(0.5)
            except KeyboardInterrupt:
                return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "logs":
        return logs_main(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]
    return run_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
