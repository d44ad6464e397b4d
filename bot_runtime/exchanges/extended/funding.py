"""Extended funding adapter: one public ``GET /info/markets`` (no credentials, no SDK import).

Each market's ``marketStats`` holds

* ``fundingRate``: the current rate of Extended's **hourly** funding (computed every minute from the premium index,
  applied on the hour): reported as is with ``interval_hours = 1``; positive: longs pay shorts;
* ``nextFundingRate``: despite the name, the epoch-ms time of the next funding payment;
* ``markPrice``, ``indexPrice``, ``bidPrice``/``askPrice`` (the top of the book), ``openInterest`` and
  ``dailyVolume`` already in USD (the ``...Base`` fields are in the asset);

and its ``tradingConfig.minOrderSize`` the minimum order size (the trading client's, in the market's asset: × the
multiplier = base units).

Only active ``PERPETUAL`` markets are reported (the SDK's ``MarketType`` also knows ``SPOT``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.extended.config import ExtendedSettings
from bot_runtime.exchanges.extended.errors import map_http_error
from bot_runtime.exchanges.extended.wire import MarketSummary
from bot_runtime.exchanges.symbols import normalize

INTERVAL_HOURS = Decimal(1)


def next_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class ExtendedFundingSource(FundingSource):
    def __init__(self, name: str, settings: ExtendedSettings) -> None:
        self.name = name
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.settings.base_url,
                timeout=self.settings.request_timeout,
                headers={"User-Agent": "perp-dex-operator collector", "Accept": "application/json"},
            )
        return self._http

    async def _markets(self) -> list[MarketSummary]:
        answer: Any = await request_json(
            self._client(),
            "GET",
            "/info/markets",
            exchange=self.name,
            error_mapper=lambda status, body, headers: map_http_error(status, body, headers, self.name),
        )
        try:
            if answer["status"] != "OK":
                raise ExchangeError(f"{self.name}: /info/markets answered {answer['status']}", exchange=self.name)
            return [MarketSummary.model_validate(row) for row in answer["data"]]
        except (ValueError, KeyError, TypeError):
            raise ExchangeError(f"{self.name}: /info/markets has an unknown shape", exchange=self.name) from None

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        markets = await self._markets()
        now = utcnow()
        wanted = {s.upper() for s in symbols} if symbols else None
        out: list[FundingRate] = []
        for market in markets:
            if market.type != "PERPETUAL" or not market.active:
                continue
            canonical = normalize(self.name, market.name)
            if wanted is not None and canonical.base not in wanted:
                continue
            stats = market.market_stats
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=market.name,
                    multiplier=canonical.multiplier,
                    rate=stats.funding_rate,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=stats.mark_price,
                    index_price=stats.index_price,
                    open_interest_usd=stats.open_interest,
                    volume_24h_usd=stats.daily_volume,
                    best_bid=stats.bid_price or None,
                    best_ask=stats.ask_price or None,
                    min_order_size=base_min_size(
                        market.trading_config.min_order_size if market.trading_config else None, canonical.multiplier
                    ),
                    next_funding_time=from_ms(stats.next_funding_rate) if stats.next_funding_rate else next_hour(now),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
