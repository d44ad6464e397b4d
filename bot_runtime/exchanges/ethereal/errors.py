"""Ethereal refusals → the exchange error hierarchy.

* HTTP: 429 (``TooManyRequestsDto``, ``Retry-After``) is the rate limit, 5xx an unknown outcome, 401/403 a refused
  signer. The error envelope is ``{"statusCode", "error", "message"}``.
* ``POST /v1/order`` 422 (``SubmitOrderFailedDto``): ``message`` is a ``SubmitFailedCode`` (``InsufficientBalance``,
  ``InvalidSigner``, ``DuplicateClientOrderId``, ``NonceAlreadyUsed``, ...): the order was not created.
* ``POST /v1/order`` 201 with ``result`` other than ``Ok`` (``SubmitCreatedCode``: ``ImmediateMatchPostOnly``,
  ``InsufficientBalance``, ``OrderIncreasesPosition``, ``UnfilledImmediateOrCancel``, ...): the engine refused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges._shared.http import error_for_status, retry_after
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CancelReason,
    DuplicateClientOrderId,
    ExchangeError,
    InsufficientMargin,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    TransientNetworkError,
)

EXCHANGE = "ethereal"
HTTP_UNPROCESSABLE = 422
_AUTH_CODES = {"InvalidSigner", "InvalidSignerAddress", "SignerRevoked", "AccountSuspended"}
_MARGIN_CODES = {
    "InsufficientBalance",
    "MarginAccountBalanceZero",
    "RiskLimitExceeded",
    "CausesImmediateLiquidation",
    "OpenValueCapExceeded",
    "InstrumentOpenValueCapExceeded",
}


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        message = body.get("message")
        if isinstance(message, list):
            return "; ".join(str(m) for m in message)[:200]
        if message is not None:
            return str(message)[:200]
    return str(body)[:200]


def map_http_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE) -> ExchangeError:
    if status == HTTP_UNPROCESSABLE:
        return map_order_code(_message(body), exchange)
    return error_for_status(exchange, status, body, retry_after=retry_after(headers))


def is_not_found(exc: ExchangeError) -> bool:
    """``GET /v1/order/{id}`` or ``/v1/linked-signer/address/{a}`` of something the venue does not know (404; a
    malformed id is a 400)."""
    return type(exc) is ExchangeError and ("HTTP 404" in str(exc) or "HTTP 400" in str(exc))


def map_order_code(code: str, exchange: str = EXCHANGE) -> ExchangeError:
    """A refusal code of ``POST /v1/order`` (``SubmitFailedCode`` or a ``SubmitCreatedCode`` other than ``Ok``)."""
    text = f"{exchange}: order refused: {code[:200]}"
    if code == "ImmediateMatchPostOnly":
        return PostOnlyWouldCross(text, exchange=exchange)
    if code in _MARGIN_CODES:
        return InsufficientMargin(text, exchange=exchange)
    if code == "OrderIncreasesPosition":
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if code == "DuplicateClientOrderId":
        return DuplicateClientOrderId(text, exchange=exchange)
    if code in _AUTH_CODES:
        return AuthenticationError(text, exchange=exchange)
    if code in {"NonceAlreadyUsed", "InvalidNonceForSigner"}:  # not applied: sending again (new nonce) is safe
        return TransientNetworkError(text, exchange=exchange)
    if "rate" in code.lower():
        return RateLimited(text, exchange=exchange)
    return OrderRejected(text, exchange=exchange)
