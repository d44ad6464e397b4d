"""Extended refusals → the exchange error hierarchy.

Every REST answer is the envelope ``{"status": "OK"|"ERROR", "data": ..., "error": {"code": int, "message": str}}``
(the SDK's ``WrappedApiResponseModel`` / ``ResponseErrorModel``). The numeric codes are those of the API docs'
"Error responses" section (api.docs.extended.exchange):

* 1100-1102 ``InvalidStarknetPublicKey`` / ``InvalidStarknetSignature`` / ``InvalidStarknetVault``: the Stark key
  or vault is not this API key's sub-account → :class:`AuthenticationError`;
* 1120-1141 order validation (1120 ``OrderQtyLessThanMinTradeSize``, 1124 ``InvalidPriceWrongPriceMovement``, 1126
  ``MaxOpenOrdersNumberExceeded``, 1134 ``DuplicateOrder``, 1136-1138 the reduce-only refusals, 1140
  ``OrderCostExceedsBalance``...) → :class:`OrderRejected` / :class:`InsufficientMargin`;
* HTTP 401 → :class:`AuthenticationError`, 429 → :class:`RateLimited`, 5xx → :class:`TransientNetworkError`,
  404 → :class:`OrderNotFound` where an order was named.

A post-only order that would take is *not* refused here: the venue acknowledges it and the matching engine then
rejects it (status ``REJECTED``, ``statusReason: POST_ONLY_FAILED``), see :func:`rejection_for`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges._shared.http import (
    HTTP_NOT_FOUND,
    HTTP_SERVER_ERROR,
    HTTP_TOO_MANY_REQUESTS,
    error_for_status,
    retry_after,
)
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

EXCHANGE = "extended"
_DETAIL = 200

STARK_KEY_CODES = frozenset({1100, 1101, 1102})
MARGIN_CODES = frozenset({1140})  # OrderCostExceedsBalance
REDUCE_ONLY_CODES = frozenset({1136, 1137, 1138})
ORDER_CODES = range(1120, 1160)


def envelope_error(body: Any) -> tuple[int | None, str]:
    """The ``error`` of an envelope: (code, message); (None, "") when the body carries none."""
    if isinstance(body, Mapping) and isinstance(body.get("error"), Mapping):
        error = body["error"]
        code = error.get("code")
        return (int(code) if isinstance(code, int) else None), str(error.get("message") or "")[:_DETAIL]
    return None, ""


def map_error(code: int | None, message: str, exchange: str = EXCHANGE) -> ExchangeError | None:
    """The specific error for an envelope code, or None when the code says nothing specific."""
    text = f"{exchange}: error {code}: {message}"
    if code in STARK_KEY_CODES:
        return AuthenticationError(text, exchange=exchange)
    if code in MARGIN_CODES:
        return InsufficientMargin(text, exchange=exchange)
    if code in REDUCE_ONLY_CODES:
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if code is not None and code in ORDER_CODES:
        return OrderRejected(text, exchange=exchange)
    return None


def map_http_error(
    status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE, *, order: bool = False
) -> ExchangeError:
    """``order``: the request named one order (a 404 is then :class:`OrderNotFound`)."""
    code, message = envelope_error(body)
    if status == HTTP_TOO_MANY_REQUESTS:
        return RateLimited(f"{exchange}: HTTP 429: {message}", retry_after=retry_after(headers), exchange=exchange)
    if status < HTTP_SERVER_ERROR:
        specific = map_error(code, message, exchange)
        if specific is not None:
            return specific
        if status == HTTP_NOT_FOUND and order:
            return OrderNotFound(f"{exchange}: order not found: {message}", exchange=exchange)
    return error_for_status(exchange, status, {"code": code, "message": message} if code else body,
                            retry_after=retry_after(headers))  # fmt: skip


def rejection_for(reason: CancelReason, detail: str, exchange: str = EXCHANGE) -> OrderRejected:
    """The error for an order the matching engine rejected after acknowledging it."""
    text = f"{exchange}: {detail}"
    if reason is CancelReason.POST_ONLY_VIOLATION:
        return PostOnlyWouldCross(text, exchange=exchange)
    if reason is CancelReason.INSUFFICIENT_BALANCE:
        return InsufficientMargin(text, exchange=exchange)
    return OrderRejected(text, reason=reason, exchange=exchange)
