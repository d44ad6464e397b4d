"""Aster funding data (public endpoints, no credentials) → :class:`~bot_runtime.exchanges.base.FundingRate`.

Per perpetual (``exchangeInfo``: PERPETUAL, TRADING): ``premiumIndex`` gives ``lastFundingRate`` (the rate of the
current interval), ``markPrice``, ``indexPrice`` and ``nextFundingTime``; ``fundingInfo`` gives each symbol's
``fundingIntervalHours`` (symbols absent from it use the 8 h default); ``ticker/24hr`` gives ``quoteVolume`` (USDT
≈ USD); ``ticker/bookTicker`` the best bid/ask; ``openInterest?symbol=`` the open interest in contracts, converted
to USD at the mark price. ``openInterest`` is not in Aster's published v1 docs (it is Binance's): it is fetched
best-effort, per symbol, with bounded concurrency, and a missing value stays ``None``. The minimum order size is what
the trading client reads (:func:`~.parsing.market_from_symbol`): ``exchangeInfo``'s ``LOT_SIZE`` filter ``minQty``
(its ``stepSize`` when ``minQty`` is absent; None without the filter), in contracts × the symbol's multiplier
(``MIN_NOTIONAL`` is not folded in).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from bot_runtime.exchanges._shared.http import request_json
from bot_runtime.exchanges.aster import parsing
from bot_runtime.exchanges.aster.errors import map_error
from bot_runtime.exchanges.aster.settings import AsterSettings
from bot_runtime.exchanges.aster.wire import (
    BookTicker,
    ExchangeInfo,
    FundingInfo,
    OpenInterest,
    PremiumIndex,
    Ticker24h,
)
from bot_runtime.exchanges.base import ExchangeError, FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.symbols import normalize

log = logging.getLogger(__name__)


class AsterFundingSource(FundingSource):
    def __init__(self, name: str, settings: AsterSettings) -> None:
        self.name = name
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.request_timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await request_json(
            self._http,
            "GET",
            path,
            exchange=self.name,
            error_mapper=lambda status, body, headers: map_error(status, body, headers, self.name),
            params=dict(params or {}),
        )

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        info_raw, premium_raw, funding_raw, tickers_raw, books_raw = await asyncio.gather(
            self._get("/fapi/v1/exchangeInfo"),
            self._get("/fapi/v1/premiumIndex"),
            self._get("/fapi/v1/fundingInfo"),
            self._get("/fapi/v1/ticker/24hr"),
            self._get("/fapi/v1/ticker/bookTicker"),
        )
        wanted = {s.upper() for s in symbols} if symbols else None
        perps: dict[str, tuple[str, Decimal, str]] = {}  # venue symbol -> (canonical, multiplier, quote)
        min_sizes: dict[str, Decimal | None] = {}  # venue symbol -> minimum order size in base units
        chosen: dict[str, str] = {}  # canonical -> venue symbol (one row per canonical symbol)
        for sym in ExchangeInfo.model_validate(info_raw).symbols:
            if sym.contract_type != "PERPETUAL" or sym.status != "TRADING":
                continue
            base, multiplier = normalize(self.name, sym.symbol)
            if wanted is not None and base not in wanted:
                continue
            perps[sym.symbol] = (base, multiplier, sym.quote_asset)
            lot = sym.filter("LOT_SIZE")
            min_sizes[sym.symbol] = base_min_size((lot.min_qty or lot.step_size) if lot else None, multiplier)
            current = chosen.get(base)
            if current is None or (perps[current][2] != self.settings.quote and sym.quote_asset == self.settings.quote):
                chosen[base] = sym.symbol
        premium = {p.symbol: p for p in (PremiumIndex.model_validate(r) for r in _as_list(premium_raw))}
        intervals = {
            f.symbol: f.funding_interval_hours for f in (FundingInfo.model_validate(r) for r in _as_list(funding_raw))
        }
        volumes = {t.symbol: t.quote_volume for t in (Ticker24h.model_validate(r) for r in _as_list(tickers_raw))}
        books = {b.symbol: b for b in (BookTicker.model_validate(r) for r in _as_list(books_raw))}
        venue_symbols = [v for v in chosen.values() if v in premium]
        open_interest = await self._open_interest(venue_symbols)
        collected = utcnow()
        rates: list[FundingRate] = []
        for venue_symbol in venue_symbols:
            base, multiplier, _quote = perps[venue_symbol]
            p = premium[venue_symbol]
            oi = open_interest.get(venue_symbol)
            book = books.get(venue_symbol)
            rates.append(
                FundingRate(
                    exchange=self.name,
                    symbol=base,
                    venue_symbol=venue_symbol,
                    multiplier=multiplier,
                    rate=p.last_funding_rate,
                    interval_hours=intervals.get(venue_symbol, Decimal(self.settings.default_funding_interval_hours)),
                    mark_price=p.mark_price,
                    index_price=p.index_price,
                    open_interest_usd=oi * p.mark_price if oi is not None else None,
                    volume_24h_usd=volumes.get(venue_symbol),
                    best_bid=book.bid_price if book else None,
                    best_ask=book.ask_price if book else None,
                    min_order_size=min_sizes[venue_symbol],
                    next_funding_time=parsing.ms(p.next_funding_time) if p.next_funding_time else None,
                    collected_at=collected,
                )
            )
        return rates

    async def _open_interest(self, venue_symbols: list[str]) -> dict[str, Decimal]:
        if self.settings.open_interest_concurrency == 0 or not venue_symbols:
            return {}
        gate = asyncio.Semaphore(self.settings.open_interest_concurrency)
        result: dict[str, Decimal] = {}

        async def one(venue_symbol: str) -> None:
            async with gate:
                try:
                    data = await self._get("/fapi/v1/openInterest", {"symbol": venue_symbol})
                except ExchangeError as exc:
                    log.debug("%s: no open interest for %s: %s", self.name, venue_symbol, exc)
                    return
                result[venue_symbol] = OpenInterest.model_validate(data).open_interest

        await asyncio.gather(*(one(s) for s in venue_symbols))
        return result


def _as_list(data: Any) -> list[Any]:
    return data if isinstance(data, list) else [data]
