"""Backpack funding data (public endpoints, no credentials, no bpx-py import) → FundingRate.

Per perpetual market (``GET /api/v1/markets``, ``marketType == "PERP"``): ``GET /api/v1/markPrices`` gives
``fundingRate`` (the current interval's rate), ``markPrice``, ``indexPrice`` and ``nextFundingTimestamp`` (ms);
the interval is the market's own ``fundingInterval`` (ms) when published, else 1 h (Backpack funds hourly);
``GET /api/v1/tickers`` gives ``quoteVolume`` (USDC ≈ USD) over 24 h; ``GET /api/v1/openInterest`` the open
interest in contracts, converted to USD at the mark price. The minimum order size is the trading client's
(:func:`~.parsing.market_from_info`): the market's ``filters.quantity.minQuantity`` (its ``stepSize`` when absent) ×
the symbol's multiplier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges.backpack import parsing
from bot_runtime.exchanges.backpack.errors import map_error
from bot_runtime.exchanges.backpack.settings import BackpackSettings
from bot_runtime.exchanges.backpack.wire import MarketInfo, MarkPrice, OpenInterest, Ticker
from bot_runtime.exchanges.base import FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.symbols import normalize


class BackpackFundingSource(FundingSource):
    def __init__(self, name: str, settings: BackpackSettings) -> None:
        self.name = name
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str) -> Any:
        return await request_json(
            self._http,
            "GET",
            path,
            exchange=self.name,
            error_mapper=lambda status, body, headers: map_error(status, body, headers, self.name),
        )

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        markets_raw, marks_raw, tickers_raw, oi_raw = await asyncio.gather(
            self._get("/api/v1/markets"),
            self._get("/api/v1/markPrices"),
            self._get("/api/v1/tickers"),
            self._get("/api/v1/openInterest"),
        )
        wanted = {s.upper() for s in symbols} if symbols else None
        perps: dict[str, MarketInfo] = {}
        for raw in markets_raw:
            market_info = MarketInfo.model_validate(raw)
            if market_info.market_type == "PERP" and market_info.order_book_state != "Closed":
                perps[market_info.symbol] = market_info
        volumes = {t.symbol: t.quote_volume for t in (Ticker.model_validate(r) for r in _rows(tickers_raw))}
        open_interest = {o.symbol: o.open_interest for o in (OpenInterest.model_validate(r) for r in _rows(oi_raw))}
        collected = utcnow()
        seen: set[str] = set()
        rates: list[FundingRate] = []
        for raw in _rows(marks_raw):
            mark = MarkPrice.model_validate(raw)
            info = perps.get(mark.symbol)
            if info is None:
                continue
            base, multiplier = normalize(self.name, mark.symbol)
            if (wanted is not None and base not in wanted) or base in seen:
                continue
            seen.add(base)
            oi = open_interest.get(mark.symbol)
            rates.append(
                FundingRate(
                    exchange=self.name,
                    symbol=base,
                    venue_symbol=mark.symbol,
                    multiplier=multiplier,
                    rate=mark.funding_rate,
                    interval_hours=parsing.funding_interval_hours(info, self.settings.default_funding_interval_hours),
                    mark_price=mark.mark_price,
                    index_price=mark.index_price,
                    open_interest_usd=oi * mark.mark_price if oi is not None else None,
                    volume_24h_usd=volumes.get(mark.symbol),
                    min_order_size=base_min_size(parsing.market_from_info(info).min_size, multiplier),
                    next_funding_time=(
                        datetime.fromtimestamp(mark.next_funding_timestamp / 1000, UTC)
                        if mark.next_funding_timestamp
                        else None
                    ),
                    collected_at=collected,
                )
            )
        return rates


def _rows(data: Any) -> list[Mapping[str, Any]]:
    return data if isinstance(data, list) else [data]
