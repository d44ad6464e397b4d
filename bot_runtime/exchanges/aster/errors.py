"""Aster error payloads (``{"code": -2019, "msg": "Margin is insufficient."}``) → the exchange error hierarchy.

Codes from the documented error list (asterdex/api-docs ``V1(Legacy)/EN``, "Error Codes"); ``-5022`` is Binance's
post-only rejection, handled too in case Aster returns it instead of an ``EXPIRED`` GTX order. HTTP 403 is the
WAF limit ("4XX = client (403 WAF, 429, 418)" in Aster's error guide), so it is a rate limit, not bad credentials.
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

EXCHANGE = "aster"

_RATE = {-1003, -1015}
_AUTH = {-1002, -1022, -2014, -2015}
_MARGIN = {-2018, -2019, -2027, -2028}
_UNKNOWN_ORDER = {-2011, -2013}
_TRANSIENT = {-1000, -1001, -1006, -1007, -1021}
_POST_ONLY = {-5022}
_REDUCE_ONLY = {-2022}


def map_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE) -> ExchangeError:
    code: int | None = None
    msg = ""
    if isinstance(body, Mapping):
        raw = body.get("code")
        try:
            code = int(raw) if raw is not None else None
        except (TypeError, ValueError):
            code = None
        msg = str(body.get("msg") or body.get("message") or "")
    text = f"{exchange}: {msg or 'HTTP ' + str(status)}" + (f" (code {code})" if code is not None else "")
    if status in {429, 418, 403} or code in _RATE:  # 403: the documented WAF limit, not a credentials problem
        return RateLimited(text, retry_after=retry_after(headers), exchange=exchange)
    if status == 401 or code in _AUTH:
        return AuthenticationError(text, exchange=exchange)
    if code in _POST_ONLY or "post only" in msg.lower():
        return PostOnlyWouldCross(text, exchange=exchange)
    if code in _MARGIN:
        return InsufficientMargin(text, exchange=exchange)
    if code in _UNKNOWN_ORDER:
        return OrderNotFound(text, exchange=exchange)
    if code in _REDUCE_ONLY:
        return OrderRejected(text, reason=CancelReason.REDUCE_ONLY_VIOLATION, exchange=exchange)
    if status >= 500 or code in _TRANSIENT:
        return TransientNetworkError(text, exchange=exchange)
    if code is not None and (-2030 <= code <= -2010 or -4999 <= code <= -4000):
        return OrderRejected(text, exchange=exchange)
    if code is None:
        return error_for_status(exchange, status, body, retry_after=retry_after(headers))
    return ExchangeError(text, exchange=exchange)
