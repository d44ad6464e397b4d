"""Every venue's fixture folder says where each file's shape comes from (SOURCES.md names every file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exchanges"
VENUES = [
    "lighter",
    "grvt",
    "edgex",
    "paradex",
    "backpack",
    "aster",
    "hyperliquid",
    "extended",
    "ethereal",
    "nado",
    "apex",
]


@pytest.mark.parametrize("venue", VENUES)
def test_sources_name_every_fixture(venue: str) -> None:
    folder = FIXTURES / venue
    sources = (folder / "SOURCES.md").read_text(encoding="utf-8")
    named = set(re.findall(r"[A-Za-z0-9_]+\.json", sources))
    globs = [g.replace("*", "") for g in re.findall(r"(error_\*)\.json", sources)]
    files = sorted(p.name for p in folder.glob("*.json"))
    unnamed = [f for f in files if f not in named and not any(f.startswith(g) for g in globs)]
    assert unnamed == [], f"{venue}/SOURCES.md does not name {unnamed}"
    assert not (folder / "README.md").exists(), "one provenance file per folder: SOURCES.md"
