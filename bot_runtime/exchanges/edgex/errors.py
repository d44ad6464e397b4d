"""EdgeX SDK failures → the contract's error hierarchy.

The SDK raises ``ValueError("request failed with status code: 429, response: {...}")`` for non-200 answers and
``ValueError("HTTP request failed: ...")`` for transport errors; a 200 answer carries ``{"code": "SUCCESS" | <error
code>, "msg": ..., "errorParam": ...}``.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Awaitable
from typing import Any

import aiohttp

from bot_runtime.exchanges._shared.http import error_for_status
from bot_runtime.exchanges.base import (
    AuthenticationError,
    ExchangeError,
    InsufficientMargin,
    MalformedResponse,
    OrderNotFound,
    OrderRejected,
    PostOnlyWouldCross,
    RateLimited,
    TransientNetworkError,
)

NAME = "edgex"
_STATUS = re.compile(r"status code: (\d{3}), response: (.*)$", re.S)


def _parse_body(text: str) -> dict[str, Any]:
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, dict):
            return value
    return {"msg": text[:200]}


def classify(code: str, message: str) -> ExchangeError:
    text = f"{code} {message}".lower()
    label = f"{NAME}: {message or code} ({code})"[:300]
    if ("rate" in text and "limit" in text) or "too_many" in text or "too many" in text:
        return RateLimited(label, exchange=NAME)
    if "signature" in text or "api_key" in text or "apikey" in text or "passphrase" in text or "auth" in text:
        return AuthenticationError(label, exchange=NAME)
    if "post_only" in text or "post only" in text:
        return PostOnlyWouldCross(label, exchange=NAME)
    if "margin" in text or "insufficient" in text or "balance" in text:
        return InsufficientMargin(label, exchange=NAME)
    if "not_found" in text or "not found" in text:
        return OrderNotFound(label, exchange=NAME)
    return OrderRejected(label, exchange=NAME)


def from_sdk_exception(exc: Exception) -> ExchangeError:
    text = str(exc)
    match = _STATUS.search(text)
    if match:
        status = int(match.group(1))
        body = _parse_body(match.group(2).strip())
        code, message = str(body.get("code") or ""), str(body.get("msg") or body.get("message") or "")
        if status == 400 and code:
            return classify(code, message)
        return error_for_status(NAME, status, f"{code} {message}".strip() or "request failed")
    if text.startswith("HTTP request failed"):
        return TransientNetworkError(f"{NAME}: {text[:200]}", exchange=NAME)
    return ExchangeError(f"{NAME}: {text[:300]}", exchange=NAME)


async def sdk_call(what: str, call: Awaitable[Any], timeout: float, *, exchange: str = NAME) -> dict[str, Any]:  # noqa: ASYNC109
    """Await one edgex-python-sdk call and :func:`check` its answer; every failure becomes a typed error (an HTTP
    error by its status and body, a timeout or a broken connection as :class:`TransientNetworkError`, a body that is
    not JSON as :class:`MalformedResponse`)."""
    try:
        response = await asyncio.wait_for(call, timeout)
    except TimeoutError:
        raise TransientNetworkError(f"{exchange}: {what} timed out", exchange=exchange) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise TransientNetworkError(f"{exchange}: {what} failed: {type(exc).__name__}", exchange=exchange) from None
    except json.JSONDecodeError:
        raise MalformedResponse(f"{exchange}: {what}: malformed answer (not JSON)", exchange=exchange) from None
    except ValueError as exc:
        raise from_sdk_exception(exc) from None
    return check(response, what)


def check(response: Any, what: str) -> dict[str, Any]:
    """A 200 answer whose ``code`` is not SUCCESS is an error too."""
    if not isinstance(response, dict):
        raise ExchangeError(f"{NAME}: {what}: unexpected answer", exchange=NAME)
    code = str(response.get("code") or "")
    if code != "SUCCESS":
        raise classify(code or "UNKNOWN", str(response.get("msg") or ""))
    return response
