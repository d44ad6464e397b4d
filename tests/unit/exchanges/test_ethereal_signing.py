"""The pod's signing path (``bot_runtime.exchanges.ethereal.signing``: the SDK's ``prepare_order`` / ``sign_order`` /
``prepare_cancel_order`` / ``sign_cancel_order`` over a chain object that holds ``ChainClient``'s signing methods
without web3) gives byte for byte the signatures of the SDK's own ``ChainClient`` for the same payloads, and the
signatures recover to the signer; importing it loads neither web3 nor the SDK's clients."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("ethereal")

from eth_account import Account
from ethereal.chain_client import ChainClient
from ethereal.models import rest as sdk_models
from ethereal.rest.order import sign_cancel_order, sign_order

from bot_runtime.exchanges.ethereal.signing import OrderSigner
from tests.support.replay import load_fixture

KEY = "0x" + "4c" * 32


class SdkSelf:
    """The SDK REST client's ``self`` as the SDK builds it: its real ``ChainClient`` (constructed without the RPC
    round trip of ``__init__``, which only sets the provider and the address)."""

    def __init__(self) -> None:
        chain = ChainClient.__new__(ChainClient)
        chain.private_key = KEY
        self.chain = chain
        self.rpc_config = sdk_models.RpcConfigDto.model_validate(load_fixture("ethereal", "rpc_config"))
        self._models = sdk_models


@pytest.mark.parametrize(
    "order",
    [
        {"onchain_id": 1, "side": 0, "quantity": Decimal("0.0123"), "price": Decimal("104000"), "order_type": "LIMIT",
         "time_in_force": "GTD", "post_only": True, "reduce_only": False,
         "client_order_id": "7064abc1-2378-0001-9978-627fd1000001"},
        {"onchain_id": 2, "side": 1, "quantity": Decimal("0.5"), "price": None, "order_type": "MARKET",
         "time_in_force": None, "post_only": False, "reduce_only": True,
         "client_order_id": "7064abc1-2378-0001-9978-627fd1000002"},
    ],
    ids=["post-only-limit", "reduce-only-market"],
)  # fmt: skip
async def test_order_signature_is_the_sdk_chain_clients(order: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("time.time", lambda: 1_796_649_877.5)  # sign_order stamps signedAt with time.time()
    signer = OrderSigner(KEY, load_fixture("ethereal", "rpc_config"), subaccount_name="primary")
    body = await signer.order(**order)
    reference = sdk_models.SubmitOrderDto.model_validate({"data": body["data"], "signature": ""})
    expected = await sign_order(SdkSelf(), reference)
    assert body["signature"] == expected.signature
    assert body["data"]["signedAt"] == 1_796_649_877 and body["data"]["sender"] == Account.from_key(KEY).address


async def test_cancel_signature_is_the_sdk_chain_clients() -> None:
    signer = OrderSigner(KEY, load_fixture("ethereal", "rpc_config"), subaccount_name="primary")
    body = await signer.cancel(
        order_ids=["a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"], client_order_ids=["7064abc1-2378-0001-9978-627fd1000001"]
    )
    reference = sdk_models.CancelOrderDto.model_validate({"data": body["data"], "signature": ""})
    expected = await sign_cancel_order(SdkSelf(), reference)
    assert body["signature"] == expected.signature


def test_the_signing_module_imports_no_web3_and_no_sdk_client() -> None:
    code = (
        "import sys; import bot_runtime.exchanges.ethereal.signing;"
        "print(sorted(m for m in ('web3', 'ethereal.chain_client', 'ethereal.rest_client', 'ethereal.ws_client',"
        " 'ethereal.models.archive', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]"]
