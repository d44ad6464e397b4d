"""Nado refusals → the exchange error hierarchy.

The gateway answers HTTP 200 with ``{"status": "failure", "error": "<message>", "error_code": <n>}`` for a refused
execute or query (``ExecuteResponse`` / ``QueryResponse`` in the SDK); HTTP 429 is the rate limit, 5xx an unknown
outcome. The message texts are the engine's (the API-errors list Nado inherits from Vertex: "order is post only, but
it crosses book", "unhealthy order", "invalid amount: too small", "invalid price: not divisible by increment",
"Order price must be within a range of ... of oracle price", "max orders limit reached"); ``error_code`` 2020 is an
order digest the engine does not know (no longer open).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges._shared.http import error_for_status, retry_after
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    ExchangeError,
    InsufficientMargin,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
)

EXCHANGE = "nado"
ORDER_NOT_FOUND_CODE = 2020
_DETAIL = 200


def map_http_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE) -> ExchangeError:
    if isinstance(body, Mapping) and body.get("status") == "failure":
        return map_failure(str(body.get("error") or ""), body.get("error_code"), exchange, status=status)
    return error_for_status(exchange, status, body, retry_after=retry_after(headers))


def map_failure(message: str, code: Any, exchange: str = EXCHANGE, *, status: int = 200) -> ExchangeError:
    """One ``status: failure`` answer."""
    text = f"{exchange}: {message[:_DETAIL]}" + (f" (code {code})" if code is not None else "")
    lowered = message.lower()
    if code == ORDER_NOT_FOUND_CODE or "could not be found" in lowered or "not found" in lowered:
        return OrderNotFound(text, exchange=exchange)
    if "post only" in lowered or "post-only" in lowered:
        return PostOnlyWouldCross(text, exchange=exchange)
    if "unhealthy" in lowered or "insufficient" in lowered or "health" in lowered:
        return InsufficientMargin(text, exchange=exchange)
    if "reduce only" in lowered or "reduce-only" in lowered:
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if "rate limit" in lowered or "too many" in lowered or status == 429:
        return RateLimited(text, exchange=exchange)
    if "signature" in lowered or "signer" in lowered or "unauthorized" in lowered:
        return AuthenticationError(text, exchange=exchange)
    return OrderRejected(text, exchange=exchange)
