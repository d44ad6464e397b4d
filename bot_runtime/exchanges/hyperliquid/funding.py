"""Hyperliquid funding adapter: one public ``POST /info {"type": "metaAndAssetCtxs"}`` (no credentials, no SDK).

``meta.universe[i]`` names perp ``i`` (delisted ones carry ``isDelisted`` and are skipped); ``assetCtxs[i]`` holds

* ``funding``: the current rate **per hour** - Hyperliquid settles funding every hour (at one eighth of the 8-hour
  rate its formula computes), so it is reported as is with ``interval_hours = 1``; positive: longs pay shorts;
* ``markPx``, ``oraclePx`` (the index), ``openInterest`` in coins (× mark price = USD), ``dayNtlVlm`` (24 h
  notional volume, USD).

The minimum order size is the trading client's (:func:`~.parsing.market_from_asset`): Hyperliquid has no minimum
size, only a minimum order value ($10) and a size step (``meta.universe[i].szDecimals``), so it is the smallest size
on the step worth $10 at this cycle's ``markPx`` (it moves with the price; None without a mark price).

Funding is paid on the hour, so the next funding time is the next full hour (UTC).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.hyperliquid.config import HyperliquidSettings
from bot_runtime.exchanges.hyperliquid.errors import map_http_error
from bot_runtime.exchanges.hyperliquid.parsing import market_from_asset
from bot_runtime.exchanges.hyperliquid.wire import AssetCtx, Meta
from bot_runtime.exchanges.symbols import normalize

INTERVAL_HOURS = Decimal(1)


def next_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class HyperliquidFundingSource(FundingSource):
    def __init__(self, name: str, settings: HyperliquidSettings) -> None:
        self.name = name
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.settings.base_url, timeout=self.settings.request_timeout)
        return self._http

    async def _meta_and_ctxs(self) -> tuple[Meta, list[AssetCtx]]:
        answer: Any = await request_json(
            self._client(),
            "POST",
            "/info",
            exchange=self.name,
            error_mapper=lambda status, body, headers: map_http_error(status, body, headers, self.name),
            content=json.dumps({"type": "metaAndAssetCtxs"}),
            headers={"Content-Type": "application/json"},
        )
        try:
            return Meta.model_validate(answer[0]), [AssetCtx.model_validate(ctx) for ctx in answer[1]]
        except (ValueError, IndexError, KeyError, TypeError):
            raise ExchangeError(f"{self.name}: metaAndAssetCtxs has an unknown shape", exchange=self.name) from None

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        meta, ctxs = await self._meta_and_ctxs()
        now = utcnow()
        wanted = {s.upper() for s in symbols} if symbols else None
        out: list[FundingRate] = []
        for asset_id, (info, ctx) in enumerate(zip(meta.universe, ctxs, strict=False)):
            if info.is_delisted:
                continue
            canonical = normalize(self.name, info.name)
            if wanted is not None and canonical.base not in wanted:
                continue
            mark = ctx.mark_px
            market = market_from_asset(self.name, asset_id, info, mark) if mark else None
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=info.name,
                    multiplier=canonical.multiplier,
                    rate=ctx.funding,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=mark,
                    index_price=ctx.oracle_px,
                    open_interest_usd=ctx.open_interest * mark if mark is not None else None,
                    volume_24h_usd=ctx.day_ntl_vlm,
                    min_order_size=base_min_size(market.min_size, market.multiplier) if market else None,
                    next_funding_time=next_hour(now),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
