"""The Lighter replay fixtures are complete, strictly typed instances of the SDK's own models."""

from __future__ import annotations

import pytest

from tests.support.replay import load_fixture

models = pytest.importorskip("lighter.models")

CASES = [
    ("order_books", "OrderBooks"),
    ("order_book_details", "OrderBookDetails"),
    ("funding_rates", "FundingRates"),
    ("account", "DetailedAccounts"),
    ("next_nonce", "NextNonce"),
    ("send_tx", "RespSendTx"),
    ("order", "Order"),
    ("trade", "Trade"),
    ("order_book_orders", "OrderBookOrders"),
    ("error_margin", "ResultCode"),
    ("error_rate_limited", "ResultCode"),
]


@pytest.mark.parametrize(("fixture", "model"), CASES)
def test_fixture_validates_against_sdk_model(fixture: str, model: str) -> None:
    getattr(models, model).model_validate(load_fixture("lighter", fixture))


def test_validation_is_strict() -> None:
    broken = load_fixture("lighter", "order")
    del broken["status"]
    with pytest.raises(ValueError, match="status"):
        models.Order.model_validate(broken)
    broken = load_fixture("lighter", "order")
    broken["price"] = 97000.0  # a number where Lighter sends a string
    with pytest.raises(ValueError, match="price"):
        models.Order.model_validate(broken)
