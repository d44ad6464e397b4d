"""L1 actions signed as the SDK signs them (``hyperliquid.utils.signing``): the action is msgpack-encoded with the
nonce (and the vault flag) and keccak-hashed; the hash is the ``connectionId`` of a phantom ``Agent``
(``source`` "a" on mainnet, "b" on testnet) signed as EIP-712 typed data by the API wallet. The request body is the
SDK's ``Exchange._post_action`` payload: ``{action, nonce, signature, vaultAddress, expiresAfter}``.

Nonces are milliseconds, strictly increasing per signer (the venue keeps the 100 highest per signer and wants them
within (now - 2 days, now + 1 day)).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from eth_account import Account
from hyperliquid.utils.signing import order_wires_to_order_action, sign_l1_action

__all__ = ["ActionSigner", "order_wires_to_order_action"]


class ActionSigner:
    """Signs L1 actions with the API wallet's key (held only inside the eth-account object)."""

    def __init__(self, private_key: str, *, is_mainnet: bool, vault_address: str | None = None) -> None:
        self._wallet = Account.from_key(private_key)
        self.is_mainnet = is_mainnet
        self.vault_address = vault_address
        self._last_nonce = 0
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return str(self._wallet.address)

    def next_nonce(self) -> int:
        with self._lock:
            self._last_nonce = max(int(time.time() * 1000), self._last_nonce + 1)
            return self._last_nonce

    def payload(self, action: dict[str, Any], nonce: int | None = None) -> dict[str, Any]:
        nonce = self.next_nonce() if nonce is None else nonce
        signature = sign_l1_action(self._wallet, action, self.vault_address, nonce, None, self.is_mainnet)
        return {
            "action": action,
            "nonce": nonce,
            "signature": signature,
            "vaultAddress": self.vault_address,
            "expiresAfter": None,
        }

    def __repr__(self) -> str:
        return f"ActionSigner(address={self.address}, mainnet={self.is_mainnet})"
