"""``perpdex dev``: developer helpers (never part of the deployed product).

perpdex dev control-plane up|down|env    a real etcd + kube-apiserver on loopback (detached)
perpdex dev postgres up|down|env         a throwaway PostgreSQL server (detached)
perpdex dev pod-runner ...               run the operator's pod templates as local processes
perpdex dev demo up|down                 everything `make demo` runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

RUN_DIR = Path(os.environ.get("PERPDEX_RUN_DIR", Path.home() / ".cache" / "perpdex" / "run"))


def _cp_state(run_dir: Path) -> Path:
    return run_dir / "control-plane" / "state.json"


def control_plane(args: argparse.Namespace) -> int:
    from perpdex_dev.control_plane import ControlPlane, ControlPlaneError, assets_dir

    run_dir: Path = args.run_dir
    state = _cp_state(run_dir)
    if args.action == "up":
        if state.exists():
            cp = ControlPlane.load_state(state)
            print(
                f"control plane already running (state {state}); `perpdex dev control-plane down` first",
                file=sys.stderr,
            )
            print(f"export KUBECONFIG={cp.kubeconfig}")
            return 1
        workdir = state.parent
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        try:
            cp = ControlPlane.create(workdir=workdir, assets=assets_dir())
            cp.start()
        except ControlPlaneError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            print(f"error: {exc}", file=sys.stderr)
            return 1
        cp.save_state(state)
        print(f"kube-apiserver ready at {cp.server} (logs in {workdir / 'logs'})", file=sys.stderr)
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print(f"export PATH={cp.assets}:$PATH")
        return 0
    if args.action == "env":
        if not state.exists():
            print("control plane not running", file=sys.stderr)
            return 1
        cp = ControlPlane.load_state(state)
        print(f"export KUBECONFIG={cp.kubeconfig}")
        print(f"export PATH={cp.assets}:$PATH")
        return 0
    # down
    if not state.exists():
        print("control plane not running", file=sys.stderr)
        return 0
    cp = ControlPlane.load_state(state)
    cp.own_workdir = True
    cp.stop()
    print("control plane stopped", file=sys.stderr)
    return 0


def postgres(args: argparse.Namespace) -> int:
    from perpdex_dev.postgres import PostgresCluster

    # the data dir lives in a temp dir (as root it belongs to the `postgres` user, who cannot enter $HOME);
    # its whereabouts are kept in the run dir
    doc_path = args.run_dir / "postgres.json"
    if args.action == "up":
        if doc_path.exists():
            print(json.loads(doc_path.read_text())["dsn"])
            return 0
        cluster = PostgresCluster()
        cluster.start()
        doc = {"dsn": cluster.dsn, "port": cluster.port, "workdir": str(cluster.workdir), "bindir": str(cluster.bindir)}
        doc_path.write_text(json.dumps(doc))
        print(cluster.dsn)
        return 0
    if not doc_path.exists():
        print("postgres not running", file=sys.stderr)
        return 0 if args.action == "down" else 1
    doc = json.loads(doc_path.read_text())
    if args.action == "env":
        print(doc["dsn"])
        return 0
    cluster = PostgresCluster(
        workdir=Path(doc["workdir"]), port=doc["port"], bindir=Path(doc["bindir"]), _initialised=True
    )
    cluster.destroy()
    doc_path.unlink()
    print("postgres stopped", file=sys.stderr)
    return 0


def _delegate(module: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        entry: Callable[[list[str]], int] = importlib.import_module(module).main
        return entry(list(args.rest))

    return run


def _pod_runner_argv(argv: list[str]) -> list[str] | None:
    """The pod runner's own argv when the command is ``pod-runner`` (argparse.REMAINDER would reject a leading
    ``--option`` such as ``pod-runner --namespace=x``, so it is handed over before parsing)."""
    i = 0
    while i < len(argv) and argv[i].startswith("--run-dir"):
        i += 1 if "=" in argv[i] else 2
    if i < len(argv) and argv[i] == "pod-runner":
        return argv[i + 1 :]
    return None


def main(argv: list[str]) -> int:
    pod_runner = _pod_runner_argv(argv)
    if pod_runner is not None:
        return _delegate("perpdex_dev.pod_runner.runner")(argparse.Namespace(rest=pod_runner))
    parser = argparse.ArgumentParser(
        prog="perpdex dev", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run-dir", type=Path, default=RUN_DIR, help=f"state of detached helpers (default {RUN_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)
    cp = sub.add_parser("control-plane", help="a real etcd + kube-apiserver on loopback")
    cp.add_argument("action", choices=["up", "down", "env"])
    cp.set_defaults(func=control_plane)
    pg = sub.add_parser("postgres", help="a throwaway PostgreSQL server")
    pg.add_argument("action", choices=["up", "down", "env"])
    pg.set_defaults(func=postgres)
    for name, module, help_ in (
        (
            "pod-runner",
            "perpdex_dev.pod_runner.runner",
            "run the operator's pod templates as local processes (test/demo harness)",
        ),
        ("demo", "perpdex_dev.demo", "the whole product locally on paper venues: `up` or `down`"),
    ):
        p = sub.add_parser(name, help=help_, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=_delegate(module))
    args = parser.parse_args(argv)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)
