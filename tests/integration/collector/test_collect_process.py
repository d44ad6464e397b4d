"""`perpdex collect` as a process: SIGTERM mid-cycle finishes (or abandons, past the grace period) the cycle in
progress and exits 0; /metrics and /readyz answer while it runs; the funding service being down is survived."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PERPDEX = Path(sys.executable).parent / "perpdex"


@pytest.fixture
def silent_venue() -> Iterator[str]:
    """A TCP server that accepts HTTP requests and never answers: a venue that hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


def start(tmp_path: Path, venue_url: str, *, timeout: str, grace: float) -> tuple[subprocess.Popen[str], list[str]]:
    config = {
        "name": "c1",
        "exchanges": ["paper-a", "aster"],
        "interval": "60s",
        "timeout": timeout,
        "fundingServiceUrl": "http://127.0.0.1:9",  # nothing listens: delivery fails, cycles are kept
        "exchangeOptions": {"aster": {"baseUrl": venue_url}},
    }
    path = tmp_path / "collector.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        [str(PERPDEX), "collect", "--config", str(path), "--metrics-port", "0", "--grace-seconds", str(grace)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "TMPDIR": str(tmp_path)},
    )
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=pump, daemon=True).start()
    return proc, lines


def wait_line(lines: list[str], pattern: str, within: float = 20) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for line in list(lines):
            if re.search(pattern, line):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(lines)}")


def test_sigterm_mid_cycle_abandons_a_hung_cycle_at_the_grace_period_and_exits_0(
    tmp_path: Path, silent_venue: str
) -> None:
    proc, lines = start(tmp_path, silent_venue, timeout="30s", grace=1.5)
    port = json.loads(wait_line(lines, "metrics server listening"))["port"]
    time.sleep(1.0)  # the cycle is now waiting on the silent venue
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert b"perpdex_collector_pending_cycles" in resp.read()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, "".join(lines)  # well before the 30 s venue timeout
    wait_line(lines, "cycle abandoned at the end of the grace period")


def test_sigterm_mid_cycle_finishes_the_cycle_within_the_grace_period(tmp_path: Path, silent_venue: str) -> None:
    proc, lines = start(tmp_path, silent_venue, timeout="2s", grace=30)
    wait_line(lines, "metrics server listening")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, "".join(lines)
    done = json.loads(wait_line(lines, '"cycle done"'))
    assert done["failed"] == ["aster"] and done["rates"] > 0, done  # paper-a landed; the silent venue timed out
    wait_line(lines, "funding service unreachable; cycles kept for later")
    wait_line(lines, "exiting with undelivered cycles")
