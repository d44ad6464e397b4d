"""Async client of the funding service, used by the collector (ingest) and the funding-arb strategy (reads).

Imports only httpx and pydantic models (no FastAPI, no asyncpg), so a bot pod stays small::

    async with FundingServiceClient("http://perpdex-funding:8000", token=os.environ["PERPDEX_INGEST_TOKEN"]) as fs:
        await fs.ingest(batch)
        page = await fs.opportunities(min_net_apr=Decimal("0.15"), dexes=["lighter", "grvt"], hold_hours=72)

Transient failures (connection errors, timeouts, 502/503/504, 429) are retried with exponential backoff, honouring
``Retry-After``. Ingest is idempotent on the server (keyed by cycle and funding period), so it is retried too.
Other errors raise :class:`FundingServiceError` with the server's error code, message and parameter.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel

from bot_runtime.funding_api.ingest import IngestBatch, IngestResult
from bot_runtime.funding_api.models import (
    BestOpportunity,
    DexList,
    LatestRates,
    Opportunities,
    PairRate,
    RateComparison,
    Readiness,
    SymbolOpportunities,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
API = "/api/v1"


class FundingServiceError(Exception):
    """A non-retryable answer, or retries exhausted. ``status`` is None when the service was never reached."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        parameter: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.parameter = parameter

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRY_STATUSES


def _param(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, Iterable):
        return ",".join(str(v) for v in value)
    return str(value)


def query(params: Mapping[str, Any]) -> dict[str, str]:
    """Drop Nones; lists become comma-separated (``dexes=["a", "b"]`` → ``a,b``); Decimals stay exact."""
    out: dict[str, str] = {}
    for key, value in params.items():
        text = _param(value)
        if text is not None:
            out[key] = text
    return out


class FundingServiceClient:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 10.0,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "perpdex-funding-client"}
        self._token = token
        self._retries = max(retries, 0)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, headers=headers, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # --- the calls -------------------------------------------------------------------------------------------------

    async def ingest(self, batch: IngestBatch) -> IngestResult:
        if not self._token:
            raise FundingServiceError("no ingest token configured on the client")
        body = batch.model_dump_json().encode()
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        return await self._request(IngestResult, "POST", f"{API}/ingest/funding-rates", content=body, headers=headers)

    async def opportunities(self, **filters: Any) -> Opportunities:
        """``GET /opportunities`` with any of its filters (``dexes=[...]``, ``min_net_apr=Decimal(...)``, ...)."""
        return await self._request(Opportunities, "GET", f"{API}/opportunities", params=query(filters))

    async def best_opportunity(self, **filters: Any) -> BestOpportunity:
        return await self._request(BestOpportunity, "GET", f"{API}/opportunities/best", params=query(filters))

    async def symbol_opportunities(self, symbol: str, **filters: Any) -> SymbolOpportunities:
        path = f"{API}/opportunities/symbol/{symbol}"
        return await self._request(SymbolOpportunities, "GET", path, params=query(filters))

    async def latest(
        self, dex: str | None = None, symbol: str | None = None, include_metadata: bool = False
    ) -> LatestRates:
        params = query({"dex": dex, "symbol": symbol, "include_metadata": include_metadata})
        return await self._request(LatestRates, "GET", f"{API}/funding-rates", params=params)

    async def funding_rate(self, dex: str, symbol: str) -> PairRate:
        return await self._request(PairRate, "GET", f"{API}/funding-rates/{dex}/{symbol}")

    async def compare(self, symbol: str, dex1: str, dex2: str, **extra: Any) -> RateComparison:
        params = query({"symbol": symbol, "dex1": dex1, "dex2": dex2, **extra})
        return await self._request(RateComparison, "GET", f"{API}/funding-rates/compare", params=params)

    async def dexes(self) -> DexList:
        return await self._request(DexList, "GET", f"{API}/dexes")

    async def ready(self) -> Readiness:
        """``/health/ready``; a not-ready service answers 503 with a Readiness body, returned here too."""
        response = await self._send("GET", f"{API}/health/ready", retry=False)
        if response.status_code in (200, 503):
            try:
                return Readiness.model_validate_json(response.content)
            except ValueError:
                pass
        raise self._error(response)

    # --- plumbing --------------------------------------------------------------------------------------------------

    async def _request(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        response = await self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise self._error(response)
        try:
            return model.model_validate_json(response.content)
        except ValueError as exc:
            raise FundingServiceError(
                f"{method} {path}: unexpected response body ({type(exc).__name__})", status=response.status_code
            ) from None

    async def _send(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> httpx.Response:
        attempts = self._retries + 1 if retry else 1
        delay = self._backoff
        for attempt in range(1, attempts + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt == attempts:
                    raise FundingServiceError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
                wait = delay
                log.warning(
                    "%s %s: %s, retry %d/%d in %.1fs", method, path, type(exc).__name__, attempt, attempts - 1, wait
                )
            else:
                if response.status_code not in RETRY_STATUSES or attempt == attempts:
                    return response
                wait = _retry_after(response) or delay
                log.warning(
                    "%s %s: HTTP %d, retry %d/%d in %.1fs",
                    method,
                    path,
                    response.status_code,
                    attempt,
                    attempts - 1,
                    wait,
                )
            await asyncio.sleep(min(wait, self._max_backoff) * (1 + random.random() * 0.1))  # noqa: S311 - jitter
            delay = min(delay * 2, self._max_backoff)
        raise AssertionError("unreachable")

    @staticmethod
    def _error(response: httpx.Response) -> FundingServiceError:
        code = message = parameter = None
        try:
            body = response.json()
            if isinstance(body, dict):
                code, message, parameter = body.get("error"), body.get("message"), body.get("parameter")
        except ValueError:
            pass
        text = message or response.text[:200] or response.reason_phrase
        return FundingServiceError(
            f"{response.request.method} {response.request.url.path}: HTTP {response.status_code}: {text}",
            status=response.status_code,
            error=code if isinstance(code, str) else None,
            parameter=parameter if isinstance(parameter, str) else None,
        )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None
