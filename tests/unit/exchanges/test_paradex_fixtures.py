"""The Paradex replay fixtures against paradex-py's own response models (``paradex_py/api/generated/responses.py``,
generated from Paradex's API spec; ``paradex_py/api/models.py``). The generated models accept extra fields, so each
fixture's keys are also checked against the model's declared fields: a key the API does not declare is invented."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("paradex_py")

from paradex_py.api.generated import responses
from pydantic import BaseModel

from tests.support.replay import load_fixture

# (fixture, where the object(s) sit: None = the body, "results" = each item of the page, "ws" = params.data), model
CASES: list[tuple[str, str | None, type[BaseModel]]] = [
    ("markets", "results", responses.MarketResp),
    ("markets_summary", "results", responses.MarketSummaryResp),
    ("bbo", None, responses.BBOResp),
    ("order_new", None, responses.OrderResp),
    ("order_open", None, responses.OrderResp),
    ("order_closed_post_only", None, responses.OrderResp),
    ("order_filled", None, responses.OrderResp),
    ("orders_open", "results", responses.OrderResp),
    ("positions", "results", responses.PositionResp),
    ("account", None, responses.AccountSummaryResponse),
    ("fills", "results", responses.FillResult),
    ("ws_fill", "ws", responses.FillResult),
    ("auth", None, responses.AuthResp),
    ("error_client_id_not_found", None, responses.ApiError),
    ("error_invalid_token", None, responses.ApiError),
    ("error_not_found", None, responses.ApiError),
    ("error_validation", None, responses.ApiError),
]


def objects(body: Any, where: str | None) -> list[dict[str, Any]]:
    if where == "results":
        return list(body["results"])
    if where == "ws":
        return [body["params"]["data"]]
    return [body]


def declared(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()} | set(model.model_fields)


@pytest.mark.parametrize(("fixture", "where", "model"), CASES, ids=[c[0] for c in CASES])
def test_fixture_validates_against_the_sdk_model(fixture: str, where: str | None, model: type[BaseModel]) -> None:
    items = objects(load_fixture("paradex", fixture), where)
    assert items
    for item in items:
        model.model_validate(item)
        assert set(item) - declared(model) == set(), f"{fixture}: fields {model.__name__} does not declare"


def test_system_config_validates_against_the_sdk_schema() -> None:
    from paradex_py.api.models import SystemConfigSchema

    SystemConfigSchema().load(load_fixture("paradex", "system_config"))
