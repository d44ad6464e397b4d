"""Fixtures of the operator integration tests: the operator as a real subprocess (``perpdex operator``) against the
real API server of the ``kube`` fixture (see operator_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.operator.operator_helpers import (
    PEERING_CRDS,
    OperatorLauncher,
    OperatorProcess,
    make_namespace,
)


@pytest.fixture(scope="module")
def launcher(kube: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorLauncher]:
    launcher = OperatorLauncher(kube, tmp_path_factory.mktemp("operator"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="module")
def op_namespace(crds_installed: Any) -> str:
    return make_namespace(crds_installed)


@pytest.fixture(scope="module")
def operator(launcher: OperatorLauncher, op_namespace: str) -> Iterator[OperatorProcess]:
    op = launcher.start([op_namespace])
    yield op
    op.stop()
    if op.proc.returncode not in (0, None):
        print(op.log()[-5000:])


@pytest.fixture(scope="session")
def peering_crds(crds_installed: Any) -> Any:
    crds_installed.kubectl("apply", "--server-side", "-f", str(PEERING_CRDS))
    crds_installed.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(PEERING_CRDS))
    return crds_installed
