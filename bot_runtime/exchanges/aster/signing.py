"""HMAC-SHA256 request signing (Aster/Binance ``SIGNED`` endpoints).

``signature = hex(HMAC_SHA256(secret, totalParams))`` where ``totalParams`` is the url-encoded query string
(GET/DELETE) or request body (POST/PUT), and ``signature`` is appended as the last parameter.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode


class HmacSigner:
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
