"""The fixtures themselves: a real API server with RBAC and service-account tokens, and a real PostgreSQL."""

from __future__ import annotations

import asyncpg
import pytest

from bot_runtime.kube import Conflict, KubeClient, NotFound, resource_path
from perpdex_dev.postgres import PostgresCluster

pytestmark = pytest.mark.integration


def test_kubectl_talks_to_the_api_server(kube) -> None:  # type: ignore[no-untyped-def]
    out = kube.kubectl("get", "namespaces", "-o", "name")
    assert "namespace/default" in out.stdout
    version = kube.kubectl("version", "-o", "json")
    assert '"serverVersion"' in version.stdout


async def test_client_crud_errors_and_watch(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    async with kube.client() as k:
        path = resource_path("v1", "configmaps", namespace)
        created = await k.create(path, {"metadata": {"name": "a"}, "data": {"x": "1"}})
        with pytest.raises(Conflict):
            await k.create(path, {"metadata": {"name": "a"}, "data": {"x": "1"}})
        patched = await k.patch(f"{path}/a", {"data": {"x": "2"}})
        assert patched["data"] == {"x": "2"}
        applied = await k.patch(
            f"{path}/b",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"y": "1"}},
            patch_type="apply",
            field_manager="test",
        )
        assert applied["data"] == {"y": "1"}
        events = []
        async for event in k.watch(path, resource_version=created["metadata"]["resourceVersion"], timeout_seconds=2):
            events.append((event["type"], event["object"]["metadata"]["name"]))
        assert ("MODIFIED", "a") in events and ("ADDED", "b") in events
        await k.delete(f"{path}/a")
        with pytest.raises(NotFound):
            await k.get(f"{path}/a")


async def test_rbac_and_service_account_tokens(kube, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """A ServiceAccount's TokenRequest token authenticates, and RBAC denies what it was not granted."""
    async with kube.client() as k:
        await k.create(resource_path("v1", "serviceaccounts", namespace), {"metadata": {"name": "sa"}})
        token = await k.create(
            resource_path("v1", "serviceaccounts", namespace, "sa", "token"),
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}},
        )
    cfg = kube.config()
    from bot_runtime.kube import ApiError, KubeConfig

    sa_cfg = KubeConfig(
        server=cfg.server,
        token=token["status"]["token"],
        ca_data=cfg.ca_data,
        ca_file=cfg.ca_file,
        insecure=cfg.insecure,
    )
    async with KubeClient(sa_cfg) as sa:
        with pytest.raises(ApiError) as err:
            await sa.list(resource_path("v1", "secrets", namespace))
        assert err.value.status == 403
    can = kube.kubectl(
        "auth", "can-i", "list", "secrets", "-n", namespace, f"--as=system:serviceaccount:{namespace}:sa", check=False
    )
    assert can.stdout.strip() == "no"


async def test_postgres_is_real_and_survives_restart(postgres: PostgresCluster) -> None:
    dsn = postgres.create_database("fixture_check")
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("show server_version")
        await conn.execute("create table t (x numeric)")
        await conn.execute("insert into t values (1.000000000000000001)")
    finally:
        await conn.close()
    assert int(str(version).split(".")[0]) >= 13
    postgres.stop()
    postgres.start()
    conn = await asyncpg.connect(dsn)
    try:
        assert str(await conn.fetchval("select x from t")) == "1.000000000000000001"
    finally:
        await conn.close()


def test_destroy_stops_a_server_that_has_no_pid_file_yet() -> None:
    """A SIGTERM during `pg_ctl start` can come before the postmaster wrote postmaster.pid: destroy() finds the
    server by its data directory instead of leaving it running on a deleted directory."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        assert cluster._servers(), "the started server is not found by its data directory"
        (cluster.datadir / "postmaster.pid").rename(cluster.workdir / "postmaster.pid.hidden")
    finally:
        cluster.destroy()
    assert cluster._servers() == [] and not cluster.workdir.exists()
