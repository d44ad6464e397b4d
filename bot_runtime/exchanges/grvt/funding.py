"""GRVT funding adapter (public market-data endpoints, no credentials) on ``grvt-pysdk``.

* ``full/v1/instruments`` (kind PERPETUAL) lists the perpetuals (``BTC_USDT_Perp`` → BTC) with each one's
  ``min_size`` (the trading client's minimum and size step, :func:`~.mapping.parse_market`; × the multiplier = base
  units).
* ``full/v1/ticker`` per instrument: ``funding_rate_8h_curr`` is in **percentage points** over an 8-hour window
  (divided by 100 here), mark/index price, ``open_interest`` in base units (x mark price = USD) and the 24 h taker
  volumes in quote units (``buy_volume_24h_q + sell_volume_24h_q``).
* Interval: the instrument's ``funding_interval_hours`` (GRVT's API spec, ``InstrumentDisplay``; not yet in
  grvt-pysdk 0.2.1's types, so it may be absent), else GRVT's 8-hour cycle; the 8-hour rate is scaled to that
  interval (the spec calls ``funding_rate_8h_curr`` deprecated in favour of ``funding_rate``, "the rate applied over
  ``funding_interval_hours``", whose unit it gives as centibeeps while its example and the history endpoint use
  percentage points: until the unit is settled the deprecated field, documented in both, is the one read). Next
  funding time: the ticker's ``next_funding_time`` (API spec ``Ticker``, unix ns; also not in the SDK's types) when
  present, else the next interval boundary in UTC. The ticker carries no interval of its own.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ns
from bot_runtime.exchanges.base import FundingRate, FundingSource, TransientNetworkError, base_min_size, utcnow
from bot_runtime.exchanges.grvt.config import GrvtPublicConfig
from bot_runtime.exchanges.grvt.mapping import DEFAULT_FUNDING_HOURS, next_funding_boundary
from bot_runtime.exchanges.grvt.sdk import GrvtRest, use_base_url
from bot_runtime.exchanges.symbols import normalize

PERCENT = Decimal(100)
RATE_WINDOW_HOURS = Decimal(8)


class GrvtFundingSource(FundingSource):
    def __init__(self, config: GrvtPublicConfig, *, name: str = "grvt") -> None:
        self.name = name
        self._cfg = config
        self._rest: GrvtRest | None = None

    async def _client(self) -> GrvtRest:
        if self._rest is None:
            use_base_url(self._cfg.environment, self._cfg.base_url)
            self._rest = GrvtRest(self._cfg.environment, timeout=self._cfg.request_timeout)
        return self._rest

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        rest = await self._client()
        try:
            instruments = await asyncio.wait_for(
                rest.fetch_markets(params={"kind": "PERPETUAL"}), self._cfg.request_timeout + 1
            )
        except TimeoutError:
            raise TransientNetworkError(f"{self.name}: instruments timed out", exchange=self.name) from None
        wanted = {s.upper() for s in symbols} if symbols else None
        selected = []
        for instrument in instruments:
            if instrument.get("kind") != "PERPETUAL":
                continue
            canonical = normalize("grvt", str(instrument["instrument"]))
            if wanted is None or canonical.base in wanted:
                selected.append((instrument, canonical))
        gate = asyncio.Semaphore(self._cfg.concurrency)

        async def ticker(name: str) -> dict[str, Any]:
            async with gate:
                try:
                    result: dict[str, Any] = await asyncio.wait_for(
                        rest.fetch_ticker(name), self._cfg.request_timeout + 1
                    )
                except TimeoutError:
                    raise TransientNetworkError(f"{self.name}: ticker {name} timed out", exchange=self.name) from None
                return result

        tickers = await asyncio.gather(*(ticker(str(i["instrument"])) for i, _ in selected))
        now = utcnow()
        out: list[FundingRate] = []
        for (instrument, canonical), tick in zip(selected, tickers, strict=True):
            rate_8h_pct = dec_or_none(tick.get("funding_rate_8h_curr"))
            if rate_8h_pct is None:
                continue
            hours = int(instrument.get("funding_interval_hours") or DEFAULT_FUNDING_HOURS)
            mark = dec_or_none(tick.get("mark_price"))
            oi = dec_or_none(tick.get("open_interest"))
            buy_q, sell_q = dec_or_none(tick.get("buy_volume_24h_q")), dec_or_none(tick.get("sell_volume_24h_q"))
            next_time = tick.get("next_funding_time")
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=str(instrument["instrument"]),
                    multiplier=canonical.multiplier,
                    rate=rate_8h_pct / PERCENT * Decimal(hours) / RATE_WINDOW_HOURS,
                    interval_hours=Decimal(hours),
                    mark_price=mark,
                    index_price=dec_or_none(tick.get("index_price")),
                    open_interest_usd=oi * mark if oi is not None and mark is not None else None,
                    volume_24h_usd=(buy_q or Decimal(0)) + (sell_q or Decimal(0)) if buy_q or sell_q else None,
                    best_bid=dec_or_none(tick.get("best_bid_price")),
                    best_ask=dec_or_none(tick.get("best_ask_price")),
                    min_order_size=base_min_size(dec_or_none(instrument.get("min_size")), canonical.multiplier),
                    next_funding_time=from_ns(dec(next_time)) if next_time else next_funding_boundary(now, hours),
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._rest is not None:
            await self._rest.close()
            self._rest = None
