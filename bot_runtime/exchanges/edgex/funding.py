"""EdgeX funding adapter (public V2 endpoints, no credentials) on ``edgex-python-sdk``.

* ``GET /api/v2/public/meta/getMetaData`` → ``data.contractList[]`` (contractId, contractName like ``BTCUSDT`` /
  ``1000PEPEUSDT``, enableTrade, ``fundingRateIntervalMin``: the interval is per contract - 240 min on the documented
  contracts, i.e. **4 h**, not the 8 h the original assumed) and ``minOrderSize`` (the trading client's minimum,
  :func:`~.mapping.parse_market`; in contracts, × the multiplier = base units).
* ``GET /api/v2/public/quote/getTicker?contractId=`` → ``data[0]``: fundingRate (a fraction per interval),
  nextFundingTime (ms), oraclePrice (EdgeX's mark), indexPrice, openInterest (base units; x indexPrice = USD, as the
  original did) and ``value`` (24 h traded value in USD).
"""

from __future__ import annotations

import asyncio
from typing import Any

from edgex_sdk.client import Client

from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ms
from bot_runtime.exchanges.base import FundingRate, FundingSource, base_min_size, utcnow
from bot_runtime.exchanges.edgex.config import EdgexPublicConfig
from bot_runtime.exchanges.edgex.errors import sdk_call
from bot_runtime.exchanges.edgex.mapping import funding_interval_hours
from bot_runtime.exchanges.symbols import normalize


class EdgexFundingSource(FundingSource):
    def __init__(self, config: EdgexPublicConfig, *, name: str = "edgex") -> None:
        self.name = name
        self._cfg = config
        self._sdk: Any = None

    async def _call(self, what: str, coro: Any) -> dict[str, Any]:
        return await sdk_call(what, coro, self._cfg.request_timeout + 1, exchange=self.name)

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        if self._sdk is None:
            self._sdk = Client(base_url=self._cfg.base_url, account_id=0, timeout=self._cfg.request_timeout)
        metadata = await self._call("getMetaData", self._sdk.metadata.get_metadata())
        wanted = {s.upper() for s in symbols} if symbols else None
        contracts = []
        for contract in (metadata.get("data") or {}).get("contractList") or []:
            if not contract.get("enableTrade", True):
                continue
            canonical = normalize("edgex", str(contract["contractName"]))
            if wanted is None or canonical.base in wanted:
                contracts.append((contract, canonical))
        gate = asyncio.Semaphore(self._cfg.concurrency)

        async def ticker(contract_id: str) -> dict[str, Any]:
            async with gate:
                result = await self._call("getTicker", self._sdk.quote.get_24_hour_quote(contract_id))
                rows = result.get("data") or []
                row: dict[str, Any] = rows[0] if rows else {}
                return row

        tickers = await asyncio.gather(*(ticker(str(c["contractId"])) for c, _ in contracts))
        now = utcnow()
        out: list[FundingRate] = []
        for (contract, canonical), tick in zip(contracts, tickers, strict=True):
            rate = dec_or_none(tick.get("fundingRate"))
            if rate is None:
                continue
            index = dec_or_none(tick.get("indexPrice"))
            oi = dec_or_none(tick.get("openInterest"))
            next_time = tick.get("nextFundingTime")
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=canonical.base,
                    venue_symbol=str(contract["contractName"]),
                    multiplier=canonical.multiplier,
                    rate=rate,
                    interval_hours=funding_interval_hours(contract),
                    mark_price=dec_or_none(tick.get("oraclePrice")) or dec_or_none(tick.get("lastPrice")),
                    index_price=index,
                    open_interest_usd=oi * index if oi is not None and index is not None else None,
                    volume_24h_usd=dec_or_none(tick.get("value")),
                    min_order_size=base_min_size(dec_or_none(contract.get("minOrderSize")), canonical.multiplier),
                    next_funding_time=from_ms(dec(next_time)) if next_time and str(next_time) != "0" else None,
                    collected_at=now,
                )
            )
        return out

    async def close(self) -> None:
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None
