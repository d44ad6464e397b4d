"""Nado's written-out EIP-712 tables (bot_runtime/exchanges/nado/signing.py) sign exactly as the official SDK does.

nado-protocol 2.0.0 imports ``eth_account.messages.encode_structured_data``, which eth-account 0.13 removed; here
(and only here: pods never import the SDK) a compatibility shim puts it back as a wrapper around 0.13's
``encode_typed_data(full_message=...)`` before the SDK's signing module is imported. The SDK then builds and signs
orders (post-only, IOC reduce-only, negative amounts, fractional prices), cancellations (the ``uint32[]`` /
``bytes32[]`` arrays), product cancellations and the stream authentication; the client's signer signs the same
messages; digests and signatures must be identical. Where the SDK (under its own pins: eth-account 0.8) was run
outside this environment, the vectors it printed are checked too (``sdk_vectors.json``), so the shim is not the only
witness.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account import Account

from bot_runtime.exchanges.nado.signing import (
    AppendixOrderType,
    Domain,
    NadoSigner,
    appendix_order_type,
    appendix_reduce_only,
    build_appendix,
    order_nonce,
    order_verifying_contract,
    subaccount_bytes32,
)
from tests.support import nado_sdk_oracle

KEY = "0x" + "4c" * 32
CHAIN_ID = 57073  # Ink mainnet
ENDPOINT = "0x05ec92D78ED421f3D3Ada77FFdE167106565974E"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "exchanges" / "nado"


@pytest.fixture(scope="module")
def sdk() -> Any:
    """The SDK's signing functions, imported under the compatibility shim (nado_sdk_oracle)."""
    oracle = nado_sdk_oracle.sdk()
    if oracle is None:
        pytest.skip("nado-protocol (the test oracle) is not installed")
    return SimpleNamespace(
        sign=oracle.sign,
        bytes32=oracle.bytes32,
        expiration=oracle.expiration,
        nonce=oracle.nonce,
        order=oracle.order,
        tx=oracle.contract_types.NadoTxType,
    )


def _sdk_sign(sdk: Any, tx: Any, message: dict[str, Any], contract: str) -> tuple[str, str]:
    typed = sdk.sign.build_eip712_typed_data(tx, message, contract, CHAIN_ID)
    digest = sdk.sign.get_eip712_typed_data_digest(typed)
    signature = sdk.sign.sign_eip712_typed_data(typed, Account.from_key(KEY))
    return digest, signature if signature.startswith("0x") else "0x" + signature


@pytest.fixture(scope="module")
def signer() -> NadoSigner:
    return NadoSigner(KEY, Domain(chain_id=CHAIN_ID, endpoint=ENDPOINT))


def test_helpers_match_the_sdk(sdk: Any, signer: NadoSigner) -> None:
    owner = signer.address
    for name in ("default", "bot-1", ""):
        assert subaccount_bytes32(owner, name) == sdk.bytes32.subaccount_to_bytes32(owner, name)
    for product in (1, 2, 18, 4096):
        assert order_verifying_contract(product) == sdk.order.gen_order_verifying_contract(product)
    for kind, sdk_kind in (
        (AppendixOrderType.DEFAULT, sdk.expiration.OrderType.DEFAULT),
        (AppendixOrderType.IOC, sdk.expiration.OrderType.IOC),
        (AppendixOrderType.FOK, sdk.expiration.OrderType.FOK),
        (AppendixOrderType.POST_ONLY, sdk.expiration.OrderType.POST_ONLY),
    ):
        for reduce_only in (False, True):
            ours = build_appendix(kind, reduce_only=reduce_only)
            assert ours == sdk.order.build_appendix(sdk_kind, reduce_only=reduce_only)
            assert appendix_order_type(ours) == int(sdk.order.order_execution_type(ours))
            assert appendix_reduce_only(ours) == sdk.order.order_reduce_only(ours)
    assert order_nonce(1_700_000_000_000, 123) == sdk.nonce.gen_order_nonce(1_700_000_000_000, 123)


ORDERS = [
    # (product, price x18, amount x18, order type, reduce only, subaccount)
    (2, 95_000 * 10**18, 10**16, AppendixOrderType.POST_ONLY, False, "default"),
    (4, 3_456_789 * 10**14, -25 * 10**17, AppendixOrderType.IOC, True, "default"),
    (2, 94_999_5 * 10**17, -(10**15), AppendixOrderType.DEFAULT, False, "bot-1"),
    (8, 123_456_789_012_345_678, 7 * 10**18, AppendixOrderType.FOK, True, "grid"),
]


@pytest.mark.parametrize(("product", "price", "amount", "kind", "reduce_only", "name"), ORDERS)
def test_order_signature_matches_the_sdk(
    sdk: Any,
    signer: NadoSigner,
    product: int,
    price: int,
    amount: int,
    kind: AppendixOrderType,
    reduce_only: bool,
    name: str,
) -> None:
    sender = subaccount_bytes32(signer.address, name)
    message = {
        "sender": sender,
        "priceX18": price,
        "amount": amount,
        "expiration": 8_589_934_592 + 77,
        "nonce": order_nonce(1_765_000_000_000, 4321),
        "appendix": build_appendix(kind, reduce_only=reduce_only),
    }
    expected = _sdk_sign(sdk, sdk.tx.PLACE_ORDER, dict(message), sdk.order.gen_order_verifying_contract(product))
    assert signer.order(product, message) == expected


def test_cancellations_and_stream_auth_match_the_sdk(sdk: Any, signer: NadoSigner) -> None:
    sender = subaccount_bytes32(signer.address, "default")
    digests = ["0x" + "ab" * 32, "0x" + "01" * 32]
    nonce = order_nonce(1_765_000_000_000, 7)
    expected = _sdk_sign(
        sdk,
        sdk.tx.CANCEL_ORDERS,
        {"sender": sender, "productIds": [2, 4], "digests": [bytes.fromhex(d[2:]) for d in digests], "nonce": nonce},
        ENDPOINT,
    )
    assert signer.cancel(sender, [2, 4], digests, nonce) == expected
    expected = _sdk_sign(
        sdk, sdk.tx.CANCEL_PRODUCT_ORDERS, {"sender": sender, "productIds": [2], "nonce": nonce}, ENDPOINT
    )
    assert signer.cancel_products(sender, [2], nonce) == expected
    expected = _sdk_sign(sdk, sdk.tx.AUTHENTICATE_STREAM, {"sender": sender, "expiration": 1_765_000_060_000}, ENDPOINT)
    assert signer.stream_auth(sender, 1_765_000_060_000) == expected


def test_vectors_printed_by_the_sdk_under_its_own_pins(signer: NadoSigner) -> None:
    """nado-protocol 2.0.0 with eth-account 0.8.0 / web3 6.20.4 (its own pins, a separate venv): the digests and
    signatures it printed for these messages (fixtures/exchanges/nado/SOURCES.md tells how they were made)."""
    vectors = json.loads((FIXTURES / "sdk_vectors.json").read_text())
    for vector in vectors["vectors"]:
        message = dict(vector["message"])
        message["sender"] = bytes.fromhex(message["sender"][2:])
        kind = vector["kind"]
        if kind == "order":
            for key in ("priceX18", "amount", "expiration", "nonce", "appendix"):
                message[key] = int(message[key])
            got = signer.order(vector["product_id"], message)
        elif kind == "cancel":
            got = signer.cancel(message["sender"], message["productIds"], message["digests"], int(message["nonce"]))
        elif kind == "cancel_products":
            got = signer.cancel_products(message["sender"], message["productIds"], int(message["nonce"]))
        else:
            got = signer.stream_auth(message["sender"], int(message["expiration"]))
        assert got == (vector["digest"], vector["signature"]), vector["name"]
