"""Database outages on the REAL PostgreSQL (the session cluster is stopped and started again, same data and port):
503 with a clear JSON body while it is down, 200 again once it is back, without restarting the service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest

from funding_service.db.migrator import load_migrations
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_service.fs_helpers import Service, batch, close_service, open_service, rate

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture
def cluster(postgres: PostgresCluster) -> Iterator[PostgresCluster]:
    """The session cluster, guaranteed running again after the test whatever happens."""
    try:
        yield postgres
    finally:
        if not (postgres.datadir / "postmaster.pid").exists():
            postgres.start()


def assert_unavailable(r: object) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["error"] == "database_unavailable"
    assert "unavailable" in body["message"] and body["retry_after_seconds"] == 5
    assert r.headers["retry-after"] == "5"
    assert "Traceback" not in r.text and "postgresql://" not in r.text


async def seed(svc: Service) -> None:
    now = datetime.now(UTC)
    rows = [rate("lighter", "BTC", "0.00001", "1", now), rate("aster", "BTC", "0.0004", "8", now)]
    assert (await svc.ingest(batch("outage-seed", rows, now))).status_code == 200


async def test_database_stopped_mid_run_then_back(cluster: PostgresCluster, service: Service) -> None:
    await seed(service)
    http = service.http
    assert (await http.get(API + "/opportunities")).status_code == 200

    cluster.stop()
    for path in (
        "/opportunities",
        "/dexes",
        "/funding-rates",
        "/funding-rates/aster/BTC",
        "/history/funding-rates/aster/BTC",
    ):
        assert_unavailable(await http.get(API + path))
    assert_unavailable(await service.ingest(batch("during-outage", [], datetime.now(UTC))))
    simple = await http.get("/health/simple")
    assert simple.status_code == 200  # the process itself is fine: liveness must not fail
    health = await http.get("/health")
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    assert health.json()["database"]["connected"] is False
    ready = await http.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    db = await http.get("/health/database")
    assert db.status_code == 503 and db.json()["connected"] is False
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200 and "perpdex_fs_database_up 0.0" in metrics.text
    assert 'perpdex_fs_ingest_batches_total{result="unavailable"} 1.0' in metrics.text

    cluster.start()
    # the very first request after the database is back succeeds: same app, same pool object, fresh connections
    r = await http.get(API + "/opportunities", params={"min_profit": "-1"})
    assert r.status_code == 200, r.text
    assert [(o["long_dex"], o["short_dex"]) for o in r.json()["opportunities"]] == [("lighter", "aster")]
    assert (await http.get("/health/ready")).status_code == 200
    assert (await service.ingest(batch("after-outage", [], datetime.now(UTC)))).status_code == 200
    assert "perpdex_fs_database_up 1.0" in (await http.get("/metrics")).text


async def test_service_started_while_database_down(cluster: PostgresCluster, fs_dsn: str) -> None:
    cluster.stop()
    svc = await open_service(fs_dsn)  # the pool is created lazily: nothing fails at start
    try:
        assert_unavailable(await svc.http.get(API + "/dexes"))
        assert (await svc.http.get("/health/simple")).status_code == 200
        assert svc.app.state.service.db.created is False
        cluster.start()
        r = await svc.http.get(API + "/dexes")
        assert r.status_code == 200 and r.json()["count"] >= 6
    finally:
        await close_service(svc)


async def test_killed_connections_are_replaced_transparently(service: Service) -> None:
    await seed(service)
    assert (await service.http.get(API + "/dexes")).status_code == 200
    conn = await asyncpg.connect(service.dsn)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'perpdex-funding-service' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    assert killed >= 1
    r = await service.http.get(API + "/dexes")  # its pooled connection is dead: retried once on a fresh one
    assert r.status_code == 200, r.text


async def test_schema_not_migrated_is_a_clear_503(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("fs_outage_unmigrated")
    svc = await open_service(dsn)
    try:
        r = await svc.http.get(API + "/dexes")
        assert r.status_code == 503 and r.json()["error"] == "schema_not_migrated"
        assert "perpdex funding-service migrate" in r.json()["message"]
        ready = await svc.http.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["migrations"]["pending"] == [
            m.filename for m in load_migrations()
        ]
        health = await svc.http.get("/health")
        assert health.status_code == 503 and health.json()["database"]["migrations_current"] is False
    finally:
        await close_service(svc)
