"""Ethereal funding adapter: public ``GET /v1/product`` and ``GET /v1/product/market-price`` (no credentials, no SDK).

``/v1/product`` lists every product; perpetuals have ``engineType`` 0 (spot 1) and trade while ``status`` is
``ACTIVE``. Each carries

* ``fundingRate1h``: the last computed funding rate **per hour** - Ethereal charges funding every hour, so it is
  reported as is with ``interval_hours = 1``; positive: longs pay shorts (the venue's Funding Rates page);
* ``openInterest`` (both sides) and ``volume24h`` in base units: × the price = USD;
* ``lotSize`` and ``minQuantity``: the minimum order size is the trading client's (the larger of the two,
  :func:`~.parsing.market_from_product`), × the multiplier = base units.

``/v1/product/market-price?productIds=...`` (at most 50 ids a request) adds ``oraclePrice`` (the index, and the
mark: the REST API publishes no separate mark price) and the best bid/ask. Funding is charged on the hour, so the next
funding time is the next full hour (UTC).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges._shared.payload_checks import reading
from bot_runtime.exchanges.base import FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.ethereal.config import EtherealSettings
from bot_runtime.exchanges.ethereal.errors import map_http_error
from bot_runtime.exchanges.ethereal.parsing import market_from_product
from bot_runtime.exchanges.ethereal.wire import MarketPrice, MarketPrices, Page, Product
from bot_runtime.exchanges.symbols import normalize

INTERVAL_HOURS = Decimal(1)
PERPETUAL = 0
_PRICE_BATCH = 50


def next_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


class EtherealFundingSource(FundingSource):
    def __init__(self, name: str, settings: EtherealSettings) -> None:
        self.name = name
        self.settings = settings
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self.settings.base_url, timeout=self.settings.request_timeout)
        return self._http

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        return await request_json(
            self._client(),
            "GET",
            path,
            exchange=self.name,
            error_mapper=lambda status, body, headers: map_http_error(status, body, headers, self.name),
            params=params,
        )

    async def _products(self) -> list[Product]:
        products: list[Product] = []
        params: dict[str, Any] = {"limit": 100}
        for _ in range(100):
            answer = await self._get("/v1/product", params)
            with reading(self.name, "GET /v1/product"):
                page = Page[Product].model_validate(answer)
            products.extend(page.data)
            if not page.has_next or not page.next_cursor:
                break
            params["cursor"] = page.next_cursor
        return products

    async def _prices(self, product_ids: list[str]) -> dict[str, MarketPrice]:
        prices: dict[str, MarketPrice] = {}
        for start in range(0, len(product_ids), _PRICE_BATCH):
            batch = product_ids[start : start + _PRICE_BATCH]
            answer = await self._get("/v1/product/market-price", {"productIds": batch})
            with reading(self.name, "GET /v1/product/market-price"):
                listed = MarketPrices.model_validate(answer)
            prices.update({price.product_id: price for price in listed.data})
        return prices

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        wanted = {s.upper() for s in symbols} if symbols else None
        perps = []
        for product in await self._products():
            if product.engine_type != PERPETUAL or product.status != "ACTIVE":
                continue
            canonical = normalize(self.name, product.ticker)
            if wanted is None or canonical.base in wanted:
                perps.append((product, canonical))
        prices = await self._prices([product.id for product, _ in perps]) if perps else {}
        now = utcnow()
        out: list[FundingRate] = []
        for product, canonical in perps:
            price = prices.get(product.id)
            oracle = price.oracle_price if price is not None else None
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=product.ticker,
                    multiplier=canonical.multiplier,
                    rate=product.funding_rate_1h,
                    interval_hours=INTERVAL_HOURS,
                    mark_price=oracle,
                    index_price=oracle,
                    open_interest_usd=product.open_interest * oracle if oracle is not None else None,
                    volume_24h_usd=product.volume_24h * oracle if oracle is not None else None,
                    best_bid=price.best_bid_price if price is not None else None,
                    best_ask=price.best_ask_price if price is not None else None,
                    min_order_size=base_min_size(
                        market_from_product(self.name, product).min_size, canonical.multiplier
                    ),
                    next_funding_time=next_hour(now),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
