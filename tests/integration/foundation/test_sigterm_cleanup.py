"""A test session or a benchmark killed with SIGTERM (a CI timeout, ``kill``) leaves nothing behind: the etcd,
kube-apiserver, PostgreSQL and funding-service processes it started are stopped and their directories removed (they
used to outlive a killed pytest, each in a session of its own)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[3]
SESSION = Path(__file__).with_name("sigterm_session.py")


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for its (dead) parent's reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


# a benchmark as bench/ runs one (run_module): PostgreSQL and a funding service, then it waits to be killed
BENCH = """
import argparse, asyncio, json, os, sys
from pathlib import Path
from bench.common import run_module
from bench.fs_data import migrate, postgres, start_service

def run(args):
    async def hold():
        async with postgres("sigterm") as (cluster, workdir):
            dsn = cluster.create_database("bench")
            migrate(dsn)
            service = start_service(dsn, workdir)
            postmaster = int((cluster.datadir / "postmaster.pid").read_text().split()[0])
            report = {"pids": {"postgres": postmaster, "funding-service": service.proc.pid},
                      "dirs": [str(cluster.workdir), str(workdir)]}
            Path(os.environ["PERPDEX_SIGTERM_REPORT"]).write_text(json.dumps(report))
            await asyncio.sleep(600)
    asyncio.run(hold())
    return []

sys.exit(run_module(argparse.ArgumentParser(), run, []))
"""


def kill_with_sigterm(argv: list[str], report: Path) -> tuple[dict[str, int], list[str], str]:
    """Start ``argv``, wait for its report of what it started, SIGTERM it, wait for its end: (pids, dirs, output)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["PERPDEX_SIGTERM_REPORT"] = str(report)
    session = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not report.exists():
            assert session.poll() is None, session.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the session never reported what it started"
            time.sleep(0.2)
        time.sleep(0.2)  # the report is written whole before the session sleeps
        started = json.loads(report.read_text())
        pids: dict[str, int] = started["pids"]
        assert all(running(pid) for pid in pids.values()), pids

        session.send_signal(signal.SIGTERM)
        out, _ = session.communicate(timeout=180)
    finally:
        if session.poll() is None:
            os.killpg(session.pid, signal.SIGKILL)
            session.wait()
    left = {name: pid for name, pid in pids.items() if running(pid)}
    assert not left, f"still running after it ended: {left}\n{out[-3000:]}"
    assert not [d for d in started["dirs"] if Path(d).exists()], started["dirs"]
    return pids, started["dirs"], out


def test_a_session_killed_with_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(SESSION)]
    pids, _, out = kill_with_sigterm(argv, tmp_path / "report.json")
    assert set(pids) == {"etcd", "kube-apiserver", "postgres", "funding-service"}
    assert "KeyboardInterrupt" in out, out[-3000:]


def test_a_benchmark_killed_with_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    pids, _, _ = kill_with_sigterm([sys.executable, "-c", BENCH], tmp_path / "report.json")
    assert set(pids) == {"postgres", "funding-service"}
