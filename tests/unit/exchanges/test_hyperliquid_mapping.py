"""Hyperliquid's number and id rules: prices on 5 significant figures and 6 - szDecimals decimals, wire strings
equal to the SDK's ``float_to_wire``, client ids packed losslessly into cloids, order statuses."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("hyperliquid")

from hyperliquid.utils.signing import float_to_wire
from hyperliquid.utils.types import Cloid

from bot_runtime.exchanges._shared.packed_ids import PackedIdCodec
from bot_runtime.exchanges.base import CancelReason, MalformedResponse, OrderStatus, Side
from bot_runtime.exchanges.hyperliquid.mapping import price_quantum, round_price, status_from_wire, to_wire
from bot_runtime.strategies.base import ClientIds


@pytest.mark.parametrize(
    ("price", "sz_decimals", "side", "expected"),
    [
        ("97012.37", 5, Side.BUY, "97012"),  # 5 significant figures
        ("97012.37", 5, Side.SELL, "97013"),
        ("123456.7", 5, Side.BUY, "123456"),  # an integer is always valid
        ("3701.26", 4, Side.BUY, "3701.2"),
        ("0.0201234", 0, Side.SELL, "0.020124"),  # kPEPE: 6 decimals, 5 significant figures
        ("1.234567", 2, Side.BUY, "1.2345"),  # 5 significant figures before the 4 decimals SOL-like allows
        ("0.12345678", 3, Side.BUY, "0.123"),  # 6 - 3 = 3 decimals
    ],
)
def test_prices_round_away_from_crossing(price: str, sz_decimals: int, side: Side, expected: str) -> None:
    assert to_wire(round_price(Decimal(price), sz_decimals, side)) == expected


def test_the_tick_at_a_price() -> None:
    assert price_quantum(Decimal("97381"), 5) == Decimal(1)
    assert price_quantum(Decimal("3701.1"), 4) == Decimal("0.1")
    assert price_quantum(Decimal("243.25"), 2) == Decimal("0.01")
    assert price_quantum(Decimal("0.020121"), 0) == Decimal("0.000001")


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("10000000"), places=8))
def test_wire_strings_are_the_sdks(value: Decimal) -> None:
    assert to_wire(value) == float_to_wire(float(value))


def test_client_ids_travel_losslessly_through_cloids() -> None:
    ids = ClientIds("btc-grid", "trading")
    codec, other_process = PackedIdCodec(), PackedIdCodec()
    for role in ("o", "c", "x", "u", "b", "abc"):
        client_id = ids.new(role)
        cloid = codec.encode(client_id)
        assert str(Cloid(cloid)) == cloid  # the SDK's own check: 0x + 16 bytes
        assert other_process.decode(cloid) == client_id
        assert ids.role_of(other_process.decode(cloid)) == role


def test_foreign_client_ids() -> None:
    codec = PackedIdCodec()
    cloid = codec.encode("manual-order-7")
    assert cloid.startswith("0x00") and len(cloid) == 34 and codec.decode(cloid) == "manual-order-7"
    assert PackedIdCodec().decode(cloid) == cloid  # another process cannot know the string behind a hash
    native = "0x" + "ab" * 16
    assert codec.encode(native) == native and codec.decode(native) == native
    assert codec.decode(None) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", (OrderStatus.OPEN, None)),
        ("triggered", (OrderStatus.OPEN, None)),
        ("filled", (OrderStatus.FILLED, None)),
        ("canceled", (OrderStatus.CANCELED, CancelReason.USER_CANCELED)),
        ("marginCanceled", (OrderStatus.CANCELED, CancelReason.INSUFFICIENT_BALANCE)),
        ("scheduledCancel", (OrderStatus.CANCELED, CancelReason.USER_CANCELED)),
        ("selfTradeCanceled", (OrderStatus.CANCELED, CancelReason.REJECTED)),
        ("badAloPxRejected", (OrderStatus.REJECTED, CancelReason.POST_ONLY_VIOLATION)),
        ("perpMarginRejected", (OrderStatus.REJECTED, CancelReason.INSUFFICIENT_BALANCE)),
        ("iocCancelRejected", (OrderStatus.EXPIRED, CancelReason.EXPIRED)),
        ("rejected", (OrderStatus.REJECTED, CancelReason.REJECTED)),
        ("vaultWithdrawalCanceled", (OrderStatus.CANCELED, CancelReason.REJECTED)),  # a new reason: still final
    ],
)
def test_order_statuses(status: str, expected: tuple[OrderStatus, CancelReason | None]) -> None:
    assert status_from_wire(status) == expected


def test_an_unknown_status_is_an_error_not_open() -> None:
    with pytest.raises(MalformedResponse, match="unknown order status 'somethingNew' of order 77"):
        status_from_wire("somethingNew", 77)
