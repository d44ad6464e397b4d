"""The real ``perpdex funding-service serve`` process, retention, and the service's small extra routes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
import pytest

from funding_service.db.repositories.maintenance import Retention, apply_retention
from perpdex_dev.control_plane import free_port
from tests.integration.funding_service.fs_helpers import TOKEN, Service, batch, rate

pytestmark = pytest.mark.integration


def test_serve_process_migrates_serves_and_stops_on_sigterm(postgres: object, fs_dsn: str) -> None:
    port = free_port()
    password = "pw-Secret-123"  # the test cluster trusts local connections, so any password works
    dsn = fs_dsn.replace("postgresql://perpdex@", f"postgresql://perpdex:{password}@")
    assert password in dsn
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_FS_")}
    env |= {
        "PERPDEX_FS_DATABASE_URL": dsn,
        "PERPDEX_FS_INGEST_TOKEN": TOKEN,
        "PERPDEX_FS_HOST": "127.0.0.1",
        "PERPDEX_FS_PORT": str(port),
        "PERPDEX_FS_LOG_LEVEL": "info",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot_runtime.cli", "funding-service", "serve", "--migrate"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/simple", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/health/ready", timeout=10).json()["ready"] is True
        assert httpx.get(f"{base}/api/v1/dexes", timeout=10).status_code == 200
        assert httpx.get(f"{base}/", timeout=10).json()["docs"] == "/api/v1/docs"
        assert httpx.get(f"{base}/ping", timeout=10).json() == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        # uvicorn drains, runs the shutdown (pool closed), then re-raises SIGTERM: "terminated by SIGTERM" is the
        # conventional status of a process that honoured it
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, err = proc.communicate()
    assert "Waiting for application shutdown" in err and "Application shutdown complete" in err, err
    assert "auto-migrate: 0 migration(s) applied" in err  # the module's database was migrated already
    assert "postgresql://perpdex:***@" in err  # the pool logs where it connects, redacted
    assert TOKEN not in err and password not in err  # no secrets in the logs


def test_invalid_configuration_names_the_variable_without_its_value() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_FS_")}
    env |= {"PERPDEX_FS_DB_PORT": "not-a-port", "PERPDEX_FS_DB_PASSWORD": "hunter2"}
    out = subprocess.run(
        [sys.executable, "-m", "bot_runtime.cli", "funding-service", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert "PERPDEX_FS_DB_PORT" in out.stderr and "hunter2" not in out.stderr


async def test_retention_deletes_only_what_is_old(service: Service) -> None:
    await service.reset()
    now = datetime.now(UTC)
    old = now - timedelta(days=100)
    assert (await service.ingest(batch("old", [rate("aster", "BTC", "0.0001", "8", old)], old))).status_code == 200
    assert (await service.ingest(batch("new", [rate("aster", "BTC", "0.0002", "8", now)], now))).status_code == 200
    counts = "SELECT (SELECT count(*) FROM funding_rates) AS r, (SELECT count(*) FROM collection_cycles) AS c"
    before = (await service.fetch(counts))[0]
    assert (before["r"], before["c"]) == (2, 2)
    conn = await asyncpg.connect(service.dsn)
    try:
        deleted = await apply_retention(conn, Retention(rates_days=90, opportunities_days=7, logs_days=30))
    finally:
        await conn.close()
    assert (deleted.rates, deleted.cycles) == (1, 1)
    after = (await service.fetch(counts))[0]
    assert (after["r"], after["c"]) == (1, 1)
    assert [r["rate"] for r in await service.fetch("SELECT rate FROM latest_funding_rates")] == [Decimal("0.0002")]
