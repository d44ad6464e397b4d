"""Orders and cancels signed by the SDK's own functions (``ethereal.rest.order``): ``prepare_order`` builds the
``SubmitOrderDto`` (nonce = ``time.time_ns()``, ``engineType`` 0), ``sign_order`` builds the EIP-712 ``TradeOrder``
message from it (quantity and price scaled by 1e9, ``productId`` = the product's ``onchainId``, the client id as
bytes32, ``signedAt`` in seconds) against the domain and type strings of ``GET /v1/rpc/config``;
``prepare_cancel_order`` / ``sign_cancel_order`` do the same for ``CancelOrder`` (order ids and client ids as
bytes32). The request bodies are the SDK's ``submit_order`` / ``cancel_order`` payloads.

Those functions are the REST client's methods written as module functions over ``self``: they read ``self._models``
(the generated models), ``self.rpc_config`` and ``self.chain`` (``private_key``, ``get_signature_types``,
``sign_message``). :class:`_SdkContext` is that ``self``.

Imports. The SDK's package ``__init__`` imports all its clients, and with them web3 (about half of the SDK's import
time) for the chain client's on-chain calls (deposits, withdrawals); signing needs none of it. So the package (and
``ethereal.models``, whose ``__init__`` loads the archive and TradingView models too) is registered without its
``__init__`` (:func:`~bot_runtime.exchanges._shared.sdk_imports.package_without_init`) and a pod imports only
``ethereal.rest.order``, ``ethereal.rest.util`` and ``ethereal.models.rest``. The two methods of the SDK's
``ChainClient`` that signing calls live in its web3 module, so :class:`_Chain` holds them, line for line as
``ethereal/chain_client.py`` writes them (eth-account's ``encode_typed_data`` + ``Account.sign_message``);
``tests/unit/exchanges/test_ethereal_signing.py`` proves they give the SDK's ``ChainClient``'s exact signatures.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from bot_runtime.exchanges._shared.sdk_imports import package_without_init

package_without_init("ethereal")
package_without_init("ethereal.models")

import ethereal.models.rest as sdk_models  # noqa: E402 - after the packages are registered without their __init__
from ethereal.rest.order import prepare_cancel_order, prepare_order, sign_cancel_order, sign_order  # noqa: E402
from ethereal.rest.util import encode_account_name  # noqa: E402


class _Chain:
    """``ethereal.chain_client.ChainClient``'s signing methods (``get_signature_types``, ``convert_types``,
    ``_get_by_alias``, ``sign_message``), without its web3 provider."""

    def __init__(self, private_key: str) -> None:
        self.private_key = private_key

    def get_signature_types(self, rpc_config: Any, primary_type: str) -> dict[str, list[dict[str, str]]]:
        return {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type: self.convert_types(self._get_by_alias(rpc_config.signature_types, primary_type)),
        }

    @staticmethod
    def convert_types(type_string: str) -> list[dict[str, str]]:
        fields = [comp.strip() for comp in type_string.split(",")]
        type_fields = []
        for field in fields:
            field_type, field_name = field.rsplit(" ", 1)
            type_fields.append({"name": field_name, "type": field_type})
        return type_fields

    @staticmethod
    def _get_by_alias(model: Any, alias: str) -> Any:
        for field_name, field in model.__class__.model_fields.items():
            if field.alias == alias:
                return getattr(model, field_name)
        raise KeyError(f"Alias '{alias}' not found in model {model.__class__.__name__}")

    @staticmethod
    def sign_message(private_key: str, domain: dict[str, Any], types: Any, primary_type: str, message: Any) -> str:
        domain["chainId"] = int(domain["chainId"])
        full_message = {"types": types, "primaryType": primary_type, "domain": domain, "message": message}
        signed = Account.sign_message(encode_typed_data(full_message=full_message), private_key)
        return "0x" + bytes(signed.signature).hex()


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
        self._sdk = _SdkContext(_Chain(private_key), sdk_models.RpcConfigDto.model_validate(rpc_config))
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
