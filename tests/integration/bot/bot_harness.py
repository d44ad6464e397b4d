"""Runs ``perpdex bot`` as a real subprocess and follows its JSON log lines (the process boundary is the point)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

PERPDEX = [sys.executable, "-m", "bot_runtime.cli", "bot"]
Line = dict[str, Any]


def fast_paper_spec(**overrides: Any) -> dict[str, Any]:
    """A paper grid that trades within seconds: a volatile market, a short cooldown, a small take-profit."""
    spec: dict[str, Any] = {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {"quantity": "0.01", "takeProfit": "0.05", "direction": "buy", "maxOrders": 10, "waitTime": "2s"},
        "paper": {"startPrice": "60000", "volatility": "3", "seed": 7, "startingBalanceUsd": "100000"},
        "onStop": "cancelOrders",
    }
    spec.update(overrides)
    return spec


def write_manifest(path: Path, name: str, spec: Mapping[str, Any], namespace: str | None = None) -> Path:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    doc = {"apiVersion": "perpdex.io/v1alpha1", "kind": "TradingBot", "metadata": metadata, "spec": dict(spec)}
    path.write_text(yaml.safe_dump(doc))
    return path


class BotRun:
    def __init__(
        self,
        config: Path,
        tmp: Path,
        *,
        env: Mapping[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        tag: str = "bot",
    ) -> None:
        self.trade_log = tmp / f"{tag}-trades.csv"
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        for key in ("PERPDEX_BOT_NAME", "PERPDEX_NAMESPACE", "POD_NAME", "POD_UID"):
            if env is None or key not in env:
                full_env.pop(key, None)
        self.proc = subprocess.Popen(
            [
                *PERPDEX,
                "--config",
                str(config),
                "--metrics-port",
                "0",
                "--metrics-host",
                "127.0.0.1",
                "--trade-log",
                str(self.trade_log),
                "--status-interval",
                "0.5",
                "--log-format",
                "json",
                *extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
        )
        self.lines: list[Line] = []
        self.raw: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self.raw.append(raw)
                try:
                    self.lines.append(json.loads(raw))
                except ValueError:
                    self.lines.append({"msg": "<non-json>", "text": raw})

    # following the log -----------------------------------------------------------------------------------------------
    def snapshot(self) -> list[Line]:
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate: Callable[[Line], bool], timeout: float = 60.0, what: str = "") -> Line:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.snapshot()
            for line in lines[seen:]:
                if predicate(line):
                    return line
            seen = len(lines)
            if self.proc.poll() is not None and len(self.snapshot()) == seen:
                break
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or predicate}; output:\n{self.output()[-6000:]}")

    def messages(self, msg: str) -> list[Line]:
        return [line for line in self.snapshot() if line.get("msg") == msg]

    def output(self) -> str:
        with self._lock:
            return "".join(self.raw)

    @property
    def port(self) -> int:
        line = self.wait_for(lambda x: x.get("msg") == "health and metrics server listening", 30, "the server")
        return int(line["port"])

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", timeout=5)

    def metric(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.get("/metrics").text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                    total += sample.value
        return total

    # stopping --------------------------------------------------------------------------------------------------------
    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


def is_status(line: Line) -> bool:
    return line.get("msg") in {"status", "final status"}
