"""Backpack error bodies (``{"code": "INVALID_ORDER", "message": "..."}``) → the exchange error hierarchy.

Error codes as listed by Backpack's API (the same list ccxt's backpack adapter maps). A post-only order that would
take liquidity is refused at placement with ``INVALID_ORDER`` and a message saying it would immediately match; the
exact wording could not be checked against the live venue, so any ``INVALID_ORDER`` message mentioning an
immediate match / post-only counts.
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
    TransientNetworkError,
)

_AUTH = {"UNAUTHORIZED", "INVALID_SIGNATURE", "INVALID_CLIENT_KEY"}
_MARGIN = {"INSUFFICIENT_FUNDS", "INSUFFICIENT_MARGIN", "MAX_LEVERAGE_REACHED", "ACCOUNT_LIQUIDATING"}
_REJECT = {"INVALID_ORDER", "INVALID_PRICE", "INVALID_QUANTITY", "ORDER_LIMIT", "POSITION_LIMIT", "INVALID_MARKET"}
_TRANSIENT = {"SERVER_ERROR", "TIMEOUT", "MAINTENANCE", "TRADING_PAUSED", "SERVICE_UNAVAILABLE"}
_POST_ONLY_WORDS = ("immediately match", "post only", "post-only", "postonly", "would cross")


def map_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = "backpack") -> ExchangeError:
    code = ""
    message = ""
    if isinstance(body, Mapping):
        code = str(body.get("code") or "")
        message = str(body.get("message") or "")
    text = f"{exchange}: {message or 'HTTP ' + str(status)}" + (f" ({code})" if code else "")
    lowered = message.lower()
    if status == 429 or code == "TOO_MANY_REQUESTS":
        return RateLimited(text, retry_after=retry_after(headers), exchange=exchange)
    if status == 401 or code in _AUTH:
        return AuthenticationError(text, exchange=exchange)
    if code in _MARGIN:
        return InsufficientMargin(text, exchange=exchange)
    if code == "INVALID_ORDER" and any(word in lowered for word in _POST_ONLY_WORDS):
        return PostOnlyWouldCross(text, exchange=exchange)
    if code in _REJECT and "reduce" in lowered:
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if code in _REJECT:
        return OrderRejected(text, exchange=exchange)
    if code == "RESOURCE_NOT_FOUND" or (status == 404 and "order" in lowered):
        return OrderNotFound(text, exchange=exchange)
    if status >= 500 or code in _TRANSIENT:
        return TransientNetworkError(text, exchange=exchange)
    if not code:
        return error_for_status(exchange, status, body, retry_after=retry_after(headers))
    return ExchangeError(text, exchange=exchange)
