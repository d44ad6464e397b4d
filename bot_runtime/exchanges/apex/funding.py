"""ApeX Omni funding adapter: public ``GET /api/v3/symbols`` (the perpetuals, their minimum order sizes) and
``GET /api/v3/ticker?symbol=<crossSymbolName>`` per perpetual (no credentials, no SDK import).

A ticker row (docs/exchanges/apex.md, tests/fixtures/exchanges/apex/SOURCES.md):

* ``fundingRate``: the current rate per funding interval; positive: longs pay shorts. ApeX Omni settles funding
  every hour (``INTERVAL_HOURS``; an assumption the venue doc states: no source reachable here gives the interval
  as a field);
* ``markPrice``, ``indexPrice``; ``openInterest`` in base units (converted to USD at the mark price);
  ``turnover24h`` the 24 h quote volume (USDT ≈ USD);
* ``nextFundingTime``: a UTC time of day (``"10:00:00"``), read as its next occurrence; ms since the epoch when a
  number.

The minimum order size is the config's ``minOrderSize`` (base units). A market whose ticker read fails is left out
of the cycle (logged); the config read failing is the venue's outage.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.payload_checks import reading
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges.apex.config import ApexSettings
from bot_runtime.exchanges.apex.errors import is_refusal, map_http_error, map_refusal
from bot_runtime.exchanges.apex.wire import Envelope, PerpetualContract, SymbolsData, Ticker
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)

INTERVAL_HOURS = Decimal(1)


def next_funding(value: str | int | None, now: datetime) -> datetime | None:
    """``"10:00:00"`` → the next UTC instant at that time of day (today or tomorrow); an integer → ms since the epoch."""
    if value is None or value == "":
        return None
    if isinstance(value, int) or str(value).isdigit():
        return from_ms(int(value))
    try:
        moment = time.fromisoformat(str(value))
    except ValueError:
        return None
    at = now.replace(hour=moment.hour, minute=moment.minute, second=moment.second, microsecond=0)
    return at if at > now else at + timedelta(days=1)


class ApexFundingSource(FundingSource):
    def __init__(self, name: str, settings: ApexSettings) -> None:
        self.name = name
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.request_timeout)
        return self._http

    def _mapper(self, status: int, body: Any, headers: Any) -> ExchangeError:
        return map_http_error(status, body, headers, self.name)

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        raw = await request_json(
            self._client(),
            "GET",
            f"{self.settings.base_url}{path}",
            exchange=self.name,
            error_mapper=self._mapper,
            params=params,
        )
        if is_refusal(raw):
            raise map_refusal(raw, self.name)
        with reading(self.name, path):
            return Envelope.model_validate(raw).data

    async def _contracts(self) -> list[PerpetualContract]:
        data = await self._get("/v3/symbols")
        with reading(self.name, "/v3/symbols"):
            config = SymbolsData.model_validate(data)
        return [c for c in config.contract_config.perpetual_contract if c.enable_trade]

    async def _ticker(self, contract: PerpetualContract, gate: asyncio.Semaphore) -> Ticker | None:
        async with gate:
            try:
                data = await self._get("/v3/ticker", {"symbol": contract.cross_symbol_name})
                with reading(self.name, "/v3/ticker"):
                    rows = [Ticker.model_validate(row) for row in data or []]
            except ExchangeError as exc:
                log.warning("%s: no rate for %s this cycle: %s", self.name, contract.symbol, exc)
                return None
        return next((row for row in rows if row.symbol == contract.cross_symbol_name), None)

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        contracts = await self._contracts()
        wanted = {s.upper() for s in symbols} if symbols else None
        chosen = [
            (contract, normalize(self.name, contract.symbol))
            for contract in contracts
            if wanted is None or normalize(self.name, contract.symbol).base in wanted
        ]
        gate = asyncio.Semaphore(self.settings.ticker_concurrency)
        tickers = await asyncio.gather(*(self._ticker(contract, gate) for contract, _ in chosen))
        now = utcnow()
        out: list[FundingRate] = []
        for (contract, canonical), ticker in zip(chosen, tickers, strict=True):
            if ticker is None:
                continue
            mark = ticker.mark_price
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=contract.symbol,
                    multiplier=canonical.multiplier,
                    rate=ticker.funding_rate,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=mark,
                    index_price=ticker.index_price,
                    open_interest_usd=(
                        ticker.open_interest * mark if ticker.open_interest is not None and mark is not None else None
                    ),
                    volume_24h_usd=ticker.turnover_24h,
                    min_order_size=base_min_size(contract.min_order_size, canonical.multiplier),
                    next_funding_time=next_funding(ticker.next_funding_time, now),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
