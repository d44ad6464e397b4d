"""Aster request signing, both API generations (github.com/asterdex/api-docs); the Secret's keys choose one.

**V3** (``V3(Recommended)``, every key created today; :class:`Eip712Signer`): an API wallet ("signer", created at
asterdex.com/en/api-wallet → Pro API) signs for the main wallet ("user"). The request's parameters plus ``nonce``
(the current time in **microseconds**, within 10 s of the server's; each one used once), ``user`` and ``signer`` are
url-encoded, and that string is signed as EIP-712 typed data ``Message{msg: string}`` in the domain
``AsterSignTransaction`` / version ``1`` / chainId ``1666`` / verifyingContract ``0x0…0``; ``signature`` (0x-hex) is
appended last. Paths are ``/fapi/v3/...``; no API-key header; the user-data ``listenKey`` calls are signed too.

**V1** (``V1(Legacy)``: new V1 keys can no longer be created, existing ones keep working; :class:`HmacSigner`):
``signature = hex(HMAC_SHA256(secret, totalParams))`` over the url-encoded query string (GET/DELETE) or body
(POST/PUT) with ``recvWindow`` and ``timestamp`` (ms), appended last; the key goes in ``X-MBX-APIKEY``.

Both send exactly the string they signed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

V3_CHAIN_ID = 1666
V3_DOMAIN = {
    "name": "AsterSignTransaction",
    "version": "1",
    "chainId": V3_CHAIN_ID,
    "verifyingContract": "0x0000000000000000000000000000000000000000",
}
V3_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Message": [{"name": "msg", "type": "string"}],
}
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class ApiPaths:
    """The signed endpoints of one API generation (the public market-data ones are the same ``/fapi/v1`` paths)."""

    version: str
    order: str
    open_orders: str
    all_open_orders: str
    position_risk: str
    account: str
    user_trades: str
    listen_key: str
    listen_key_signed: bool


V1_PATHS = ApiPaths(
    version="v1",
    order="/fapi/v1/order",
    open_orders="/fapi/v1/openOrders",
    all_open_orders="/fapi/v1/allOpenOrders",
    position_risk="/fapi/v2/positionRisk",
    account="/fapi/v4/account",
    user_trades="/fapi/v1/userTrades",
    listen_key="/fapi/v1/listenKey",
    listen_key_signed=False,
)
V3_PATHS = ApiPaths(
    version="v3",
    order="/fapi/v3/order",
    open_orders="/fapi/v3/openOrders",
    all_open_orders="/fapi/v3/allOpenOrders",
    position_risk="/fapi/v3/positionRisk",
    account="/fapi/v3/accountWithJoinMargin",
    user_trades="/fapi/v3/userTrades",
    listen_key="/fapi/v3/listenKey",
    listen_key_signed=True,
)


class RequestSigner(Protocol):
    paths: ApiPaths

    @property
    def headers(self) -> dict[str, str]: ...

    def signed_params(self, params: Mapping[str, object]) -> str: ...


class HmacSigner:
    paths = V1_PATHS

    def __init__(self, api_key: str, secret_key: str, recv_window: int) -> None:
        self.api_key = api_key
        self._secret = secret_key.encode()
        self.recv_window = recv_window

    def __repr__(self) -> str:  # never show the key material
        return "HmacSigner(<redacted>)"

    def signature(self, payload: str) -> str:
        return hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()

    def signed_params(self, params: Mapping[str, object], *, timestamp_ms: int | None = None) -> str:
        """``params`` + recvWindow + timestamp url-encoded, with ``&signature=...`` appended last."""
        full = {k: _encode(v) for k, v in params.items() if v is not None}
        full["recvWindow"] = str(self.recv_window)
        full["timestamp"] = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
        payload = urlencode(full)
        return f"{payload}&signature={self.signature(payload)}"

    @property
    def headers(self) -> dict[str, str]:
        return {"X-MBX-APIKEY": self.api_key}


def _encode(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class MicrosecondNonces:
    """Strictly increasing microsecond timestamps: Aster refuses a nonce it has seen, so two requests in the same
    microsecond (or after the clock stepped back) get the next free value."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last


class Eip712Signer:
    paths = V3_PATHS

    def __init__(self, user: str, signer: str, private_key: str, *, nonces: MicrosecondNonces | None = None) -> None:
        from eth_account import Account  # only V3 bots pay for it (~0.4 s)

        self.user = user
        self.signer = signer
        self._account: Any = Account.from_key(private_key)
        self._nonces = nonces or MicrosecondNonces()

    def __repr__(self) -> str:  # never show the key material
        return f"Eip712Signer(user={self.user}, signer={self.signer}, <redacted>)"

    @property
    def address(self) -> str:
        """The address the private key signs as (it must be ``signer``)."""
        return str(self._account.address)

    @property
    def headers(self) -> dict[str, str]:
        return {}

    def signature(self, msg: str) -> str:
        from eth_account.messages import encode_typed_data

        typed = {"types": V3_TYPES, "primaryType": "Message", "domain": V3_DOMAIN, "message": {"msg": msg}}
        signed = self._account.sign_message(encode_typed_data(full_message=typed))
        return "0x" + bytes(signed.signature).hex().removeprefix("0x")

    def signed_params(self, params: Mapping[str, object], *, nonce: int | None = None) -> str:
        """``params`` + nonce (µs) + user + signer url-encoded, with ``&signature=0x...`` appended last."""
        full = {k: _encode(v) for k, v in params.items() if v is not None}
        full["nonce"] = str(nonce if nonce is not None else self._nonces.next())
        full["user"] = self.user
        full["signer"] = self.signer
        payload = urlencode(full)
        return f"{payload}&signature={self.signature(payload)}"


def is_address(value: str) -> bool:
    return bool(_ADDRESS.match(value))
