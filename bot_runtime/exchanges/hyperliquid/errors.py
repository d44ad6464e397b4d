"""Hyperliquid refusals → the exchange error hierarchy.

Three places carry them:

* HTTP: 429 is the rate limit (``Retry-After`` honoured when sent), 5xx an unknown outcome, 422 a body the venue
  could not deserialize (a bug of ours: not retryable).
* ``{"status": "err", "response": "<message>"}`` from ``/exchange``: the whole action was refused (an unknown
  API wallet or user - bad credentials -, a nonce out of window, a rate limit on actions).
* ``{"error": "<message>"}`` as one element of ``response.data.statuses``: that order was refused. Messages are
  the venue's documented texts ("Post only order would have immediately matched, bbo was ...", "Insufficient
  margin to place order.", "Reduce only order would increase position.", "Order must have minimum value of $10.",
  "Price must be divisible by tick size.", "Order could not immediately match against any resting orders.",
  "Order was never placed, already canceled, or filled.").
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

EXCHANGE = "hyperliquid"
_DETAIL = 200


def map_http_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE) -> ExchangeError:
    return error_for_status(exchange, status, body, retry_after=retry_after(headers))


def map_action_error(message: str, exchange: str = EXCHANGE) -> ExchangeError:
    """A refused action (``status: err``)."""
    text = f"{exchange}: {message[:_DETAIL]}"
    lowered = message.lower()
    if "does not exist" in lowered or "signature" in lowered or "not authorized" in lowered:
        return AuthenticationError(text, exchange=exchange)
    if "rate limit" in lowered or "too many" in lowered:
        return RateLimited(text, exchange=exchange)
    if "nonce" in lowered:  # a clock or nonce problem: the action was not applied, sending again is safe
        return TransientNetworkError(text, exchange=exchange)
    return ExchangeError(text, exchange=exchange)


def map_order_error(message: str, exchange: str = EXCHANGE) -> ExchangeError:
    """One order's refusal (an ``{"error": ...}`` element of ``statuses``)."""
    text = f"{exchange}: {message[:_DETAIL]}"
    lowered = message.lower()
    if "post only" in lowered:
        return PostOnlyWouldCross(text, exchange=exchange)
    if "insufficient margin" in lowered or "insufficient spot balance" in lowered:
        return InsufficientMargin(text, exchange=exchange)
    if "reduce only" in lowered:
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if "never placed" in lowered or "already canceled" in lowered or "unknown order" in lowered:
        return OrderNotFound(text, exchange=exchange)
    if "rate limit" in lowered or "too many" in lowered:
        return RateLimited(text, exchange=exchange)
    return OrderRejected(text, exchange=exchange)


def is_ioc_no_match(message: str) -> bool:
    return "could not immediately match" in message.lower()
