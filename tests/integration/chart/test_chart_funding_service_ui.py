"""``fundingService.ui.enabled`` (default true): the funding service's ``PERPDEX_FS_UI_ENABLED``, which the service's
own settings read as ``ui_enabled`` (false: an API-only install, no ``/ui`` routes); the schema takes only a boolean."""

from __future__ import annotations

from typing import Any

import pytest

from funding_service.settings import Settings
from tests.conftest import Kube
from tests.integration.chart.test_chart import CHART, KUBE_VERSION, render

pytestmark = pytest.mark.integration


def service_env(kube: Kube, *sets: str) -> dict[str, Any]:
    docs = render(kube, *sets)
    dep = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "t-perp-dex-operator-funding-service"
    )
    [main] = dep["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in main["env"]}


@pytest.mark.parametrize(("sets", "expected"), [((), True), (("fundingService.ui.enabled=false",), False)])
def test_ui_enabled_reaches_the_services_settings(
    kube: Kube, monkeypatch: pytest.MonkeyPatch, sets: tuple[str, ...], expected: bool
) -> None:
    env = service_env(kube, *sets)
    assert env["PERPDEX_FS_UI_ENABLED"] == str(expected).lower()
    monkeypatch.setenv("PERPDEX_FS_UI_ENABLED", env["PERPDEX_FS_UI_ENABLED"])
    assert Settings().ui_enabled is expected


@pytest.mark.parametrize("value", ["fundingService.ui.enabled=sometimes", "fundingService.ui.theme=dark"])
def test_the_schema_takes_only_a_boolean(kube: Kube, value: str) -> None:
    out = kube.helm("template", "t", str(CHART), KUBE_VERSION, "--set", value, check=False)
    assert out.returncode != 0
    assert "/fundingService/ui" in out.stderr, out.stderr
