"""Nado's EIP-712 signing, written out from the official SDK (``nado-protocol`` 2.0.0) and signed with eth-account 0.13.

Why written out: the SDK's package ``__init__`` files import ``eth_account.messages.encode_structured_data``, which
eth-account removed (0.13 has ``encode_typed_data``), so no SDK module a pod would want imports under the project's
eth-account (docs/exchanges/nado.md). The tables below mirror the SDK line by line (each cites the file it copies);
``tests/unit/exchanges/test_nado_signing.py`` signs the same orders, cancels and stream authentications with the SDK's
own functions (under a test-only compatibility shim) and with this module and asserts identical digests and
signatures, so a table that drifts from the SDK fails there.

What is signed (the SDK's ``ExecuteBaseClient._sign`` / ``build_eip712_typed_data``):

* the domain ``Nado`` / ``0.0.1`` / the chain id / a verifying contract: for ``Order`` the product id as a 20-byte
  address (``gen_order_verifying_contract``: product 2 -> ``0x00..02``), for everything else the endpoint contract
  (the gateway's ``contracts`` query answers both the chain id and the endpoint address);
* ``sender`` = the subaccount as bytes32: the owner address (20 bytes) + the subaccount name, ASCII, zero-padded to
  12 bytes (``subaccount_to_bytes32``);
* prices and amounts are ``x18`` integers (``priceX18``; ``amount`` > 0 buys, < 0 sells); the order ``nonce`` is
  ``(recv_time_ms << 20) + low bits`` (``gen_order_nonce``: the engine refuses an order that reaches it after
  ``recv_time``); ``appendix`` is the order's bit field (``utils/order.py`` ``build_appendix``: version 1, order type
  in bits 9-10, reduce-only in bit 11).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

# nado_protocol/contracts/eip712/domain.py get_nado_eip712_domain: name "Nado", version "0.0.1"
DOMAIN_NAME = "Nado"
DOMAIN_VERSION = "0.0.1"
# nado_protocol/contracts/eip712/domain.py get_eip712_domain_type
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
# nado_protocol/contracts/eip712/types.py get_nado_eip712_type: NadoTxType.PLACE_ORDER
ORDER_TYPE = {
    "Order": [
        {"name": "sender", "type": "bytes32"},
        {"name": "priceX18", "type": "int128"},
        {"name": "amount", "type": "int128"},
        {"name": "expiration", "type": "uint64"},
        {"name": "nonce", "type": "uint64"},
        {"name": "appendix", "type": "uint128"},
    ]
}
# nado_protocol/contracts/eip712/types.py get_nado_eip712_type: NadoTxType.CANCEL_ORDERS
CANCELLATION_TYPE = {
    "Cancellation": [
        {"name": "sender", "type": "bytes32"},
        {"name": "productIds", "type": "uint32[]"},
        {"name": "digests", "type": "bytes32[]"},
        {"name": "nonce", "type": "uint64"},
    ]
}
# nado_protocol/contracts/eip712/types.py get_nado_eip712_type: NadoTxType.CANCEL_PRODUCT_ORDERS
CANCELLATION_PRODUCTS_TYPE = {
    "CancellationProducts": [
        {"name": "sender", "type": "bytes32"},
        {"name": "productIds", "type": "uint32[]"},
        {"name": "nonce", "type": "uint64"},
    ]
}
# nado_protocol/contracts/eip712/types.py get_nado_eip712_type: NadoTxType.AUTHENTICATE_STREAM
STREAM_AUTHENTICATION_TYPE = {
    "StreamAuthentication": [
        {"name": "sender", "type": "bytes32"},
        {"name": "expiration", "type": "uint64"},
    ]
}

X18 = 10**18


class AppendixOrderType(IntEnum):
    """nado_protocol/utils/expiration.py ``OrderType``."""

    DEFAULT = 0
    IOC = 1
    FOK = 2
    POST_ONLY = 3


# nado_protocol/utils/order.py AppendixBitFields / APPENDIX_VERSION
APPENDIX_VERSION = 1
_VERSION_MASK = (1 << 8) - 1
_ORDER_TYPE_SHIFT = 9
_ORDER_TYPE_MASK = (1 << 2) - 1
_REDUCE_ONLY_SHIFT = 11


def build_appendix(order_type: AppendixOrderType, *, reduce_only: bool = False) -> int:
    """nado_protocol/utils/order.py ``build_appendix`` for a cross-margin order without trigger or builder."""
    appendix = APPENDIX_VERSION & _VERSION_MASK
    appendix |= (int(order_type) & _ORDER_TYPE_MASK) << _ORDER_TYPE_SHIFT
    if reduce_only:
        appendix |= 1 << _REDUCE_ONLY_SHIFT
    return appendix


def appendix_order_type(appendix: int) -> AppendixOrderType:
    """nado_protocol/utils/order.py ``order_execution_type``."""
    return AppendixOrderType((appendix >> _ORDER_TYPE_SHIFT) & _ORDER_TYPE_MASK)


def appendix_reduce_only(appendix: int) -> bool:
    """nado_protocol/utils/order.py ``order_reduce_only``."""
    return bool((appendix >> _REDUCE_ONLY_SHIFT) & 1)


def order_verifying_contract(product_id: int) -> str:
    """nado_protocol/utils/order.py ``gen_order_verifying_contract``: ``address(product_id)``."""
    return "0x" + product_id.to_bytes(20, "big").hex()


def subaccount_bytes32(owner: str, name: str) -> bytes:
    """nado_protocol/utils/bytes32.py ``subaccount_to_bytes32(owner, name)``: 20 address bytes + the name, padded."""
    raw = bytes.fromhex(owner.removeprefix("0x")) + name.encode()
    if len(raw) > 32:
        raise ValueError("the subaccount name is longer than 12 bytes")
    return raw + b"\x00" * (32 - len(raw))


def order_nonce(recv_time_ms: int | None = None, low: int = 0) -> int:
    """nado_protocol/utils/nonce.py ``gen_order_nonce``: ``(recv_time_ms << 20) + low``; the SDK's default recv
    time is now + 90 s and its low part random below 1000 (any value below 2^20 is valid)."""
    if recv_time_ms is None:
        recv_time_ms = int(time.time() * 1000) + 90_000
    if not 0 <= low < 1 << 20:
        raise ValueError("the nonce's low part takes 20 bits")
    return (recv_time_ms << 20) + low


@dataclass(frozen=True)
class Domain:
    chain_id: int
    endpoint: str  # the verifying contract of every signed message but orders


class NadoSigner:
    """Signs Nado's execute and stream-auth messages with one key (the owner's, or a linked signer's)."""

    def __init__(self, private_key: str, domain: Domain) -> None:
        from eth_account import Account

        self._account: Any = Account.from_key(private_key)
        self.domain = domain

    def __repr__(self) -> str:  # never show the key material
        return f"NadoSigner(address={self.address}, <redacted>)"

    @property
    def address(self) -> str:
        return str(self._account.address)

    # the typed data (exactly what the SDK's build_eip712_typed_data(...).model_dump() holds) ----------------------
    def typed_data(
        self, types: Mapping[str, Any], message: Mapping[str, Any], verifying_contract: str
    ) -> dict[str, Any]:
        primary = next(iter(types))
        return {
            "types": {"EIP712Domain": DOMAIN_TYPE, **types},
            "primaryType": primary,
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": self.domain.chain_id,
                "verifyingContract": verifying_contract,
            },
            "message": dict(message),
        }

    def sign(self, typed: Mapping[str, Any]) -> tuple[str, str]:
        """(digest, signature), both 0x-hex: the SDK's ``get_eip712_typed_data_digest`` / ``sign_eip712_typed_data``."""
        from eth_account.messages import encode_typed_data
        from eth_utils.crypto import keccak

        signable = encode_typed_data(full_message=dict(typed))
        digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
        signed = self._account.sign_message(signable)
        return "0x" + digest.hex(), "0x" + bytes(signed.signature).hex().removeprefix("0x")

    def order(self, product_id: int, order: Mapping[str, Any]) -> tuple[str, str]:
        """``order``: sender (bytes32), priceX18, amount, expiration, nonce, appendix (ints)."""
        return self.sign(self.typed_data(ORDER_TYPE, order, order_verifying_contract(product_id)))

    def cancel(self, sender: bytes, product_ids: Sequence[int], digests: Sequence[str], nonce: int) -> tuple[str, str]:
        message = {
            "sender": sender,
            "productIds": list(product_ids),
            "digests": [bytes.fromhex(d.removeprefix("0x")) for d in digests],
            "nonce": nonce,
        }
        return self.sign(self.typed_data(CANCELLATION_TYPE, message, self.domain.endpoint))

    def cancel_products(self, sender: bytes, product_ids: Sequence[int], nonce: int) -> tuple[str, str]:
        message = {"sender": sender, "productIds": list(product_ids), "nonce": nonce}
        return self.sign(self.typed_data(CANCELLATION_PRODUCTS_TYPE, message, self.domain.endpoint))

    def stream_auth(self, sender: bytes, expiration_ms: int) -> tuple[str, str]:
        message = {"sender": sender, "expiration": expiration_ms}
        return self.sign(self.typed_data(STREAM_AUTHENTICATION_TYPE, message, self.domain.endpoint))
