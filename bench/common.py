"""What every benchmark shares: result tables (measured vs. a same-run baseline, the ratio, the target), the machine
description, process figures read from ``/proc`` (psutil is not a dependency), percentiles and small process helpers.

A benchmark module exposes ``build_parser()``, ``run(args) -> list[Table]`` and ``main(argv) -> int``; ``python -m
bench`` runs them all. Nothing here asserts a timing: the tables say what was measured and whether a target was met.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from perpdex_dev.exit_cleanup import stop_at_exit, unwind_on_sigterm

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")

Op = Literal["<", "<=", ">=", "=="]


class BenchError(RuntimeError):
    pass


On = Literal["value", "ratio"]


# ---------------------------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Target:
    """A goal from issue 12: ``value < 200`` (MB) or ``ratio >= 0.5`` (of the baseline)."""

    op: Op
    bound: float
    on: On = "value"

    def describe(self, unit: str = "") -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {fmt_number(self.bound)}"
        return f"{self.op} {fmt_number(self.bound)}{(' ' + unit) if unit else ''}"

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = ratio if self.on == "ratio" else value
        if subject is None or math.isnan(subject):
            return None
        if self.op == "<":
            return subject < self.bound
        if self.op == "<=":
            return subject <= self.bound
        if self.op == ">=":
            return subject >= self.bound
        return subject == self.bound


@dataclass(frozen=True)
class Row:
    """One figure. ``ratio`` = measured / baseline (for a rate: the share of the baseline's rate reached; for a
    latency, a size or a time: how many times the baseline's)."""

    label: str
    value: float
    unit: str = ""
    baseline: float | None = None
    target: Target | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0 or math.isnan(self.baseline) or math.isnan(self.value):
            return None
        return self.value / self.baseline

    @property
    def verdict(self) -> str:
        if self.target is None:
            return ""
        met = self.target.met(self.value, self.ratio)
        return "n/a" if met is None else ("met" if met else "MISSED")


@dataclass
class Table:
    title: str
    baseline: str  # what the baseline column is
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    command: str = ""

    def add(
        self,
        label: str,
        value: float,
        unit: str = "",
        baseline: float | None = None,
        target: Target | None = None,
        *,
        note: str = "",
    ) -> Row:
        row = Row(label, value, unit, baseline, target, note)
        self.rows.append(row)
        return row

    # rendering ------------------------------------------------------------------------------------------------------
    def cells(self) -> list[list[str]]:
        out = []
        for r in self.rows:
            ratio = r.ratio
            out.append(
                [
                    r.label,
                    fmt_value(r.value, r.unit),
                    "" if r.baseline is None else fmt_value(r.baseline, r.unit),
                    "" if ratio is None else f"{fmt_number(ratio)}x",
                    "" if r.target is None else r.target.describe(r.unit),
                    r.verdict,
                    r.note,
                ]
            )
        return out

    HEADER = ("metric", "measured", "baseline", "ratio", "target", "", "note")

    def render(self) -> str:
        rows = [list(self.HEADER), *self.cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self.HEADER))]
        lines = [f"== {self.title}", f"   baseline: {self.baseline}"]
        for i, row in enumerate(rows):
            lines.append("   " + "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("   " + "  ".join("-" * w for w in widths).rstrip())
        lines.extend(f"   * {n}" for n in self.notes)
        return "\n".join(lines)

    def to_markdown(self) -> str:
        def esc(s: str) -> str:
            return s.replace("|", "\\|")

        lines = [f"#### {self.title}", "", f"Baseline: {self.baseline}.", ""]
        if self.command:
            lines += [f"Command: `{self.command}`", ""]
        lines.append("| " + " | ".join(h or "verdict" for h in self.HEADER) + " |")
        lines.append("|" + "|".join(["---"] * len(self.HEADER)) + "|")
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.cells()]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["rows"] = [{**asdict(r), "ratio": r.ratio, "verdict": r.verdict} for r in self.rows]
        return data


def fmt_number(x: float) -> str:
    """Three significant digits, no exponent for everyday magnitudes: 0.0123, 1.23, 12.3, 1234, 12345."""
    if math.isnan(x):
        return "nan"
    if x == 0:
        return "0"
    mag = abs(x)
    if mag >= 1000:
        return f"{x:,.0f}"
    if mag >= 100:
        return f"{x:.0f}"
    if mag >= 10:
        return f"{x:.1f}"
    if mag >= 1:
        return f"{x:.2f}"
    if mag >= 0.001:
        return f"{x:.3g}"
    return f"{x:.2e}"


def fmt_value(value: float, unit: str) -> str:
    return f"{fmt_number(value)} {unit}".rstrip()


def print_tables(tables: Sequence[Table]) -> None:
    for t in tables:
        print(t.render(), flush=True)
        print(flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# the machine


def machine_info() -> dict[str, str]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
                break
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load1, load5, load15 = os.getloadavg()
    return {
        "nproc": str(os.cpu_count() or 0),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg": f"{load1:.2f} {load5:.2f} {load15:.2f}",
    }


def describe_machine() -> str:
    m = machine_info()
    return (
        f"{m['nproc']} CPU ({m['cpu']}), {m['memory']} RAM, Python {m['python']}, Linux {m['kernel']}, "
        f"load average {m['loadavg']}"
    )


def load_note() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    return f"load average (1 min) at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPU"


# ---------------------------------------------------------------------------------------------------------------------
# processes


@dataclass(frozen=True)
class ProcSample:
    rss_mb: float  # VmRSS
    peak_rss_mb: float  # VmHWM (high-water mark since start)
    cpu_seconds: float  # utime + stime


def proc_sample(pid: int) -> ProcSample:
    """Figures of a live process from ``/proc/<pid>/status`` and ``/proc/<pid>/stat``."""
    rss = hwm = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # the command name (field 2) may contain spaces: split after its closing parenthesis
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return ProcSample(rss_mb=rss, peak_rss_mb=hwm, cpu_seconds=(utime + stime) / CLK_TCK)


@dataclass(frozen=True)
class ExitFigures:
    wall_seconds: float
    max_rss_mb: float  # ru_maxrss: on Linux it includes the parent's RSS copied at fork, see peak_rss_mb
    cpu_seconds: float
    returncode: int
    stdout: str = ""

    @property
    def peak_rss_mb(self) -> float:
        """The child's own ``VmHWM`` when it printed its ``/proc/self/status`` (see :data:`REPORT_PEAK`), else NaN."""
        for line in self.stdout.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return math.nan


# appended to ``python -c`` code: the process prints its own peak RSS (VmHWM of its exec'd image) as it ends
REPORT_PEAK = "\nimport sys as _s\nwith open('/proc/self/status') as _f: _s.stdout.write(_f.read())\n"


def run_measured(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = 120) -> ExitFigures:
    """Run a short-lived command to its end; wall time, and CPU from ``wait4`` (the child's own rusage). Its stdout
    is kept (small outputs only: it is read after the exit)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT, start_new_session=True
    )
    deadline = start + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.perf_counter() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.001)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv)} exited with {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
    return ExitFigures(
        wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode, out.decode(errors="replace")
    )


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, *, timeout: float, interval: float = 0.05, alive: Callable[[], bool] | None = None) -> float:
    """Poll ``url`` until it answers 200; returns the seconds waited. ``alive`` ends the wait early (a dead process)."""
    start = time.perf_counter()
    last = "no answer"
    while time.perf_counter() - start < timeout:
        if alive is not None and not alive():
            raise ProcessExited(f"process behind {url} exited before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(interval)
    raise BenchError(f"{url} not ready after {timeout:.0f}s: {last}")


def stop_process(proc: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """SIGTERM the process group, SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def spawn(argv: Sequence[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """A server in its own process group, stopped at exit if nobody stopped it before (:func:`stop_process`)."""
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            list(argv), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True
        )
    stop_at_exit(lambda: stop_process(proc))
    return proc


class ProcessExited(BenchError):
    """The process behind a URL exited before answering (e.g. its port was taken between choosing and binding)."""


def start_server(
    argv_for: Callable[[int], Sequence[str]],
    env: dict[str, str],
    log_path: Path,
    ready_path: str,
    *,
    timeout: float = 60.0,
    interval: float = 0.05,
    attempts: int = 3,
) -> tuple[subprocess.Popen[bytes], int, float]:
    """Start a server on a free port and wait until ``ready_path`` answers 200: ``(process, port, seconds to ready)``.

    Other programs on a shared machine pick free ports too: when the process exits before answering, it is started
    again on another port (up to ``attempts`` times). A process that stays up but never answers is an error.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        start = time.perf_counter()
        proc = spawn(argv_for(port), env, log_path)
        try:
            wait_http(
                f"http://127.0.0.1:{port}{ready_path}",
                timeout=timeout,
                interval=interval,
                alive=_alive(proc),
            )
        except ProcessExited:
            if attempt == attempts:
                raise BenchError(
                    f"{argv_for(port)[:4]} exited {attempts} times before answering; see {log_path}"
                ) from None
            continue
        except BenchError:
            stop_process(proc)
            raise
        return proc, port, time.perf_counter() - start
    raise AssertionError("unreachable")


def _alive(proc: subprocess.Popen[bytes]) -> Callable[[], bool]:
    return lambda: proc.poll() is None


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that points a process at a cluster, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in {"KUBECONFIG", "KUBERNETES_SERVICE_HOST"}}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------------------------------
# statistics


def percentile(values: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (``p`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# ---------------------------------------------------------------------------------------------------------------------
# command line


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--quick", action="store_true", help="a smoke run: the smallest sizes only")
    parser.add_argument("--json", dest="json_path", type=Path, help="also write the tables as JSON to this file")
    return parser


def write_json(path: Path, tables: Sequence[Table]) -> None:
    doc = {"machine": machine_info(), "tables": [t.to_dict() for t in tables]}
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def run_module(
    parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], list[Table]], argv: list[str] | None
) -> int:
    """The ``main`` of one benchmark module: parse, run, print the tables, and write them as JSON if asked. Killed
    with SIGTERM (a timeout), it unwinds like Ctrl-C and stops the servers, PostgreSQL and control plane it started."""
    unwind_on_sigterm()
    args = parser.parse_args(argv)
    tables = run(args)
    print_tables(tables)
    if args.json_path:
        write_json(args.json_path, tables)
    return 0


def command_line(module: str, argv: Sequence[str]) -> str:
    return " ".join([".venv/bin/python", "-m", module, *argv])
