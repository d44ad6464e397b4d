"""``kubectl perpdex opportunities`` reads a REAL funding service (a ``perpdex funding-service serve`` process on
the test PostgreSQL server) through the REAL API server's service proxy: the Service and its Endpoints point at the
process as a cluster's would point at the pod (the API server refuses loopback endpoints, so the process listens on
this machine's own address)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from perpdex_dev.control_plane import free_port
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_service.fs_helpers import AUTH, TOKEN, batch, rate
from tests.integration.operator.kubectl.plugin_helpers import Plugin, apply

pytestmark = pytest.mark.integration


def _host_address() -> str:
    """This machine's non-loopback IPv4 address (what a route to a documentation address leaves from)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))  # no packet is sent for a UDP connect
        address: str = probe.getsockname()[0]
    assert not address.startswith("127."), "no non-loopback IPv4 address: the API server cannot proxy to loopback"
    return address


@pytest.fixture(scope="module")
def funding_service(postgres: PostgresCluster) -> Iterator[tuple[str, int]]:
    host, port = _host_address(), free_port()
    dsn = postgres.create_database("plugin_opportunities")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERPDEX_FS_")}
    env |= {
        "PERPDEX_FS_DATABASE_URL": dsn,
        "PERPDEX_FS_INGEST_TOKEN": TOKEN,
        "PERPDEX_FS_HOST": host,
        "PERPDEX_FS_PORT": str(port),
        "PERPDEX_FS_CLEANUP_INTERVAL_SECONDS": "0",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot_runtime.cli", "funding-service", "serve", "--migrate"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the funding service did not come up"
            time.sleep(0.2)
        now = datetime.now(UTC)
        rows = [
            rate("lighter", "ETH", "0.00002", "1", now, mark_price="3000"),
            rate("aster", "ETH", "-0.0002", "8", now, mark_price="3000"),
            rate("paradex", "ETH", "0.00045", "8", now, mark_price="3000"),
            rate("lighter", "BTC", "0.0000125", "1", now, mark_price="60000"),
            rate("aster", "BTC", "0.00031", "8", now, mark_price="60000"),
        ]
        answer = httpx.post(f"{base}/api/v1/ingest/funding-rates", json=batch("c1", rows, now), headers=AUTH)
        assert answer.status_code == 200, answer.text
        yield host, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _expose(kube: Any, namespace: str, name: str, host: str, port: int) -> None:
    """A Service labelled as the chart labels it, and the Endpoints a cluster would derive from its pod."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"{name}-0"},
        "spec": {"containers": [{"name": "funding-service", "image": "perpdex:test"}]},
    }
    apply(kube, namespace, pod)
    kube.kubectl(
        "patch", "pod", f"{name}-0", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", f'{{"status": {{"phase": "Running", "podIP": "{host}", "podIPs": [{{"ip": "{host}"}}]}}}}',
    )  # fmt: skip
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "funding-service"}},
        "spec": {"ports": [{"name": "http", "port": 8000, "targetPort": port}]},
    }
    apply(kube, namespace, service)
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": name},
        "subsets": [
            {
                "addresses": [{"ip": host, "targetRef": {"kind": "Pod", "name": f"{name}-0", "namespace": namespace}}],
                "ports": [{"name": "http", "port": port}],
            }
        ],
    }
    apply(kube, namespace, endpoints)


def test_opportunities_through_the_service_proxy(crds_installed: Any, funding_service: tuple[str, int]) -> None:
    kube = crds_installed
    host, port = funding_service
    ns = f"t-fs-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", ns)
    plugin = Plugin(kube)
    none = plugin.run("opportunities", "-n", ns, check=False)
    assert none.returncode == 1 and f"no funding service in namespace '{ns}'" in none.stderr
    _expose(kube, ns, "pdx-funding-service", host, port)

    out = plugin.run("opportunities", "-n", ns, "--symbol", "eth").stdout
    api = httpx.get(
        f"http://{host}:{port}/api/v1/opportunities",
        params={"symbol": "ETH", "limit": 20, "sort_by": "net_apr", "sort_desc": "true"},
        timeout=10,
    ).json()
    lines = out.splitlines()
    assert lines[0].split() == [
        "SYMBOL",
        "LONG",
        "SHORT",
        "NET",
        "APR",
        "GROSS",
        "APR",
        "BREAK-EVEN",
        "DAILY",
        "PNL",
        "MIN",
        "OI",
        "AGE",
    ]
    rows = [line.split() for line in lines[1 : 1 + len(api["opportunities"])]]
    assert len(rows) == len(api["opportunities"]) >= 2
    for row, want in zip(rows, api["opportunities"], strict=True):
        assert row[:3] == ["ETH", want["long_dex"], want["short_dex"]]
        assert row[3] == f"{(Decimal(want['net_apr']) * 100).quantize(Decimal('0.1'))}%"
    assert lines[-1].startswith(f"{len(rows)} of {api['matched_count']} matching pairs; net APR over a 24 h hold")

    # --min-apr filters at the service; --service names it directly (namespace/name:port)
    high = plugin.run("opportunities", "--service", f"{ns}/pdx-funding-service:http", "--min-apr", "0.2").stdout
    strict = httpx.get(
        f"http://{host}:{port}/api/v1/opportunities", params={"min_net_apr": "0.2", "limit": 20}, timeout=10
    ).json()
    assert strict["opportunities"], "the data should leave at least one pair above 20 %"
    shown = high.split("\n\n")[0].splitlines()[1:]
    assert [line.split()[:3] for line in shown] == [
        [o["symbol"], o["long_dex"], o["short_dex"]] for o in strict["opportunities"]
    ]
    # the dashboard through the same proxy: its relative links resolve under the proxy's path prefix
    proxy = f"/api/v1/namespaces/{ns}/services/pdx-funding-service:http/proxy"
    page = kube.kubectl("get", "--raw", f"{proxy}/ui/?symbol=ETH").stdout
    assert 'id="opportunities-table"' in page and 'data-symbol="ETH"' in page
    assert 'src="static/dashboard.js"' in page and 'href="../api/v1/opportunities?' in page
    redirect = httpx.get(f"http://{host}:{port}/", headers={"Accept": "text/html"}, timeout=10)
    assert redirect.status_code == 307 and redirect.headers["location"] == "ui/"  # relative: the proxy's prefix stays
    script = kube.kubectl("get", "--raw", f"{proxy}/ui/static/vendor/uPlot.iife.min.js").stdout
    assert script.startswith("/*! https://github.com/leeoniya/uPlot")
    # the user needs get on services/proxy in that namespace: nothing more, nothing less
    broken = plugin.run("opportunities", "--service", f"{ns}/nope", check=False)
    assert (
        broken.returncode == 1
        and f"the funding service {ns}/nope did not answer through the API server" in broken.stderr
    )
