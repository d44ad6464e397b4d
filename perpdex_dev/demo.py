"""``perpdex dev demo up|down`` (``make demo`` / ``make demo-down``): the whole product on paper venues.

``up`` starts a local control plane, installs the CRDs, starts PostgreSQL, migrates and serves the funding service,
starts the local pod runner with the paper exchange's Deployment (the paper venues the bot and the collector use; its
migrate initContainer applies its schema), runs the operator, applies a paper FundingCollector and a paper grid
TradingBot, waits until the bot is Running with its PnL moving, and prints ``kubectl get tradingbots,fundingcollectors``. Everything keeps
running in the background until ``down``, which deletes the TradingBots first (their onStop reaches the paper
exchange) and then stops the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from perpdex_dev.control_plane import REPO_ROOT
from perpdex_dev.stack import BIN_DIR, LocalStack, StackError

# Pods run as a non-root user (uid 10001) and read their volumes from the run dir: keep it out of a 0700 home.
RUN_DIR = Path(os.environ.get("PERPDEX_RUN_DIR", Path(tempfile.gettempdir()) / f"perpdex-{os.getuid()}")) / "demo"
BOT = "paper-btc-grid"
COLLECTOR = "paper-dexes"


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def _status(stack: LocalStack, kind: str, name: str) -> dict[str, object]:
    out = stack.kubectl("get", kind, name, "-n", stack.namespace, "-o", "json", check=False)
    if out.returncode != 0:
        return {}
    status: dict[str, object] = json.loads(out.stdout).get("status") or {}
    return status


Status = dict[str, object]


def _wait_for(stack: LocalStack, what: str, timeout: float, check: Callable[[], Status | None]) -> Status:
    deadline = time.monotonic() + timeout
    shown = ""
    while time.monotonic() < deadline:
        status = check()
        if status:
            return status
        for name in ("operator", "pod-runner", "funding-service"):
            if not stack.alive(name):
                raise StackError(f"{name} exited; see {stack.run_dir / (name + '.log')}")
        line = stack.kubectl(
            "get", "tradingbots,fundingcollectors", "-n", stack.namespace, "--no-headers", check=False
        ).stdout.strip()
        if line != shown:
            print(line, flush=True)
            shown = line
        time.sleep(2)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")


def up(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if (run_dir / "stack.json").exists():
        print(f"a demo is already running (state in {run_dir}); `make demo-down` first", file=sys.stderr)
        return 1
    run_dir.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(run_dir=run_dir, namespace=args.namespace)
    started = time.monotonic()
    try:
        say("starting a local control plane (etcd + kube-apiserver)")
        stack.start_control_plane(os.environ.get("KUBECONFIG") if args.use_kubeconfig else None)
        say("installing the CRDs")
        stack.install_crds()
        say("starting PostgreSQL (throwaway cluster)")
        stack.start_postgres()
        say("migrating and starting the funding service")
        stack.start_funding_service()
        say(
            "starting the pod runner and the paper exchange's Deployment (paper venues whose accounts outlive the bots)"
        )
        stack.start_paper_exchange()
        stack.prepare_namespace()
        say(f"starting the operator (namespace {stack.namespace})")
        stack.start_operator()
        stack.start_pod_runner()
        say("applying a paper FundingCollector and a paper grid TradingBot")
        for manifest in ("paper-collector.yaml", "paper-grid.yaml"):
            stack.kubectl("apply", "-n", stack.namespace, "-f", str(REPO_ROOT / "examples" / manifest))
        applied = time.monotonic()

        def running() -> Status | None:
            s = _status(stack, "tradingbot", BOT)
            return s if s.get("phase") == "Running" else None

        _wait_for(stack, "the bot to be Running", args.timeout, running)
        running_after = time.monotonic() - applied
        say(f"bot Running {running_after:.1f}s after kubectl apply; waiting for it to trade")

        def traded() -> Status | None:
            s = _status(stack, "tradingbot", BOT)
            round_trip = str(s.get("realizedPnl") or "0").strip("0.-") != ""
            return s if round_trip and s.get("phase") == "Running" else None

        _wait_for(stack, "the bot's first round trip (realized PnL moving)", args.timeout, traded)

        def collected() -> Status | None:
            s = _status(stack, "fundingcollector", COLLECTOR)
            return s if s.get("lastCycle") else None

        _wait_for(stack, "the collector's first cycle", args.timeout, collected)
    except (StackError, KeyboardInterrupt) as exc:
        print(f"demo failed: {exc}\nlogs: {run_dir}/*.log; stopping what was started", file=sys.stderr)
        stack.stop()
        return 1
    print(stack.kubectl("get", "tradingbots,fundingcollectors", "-n", stack.namespace).stdout)
    say("kubectl perpdex list")
    print(stack.kubectl("perpdex", "list", "-n", stack.namespace).stdout)
    say(f"everything is up ({time.monotonic() - started:.0f}s). It keeps running in the background:")
    print(f"""
  funding dashboard: {stack.funding_url}/ui/

  export KUBECONFIG={stack.kubeconfig} PATH={stack.assets}:{BIN_DIR}:$PATH
  kubectl get tb -n {stack.namespace} -w                # PnL and position move as the paper market does
  kubectl perpdex list                                  # every bot and collector, rounded for people
  kubectl perpdex describe {BOT} -n {stack.namespace}   # figures, conditions, pod and events on one screen
  kubectl perpdex logs {BOT} -n {stack.namespace} -f    # the bot's log
  curl -s '{stack.funding_url}/api/v1/opportunities?limit=3'
  logs: {run_dir}/*.log and {run_dir}/pods/

Stop everything (no process is left behind):  make demo-down
""")
    return 0


def down(args: argparse.Namespace) -> int:
    if not (args.run_dir / "stack.json").exists():
        print("no demo running", file=sys.stderr)
        return 0
    stack = LocalStack.load(args.run_dir)
    say(
        "deleting the bots and waiting for their pods (each applies its onStop on the paper exchange), then stopping the"
        " paper exchange, the collector, the operator, the funding service, PostgreSQL, the control plane"
    )
    stack.stop()
    say("demo stopped")
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="perpdex dev demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR)
    parser.add_argument("--namespace", default="perpdex-demo")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for each milestone")
    parser.add_argument(
        "--use-kubeconfig",
        action="store_true",
        help="use the cluster of $KUBECONFIG instead of starting a local control plane",
    )
    args = parser.parse_args(argv)
    return up(args) if args.action == "up" else down(args)
