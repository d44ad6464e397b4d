"""Paradex errors → the exchange error hierarchy.

Paradex answers an error with a JSON body ``{"error": CODE, "message": ..., "data": ...}`` (codes: paradex-py's
generated ``ErrorCode``), or with a bare status (429, a proxy's HTML page). :func:`map_response_error` maps a response;
:func:`map_sdk_error` maps a message in paradex-py's ``ValueError`` format (``"Rate limit exceeded"``,
``str(ApiError(error=..., message=...))``, ``"HTTP <status>: ..."``), which is also the format the mapped errors carry.
Order rejections found after placement arrive as ``cancel_reason`` of a CLOSED order (see :data:`CANCEL_REASONS`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges._shared.http import retry_after
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    ExchangeError,
    InsufficientMargin,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    TransientNetworkError,
)

_CODE = re.compile(r"error='?([A-Z][A-Z0-9_]+)")
_AUTH = {
    "INVALID_TOKEN",
    "UNAUTHORIZED_ERROR",
    "INVALID_STARKNET_SIGNATURE",
    "STARKNET_SIGNATURE_VERIFICATION_FAILED",
    "INVALID_ORDER_SIGNATURE",
    "NOT_ONBOARDED",
    "ACCOUNT_NOT_FOUND",
    "INVALID_STARKNET_ADDRESS",
    "PUBLIC_KEY_INVALID",
}
_NOT_FOUND = {"ORDER_ID_NOT_FOUND", "ORDER_IS_CLOSED", "ORDER_IS_NOT_OPEN", "CLIENT_ORDER_ID_NOT_FOUND", "NOT_FOUND"}
_TRANSIENT = {"INTERNAL_ERROR", "SERVICE_UNAVAILABLE"}

#: ``cancel_reason`` of a CLOSED order → why it ended (values seen in Paradex docs/SDK and the original client)
CANCEL_REASONS: dict[str, CancelReason] = {
    "POST_ONLY_WOULD_CROSS": CancelReason.POST_ONLY_VIOLATION,
    "NOT_ENOUGH_MARGIN": CancelReason.INSUFFICIENT_BALANCE,
    "USER_CANCELED": CancelReason.USER_CANCELED,
    "USER_CANCELLED": CancelReason.USER_CANCELED,
    "EXPIRED": CancelReason.EXPIRED,
    "NO_MORE_MATCHES": CancelReason.EXPIRED,
    "UNEXPECTED_FAILURE": CancelReason.REJECTED,
    "SELF_TRADE": CancelReason.REJECTED,
    "REDUCE_ONLY_WOULD_INCREASE": CancelReason.REDUCE_ONLY_VIOLATION,
    "LIQUIDATION": CancelReason.LIQUIDATION,
}


def sdk_error_code(message: str) -> str | None:
    match = _CODE.search(message)
    return match.group(1) if match else None


error_code = sdk_error_code


def map_response_error(
    status: int, body: Any, headers: Mapping[str, str], *, exchange: str = "paradex"
) -> ExchangeError:
    """The error for an HTTP error response (``body`` decoded JSON, or text when it was not JSON)."""
    if isinstance(body, Mapping) and isinstance(body.get("error"), str):
        message = f"error={body['error']} message={str(body.get('message') or '')!r}"
    elif isinstance(body, str | bytes):
        message = f"HTTP {status}: {body.decode(errors='replace') if isinstance(body, bytes) else body}"
    else:
        message = f"HTTP {status}: {json.dumps(body, default=str)}"
    return map_sdk_error(message, status, exchange=exchange, retry_after=retry_after(headers))


def map_sdk_error(
    message: str, status: int | None, *, exchange: str = "paradex", retry_after: float | None = None
) -> ExchangeError:
    code = sdk_error_code(message)
    shown = message[:300] if status is None or message.startswith("HTTP") else f"HTTP {status}: {message[:300]}"
    text = f"{exchange}: {shown}"
    if status == 429 or "rate limit" in message.lower():
        return RateLimited(text, retry_after=retry_after, exchange=exchange)
    if status == 401 or code in _AUTH:
        return AuthenticationError(text, exchange=exchange)
    if code in _NOT_FOUND or status == 404:
        return OrderNotFound(text, exchange=exchange)
    if (status is not None and status >= 500) or code in _TRANSIENT:
        return TransientNetworkError(text, exchange=exchange)
    if "margin" in message.lower():
        return InsufficientMargin(text, exchange=exchange)
    if status == 400 or code is not None:
        return OrderRejected(text, exchange=exchange)
    return ExchangeError(text, exchange=exchange)


def rejection_for(reason: CancelReason, detail: str, exchange: str) -> ExchangeError:
    """The exception for an order the matching engine closed right after placement without filling it."""
    if reason is CancelReason.POST_ONLY_VIOLATION:
        return PostOnlyWouldCross(f"{exchange}: {detail}", exchange=exchange)
    if reason is CancelReason.INSUFFICIENT_BALANCE:
        return InsufficientMargin(f"{exchange}: {detail}", exchange=exchange)
    return OrderRejected(f"{exchange}: {detail}", reason=reason, exchange=exchange)
