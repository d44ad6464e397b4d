"""Fixtures of the bot-process integration tests: a TradingBot CR on the real API server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]


def paper_grid_manifest(name: str, namespace: str, **spec_overrides: Any) -> dict[str, Any]:
    doc = yaml.safe_load((REPO / "examples" / "paper-grid.yaml").read_text())
    doc["metadata"] = {"name": name, "namespace": namespace}
    doc["spec"].update(spec_overrides)
    return doc


@pytest.fixture
def trading_bot(crds_installed, namespace: str):  # type: ignore[no-untyped-def]
    """Create a paper grid TradingBot named ``bot`` in a fresh namespace; returns (kube, namespace, name, manifest)."""
    kube = crds_installed
    manifest = paper_grid_manifest("bot", namespace)
    kube.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return kube, namespace, "bot", manifest
