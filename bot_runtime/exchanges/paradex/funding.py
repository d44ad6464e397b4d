"""Paradex funding data (public endpoints over httpx; paradex-py is never imported here) → FundingRate.

``GET /markets`` lists the perpetuals (``asset_kind == "PERP"``) with each market's ``funding_period_hours``;
``GET /markets/summary?market=ALL`` gives ``funding_rate`` (per the market's own funding period, "not a normalized
8h funding rate" says the API), ``mark_price``, ``underlying_price`` (spot/index), ``open_interest`` (base currency,
converted to USD at the mark price), ``volume_24h`` (USD) and the best bid/ask. Paradex funds continuously (the
index advances every second; no discrete funding event), so ``next_funding_time`` is ``None``. Paradex publishes no
minimum order size, only ``order_size_increment`` (and ``min_notional``, in USD): the minimum order size reported is
the trading client's (:func:`~.parsing.market_from_resp`), that increment × the multiplier.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.paradex import parsing
from bot_runtime.exchanges.paradex.errors import map_sdk_error
from bot_runtime.exchanges.paradex.settings import ParadexSettings
from bot_runtime.exchanges.paradex.wire import MarketResp, MarketSummaryResp
from bot_runtime.exchanges.symbols import normalize


class ParadexFundingSource(FundingSource):
    def __init__(self, name: str, settings: ParadexSettings) -> None:
        self.name = name
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)

    async def close(self) -> None:
        await self._http.aclose()

    def _map(self, status: int, body: Any, headers: Mapping[str, str]) -> ExchangeError:
        return map_sdk_error(
            body if isinstance(body, str) else json.dumps(body, default=str), status, exchange=self.name
        )

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        markets_raw, summary_raw = await asyncio.gather(
            request_json(self._http, "GET", "/markets", exchange=self.name, error_mapper=self._map),
            request_json(
                self._http,
                "GET",
                "/markets/summary",
                exchange=self.name,
                error_mapper=self._map,
                params={"market": "ALL"},
            ),
        )
        wanted = {s.upper() for s in symbols} if symbols else None
        periods: dict[str, Decimal] = {}
        min_sizes: dict[str, Decimal] = {}  # in contracts (the market's own unit)
        for raw in markets_raw.get("results", []):
            market = MarketResp.model_validate(raw)
            if parsing.is_perpetual(market):
                periods[market.symbol] = market.funding_period_hours or Decimal(
                    str(self.settings.default_funding_period_hours)
                )
                min_sizes[market.symbol] = parsing.market_from_resp(market).min_size
        collected = utcnow()
        rates: list[FundingRate] = []
        for raw in summary_raw.get("results", []):
            summary = MarketSummaryResp.model_validate(raw)
            if summary.symbol not in periods or summary.funding_rate is None:
                continue
            base, multiplier = normalize(self.name, summary.symbol)
            if wanted is not None and base not in wanted:
                continue
            oi = summary.open_interest
            rates.append(
                FundingRate(
                    exchange=self.name,
                    symbol=base,
                    venue_symbol=summary.symbol,
                    multiplier=multiplier,
                    rate=summary.funding_rate,
                    interval_hours=periods[summary.symbol],
                    mark_price=summary.mark_price,
                    index_price=summary.underlying_price,
                    open_interest_usd=oi * summary.mark_price if oi is not None and summary.mark_price else None,
                    volume_24h_usd=summary.volume_24h,
                    best_bid=summary.bid,
                    best_ask=summary.ask,
                    min_order_size=base_min_size(min_sizes[summary.symbol], multiplier),
                    next_funding_time=None,
                    collected_at=collected,
                )
            )
        return rates
