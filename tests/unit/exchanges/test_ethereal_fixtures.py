"""Every Ethereal fixture validates against the wire format it imitates, strictly (no key the format lacks, every
required key present):

* REST answers against the SDK's generated pydantic models (``ethereal.models.rest``, generated from the venue's
  OpenAPI spec), each nested object against its own model;
* stream messages against the native WebSocket page of the API docs (developer-guides/trading-api/websockets): the
  ``OrderUpdate``, ``OrderFill`` and ``Ticker`` messages' short keys, written down below."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("ethereal")

from ethereal.models import rest as sdk
from pydantic import BaseModel

from tests.support.replay import load_fixture


def check_model(value: Any, model: type[BaseModel], where: str) -> None:
    assert isinstance(value, dict), where
    aliases = {(field.alias or name): field for name, field in model.model_fields.items()}
    unknown = set(value) - set(aliases)
    assert not unknown, f"{where}: keys {sorted(unknown)} are not in {model.__name__}"
    missing = {alias for alias, field in aliases.items() if field.is_required()} - set(value)
    assert not missing, f"{where}: {model.__name__} requires {sorted(missing)}"
    model.model_validate(value)  # types, enums, UUIDs, decimals


REST: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {
    # fixture: (the model of the answer, the model of each element of its "data" list when it is a page/list)
    "products": (sdk.PageOfProductDtos, sdk.ProductDto),
    "market_price": (sdk.ListOfMarketPriceDtos, sdk.MarketPriceDto),
    "rpc_config": (sdk.RpcConfigDto, None),
    "subaccounts": (sdk.PageOfSubaccountDtos, sdk.SubaccountDto),
    "linked_signer_active": (sdk.SignerDto, None),
    "linked_signer_revoked": (sdk.SignerDto, None),
    "order_open": (sdk.OrderDto, None),
    "order_rejected_post_only": (sdk.OrderDto, None),
    "orders": (sdk.PageOfOrderDtos, sdk.OrderDto),
    "fills": (sdk.PageOfOrderFillDtos, sdk.OrderFillDto),
    "positions": (sdk.PageOfPositionDtos, sdk.PositionDto),
    "balances": (sdk.PageOfSubaccountBalanceDtos, sdk.SubaccountBalanceDto),
    "submit_created_ok": (sdk.SubmitOrderCreatedDto, None),
    "submit_created_post_only": (sdk.SubmitOrderCreatedDto, None),
    "submit_created_ioc_unfilled": (sdk.SubmitOrderCreatedDto, None),
    "submit_failed_insufficient_balance": (sdk.SubmitOrderFailedDto, None),
    "submit_failed_invalid_signer": (sdk.SubmitOrderFailedDto, None),
    "cancel_ok": (sdk.ListOfCancelOrderResultDtos, sdk.CancelOrderResultDto),
    "cancel_not_found": (sdk.ListOfCancelOrderResultDtos, sdk.CancelOrderResultDto),
    "error_rate_limit": (sdk.TooManyRequestsDto, None),
    "error_unauthorized": (sdk.UnauthorizedDto, None),
    "error_not_found": (sdk.NotFoundDto, None),
}


@pytest.mark.parametrize("name", sorted(REST))
def test_rest_fixture_matches_the_sdk_model(name: str) -> None:
    answer, element = REST[name]
    value = load_fixture("ethereal", name)
    check_model(value, answer, name)
    if element is not None:
        for i, row in enumerate(value["data"]):
            check_model(row, element, f"{name}.data[{i}]")


def test_rpc_config_nested_objects_match() -> None:
    value = load_fixture("ethereal", "rpc_config")
    check_model(value["domain"], sdk.DomainTypeDto, "rpc_config.domain")
    check_model(value["signatureTypes"], sdk.SignatureTypesDto, "rpc_config.signatureTypes")


# the documented stream messages: {e, t, data}; data of the account streams is {t, d: [entry]}
ENVELOPE = ({"e", "t", "data"}, set())
BATCH = ({"t", "d"}, set())
STREAM: dict[str, tuple[set[str], set[str]]] = {  # entry: (required, optional)
    "OrderUpdate": (
        {"id", "otyp", "qty", "aqty", "fill", "sd", "s", "sid", "sn", "st", "t", "ro", "cl", "et", "tr"},
        {"cloid", "px", "tif", "po", "spx", "styp", "spxtyp", "gtyp", "gid"},
    ),
    "OrderFill": ({"id", "oid", "px", "sz", "typ", "sd", "s", "sid", "ro", "fee", "m", "t"}, {"cloid"}),
    "Ticker": ({"s", "t"}, {"bidPx", "askPx", "bidAmt", "askAmt", "markPx", "markPx24h", "oi", "fr1h", "vol24h"}),
}
ORDER_STATUSES = {member.value for member in sdk.Status}


def check_keys(value: dict[str, Any], spec: tuple[set[str], set[str]], where: str) -> None:
    required, optional = spec
    assert required <= set(value), f"{where}: missing {sorted(required - set(value))}"
    assert set(value) <= required | optional, f"{where}: unknown {sorted(set(value) - required - optional)}"


@pytest.mark.parametrize("name", ["ws_order_update", "ws_order_fill", "ws_ticker"])
def test_stream_fixture_matches_the_documented_message(name: str) -> None:
    message = load_fixture("ethereal", name)
    check_keys(message, ENVELOPE, name)
    event = message["e"]
    if event == "Ticker":
        check_keys(message["data"], STREAM[event], f"{name}.data")
        return
    check_keys(message["data"], BATCH, f"{name}.data")
    for i, entry in enumerate(message["data"]["d"]):
        check_keys(entry, STREAM[event], f"{name}.data.d[{i}]")
        assert entry["sd"] in (0, 1)
        if event == "OrderUpdate":
            assert entry["st"] in ORDER_STATUSES


def test_acknowledgements_are_ok_flags() -> None:
    assert load_fixture("ethereal", "ws_ack") == {"ok": True}
    refused = load_fixture("ethereal", "ws_ack_refused")
    assert refused["ok"] is False and refused["code"] == "SUBSCRIPTION_LIMIT_EXCEEDED"
