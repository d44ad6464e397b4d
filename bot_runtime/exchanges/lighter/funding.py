"""Lighter funding adapter (public endpoints, no credentials) on the SDK's ``FundingApi`` and ``OrderApi``.

* ``GET /api/v1/funding-rates`` lists the current rate of Lighter *and* other venues (binance, bybit, hyperliquid):
  only ``exchange == "lighter"`` rows are kept. The value is a fraction expressed over an 8-hour window (the
  endpoint puts every venue on the same 8 h footing), while Lighter settles funding **every hour**: we report
  ``rate = value / 8`` with ``interval_hours = 1`` (the original assumed 8 h and stored the raw value).
* ``GET /api/v1/orderBookDetails`` gives mark/index price, open interest (base units), the 24 h quote volume and
  ``min_base_amount`` (the trading client's minimum size, :func:`~.mapping.parse_market`; × the multiplier = base
  units).
  OI in USD = open_interest x mark price. Funding settles on the hour, so the next funding time is the next full hour.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from lighter.api.funding_api import FundingApi
from lighter.api.order_api import OrderApi
from lighter.api_client import ApiClient
from lighter.configuration import Configuration

from bot_runtime.exchanges._shared.values import dec, dec_or_none
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.lighter.config import LighterPublicConfig
from bot_runtime.exchanges.lighter.errors import sdk_call
from bot_runtime.exchanges.symbols import normalize

RATE_WINDOW_HOURS = Decimal(8)  # the /funding-rates value covers 8 hours
INTERVAL_HOURS = Decimal(1)  # Lighter settles hourly


def next_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _as_dict(model: Any) -> dict[str, Any]:
    result: dict[str, Any] = model if isinstance(model, dict) else model.to_dict()
    return result


class LighterFundingSource(FundingSource):
    def __init__(self, config: LighterPublicConfig, *, name: str = "lighter") -> None:
        self.name = name
        self._cfg = config
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            self._client = ApiClient(configuration=Configuration(host=self._cfg.base_url))
        return self._client

    async def _call(self, what: str, coro: Any) -> dict[str, Any]:
        return _as_dict(await sdk_call(what, coro, self._cfg.request_timeout, exchange=self.name))

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        api = self._api()
        rates_raw, details_raw = await asyncio.gather(
            self._call("funding-rates", FundingApi(api).funding_rates()),
            self._call("orderBookDetails", OrderApi(api).order_book_details()),
        )
        details = {int(d["market_id"]): d for d in details_raw.get("order_book_details") or []}
        now = utcnow()
        wanted = {s.upper() for s in symbols} if symbols else None
        out: list[FundingRate] = []
        for row in rates_raw.get("funding_rates") or []:
            if str(row.get("exchange", "")).lower() != "lighter":
                continue
            detail = details.get(int(row["market_id"]))
            if detail is None or detail.get("market_type", "perp") != "perp":
                continue
            canonical = normalize("lighter", str(detail.get("symbol") or row["symbol"]))
            if wanted is not None and canonical.base not in wanted:
                continue
            mark = dec_or_none(detail.get("mark_price")) or dec_or_none(detail.get("last_trade_price"))
            oi = dec_or_none(detail.get("open_interest"))
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=str(detail.get("symbol") or row["symbol"]),
                    multiplier=canonical.multiplier,
                    rate=dec(row["rate"]) / RATE_WINDOW_HOURS * INTERVAL_HOURS,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=mark,
                    index_price=dec_or_none(detail.get("index_price")),
                    open_interest_usd=(oi * mark) if oi is not None and mark is not None else None,
                    volume_24h_usd=dec_or_none(detail.get("daily_quote_token_volume")),
                    min_order_size=base_min_size(dec_or_none(detail.get("min_base_amount")), canonical.multiplier),
                    next_funding_time=next_hour(now),
                    collected_at=now,
                )
            )
        if not out and rates_raw.get("funding_rates"):
            raise ExchangeError(f"{self.name}: funding-rates answered no Lighter perpetual", exchange=self.name)
        return out

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
