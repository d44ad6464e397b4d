"""Every Nado fixture validates against the official SDK's own pydantic model for it (nado-protocol 2.0.0, imported
under the test-only shim of :mod:`tests.support.nado_sdk_oracle`), and holds no key the model does not know except
the few the gateway sends beyond the 2.0.0 models (listed, with their source, in ``EXTRA``), so a fixture cannot
drift from the wire format the SDK reads. The stream events (``ws_*``) have no Python SDK model: their shape is the
TypeScript SDK's (SOURCES.md), checked against the client's own models in the client tests."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from tests.support import nado_sdk_oracle
from tests.support.replay import load_fixture

SDK = nado_sdk_oracle.sdk()
pytestmark = pytest.mark.skipif(SDK is None, reason="nado-protocol (the test oracle) is not installed")

#: keys the gateway sends that nado-protocol 2.0.0's models do not declare (they ignore extra keys)
EXTRA: dict[str, set[str]] = {
    "OrderData": {"appendix", "order_type"},  # the appendix of an open order, as the execute side signs it
    "IndexerHistoricalOrder": {"last_fill_timestamp", "first_fill_timestamp", "closed_amount", "prev_position"},
    "IndexerMatch": {"pre_balance", "post_balance"},
    "PerpProduct": set(),
}


def strict(model: type[BaseModel], value: Any, where: str) -> None:
    """``value`` validates as ``model`` and every key (recursively, for nested models) is one the model knows."""
    model.model_validate(value)
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    unknown = set(value) - known - EXTRA.get(model.__name__, set())
    assert not unknown, f"{where}: {model.__name__} does not know {sorted(unknown)}"
    for name, field in model.model_fields.items():
        annotation = field.annotation
        item = value.get(field.alias or name)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(item, dict):
            strict(annotation, item, f"{where}.{name}")


def envelope(name: str, model: type[BaseModel]) -> Any:
    assert SDK is not None
    answer = load_fixture("nado", name)
    SDK.engine_query.QueryResponse.model_validate({k: v for k, v in answer.items() if k != "data"})
    assert answer["status"] in ("success", "failure")
    if answer["status"] == "success":
        strict(model, answer["data"], name)
    return answer


def test_query_fixtures_validate_against_the_sdk_models() -> None:
    assert SDK is not None
    q, m = SDK.engine_query, SDK.engine_models
    envelope("query_contracts", q.ContractsData)
    answer = envelope("query_symbols", q.SymbolsData)
    for key, row in answer["data"]["symbols"].items():
        strict(m.SymbolData, row, f"symbols.{key}")
    envelope("query_market_price", q.MarketPriceData)
    for name in ("query_order",):
        strict(q.OrderData, load_fixture("nado", name)["data"], name)
    answer = envelope("query_subaccount_orders", q.SubaccountOpenOrdersData)
    for row in answer["data"]["orders"]:
        strict(q.OrderData, row, "subaccount_orders")
    answer = envelope("query_orders", q.SubaccountMultiProductsOpenOrdersData)
    for product in answer["data"]["product_orders"]:
        for row in product["orders"]:
            strict(q.OrderData, row, "orders")
    answer = envelope("query_subaccount_info", q.SubaccountInfoData)
    for row in answer["data"]["perp_balances"]:
        strict(m.PerpProductBalance, row, "perp_balances")
    for row in answer["data"]["perp_products"]:
        strict(m.PerpProduct, row, "perp_products")
    envelope("query_linked_signer", q.LinkedSignerData)
    failure = envelope("error_order_not_found", q.OrderData)
    assert failure["error_code"] == 2020


def test_execute_fixtures_validate_against_the_sdk_models() -> None:
    assert SDK is not None
    e = SDK.engine_execute
    for name in ("execute_place_order", "error_post_only", "error_unhealthy"):
        answer = load_fixture("nado", name)
        strict(e.ExecuteResponse, {k: v for k, v in answer.items() if k != "data"}, name)
    strict(e.PlaceOrderResponse, load_fixture("nado", "execute_place_order")["data"], "place_order data")
    for name in ("execute_cancel_orders", "execute_cancel_product_orders"):
        data = load_fixture("nado", name)["data"]
        e.CancelOrdersResponse.model_validate(data)
        for row in data["cancelled_orders"]:
            strict(SDK.engine_query.OrderData, row, name)


def test_indexer_fixtures_validate_against_the_sdk_models() -> None:
    assert SDK is not None
    iq, im = SDK.indexer_query, SDK.indexer_models
    matches = load_fixture("nado", "indexer_matches")
    iq.IndexerMatchesData.model_validate(matches)
    for row in matches["matches"]:
        strict(im.IndexerMatch, row, "matches")
    for tx in matches["txs"]:
        im.IndexerMatchOrdersTx.model_validate(tx["tx"])
    orders = load_fixture("nado", "indexer_orders")
    iq.IndexerHistoricalOrdersData.model_validate(orders)
    for row in orders["orders"]:
        strict(im.IndexerHistoricalOrder, row, "orders")
    for key, row in load_fixture("nado", "v2_contracts").items():
        strict(
            im.IndexerPerpContractInfo, {k: v for k, v in row.items() if k not in ("highest_bid", "lowest_ask")}, key
        )
