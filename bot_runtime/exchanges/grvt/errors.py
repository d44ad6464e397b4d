"""GRVT error bodies (``{"code": 1000, "message": "...", "status": 401}``) → the contract's error hierarchy."""

from __future__ import annotations

from typing import Any

from bot_runtime.exchanges._shared.http import error_for_status
from bot_runtime.exchanges.base import (
    AuthenticationError,
    ExchangeError,
    InsufficientMargin,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
)

NAME = "grvt"


def from_response(status: int, body: dict[str, Any], *, retry_after: float | None = None) -> ExchangeError:
    code = body.get("code")
    message = str(body.get("message") or body.get("error") or "request failed")[:300]
    label = f"{NAME}: {message}" + (f" (code {code})" if code is not None else "")
    text = message.lower()
    effective = status if status >= 400 else int(body.get("status") or 400)
    if effective == 429 or "rate limit" in text or "too many" in text:
        return RateLimited(label, retry_after=retry_after, exchange=NAME)
    if effective >= 500:
        return error_for_status(NAME, effective, message)
    if effective in (401, 403) or "authenticat" in text or "not authorized" in text or "signature" in text:
        return AuthenticationError(label, exchange=NAME)
    if effective == 404 or "not found" in text:
        return OrderNotFound(label, exchange=NAME)
    if "post only" in text or "post_only" in text or "would cross" in text:
        return PostOnlyWouldCross(label, exchange=NAME)
    if "margin" in text or "insufficient" in text or "balance" in text:
        return InsufficientMargin(label, exchange=NAME)
    return OrderRejected(label, exchange=NAME)
