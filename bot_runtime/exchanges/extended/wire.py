"""The public market list as the funding adapter reads it (``GET /info/markets``), without the SDK: numbers are
decimal strings, times epoch milliseconds. The fields are those of the SDK's ``x10.models.market.MarketModel`` /
``MarketStatsModel`` (tests validate the same fixture against both). Unknown fields are ignored."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class MarketStats(_Wire):
    """``fundingRate`` is the current rate of the hourly funding (a fraction per hour, positive: longs pay);
    ``nextFundingRate`` - despite its name - the epoch-ms time of the next funding; ``openInterest`` and
    ``dailyVolume`` are in USD (``openInterestBase`` / ``dailyVolumeBase`` in the asset)."""

    funding_rate: Decimal = Field(alias="fundingRate")
    next_funding_rate: int | None = Field(default=None, alias="nextFundingRate")
    mark_price: Decimal | None = Field(default=None, alias="markPrice")
    index_price: Decimal | None = Field(default=None, alias="indexPrice")
    bid_price: Decimal | None = Field(default=None, alias="bidPrice")
    ask_price: Decimal | None = Field(default=None, alias="askPrice")
    open_interest: Decimal | None = Field(default=None, alias="openInterest")
    daily_volume: Decimal | None = Field(default=None, alias="dailyVolume")


class TradingConfig(_Wire):
    """``tradingConfig`` (the SDK's ``TradingConfigModel``): ``minOrderSize`` in the market's asset, the minimum the
    trading client uses (:func:`~.parsing.market_from_model`)."""

    min_order_size: Decimal | None = Field(default=None, alias="minOrderSize")


class MarketSummary(_Wire):
    name: str
    type: str = "PERPETUAL"  # PERPETUAL | SPOT (MarketModel.type)
    active: bool
    market_stats: MarketStats = Field(alias="marketStats")
    trading_config: TradingConfig | None = Field(default=None, alias="tradingConfig")
