"""ApeX Omni refusals → the exchange error hierarchy.

A refused request answers ``{"code": <non-zero>, "msg": "...", "key": "ORDER_..."}`` (ccxt's ``apex.handle_errors``,
e.g. ``{"code":3,"msg":"Order price must be greater than 0. ...","key":"ORDER_PRICE_MUST_GREETER_ZERO"}``), also with
HTTP 200; HTTP 403 is the rate limit ("You request too many times", ccxt ``httpExceptions``), 5xx an unknown outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges._shared.http import error_for_status, retry_after
from bot_runtime.exchanges.base import ExchangeError, RateLimited

EXCHANGE = "apex"
_DETAIL = 200


def is_refusal(body: Any) -> bool:
    """A JSON answer carrying a non-zero ``code`` (ApeX's refusal, whatever the HTTP status)."""
    return isinstance(body, Mapping) and body.get("code") not in (None, 0, "0")


def map_http_error(status: int, body: Any, headers: Mapping[str, str], exchange: str = EXCHANGE) -> ExchangeError:
    if status == 403:
        return RateLimited(f"{exchange}: HTTP 403 (rate limit)", exchange=exchange, retry_after=retry_after(headers))
    if is_refusal(body) and status < 500:
        return map_refusal(body, exchange)
    return error_for_status(exchange, status, body, retry_after=retry_after(headers))


def map_refusal(body: Mapping[str, Any], exchange: str = EXCHANGE) -> ExchangeError:
    message = str(body.get("key") or body.get("msg") or "")[:_DETAIL]
    return ExchangeError(f"{exchange}: refused: {message} (code {body.get('code')})", exchange=exchange)
