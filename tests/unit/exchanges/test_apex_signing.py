"""ApeX Omni signing under the project's dependency overrides gives the official SDK's own results.

``tests/fixtures/exchanges/apex/sdk_vectors.json`` holds what apexomni 3.4.2's ``HttpPrivateSign.create_order_v3``
(order bodies with their zkLink signatures) and ``HttpPrivate.sign`` (``APEX-SIGNATURE``) returned in an environment
with exactly the SDK's pins (web3 6.0.0, sympy 1.6, mpmath 1.0.0, ecdsa 0.16.0: see its ``produced_by``). Here, with
the versions pyproject's override-dependencies keep (sympy 1.14, mpmath 1.3, ecdsa 0.19.2, web3 7), the pod's signer
(:mod:`bot_runtime.exchanges.apex.signing`, on the SDK's zkLink binding) must reproduce them key for key and byte for
byte, and must import none of those overridden packages."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

if importlib.util.find_spec("apexomni") is None:  # not importorskip: the SDK's package __init__ is what fails here
    pytest.skip("the apex extra is not installed", allow_module_level=True)

from bot_runtime.exchanges.apex.signing import Contract, OrderSigner, request_signature
from tests.support.replay import load_fixture

VECTORS: Any = load_fixture("apex", "sdk_vectors")


def contract(symbol: str) -> Contract:
    row = next(c for c in VECTORS["contracts"] if c["symbol"] == symbol)
    return Contract(symbol, int(row["l2PairId"]), Decimal(row["tickSize"]), VECTORS["settle_decimals"])


@pytest.mark.parametrize("case", VECTORS["orders"], ids=lambda c: f"{c['input']['symbol']}-{c['input']['side']}")
def test_order_body_and_signature_are_the_sdks(case: dict[str, Any]) -> None:
    given = case["input"]
    fees = VECTORS["account"]["contractAccount"]
    signer = OrderSigner(VECTORS["zk_seeds"], VECTORS["account"]["id"])
    body = signer.order_body(
        contract(given["symbol"]),
        side=given["side"],
        order_type="LIMIT",
        price=Decimal(given["price"]),
        size=Decimal(given["size"]),
        time_in_force=given["timeInForce"],
        reduce_only=given["reduceOnly"],
        client_id=given["clientId"],
        taker_fee_rate=Decimal(fees["takerFeeRate"]),
        maker_fee_rate=Decimal(fees["makerFeeRate"]),
        timestamp_seconds=given["timestampSeconds"],
    )
    assert case["endpoint"] == "/api/v3/order"
    assert list(body) == list(case["body"])  # the same keys in the same order
    assert body == case["body"]


def test_another_seed_gives_another_signature() -> None:
    given = VECTORS["orders"][0]["input"]
    signer = OrderSigner("0x" + "2a" * 64, VECTORS["account"]["id"])
    signature = signer.signature(
        contract(given["symbol"]),
        side=given["side"],
        price=Decimal(given["price"]),
        size=Decimal(given["size"]),
        client_id=given["clientId"],
        taker_fee_rate=Decimal("0.0005"),
        maker_fee_rate=Decimal("0.0002"),
    )
    assert signature.startswith("0x") and signature != VECTORS["orders"][0]["body"]["signature"]


def test_a_price_off_the_tick_is_refused_before_signing() -> None:
    signer = OrderSigner(VECTORS["zk_seeds"], VECTORS["account"]["id"])
    with pytest.raises(ValueError, match="tick"):
        signer.order_body(contract("BTC-USDT"), side="BUY", order_type="LIMIT", price=Decimal("60000.55"),
                          size=Decimal("0.01"), time_in_force="POST_ONLY", reduce_only=False, client_id="x",
                          taker_fee_rate=Decimal("0.0005"), maker_fee_rate=Decimal("0.0002"),
                          timestamp_seconds=1796649877)  # fmt: skip


@pytest.mark.parametrize("case", VECTORS["hmac"], ids=lambda c: f"{c['method']} {c['request_path']}")
def test_request_signature_is_the_sdks(case: dict[str, Any]) -> None:
    secret = VECTORS["api_key_credentials"]["secret"]
    signature = request_signature(secret, case["request_path"], case["method"], case["iso_timestamp"], case["data"])
    assert signature == case["signature"]


def test_signing_imports_only_the_zklink_binding() -> None:
    code = (
        "import sys; from bot_runtime.exchanges.apex.signing import OrderSigner;"
        f"OrderSigner({VECTORS['zk_seeds']!r}, '1');"
        "print(sorted(m for m in ('sympy', 'mpmath', 'ecdsa', 'web3', 'numpy', 'requests', 'apexomni.http_private')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]
