"""Lighter SDK exceptions and tx error strings → the contract's error hierarchy (never echoing credentials)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from lighter.exceptions import ApiException

from bot_runtime.exchanges._shared.http import error_for_status, parse_retry_after
from bot_runtime.exchanges.base import (
    AuthenticationError,
    ExchangeError,
    InsufficientMargin,
    MalformedResponse,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    TransientNetworkError,
)

NAME = "lighter"

T = TypeVar("T")


async def sdk_call(what: str, call: Awaitable[T], timeout: float, *, exchange: str = NAME) -> T:  # noqa: ASYNC109
    """Await one lighter-sdk REST call; every failure becomes a typed error (an HTTP error by its status and body,
    a timeout or a broken connection as :class:`TransientNetworkError`, an answer the SDK cannot parse - not JSON, or
    not the model's shape - as :class:`ExchangeError`)."""
    try:
        return await asyncio.wait_for(call, timeout)
    except ApiException as exc:
        raise from_api_exception(exc) from None
    except TimeoutError:
        raise TransientNetworkError(f"{exchange}: {what} timed out", exchange=exchange) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise TransientNetworkError(f"{exchange}: {what} failed: {type(exc).__name__}", exchange=exchange) from None
    except ValueError as exc:  # json.JSONDecodeError, pydantic.ValidationError
        raise MalformedResponse(
            f"{exchange}: {what}: malformed answer ({type(exc).__name__})", exchange=exchange
        ) from None


def _body_message(body: Any) -> tuple[int | None, str]:
    """Lighter error bodies look like ``{"code": 21120, "message": "..."}``."""
    if isinstance(body, (bytes, bytearray)):
        body = body.decode(errors="replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return None, body.strip()[:300]
    if isinstance(body, dict):
        code = body.get("code")
        return (int(code) if isinstance(code, int) else None), str(body.get("message") or body)[:300]
    return None, str(body)[:300]


def classify_message(message: str, code: int | None = None) -> ExchangeError:
    """A rejected tx (HTTP 400 body, ``RespSendTx.message`` or the SDK's trimmed error string) → typed error."""
    text = message.lower()
    label = f"{NAME}: {message}" if code is None else f"{NAME}: {message} (code {code})"
    if "post only" in text or "post-only" in text or "would cross" in text:
        return PostOnlyWouldCross(label, exchange=NAME)
    if "margin" in text or "insufficient" in text or "not enough" in text or "balance" in text:
        return InsufficientMargin(label, exchange=NAME)
    if "too many" in text or "rate limit" in text or "ratelimit" in text:
        return RateLimited(label, exchange=NAME)
    if "signature" in text or "api key" in text or "apikey" in text or "unauthori" in text or "auth" in text:
        return AuthenticationError(label, exchange=NAME)
    if "nonce" in text:
        # the tx was refused before execution: safe to send again with a fresh nonce
        return TransientNetworkError(label, exchange=NAME)
    return OrderRejected(label, exchange=NAME)


def from_api_exception(exc: Any) -> ExchangeError:
    """``lighter.exceptions.ApiException`` (and subclasses) → typed error."""
    status = int(getattr(exc, "status", 0) or 0)
    code, message = _body_message(getattr(exc, "body", None) or getattr(exc, "data", None) or "")
    headers = getattr(exc, "headers", None) or {}
    retry_after = parse_retry_after(headers.get("Retry-After") if hasattr(headers, "get") else None)
    if status == 400:
        return classify_message(message or "bad request", code)
    if status == 0:
        return TransientNetworkError(f"{NAME}: {message or 'request failed'}", exchange=NAME)
    return error_for_status(NAME, status, message or str(getattr(exc, "reason", "")), retry_after=retry_after)


def from_sdk_error_string(err: str) -> ExchangeError:
    """The SDK's ``(None, None, err)`` return: the last line of the exception text, e.g.
    ``HTTP response body: {"code":21120,"message":"..."}`` or a signer error."""
    marker = "HTTP response body:"
    if marker in err:
        code, message = _body_message(err.split(marker, 1)[1].strip())
        return classify_message(message, code)
    return classify_message(err.strip()[:300])
