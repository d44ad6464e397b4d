"""JSON over HTTP for venue clients: every number keeps its exact decimal value, transport failures become
:class:`~bot_runtime.exchanges.base.TransientNetworkError`, and HTTP errors go through a venue-specific mapper."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges.base import ExchangeError, RateLimited, TransientNetworkError

JSON = Any
ErrorMapper = Callable[[int, JSON, Mapping[str, str]], ExchangeError]


def loads(data: str | bytes) -> JSON:
    """``json.loads`` that parses every non-integer number as :class:`Decimal` (never float)."""
    return json.loads(data, parse_float=Decimal)


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def default_status_error(exchange: str, status: int, body: JSON, headers: Mapping[str, str]) -> ExchangeError:
    """The status-only fallback every venue mapper ends with."""
    detail = body if isinstance(body, str) else json.dumps(body, default=str)[:300]
    if status in {429, 418}:
        return RateLimited(
            f"{exchange}: rate limited (HTTP {status})", retry_after=retry_after(headers), exchange=exchange
        )
    if status >= 500:
        return TransientNetworkError(f"{exchange}: HTTP {status}: {detail}", exchange=exchange)
    return ExchangeError(f"{exchange}: HTTP {status}: {detail}", exchange=exchange)


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
    try:
        response = await client.request(method, url, params=params, content=content, headers=headers)
    except httpx.TimeoutException as exc:
        raise TransientNetworkError(f"{exchange}: {method} {httpx.URL(url).path} timed out", exchange=exchange) from exc
    except httpx.TransportError as exc:
        raise TransientNetworkError(
            f"{exchange}: {method} {httpx.URL(url).path} failed: {type(exc).__name__}", exchange=exchange
        ) from exc
    body: JSON
    try:
        body = loads(response.content) if response.content else None
    except ValueError:
        body = response.text[:300]
    if response.status_code >= 300:
        raise error_mapper(response.status_code, body, response.headers)
    return body
