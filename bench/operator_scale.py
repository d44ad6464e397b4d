"""Operator convergence and steady state at scale (issue 12, item 1).

A dedicated local control plane (etcd + kube-apiserver, audit log on) runs the CRDs. For each N (50, 200, 1000):

* **baseline**: the same 7 x N child objects the operator would make (ConfigMap, ServiceAccount, Role, RoleBinding,
  Service, StatefulSet, Lease per bot, built by the operator's own builders) are created directly by one asyncio
  client (``bot_runtime.kube.KubeClient``, at most 64 requests in flight) as fast as the API server takes them;
* **operator**: a fresh ``perpdex operator`` process watches a fresh namespace; N paper TradingBots are created at
  once; the clock stops when every bot's status carries ``observedGeneration`` (seen on a watch) and all 7 x N
  children exist. Its peak RSS (``VmHWM``) and CPU seconds (utime + stime) come from ``/proc``; its API requests from
  the audit log.

The operators of the convergence runs keep the product's default intervals. Then, over the largest N that converged,
a fresh operator is started with a short resync (``--resync-interval-seconds``, default 30 s, so full resyncs fall
inside the window); after its resume pass it is left alone for a window: the API requests it makes per minute when
nothing changes (target: zero writes), and the writes its restart made.

``python -m bench.operator_scale [--quick] [--sizes 50,200,1000] [--window 60] [--resync 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.common import (
    PYTHON,
    REPO_ROOT,
    BenchError,
    ProcSample,
    Table,
    Target,
    base_parser,
    command_line,
    load_note,
    own_cpu_seconds,
    proc_sample,
    run_module,
    start_server,
    stop_process,
)
from bench.kube_audit import AUDIT_POLICY, BENCH_AGENT, AuditLog, Tally, audit_flags
from bot_runtime.kube import Gone, KubeClient, KubeConfig, resource_path
from perpdex_dev.control_plane import ADMIN_USER, ControlPlane, assets_dir
from perpdex_dev.exit_cleanup import stop_at_exit

MODULE = "bench.operator_scale"
API = "perpdex.io/v1alpha1"
IMAGE = "registry.bench/perpdex:bench"
FUNDING_URL = "http://funding.bench:8000"
CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "configmaps"),
    ("v1", "serviceaccounts"),
    ("rbac.authorization.k8s.io/v1", "roles"),
    ("rbac.authorization.k8s.io/v1", "rolebindings"),
    ("v1", "services"),
    ("apps/v1", "statefulsets"),
    ("coordination.k8s.io/v1", "leases"),
    ("policy/v1", "poddisruptionbudgets"),
)
CHILDREN_PER_BOT = len(CHILD_KINDS)
CONCURRENCY = 64  # KubeClient's connection pool


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "operator: convergence of N TradingBots vs. direct creates; steady state")
    p.add_argument("--sizes", type=_sizes, default=None, help="comma-separated N (default 50,200,1000; quick 50)")
    p.add_argument("--window", type=float, default=None, help="steady-state window, seconds (default 60; quick 30)")
    p.add_argument(
        "--settle", type=float, default=None, help="seconds from the operator's restart to the window (30 + 0.1 s/bot)"
    )
    p.add_argument("--resync", type=float, default=30.0, help="--resync-interval-seconds of the steady-state operator")
    p.add_argument("--timeout", type=float, default=None, help="max seconds to converge (default 90 + 0.3 s per bot)")
    p.add_argument(
        "--operator-profile",
        type=Path,
        metavar="DIR",
        help="run each operator under cProfile, writing DIR/operator-N.prof (diagnosis only: slows the operator)",
    )
    return p


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes wants integers like 50,200,1000, got {text!r}") from None
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError("--sizes wants positive integers")
    return sizes


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    if args.sizes is None:
        args.sizes = [50] if args.quick else [50, 200, 1000]
    if args.window is None:
        args.window = 30.0 if args.quick else 60.0
    return args


def paper_spec() -> dict[str, Any]:
    doc = yaml.safe_load((REPO_ROOT / "examples" / "paper-grid.yaml").read_text())
    spec: dict[str, Any] = doc["spec"]
    return spec


def bot_name(i: int) -> str:
    return f"bot-{i:04d}"


def bot_manifest(i: int, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": API, "kind": "TradingBot", "metadata": {"name": bot_name(i)}, "spec": spec}


def baseline_children(namespace: str, n: int, spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The children the operator would make for N bots, built by its own builders (owner uids are made up)."""
    from perpdex_operator.builders.tradingbot import build_tradingbot_children
    from perpdex_operator.settings import OperatorSettings

    settings = OperatorSettings(namespaces=[namespace], image=IMAGE, funding_service_url=FUNDING_URL)
    out: list[dict[str, Any]] = []
    for i in range(n):
        owner = {
            "apiVersion": API,
            "kind": "TradingBot",
            "metadata": {"name": bot_name(i), "namespace": namespace, "uid": str(uuid.uuid4()), "generation": 1},
            "spec": spec,
        }
        children = build_tradingbot_children(owner, settings)
        out.extend([*children.applied, *children.created])
    return out


def child_collection(manifest: dict[str, Any]) -> str:
    from perpdex_operator.children import child_path

    return child_path(manifest, collection=True)


async def bounded(items: Iterable[Any], work: Callable[[Any], Awaitable[None]], limit: int) -> None:
    sem = asyncio.Semaphore(limit)

    async def one(item: Any) -> None:
        async with sem:
            await work(item)

    await asyncio.gather(*(one(i) for i in items))


# ---------------------------------------------------------------------------------------------------------------------
# the pieces


@dataclass
class Cluster:
    cp: ControlPlane
    audit: AuditLog
    config: KubeConfig
    workdir: Path

    def kubectl(self, *args: str) -> str:
        out = subprocess.run(
            ["kubectl", *args], env=self.cp.env(), capture_output=True, text=True, timeout=120, check=False
        )
        if out.returncode != 0:
            raise BenchError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def apiserver(self) -> ProcSample:
        return proc_sample(self.cp.pids["kube-apiserver"])

    def client(self) -> KubeClient:
        return KubeClient(self.config, user_agent=BENCH_AGENT)


@contextlib.contextmanager
def cluster() -> Any:
    workdir = Path(tempfile.mkdtemp(prefix="perpdex-bench-op-"))
    policy, log = workdir / "audit-policy.yaml", workdir / "audit.log"
    policy.write_text(AUDIT_POLICY)
    cp = ControlPlane.create(assets=assets_dir(), extra_args=audit_flags(policy, log))
    done = stop_at_exit(cp.stop)
    try:
        cp.start()
        c = Cluster(cp, AuditLog(log), KubeConfig.load(cp.kubeconfig), workdir)
        crds = sorted(str(p) for p in (REPO_ROOT / "crds").glob("*.yaml"))
        for crd in crds:
            c.kubectl("apply", "--server-side", "--force-conflicts", "-f", crd)
        c.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"-f={x}" for x in crds))
        yield c
    finally:
        cp.stop()
        done()
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class OperatorProc:
    proc: subprocess.Popen[bytes]
    log: Path
    grace: float = 30.0  # a profiled operator needs longer to stop and write its profile

    def sample(self) -> ProcSample:
        return proc_sample(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc, grace=self.grace)


def start_operator(c: Cluster, namespace: str, resync: float | None, profile: Path | None = None) -> OperatorProc:
    """``perpdex operator`` on one namespace; ``resync=None`` keeps the product's default intervals. Its /metrics is
    off (the audit log counts its requests)."""
    prefix = [PYTHON, "-m", "cProfile", "-o", str(profile)] if profile else [PYTHON]

    def argv(liveness: int) -> list[str]:
        return [
            *prefix,
            "-m",
            "bot_runtime.cli",
            "operator",
            f"--namespace={namespace}",
            "--standalone",
            f"--image={IMAGE}",
            f"--funding-service-url={FUNDING_URL}",
            f"--liveness-port={liveness}",
            "--metrics-port=0",
            *([f"--resync-interval-seconds={resync:g}"] if resync is not None else []),
        ]

    log = c.workdir / f"operator-{namespace}.log"
    try:
        proc, _, _ = start_server(argv, c.cp.env(), log, "/healthz", timeout=90, interval=0.2)
    except BenchError as exc:
        raise BenchError(
            f"operator did not become healthy ({exc}):\n{log.read_text(errors='replace')[-3000:]}"
        ) from None
    return OperatorProc(proc, log, grace=180.0 if profile else 30.0)


@dataclass
class StatusWatch:
    """Watches the TradingBots of a namespace; notes when each one's status first carries its observedGeneration."""

    client: KubeClient
    namespace: str
    expected: int
    observed: dict[str, float] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        path = resource_path(API, "tradingbots", self.namespace)
        while True:
            listing = await self.client.list(path)
            for obj in listing.get("items") or []:
                self._see(obj)
            rv = listing["metadata"]["resourceVersion"]
            self.started.set()
            try:
                async for event in self.client.watch(path, resource_version=rv, timeout_seconds=1800):
                    if event.get("type") in ("ADDED", "MODIFIED"):
                        self._see(event["object"])
            except Gone:
                continue

    def _see(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        status = obj.get("status") or {}
        name = str(meta.get("name"))
        if name not in self.observed and status.get("observedGeneration") == meta.get("generation"):
            self.observed[name] = time.perf_counter()
            if len(self.observed) >= self.expected:
                self.complete.set()


def expected_children(name: str) -> dict[str, str]:
    """plural -> the child's name, for one bot."""
    names = {"configmaps": f"{name}-config", "serviceaccounts": f"{name}-bot", "roles": f"{name}-bot"}
    names["rolebindings"] = f"{name}-bot"
    return {plural: names.get(plural, name) for _, plural in CHILD_KINDS}


async def children_state(client: KubeClient, namespace: str, n: int) -> tuple[set[str], dict[str, int]]:
    """The bots whose children (one of each of CHILD_KINDS) all exist, and how many children of each kind exist."""
    present: dict[str, set[str]] = {}
    for api_version, plural in CHILD_KINDS:
        got = await client.list(resource_path(api_version, plural, namespace))
        present[plural] = {str(o["metadata"]["name"]) for o in got.get("items") or []}
    complete = {
        bot_name(i)
        for i in range(n)
        if all(child in present[plural] for plural, child in expected_children(bot_name(i)).items())
    }
    counts = {plural: len(names) for plural, names in present.items()}
    return complete, counts


# ---------------------------------------------------------------------------------------------------------------------
# one size


@dataclass
class SizeResult:
    n: int
    baseline_seconds: float
    baseline_client_cpu: float
    baseline_apiserver_cpu: float
    operator_seconds: float  # until converged, or until the timeout
    converged: int  # bots with their status written AND all their children
    with_status: int
    children: int  # children present at the end
    operator_idle: ProcSample
    operator_after: ProcSample
    operator_cpu: float
    operator_apiserver_cpu: float
    requests: Tally
    creates_seconds: float  # how long creating the N TradingBots took (inside operator_seconds)

    @property
    def done(self) -> bool:
        return self.converged == self.n


def default_timeout(n: int) -> float:
    return 90 + 0.3 * n


def default_settle(n: int) -> float:
    """Time for a restarted operator's resume pass over N bots before the steady-state window opens."""
    return 30 + 0.1 * n


def operator_profile(args: argparse.Namespace, label: str) -> Path | None:
    if not args.operator_profile:
        return None
    args.operator_profile.mkdir(parents=True, exist_ok=True)
    path: Path = args.operator_profile.resolve() / f"operator-{label}.prof"
    return path


async def run_size(
    c: Cluster, n: int, spec: dict[str, Any], args: argparse.Namespace
) -> tuple[SizeResult, OperatorProc, str]:
    run_id = uuid.uuid4().hex[:5]
    base_ns, op_ns = f"bench-base-{n}-{run_id}", f"bench-op-{n}-{run_id}"
    async with c.client() as client:
        for ns in (base_ns, op_ns):
            await client.create(resource_path("v1", "namespaces"), {"metadata": {"name": ns}})

        # baseline: direct creates of the same children
        manifests = baseline_children(base_ns, n, spec)

        async def create_child(manifest: dict[str, Any]) -> None:
            await client.create(child_collection(manifest), manifest)

        api0, cpu0 = c.apiserver().cpu_seconds, own_cpu_seconds()
        t0 = time.perf_counter()
        await bounded(manifests, create_child, CONCURRENCY)
        baseline_seconds = time.perf_counter() - t0
        baseline_cpu, baseline_api = own_cpu_seconds() - cpu0, c.apiserver().cpu_seconds - api0

        # the operator, with the product's default intervals
        op = start_operator(c, op_ns, None, operator_profile(args, str(n)))
        try:
            await asyncio.sleep(2)  # let its watches settle: idle figures
            idle = op.sample()
            watch = StatusWatch(client, op_ns, n)
            watcher = asyncio.create_task(watch.run())
            await asyncio.wait_for(watch.started.wait(), 30)
            c.audit.mark()
            api0 = c.apiserver().cpu_seconds
            path = resource_path(API, "tradingbots", op_ns)

            async def create_bot(i: int) -> None:
                await client.create(path, bot_manifest(i, spec))

            t0 = time.perf_counter()
            await bounded(range(n), create_bot, CONCURRENCY)
            creates_seconds = time.perf_counter() - t0
            deadline = t0 + (args.timeout or default_timeout(n))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watch.complete.wait(), max(1.0, deadline - time.perf_counter()))
            done_at: float | None = max(watch.observed.values(), default=None)
            while True:  # the status is written after the children: normally they are all there already
                complete, counts = await children_state(client, op_ns, n)
                if (len(watch.observed) == n and len(complete) == n) or time.perf_counter() > deadline:
                    break
                done_at = None
                await asyncio.sleep(1)
            if len(watch.observed) == n and len(complete) == n:
                done_at = done_at or time.perf_counter()
            else:
                done_at = time.perf_counter()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            after = op.sample()
            op_api = c.apiserver().cpu_seconds - api0
            requests = Tally.of(c.audit.since_mark(), user=ADMIN_USER)
        except BaseException:
            op.stop()
            raise
    result = SizeResult(
        n=n,
        baseline_seconds=baseline_seconds,
        baseline_client_cpu=baseline_cpu,
        baseline_apiserver_cpu=baseline_api,
        operator_seconds=done_at - t0,
        converged=len(set(watch.observed) & complete),
        with_status=len(watch.observed),
        children=sum(counts.values()),
        operator_idle=idle,
        operator_after=after,
        operator_cpu=after.cpu_seconds - idle.cpu_seconds,
        operator_apiserver_cpu=op_api,
        requests=requests,
        creates_seconds=creates_seconds,
    )
    return result, op, op_ns


def size_table(r: SizeResult, args: argparse.Namespace) -> Table:
    children = CHILDREN_PER_BOT * r.n
    t = Table(
        f"Operator convergence: N = {r.n} TradingBots (paper) applied at once, {children:,} children",
        f"the same {children:,} children created directly by one asyncio KubeClient, {CONCURRENCY} in flight "
        "(same API server, same run)",
        command=command_line(MODULE, ["--quick"] if args.quick else [f"--sizes={r.n}"]),
    )
    if not r.done:
        t.notes.append(
            f"NOT CONVERGED within {r.operator_seconds:.0f} s: {r.converged} of {r.n} bots complete, "
            f"{r.with_status} with a status, {r.children:,} of {children:,} children; the rate below is the partial one"
        )
    t.add("time to converge" if r.done else "time (timed out)", r.operator_seconds, "s", r.baseline_seconds)
    t.add(
        "children per second" + ("" if r.done else " (partial)"),
        r.children / r.operator_seconds,
        "obj/s",
        children / r.baseline_seconds,
        Target(">=", 0.5, "ratio") if r.n == 200 else None,
    )
    t.add(
        "operator peak RSS (VmHWM)",
        r.operator_after.peak_rss_mb,
        "MB",
        r.operator_idle.peak_rss_mb,
        Target("<", 200) if r.n >= 1000 else None,
        note="baseline: the same operator idle, before the bots",
    )
    t.add(
        "operator CPU while converging",
        r.operator_cpu,
        "CPU s",
        r.baseline_client_cpu,
        note="baseline: the direct client's CPU",
    )
    t.add("kube-apiserver CPU", r.operator_apiserver_cpu, "CPU s", r.baseline_apiserver_cpu)
    t.add("operator API requests", r.requests.total, "req", children, note="baseline: one create per child")
    t.add("operator API writes", r.requests.write_total, "req", children)
    t.notes.append(f"creating the {r.n} TradingBots took {r.creates_seconds:.1f} s of that time")
    t.notes.append(f"operator requests by verb: {r.requests.describe_verbs()}")
    t.notes.append(f"operator writes: {r.requests.describe_writes()}")
    t.notes.append(load_note())
    return t


async def steady_state(c: Cluster, namespace: str, n: int, args: argparse.Namespace) -> Table:
    """Restart the operator over N converged bots with a short resync; after its resume pass, count a quiet window."""
    settle = args.settle if args.settle is not None else default_settle(n)
    c.audit.mark()
    op = start_operator(c, namespace, args.resync, operator_profile(args, f"steady-{n}"))
    try:
        await asyncio.sleep(settle)
        restart = Tally.of(c.audit.since_mark(), user=ADMIN_USER)
        c.audit.mark()
        s0, api0 = op.sample(), c.apiserver().cpu_seconds
        await asyncio.sleep(args.window)
        s1, api1 = op.sample(), c.apiserver().cpu_seconds
        tally = Tally.of(c.audit.since_mark(), user=ADMIN_USER)
    finally:
        op.stop()
    per_min = 60.0 / args.window
    t = Table(
        f"Operator steady state: {n} converged bots, nothing changes, {args.window:.0f} s window "
        f"(resync every {args.resync:g} s, status every 10 s)",
        "none (target: zero writes)",
        command=command_line(MODULE, ["--quick"] if args.quick else []),
    )
    t.add("API writes per minute", tally.write_total * per_min, "req/min", target=Target("==", 0))
    t.add("API requests per minute", tally.total * per_min, "req/min")
    t.add("  of which get", tally.verbs["get"] * per_min, "req/min")
    t.add("  of which list", tally.verbs["list"] * per_min, "req/min")
    t.add("  of which watch (re)connects", tally.verbs["watch"] * per_min, "req/min")
    t.add("operator CPU", (s1.cpu_seconds - s0.cpu_seconds) / args.window * 100, "% of a core")
    t.add("kube-apiserver CPU", (api1 - api0) / args.window * 100, "% of a core")
    t.add("operator RSS", s1.rss_mb, "MB")
    t.add("writes by the restarted operator before the window", restart.write_total, "req")
    t.notes.append(
        f"a fresh operator (--resync-interval-seconds={args.resync:g}) was started over the {n} converged bots; "
        f"the window opened {settle:.0f} s later, after its resume pass ({restart.total:,} requests: "
        f"{restart.describe_verbs()}; writes: {restart.describe_writes()})"
    )
    t.notes.append(f"writes in the window: {tally.describe_writes()}")
    t.notes.append(load_note())
    return t


async def measure(args: argparse.Namespace) -> list[Table]:
    args = resolve(args)
    spec = paper_spec()
    tables: list[Table] = []
    steady: tuple[int, str] | None = None  # the largest size that converged, and its namespace
    with cluster() as c:
        for n in args.sizes:
            result, op, namespace = await run_size(c, n, spec, args)
            op.stop()
            tables.append(size_table(result, args))
            print(tables[-1].render(), "\n", file=sys.stderr, flush=True)
            if result.done and (steady is None or n > steady[0]):
                steady = (n, namespace)
        if steady is not None:
            tables.append(await steady_state(c, steady[1], steady[0], args))
    return tables


def run(args: argparse.Namespace) -> list[Table]:
    return asyncio.run(measure(args))


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
