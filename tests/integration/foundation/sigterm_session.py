"""The session ``test_sigterm_cleanup.py`` runs in a pytest of its own and kills with SIGTERM (not collected by
itself: no ``test_`` prefix). It holds what a real session starts - the local control plane, PostgreSQL and a funding
service process (as the e2e stack starts it) - reports their pids and directories, then waits to be killed."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster
from perpdex_dev.stack import LocalStack
from tests.conftest import Kube

REPORT = Path(os.environ.get("PERPDEX_SIGTERM_REPORT", "/nonexistent/report.json"))


@pytest.fixture
def funding_service(tmp_path: Path, kube: Kube, postgres: PostgresCluster) -> Iterator[LocalStack]:
    s = LocalStack(run_dir=tmp_path, namespace="sigterm")
    done = stop_at_exit(s.stop)
    s.kubeconfig, s.assets = str(kube.kubeconfig), str(kube.env["PATH"].split(":")[0])
    s.database, s.pg_port = "perpdex_sigterm", postgres.port
    postgres.create_database(s.database)
    try:
        s.start_funding_service()
        yield s
    finally:
        s.stop()
        done()


def test_hold_until_killed(kube: Kube, postgres: PostgresCluster, funding_service: LocalStack) -> None:
    assert kube.control_plane is not None, "run without KUBECONFIG: the session starts its own control plane"
    postmaster = int((postgres.datadir / "postmaster.pid").read_text().split()[0])
    report = {
        "pids": {**kube.control_plane.pids, "postgres": postmaster, **funding_service.pids},
        "dirs": [str(kube.control_plane.workdir), str(postgres.workdir)],
    }
    REPORT.write_text(json.dumps(report))
    time.sleep(600)
