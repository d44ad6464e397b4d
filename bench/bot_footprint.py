"""Bot process footprint (issue 12, item 4): memory and start-up time of ``perpdex bot`` on the paper venue, and what
each venue's code costs to import, each against a bare ``python -c pass`` interpreter measured in the same run.

* **paper bot**: ``perpdex bot --config examples/paper-grid.yaml`` (outside Kubernetes); start-up = spawn until
  ``/readyz`` answers 200; RSS (``VmRSS``) and peak RSS (``VmHWM``) after it has traded for a few seconds.
* **imports, fresh process each**: ``bot_runtime.runner`` alone, and with one venue: every module of its adapter
  package and what connecting imports of its SDK (what a single-exchange bot loads, nothing of the other venues):
  the SDK's top-level packages, or for paradex the signing modules its adapter imports (:data:`CONNECT_IMPORTS`);
  wall time to exit, and the peak RSS (``VmHWM``) the process prints about itself as it ends.
* **live-venue bots, estimated**: the venues are unreachable here, so a live bot cannot become ready; its RSS and
  start-up are estimated as the paper bot's plus the import difference between that venue and paper (network
  handshakes with the venue excluded).

``python -m bench.bot_footprint [--quick] [--repeat N]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    PYTHON,
    REPO_ROOT,
    REPORT_PEAK,
    BenchError,
    ExitFigures,
    Table,
    Target,
    base_parser,
    clean_env,
    command_line,
    load_note,
    median,
    print_tables,
    proc_sample,
    run_measured,
    start_server,
    stop_process,
    write_json,
)
from bot_runtime.exchanges.registry import VENUES

MODULE = "bench.bot_footprint"
PERPDEX = Path(PYTHON).parent / "perpdex"
PAPER_CONFIG = REPO_ROOT / "examples" / "paper-grid.yaml"
RSS_TARGET_MB = 120.0
#: what a venue's adapter imports of its SDK when it connects, where that is not the SDK's top-level packages
CONNECT_IMPORTS: dict[str, tuple[str, ...]] = {
    # only the signing modules of paradex-py / starknet-py (bot_runtime/exchanges/paradex/signing.py)
    "paradex": ("from bot_runtime.exchanges.paradex.signing import sdk", "sdk()"),
}
READY_TARGET_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "bot footprint: RSS and start-up of a paper bot; venue import costs")
    p.add_argument("--repeat", type=int, default=None, help="runs per figure, median kept (default 5, quick 3)")
    p.add_argument(
        "--run-seconds", type=float, default=None, help="how long the paper bot trades before its RSS is read"
    )
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.run_seconds is None:
        args.run_seconds = 3.0 if args.quick else 5.0
    return args


@dataclass(frozen=True)
class Figures:
    seconds: float
    rss_mb: float

    @classmethod
    def median_of(cls, runs: list[ExitFigures]) -> Figures:
        return cls(median([r.wall_seconds for r in runs]), median([r.peak_rss_mb for r in runs]))


def measure_python(code: str, repeat: int) -> Figures:
    """``python -c code`` in a fresh process: wall time to exit, and the process's own peak RSS (it prints its
    VmHWM at the end: ``ru_maxrss`` would include this benchmark's RSS copied at fork)."""
    env = clean_env()
    runs = [run_measured([PYTHON, "-c", code + REPORT_PEAK], env=env) for _ in range(repeat)]
    return Figures.median_of(runs)


@dataclass(frozen=True)
class BotRun:
    ready_seconds: float
    rss_mb: float
    peak_rss_mb: float


def run_paper_bot(workdir: Path, run_seconds: float) -> BotRun:
    env = clean_env(TMPDIR=str(workdir), PERPDEX_LOG_FORMAT="json")
    log = workdir / "bot.log"

    def argv(port: int) -> list[str]:
        return [
            str(PERPDEX),
            "bot",
            f"--config={PAPER_CONFIG}",
            f"--metrics-port={port}",
            "--metrics-host=127.0.0.1",
            f"--trade-log={workdir / f'trades-{port}.csv'}",
        ]

    proc, _, ready = start_server(argv, env, log, "/readyz", interval=0.005)
    try:
        time.sleep(run_seconds)
        if proc.poll() is not None:
            raise BenchError(f"the paper bot exited early: {log.read_text()[-2000:]}")
        sample = proc_sample(proc.pid)
    finally:
        stop_process(proc, grace=60)
    return BotRun(ready, sample.rss_mb, sample.peak_rss_mb)


def venue_imports() -> dict[str, tuple[str, tuple[str, ...]]]:
    """venue -> (its adapter module, the statements importing what connecting loads of its SDK)."""
    return {
        name: (spec.module, CONNECT_IMPORTS.get(name, tuple(f"import {sdk}" for sdk in spec.sdk_modules)))
        for name, spec in sorted(VENUES.items())
    }


def venue_import_code(module: str, sdk_imports: tuple[str, ...]) -> str:
    """Python source importing what a bot of this venue loads: the runtime, the adapter package with every submodule,
    and what its adapter imports of the SDK when it connects."""
    lines = [
        "import importlib, pkgutil",
        "import bot_runtime.runner",
        f"m = importlib.import_module({module!r})",
        "for info in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.'):",
        "    importlib.import_module(info.name)",
        *sdk_imports,
    ]
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> list[Table]:
    args = resolve(args)
    bare = measure_python("pass", args.repeat)
    with tempfile.TemporaryDirectory(prefix="perpdex-bench-bot-") as tmp:
        runs = [run_paper_bot(Path(tmp), args.run_seconds) for _ in range(args.repeat)]
    ready = median([r.ready_seconds for r in runs])
    rss = median([r.rss_mb for r in runs])
    peak = median([r.peak_rss_mb for r in runs])
    cmd = command_line(MODULE, ["--quick"] if args.quick else [])

    bot = Table(
        f"Paper bot process (perpdex bot --config examples/paper-grid.yaml), median of {args.repeat} runs",
        "a bare `python -c pass` interpreter (same run): its wall time to exit and its peak RSS",
        command=cmd,
    )
    bot.add("start-up to /readyz 200", ready, "s", bare.seconds, Target("<", READY_TARGET_S))
    bot.add(f"RSS after {args.run_seconds:g} s trading", rss, "MB", bare.rss_mb, Target("<", RSS_TARGET_MB))
    bot.add("peak RSS (VmHWM)", peak, "MB", bare.rss_mb, Target("<", RSS_TARGET_MB))
    bot.notes.append(load_note())

    imports = Table(
        f"Import cost in a fresh process, median of {args.repeat} runs",
        "a bare `python -c pass` interpreter (same run)",
        command=cmd,
    )
    runtime = measure_python("import bot_runtime.runner", args.repeat)
    imports.add("bot runtime alone (bot_runtime.runner): time", runtime.seconds, "s", bare.seconds)
    imports.add("bot runtime alone (bot_runtime.runner): peak RSS", runtime.rss_mb, "MB", bare.rss_mb)
    per_venue: dict[str, Figures] = {}
    for venue, (module, sdk_imports) in venue_imports().items():
        full = measure_python(venue_import_code(module, sdk_imports), args.repeat)
        per_venue[venue] = full
        imports.add(f"runtime + {venue} (adapter + SDK): time", full.seconds, "s", bare.seconds)
        imports.add(f"runtime + {venue} (adapter + SDK): peak RSS", full.rss_mb, "MB", bare.rss_mb)
    imports.notes.append(
        "runtime + venue = bot_runtime.runner, every module of the venue's adapter package and what the adapter imports "
        "of its SDK when connecting (the SDK's top-level packages; for paradex only its signing modules: "
        "bot_runtime.exchanges.paradex.signing.sdk()); the venue's own cost is the difference to the runtime alone"
    )
    imports.notes.append(load_note())

    estimate = Table(
        "Single-exchange bots, ESTIMATED (venues unreachable here): paper bot + (venue imports - paper imports)",
        "the paper bot measured above",
        command=cmd,
    )
    paper = per_venue["paper"]
    for venue, figures in per_venue.items():
        if venue == "paper":
            continue
        est_ready = ready + (figures.seconds - paper.seconds)
        est_rss = peak + (figures.rss_mb - paper.rss_mb)
        estimate.add(f"{venue} bot: start-up to ready (est.)", est_ready, "s", ready, Target("<", READY_TARGET_S))
        estimate.add(f"{venue} bot: peak RSS (est.)", est_rss, "MB", peak, Target("<", RSS_TARGET_MB))
    estimate.notes.append(
        "excludes the venue's own start-up traffic (markets, login, WebSocket subscribe): those need the venue"
    )
    return [bot, imports, estimate]


def run(args: argparse.Namespace) -> list[Table]:
    return measure(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tables = run(args)
    print_tables(tables)
    if args.json_path:
        write_json(args.json_path, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
