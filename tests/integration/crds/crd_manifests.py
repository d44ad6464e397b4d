"""Manifests for the CRD tests: valid minimal bases that the invalid cases mutate, the examples, and SPEC §3's examples."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = REPO_ROOT / "examples"
SPEC_MD = REPO_ROOT.parent / "shared" / "SPEC.md"


def grid_bot(name: str = "grid") -> dict[str, Any]:
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "strategy": "grid",
            "exchange": "lighter",
            "ticker": "BTC",
            "credentials": {"lighter": {"secretName": "lighter-credentials"}},
            "grid": {"quantity": "0.01"},
        },
    }


def funding_arb_bot(name: str = "farb") -> dict[str, Any]:
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": name},
        "spec": {
            "strategy": "fundingArb",
            "credentials": {
                "lighter": {"secretName": "lighter-credentials"},
                "grvt": {"secretName": "grvt-credentials"},
                "edgex": {"secretName": "edgex-credentials"},
            },
            "fundingArb": {"exchanges": ["lighter", "grvt", "edgex"]},
        },
    }


def collector(name: str = "coll") -> dict[str, Any]:
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "FundingCollector",
        "metadata": {"name": name},
        "spec": {"exchanges": ["lighter", "grvt"]},
    }


def as_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest)


def deep(manifest: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(manifest)


def spec_md_blocks(kind: str) -> dict[str, Any]:
    """The ``kind`` example of SPEC §3 (a YAML block), parsed."""
    assert SPEC_MD.exists(), f"{SPEC_MD} not found: the shared folder (SPEC.md) must sit beside the repository"
    text = SPEC_MD.read_text(encoding="utf-8")
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == kind:
            return doc
    raise AssertionError(f"no {kind} example in {SPEC_MD}")
