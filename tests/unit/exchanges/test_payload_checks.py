"""The strict reading every venue client shares (bot_runtime/exchanges/_shared/payload_checks.py, issue 18)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel

from bot_runtime.exchanges._shared.payload_checks import checked_quote, filled_size, reading, unknown_status
from bot_runtime.exchanges.base import MalformedResponse, OrderNotFound, OrderStatus, TransientNetworkError


class _Auth(BaseModel):
    jwt_token: str
    expires: int


def test_a_refused_field_is_named_never_quoted() -> None:
    with pytest.raises(MalformedResponse) as caught, reading("venue", "auth answer"):
        _Auth.model_validate({"jwt_token": "eyJ.secret.token", "expires": "soon"})
    assert "expires" in str(caught.value) and "soon" not in str(caught.value)
    assert "secret" not in str(caught.value) and caught.value.__cause__ is None and caught.value.__suppress_context__
    assert isinstance(caught.value, TransientNetworkError) and caught.value.retryable  # re-read, look up


def test_a_missing_key_is_named_and_exchange_errors_pass_unchanged() -> None:
    with pytest.raises(MalformedResponse, match="unreadable order: missing field 'status'"), reading("venue", "order"):
        _ = {"id": 1}["status"]
    with pytest.raises(OrderNotFound), reading("venue", "order"):
        raise OrderNotFound("gone")


def test_unknown_status_names_the_order() -> None:
    assert "unknown order status 'FROZEN' of order 7" in str(unknown_status("venue", "FROZEN", 7))


@pytest.mark.parametrize(
    ("status", "reported", "none_filled", "expected"),
    [
        (OrderStatus.FILLED, None, False, Decimal(2)),  # FILLED means fully filled
        (OrderStatus.FILLED, Decimal(0), False, Decimal(2)),
        (OrderStatus.FILLED, Decimal("1.5"), False, Decimal("1.5")),  # the venue's figure when it gives one
        (OrderStatus.PENDING, None, False, Decimal(0)),
        (OrderStatus.REJECTED, None, False, Decimal(0)),
        (OrderStatus.OPEN, None, True, Decimal(0)),  # Binance's NEW: nothing filled
        (OrderStatus.CANCELED, Decimal("0.5"), False, Decimal("0.5")),
    ],
)
def test_filled_size(status: OrderStatus, reported: Decimal | None, none_filled: bool, expected: Decimal) -> None:
    assert filled_size("venue", status, reported, Decimal(2), 1, none_filled=none_filled) == expected


@pytest.mark.parametrize("status", [OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELED])
def test_a_size_left_out_where_anything_may_have_filled_is_an_error(status: OrderStatus) -> None:
    with pytest.raises(MalformedResponse, match="without a filled size"):
        filled_size("venue", status, None, Decimal(2), 1)
    with pytest.raises(MalformedResponse, match="neither size"):
        filled_size("venue", OrderStatus.FILLED, None, Decimal(0), 1)


@pytest.mark.parametrize(("bid", "ask"), [("0", "1"), ("1", "0"), ("-1", "1"), ("2", "1"), ("1", "1"), (None, "1")])
def test_checked_quote_refuses_zero_negative_locked_or_crossed(bid: str | None, ask: str) -> None:
    with pytest.raises(MalformedResponse, match="not 0 < bid < ask"):
        checked_quote("venue", "BTC", Decimal(bid) if bid else None, Decimal(ask))
    assert checked_quote("venue", "BTC", Decimal("1"), Decimal("1.1")).mid == Decimal("1.05")
