"""JSON over HTTP for venue clients and the one HTTP-status → error mapping.

* :func:`loads`: JSON with every non-integer number parsed as :class:`~decimal.Decimal` (never a binary float).
* :func:`error_for_status`: the status-only mapping every venue's error mapper falls back to (429/418 →
  :class:`RateLimited`, 5xx → :class:`TransientNetworkError`, 401/403 → :class:`AuthenticationError`, anything else →
  :class:`ExchangeError`); :func:`parse_retry_after` / :func:`retry_after` read ``Retry-After``.
* :func:`request_json`: one httpx request → decoded JSON; transport failures and timeouts become
  :class:`TransientNetworkError` (the outcome is unknown), HTTP errors go through the venue's mapper.

No SDK is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges.base import AuthenticationError, ExchangeError, RateLimited, TransientNetworkError

JSON = Any
ErrorMapper = Callable[[int, JSON, Mapping[str, str]], ExchangeError]

HTTP_UNAUTHORIZED = 401
HTTP_FORBIDDEN = 403
HTTP_NOT_FOUND = 404
HTTP_IP_BANNED = 418  # Binance-shaped APIs (Aster): an IP banned for ignoring 429s
HTTP_TOO_MANY_REQUESTS = 429
HTTP_SERVER_ERROR = 500
_DETAIL_LIMIT = 300


def loads(data: str | bytes) -> JSON:
    """``json.loads`` that parses every non-integer number as :class:`Decimal`."""
    return json.loads(data, parse_float=Decimal)


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` value in seconds (the HTTP-date form and negative values give ``None``)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    return parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))


def _detail(body: JSON) -> str:
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    return text.strip()[:_DETAIL_LIMIT]


def error_for_status(exchange: str, status: int, detail: JSON, *, retry_after: float | None = None) -> ExchangeError:
    """The error for an HTTP status when the body says nothing more specific. ``detail`` (a message or a decoded
    body) must already be free of secrets."""
    text = f"{exchange}: HTTP {status}: {_detail(detail)}"
    if status in (HTTP_TOO_MANY_REQUESTS, HTTP_IP_BANNED):
        return RateLimited(text, retry_after=retry_after, exchange=exchange)
    if status >= HTTP_SERVER_ERROR:
        return TransientNetworkError(text, exchange=exchange)
    if status in (HTTP_UNAUTHORIZED, HTTP_FORBIDDEN):
        return AuthenticationError(text, exchange=exchange)
    return ExchangeError(text, exchange=exchange)


def status_error_mapper(exchange: str) -> ErrorMapper:
    """An :data:`ErrorMapper` that only looks at the status (for venues whose error bodies carry nothing useful)."""

    def mapper(status: int, body: JSON, headers: Mapping[str, str]) -> ExchangeError:
        return error_for_status(exchange, status, body, retry_after=retry_after(headers))

    return mapper


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    exchange: str,
    error_mapper: ErrorMapper,
    params: Mapping[str, Any] | None = None,
    content: str | bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSON:
    """Send one request and return its decoded JSON body (``None`` for an empty body)."""
    what = f"{method} {httpx.URL(url).path}"
    try:
        response = await client.request(method, url, params=params, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise TransientNetworkError(f"{exchange}: {what} timed out", exchange=exchange) from exc
    except httpx.TransportError as exc:
        raise TransientNetworkError(f"{exchange}: {what} failed: {type(exc).__name__}", exchange=exchange) from exc
    body: JSON
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        if response.status_code < 300:
            raise ExchangeError(
                f"{exchange}: {what} answered HTTP {response.status_code} with a body that is not JSON",
                exchange=exchange,
            ) from None
        body = response.text[:_DETAIL_LIMIT]
    if response.status_code >= 300:
        raise error_mapper(response.status_code, body, response.headers)
    return body
