"""Fixtures of the CRD tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def crd_ns(crds_installed, namespace: str) -> str:  # type: ignore[no-untyped-def]
    """A fresh namespace on an API server that has the CRDs."""
    return namespace
