"""Every Extended fixture parses with the SDK's own model of its endpoint (every field the model requires is there,
with the model's types and enum values), so a fixture cannot drift from what the SDK expects on the wire."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("x10")

from x10.models.account import AccountModel, AccountStreamDataModel
from x10.models.balance import BalanceModel
from x10.models.base import EmptyModel
from x10.models.fee import TradingFeeModel
from x10.models.http import ResponseStatus, WrappedApiResponseModel, WrappedStreamResponseModel
from x10.models.market import MarketModel
from x10.models.order import OpenOrderModel, PlacedOrderModel
from x10.models.orderbook import OrderbookUpdateModel
from x10.models.position import PositionModel
from x10.models.trade import AccountTradeModel

from tests.support.replay import load_fixture

REST: dict[str, Any] = {
    "markets": list[MarketModel],
    "orderbook": OrderbookUpdateModel,
    "account_info": AccountModel,
    "fees": list[TradingFeeModel],
    "order_placed": PlacedOrderModel,
    "order_open": OpenOrderModel,
    "order_rejected_post_only": OpenOrderModel,
    "orders_by_external_id": list[OpenOrderModel],
    "open_orders": list[OpenOrderModel],
    "trades": list[AccountTradeModel],
    "positions": list[PositionModel],
    "balance": BalanceModel,
    "ok_empty": EmptyModel,
}
ERRORS = ["error_margin", "error_reduce_only", "error_bad_signature", "error_not_found", "error_unauthorized",
          "error_rate_limit"]  # fmt: skip
STREAM: dict[str, Any] = {
    "ws_account_trade": AccountStreamDataModel,
    "ws_account_order": AccountStreamDataModel,
    "ws_orderbook_depth1": OrderbookUpdateModel,
}


@pytest.mark.parametrize("name", sorted(REST))
def test_rest_fixture_is_the_sdks_model(name: str) -> None:
    raw = load_fixture("extended", name)
    parsed = WrappedApiResponseModel[REST[name]].model_validate(raw)
    assert parsed.status == ResponseStatus.OK and parsed.error is None
    if name != "ok_empty":
        assert parsed.data is not None


@pytest.mark.parametrize("name", ERRORS)
def test_error_fixture_is_the_sdks_error_envelope(name: str) -> None:
    parsed = WrappedApiResponseModel[EmptyModel].model_validate(load_fixture("extended", name))
    assert parsed.status == ResponseStatus.ERROR and parsed.error is not None and parsed.error.code > 0


@pytest.mark.parametrize("name", sorted(STREAM))
def test_stream_fixture_is_the_sdks_model(name: str) -> None:
    parsed = WrappedStreamResponseModel[STREAM[name]].model_validate(load_fixture("extended", name))
    assert parsed.data is not None and parsed.seq > 0


def test_the_market_fixture_carries_what_signing_needs() -> None:
    markets = [MarketModel.model_validate(row) for row in load_fixture("extended", "markets")["data"]]
    btc = next(m for m in markets if m.name == "BTC-USD")
    assert btc.synthetic_asset.starkex_resolution == 1_000_000 and btc.collateral_asset.starkex_resolution == 1_000_000
    assert {m.name for m in markets if m.type == "PERPETUAL" and m.active} == {"BTC-USD", "ETH-USD", "1000PEPE-USD"}
