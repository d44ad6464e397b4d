"""Aster HMAC-SHA256 signing against the worked example in Aster's API docs, and secret hygiene."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import parse_qsl

from bot_runtime.exchanges.aster.signing import HmacSigner

DOC_API_KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"
DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"


def test_signature_matches_the_documented_example() -> None:
    # asterdex/api-docs V1(Legacy)/EN "SIGNED Endpoint Examples for POST /fapi/v1/order", Example 1
    signer = HmacSigner(DOC_API_KEY, DOC_SECRET, recv_window=5000)
    payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943"
    assert signer.signature(payload) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


def test_signed_params_appends_window_timestamp_and_signature_last() -> None:
    signer = HmacSigner(DOC_API_KEY, DOC_SECRET, recv_window=5000)
    signed = signer.signed_params(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "quantity": Decimal("1"),
            "price": Decimal("9000"),
            "timeInForce": "GTC",
        },
        timestamp_ms=1591702613943,
    )
    pairs = parse_qsl(signed)
    assert [k for k, _ in pairs][-3:] == ["recvWindow", "timestamp", "signature"]
    # not the documented order of fields, so a different (but verifiable) signature
    body, signature = signed.rsplit("&signature=", 1)
    assert signature == signer.signature(body)
    assert dict(pairs)["quantity"] == "1" and dict(pairs)["price"] == "9000"


def test_decimal_never_goes_out_in_exponent_notation_and_repr_hides_keys() -> None:
    signer = HmacSigner(DOC_API_KEY, DOC_SECRET, recv_window=5000)
    signed = signer.signed_params({"quantity": Decimal("1E+1"), "reduceOnly": True}, timestamp_ms=1)
    assert "quantity=10&reduceOnly=true" in signed
    assert DOC_SECRET not in repr(signer) and DOC_API_KEY not in repr(signer)
