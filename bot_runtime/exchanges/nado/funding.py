"""Nado funding adapter: the indexer's public ``GET {indexer v2}/contracts`` (no credentials, no SDK), plus the
gateway's public ``symbols`` query for each market's minimum order size.

``/v2/contracts`` is a map ``ticker_id`` → contract (the SDK's ``IndexerPerpContractInfo``; ``ticker_id`` like
``BTC-PERP_USDT0``, ``base_currency`` ``BTC-PERP``, plain JSON numbers):

* ``funding_rate``: the current **24-hour** rate ("Current 24hr funding rate. Can compute hourly funding rate dividing
  by 24", the API docs Nado inherits from Vertex); funding settles every hour, so the reported rate is
  ``funding_rate / 24`` per 1-hour interval; positive: longs pay shorts;
* ``mark_price``, ``index_price``, ``open_interest_usd`` (already in USD), ``quote_volume`` (24 h, quote = USDT0 ≈
  USD), ``highest_bid`` / ``lowest_ask`` when present, ``next_funding_rate_timestamp`` (unix seconds).

The minimum order size is the symbols query's ``min_size`` (x18, base units); when that read fails the rates are
still reported, without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.payload_checks import reading
from bot_runtime.exchanges._shared.values import from_seconds
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.nado.config import NadoSettings, v2_url
from bot_runtime.exchanges.nado.errors import map_http_error
from bot_runtime.exchanges.nado.wire import Answer, PerpContract, Symbols, from_x18
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)

INTERVAL_HOURS = Decimal(1)
HOURS_PER_QUOTED_RATE = Decimal(24)


class NadoFundingSource(FundingSource):
    def __init__(self, name: str, settings: NadoSettings) -> None:
        self.name = name
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.request_timeout)
        return self._http

    def _mapper(self, status: int, body: Any, headers: Any) -> ExchangeError:
        return map_http_error(status, body, headers, self.name)

    async def _contracts(self) -> dict[str, PerpContract]:
        url = f"{v2_url(self.settings.indexer_url)}/contracts"
        data = await request_json(self._client(), "GET", url, exchange=self.name, error_mapper=self._mapper)
        if not isinstance(data, dict):
            raise ExchangeError(f"{self.name}: /v2/contracts is not a map of contracts", exchange=self.name)
        with reading(self.name, "/v2/contracts"):
            return {key: PerpContract.model_validate(row) for key, row in data.items()}

    async def _min_sizes(self) -> dict[str, Decimal]:
        try:
            raw = await request_json(
                self._client(),
                "POST",
                f"{self.settings.base_url}/query",
                exchange=self.name,
                error_mapper=self._mapper,
                content=json.dumps({"type": "symbols", "product_type": "perp"}),
                headers={"Content-Type": "application/json"},
            )
            with reading(self.name, "symbols"):
                answer = Answer.model_validate(raw)
                symbols = Symbols.model_validate(answer.data)
        except ExchangeError as exc:
            log.warning("%s: no minimum order sizes this cycle: %s", self.name, exc)
            return {}
        return {row.symbol: from_x18(row.min_size) for row in symbols.symbols.values()}

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        contracts, min_sizes = await asyncio.gather(self._contracts(), self._min_sizes())
        now = utcnow()
        wanted = {s.upper() for s in symbols} if symbols else None
        out: list[FundingRate] = []
        for contract in contracts.values():
            if contract.product_type.lower() not in ("perpetual", "perp"):
                continue
            canonical = normalize(self.name, contract.base_currency)
            if wanted is not None and canonical.base not in wanted:
                continue
            min_size = min_sizes.get(contract.base_currency)
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=contract.base_currency,
                    multiplier=canonical.multiplier,
                    rate=contract.funding_rate / HOURS_PER_QUOTED_RATE,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=contract.mark_price,
                    index_price=contract.index_price,
                    open_interest_usd=contract.open_interest_usd,
                    volume_24h_usd=contract.quote_volume,
                    best_bid=contract.highest_bid,
                    best_ask=contract.lowest_ask,
                    min_order_size=base_min_size(min_size, canonical.multiplier) if min_size else None,
                    next_funding_time=(
                        from_seconds(contract.next_funding_rate_timestamp)
                        if contract.next_funding_rate_timestamp
                        else None
                    ),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
