"""NOTES.txt, as ``helm install`` prints it, names only things that exist: every repository path (examples/, docs/),
the Secret keys it lists (the example Lighter Secret's), and the funding service's API path (its router)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import Kube

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "perp-dex-operator"


def notes(kube: Kube, *sets: str) -> str:
    args = ["install", f"n{uuid.uuid4().hex[:6]}", str(CHART), "--dry-run=client", "-n", "perpdex"]
    for s in sets:
        args += ["--set", s]
    out = kube.helm(*args).stdout
    assert "NOTES:" in out
    return out.split("NOTES:", 1)[1]


@pytest.mark.parametrize("sets", [(), ("collector.create=true",)])
def test_notes_name_only_files_that_exist(kube: Kube, crds_installed: Kube, sets: tuple[str, ...]) -> None:
    text = notes(kube, *sets)
    paths = set(re.findall(r"\b((?:examples|docs)/[\w./-]*)", text))
    assert paths, text
    for path in paths:
        assert (REPO / path.rstrip(".")).exists(), f"NOTES.txt names {path}, which is not in the repository"
    # the Secret keys listed for Lighter are the example Secret's keys
    keys = re.search(r"keys: ([A-Z_, ]+);", text)
    assert keys is not None
    example = yaml.safe_load((REPO / "examples" / "secrets" / "lighter-secret.yaml").read_text())
    assert set(keys.group(1).replace(" ", "").split(",")) <= set(example["stringData"])
    # the funding service URL's path is one of its routes
    (api_path,) = re.findall(r"svc:\d+(/\S+)", text)
    from funding_service.api.routes.opportunities import router

    assert api_path.removeprefix("/api/v1") in {getattr(r, "path", "") for r in router.routes}
