"""ApeX Omni public REST payloads (pydantic, numbers as ``Decimal``), the fields the funding adapter reads.

Shapes: the ``/api/v3/symbols`` config and ``/api/v3/ticker`` row as ccxt's ``apex`` implementation documents and
parses them (``fetch_markets`` / ``parse_market``, ``parse_ticker``; the endpoints and the ``symbol`` parameter
without its dash are the official SDK's ``HttpPublic.configs_v3`` / ``ticker_v3``). Every answer is wrapped as
``{"data": ...}``; a refusal is ``{"code": <non-zero>, "msg": ..., "key": ...}`` (ccxt ``handle_errors``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class PerpetualContract(_Wire):
    """``data.contractConfig.perpetualContract[]``: ``symbol`` ``BTC-USDT``, ``crossSymbolName`` ``BTCUSDT`` (the
    ticker's name), sizes in base units."""

    symbol: str
    cross_symbol_name: str = Field(alias="crossSymbolName")
    base_token_id: str | None = Field(default=None, alias="baseTokenId")
    settle_asset_id: str | None = Field(default=None, alias="settleAssetId")
    tick_size: Decimal = Field(alias="tickSize")
    step_size: Decimal = Field(alias="stepSize")
    min_order_size: Decimal | None = Field(default=None, alias="minOrderSize")
    l2_pair_id: int = Field(alias="l2PairId")
    enable_trade: bool = Field(default=True, alias="enableTrade")
    enable_display: bool = Field(default=True, alias="enableDisplay")


class ContractConfig(_Wire):
    perpetual_contract: list[PerpetualContract] = Field(default_factory=list, alias="perpetualContract")


class SymbolsData(_Wire):
    contract_config: ContractConfig = Field(alias="contractConfig")


class Ticker(_Wire):
    """One ``/v3/ticker`` row. ``openInterest`` is in base units (ccxt: ``openInterestAmount``), ``turnover24h`` the
    24 h quote (USDT) volume, ``fundingRate`` the current rate per funding interval, ``nextFundingTime`` a UTC
    time of day (``"10:00:00"``)."""

    symbol: str
    last_price: Decimal | None = Field(default=None, alias="lastPrice")
    mark_price: Decimal | None = Field(default=None, alias="markPrice")
    index_price: Decimal | None = Field(default=None, alias="indexPrice")
    open_interest: Decimal | None = Field(default=None, alias="openInterest")
    turnover_24h: Decimal | None = Field(default=None, alias="turnover24h")
    funding_rate: Decimal = Field(alias="fundingRate")
    predicted_funding_rate: Decimal | None = Field(default=None, alias="predictedFundingRate")
    next_funding_time: str | int | None = Field(default=None, alias="nextFundingTime")


class Envelope(_Wire):
    data: Any = None
