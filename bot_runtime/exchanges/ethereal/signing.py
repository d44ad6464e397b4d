"""Orders and cancels signed by the SDK's own functions (``ethereal.rest.order``): ``prepare_order`` builds the
``SubmitOrderDto`` (nonce = ``time.time_ns()``, ``engineType`` 0), ``sign_order`` signs it as EIP-712 ``TradeOrder``
(quantity and price scaled by 1e9, ``productId`` = the product's ``onchainId``, ``signedAt`` in seconds) against the
domain and type strings of ``GET /v1/rpc/config``; ``prepare_cancel_order`` / ``sign_cancel_order`` do the same for
``CancelOrder`` (order ids and client ids as bytes32). The request bodies are the SDK's ``submit_order`` /
``cancel_order`` payloads.

Those functions are the REST client's methods written as module functions over ``self``: they read ``self._models``
(the generated models), ``self.rpc_config`` and ``self.chain`` (``get_signature_types``, ``sign_message``,
``private_key``). :class:`_SdkContext` is that ``self``. The chain part is the SDK's :class:`ChainClient` without its
``__init__`` (which opens a web3 provider and asks the RPC node for the chain id: not needed to sign, the chain id
comes with the rpc config). Importing any ``ethereal`` module runs the package's ``__init__`` (all clients, web3):
that import cost is measured in docs/performance.md.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from eth_account import Account
from ethereal.chain_client import ChainClient
from ethereal.models import rest as sdk_models
from ethereal.rest.order import prepare_cancel_order, prepare_order, sign_cancel_order, sign_order
from ethereal.rest.util import encode_account_name


class _SdkContext:
    """The ``self`` the SDK's order functions expect of their REST client (see the module docstring)."""

    def __init__(self, chain: Any, rpc_config: Any) -> None:
        self.chain = chain
        self.rpc_config = rpc_config
        self._models = sdk_models


class OrderSigner:
    """Signs with the key given (held only by the SDK's chain object and eth-account)."""

    def __init__(self, private_key: str, rpc_config: Any, *, subaccount_name: str) -> None:
        self.address = str(Account.from_key(private_key).address)
        chain = ChainClient.__new__(ChainClient)  # no __init__: see the module docstring
        chain.private_key = private_key
        self._sdk = _SdkContext(chain, sdk_models.RpcConfigDto.model_validate(rpc_config))
        self.sender = self.address  # TradeOrder's sender is whoever signs: the account or its linked signer
        self.subaccount = encode_account_name(subaccount_name)

    async def order(
        self,
        *,
        onchain_id: int,
        side: int,
        quantity: Decimal,
        price: Decimal | None,
        order_type: str,
        time_in_force: str | None,
        post_only: bool,
        reduce_only: bool,
        client_order_id: str,
    ) -> dict[str, Any]:
        """The signed body of ``POST /v1/order``."""
        prepared = await prepare_order(
            self._sdk,
            sender=self.sender,
            price=price,
            quantity=quantity,
            side=side,
            subaccount=self.subaccount,
            onchain_id=onchain_id,
            order_type=order_type,
            client_order_id=client_order_id,
            time_in_force=time_in_force,
            post_only=post_only,
            reduce_only=reduce_only,
        )
        signed = await sign_order(self._sdk, prepared)
        body: dict[str, Any] = signed.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
        return body

    async def cancel(
        self, *, order_ids: list[str] | None = None, client_order_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """The signed body of ``POST /v1/order/cancel``."""
        prepared = await prepare_cancel_order(
            self._sdk,
            sender=self.sender,
            subaccount=self.subaccount,
            order_ids=[uuid.UUID(order_id) for order_id in order_ids or []],
            client_order_ids=list(client_order_ids or []),
        )
        signed = await sign_cancel_order(self._sdk, prepared)
        body: dict[str, Any] = signed.model_dump(mode="json", by_alias=True, exclude_none=True)
        return body

    def __repr__(self) -> str:
        return f"OrderSigner(address={self.address}, sender={self.sender})"
