"""``python -m bench`` (``make bench``): every benchmark of issue 12, each printing its table with the ratio against a
baseline measured in the same run.

``python -m bench [--quick] [--only NAME[,NAME]] [--json FILE] [--markdown FILE]``

A benchmark that fails is reported and the others still run; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Protocol

from bench.common import REPO_ROOT, Table, describe_machine, machine_info, print_tables

# cheapest first: a smoke run shows something within seconds
BENCHMARKS: tuple[str, ...] = (
    "opportunities",
    "bot_footprint",
    "decision_latency",
    "ingest",
    "funding_service",
    "backtest",
    "paper_exchange",
    "operator_scale",
)


class BenchModule(Protocol):
    def build_parser(self) -> argparse.ArgumentParser: ...
    def run(self, args: argparse.Namespace) -> list[Table]: ...


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description="run every benchmark (issue 12)")
    p.add_argument("--quick", action="store_true", help="smoke run: smallest sizes, fewest requests")
    p.add_argument("--only", type=_names, default=list(BENCHMARKS), help=f"comma-separated subset of {BENCHMARKS}")
    p.add_argument("--json", dest="json_path", type=Path, help="write every table as JSON to this file")
    p.add_argument("--markdown", type=Path, help="write every table as Markdown to this file")
    return p


def _names(text: str) -> list[str]:
    names = [n.strip().replace("-", "_") for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    return names


def load(name: str) -> BenchModule:
    module: BenchModule = importlib.import_module(f"bench.{name}")
    return module


def revision() -> str:
    out = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() or "unknown"


def markdown(tables: list[Table], machine: str, rev: str, argv: list[str], elapsed: float) -> str:
    head = [
        f"Machine: {machine}.",
        "",
        f"Revision: `{rev}`; command: `.venv/bin/python -m bench {' '.join(argv)}`; {elapsed / 60:.1f} min in all.",
        "",
    ]
    return "\n".join(head) + "\n".join(t.to_markdown() for t in tables)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    machine, rev = describe_machine(), revision()
    print(f"perp-dex-operator benchmarks at {rev} on {machine}\n", flush=True)
    started = time.perf_counter()
    tables: list[Table] = []
    failed: list[str] = []
    for name in args.only:
        module = load(name)
        sub_args = module.build_parser().parse_args(["--quick"] if args.quick else [])
        t0 = time.perf_counter()
        print(f"-- {name} ...", flush=True)
        try:
            got = module.run(sub_args)
        except Exception:
            failed.append(name)
            print(f"-- {name} FAILED:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        print(f"-- {name}: {time.perf_counter() - t0:.0f} s\n", flush=True)
        print_tables(got)
        tables.extend(got)
    elapsed = time.perf_counter() - started
    print(f"all benchmarks: {elapsed / 60:.1f} min{'; FAILED: ' + ', '.join(failed) if failed else ''}", flush=True)
    if args.json_path:
        doc = {"machine": machine_info(), "revision": rev, "seconds": elapsed, "tables": [t.to_dict() for t in tables]}
        args.json_path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    if args.markdown:
        args.markdown.write_text(markdown(tables, machine, rev, argv, elapsed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
