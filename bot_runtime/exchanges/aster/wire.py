"""Aster's wire format (v1 futures API, Binance-USDⓈ-M shaped), as documented in asterdex/api-docs
``V1(Legacy)/EN/aster-finance-futures-api.md``. Unknown fields are ignored; numbers arrive as strings or JSON
numbers and become :class:`~decimal.Decimal`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SymbolFilter(_Wire):
    filter_type: str = Field(alias="filterType")
    tick_size: Decimal | None = Field(default=None, alias="tickSize")
    step_size: Decimal | None = Field(default=None, alias="stepSize")
    min_qty: Decimal | None = Field(default=None, alias="minQty")
    notional: Decimal | None = None


class SymbolInfo(_Wire):
    """One entry of ``GET /fapi/v1/exchangeInfo`` → ``symbols``."""

    symbol: str
    contract_type: str = Field(default="PERPETUAL", alias="contractType")
    status: str = "TRADING"
    base_asset: str = Field(alias="baseAsset")
    quote_asset: str = Field(alias="quoteAsset")
    filters: list[SymbolFilter] = Field(default_factory=list)

    def filter(self, kind: str) -> SymbolFilter | None:
        return next((f for f in self.filters if f.filter_type == kind), None)


class ExchangeInfo(_Wire):
    symbols: list[SymbolInfo]


class OrderResp(_Wire):
    """``POST/GET/DELETE /fapi/v1/order``, ``GET /fapi/v1/openOrders`` items."""

    order_id: int = Field(alias="orderId")
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    symbol: str
    status: str
    side: str
    type: str
    time_in_force: str = Field(default="GTC", alias="timeInForce")
    price: Decimal = Decimal(0)
    avg_price: Decimal = Field(default=Decimal(0), alias="avgPrice")
    orig_qty: Decimal = Field(alias="origQty")
    executed_qty: Decimal | None = Field(default=None, alias="executedQty")
    reduce_only: bool = Field(default=False, alias="reduceOnly")
    time: int | None = None
    update_time: int | None = Field(default=None, alias="updateTime")


class PositionRisk(_Wire):
    """``GET /fapi/v2/positionRisk`` item."""

    symbol: str
    position_amt: Decimal = Field(alias="positionAmt")
    entry_price: Decimal = Field(default=Decimal(0), alias="entryPrice")
    mark_price: Decimal | None = Field(default=None, alias="markPrice")
    unrealized_profit: Decimal = Field(default=Decimal(0), alias="unRealizedProfit")
    liquidation_price: Decimal | None = Field(default=None, alias="liquidationPrice")
    leverage: Decimal | None = None
    isolated_margin: Decimal | None = Field(default=None, alias="isolatedMargin")
    position_side: str = Field(default="BOTH", alias="positionSide")


class Account(_Wire):
    """``GET /fapi/v4/account`` (the totals)."""

    total_margin_balance: Decimal = Field(alias="totalMarginBalance")
    available_balance: Decimal = Field(alias="availableBalance")
    total_initial_margin: Decimal = Field(default=Decimal(0), alias="totalInitialMargin")
    total_unrealized_profit: Decimal = Field(default=Decimal(0), alias="totalUnrealizedProfit")


class UserTrade(_Wire):
    """``GET /fapi/v1/userTrades`` item."""

    id: int
    order_id: int = Field(alias="orderId")
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal = Decimal(0)
    maker: bool = False
    time: int


class BookTicker(_Wire):
    """``GET /fapi/v1/ticker/bookTicker`` and the ``<symbol>@bookTicker`` stream (short keys)."""

    symbol: str
    bid_price: Decimal = Field(alias="bidPrice")
    bid_qty: Decimal | None = Field(default=None, alias="bidQty")
    ask_price: Decimal = Field(alias="askPrice")
    ask_qty: Decimal | None = Field(default=None, alias="askQty")
    time: int | None = None

    @classmethod
    def from_stream(cls, event: dict[str, Any]) -> BookTicker:
        return cls.model_validate(
            {
                "symbol": event["s"],
                "bidPrice": event["b"],
                "bidQty": event.get("B"),
                "askPrice": event["a"],
                "askQty": event.get("A"),
                "time": event.get("T") or event.get("E"),
            }
        )


class PremiumIndex(_Wire):
    """``GET /fapi/v1/premiumIndex`` item."""

    symbol: str
    mark_price: Decimal = Field(alias="markPrice")
    index_price: Decimal | None = Field(default=None, alias="indexPrice")
    last_funding_rate: Decimal = Field(alias="lastFundingRate")
    next_funding_time: int | None = Field(default=None, alias="nextFundingTime")


class FundingInfo(_Wire):
    """``GET /fapi/v1/fundingInfo`` item."""

    symbol: str
    funding_interval_hours: Decimal = Field(alias="fundingIntervalHours")


class Ticker24h(_Wire):
    """``GET /fapi/v1/ticker/24hr`` item."""

    symbol: str
    quote_volume: Decimal = Field(alias="quoteVolume")
    last_price: Decimal | None = Field(default=None, alias="lastPrice")


class OpenInterest(_Wire):
    """``GET /fapi/v1/openInterest?symbol=`` (base units)."""

    symbol: str
    open_interest: Decimal = Field(alias="openInterest")


class OrderEvent(_Wire):
    """``ORDER_TRADE_UPDATE`` → ``o`` (user data stream)."""

    symbol: str = Field(alias="s")
    client_order_id: str | None = Field(default=None, alias="c")
    side: str = Field(alias="S")
    order_type: str = Field(alias="o")
    time_in_force: str = Field(default="GTC", alias="f")
    quantity: Decimal = Field(alias="q")
    price: Decimal = Field(default=Decimal(0), alias="p")
    avg_price: Decimal = Field(default=Decimal(0), alias="ap")
    execution_type: str = Field(alias="x")
    status: str = Field(alias="X")
    order_id: int = Field(alias="i")
    last_filled_qty: Decimal = Field(default=Decimal(0), alias="l")
    filled_qty: Decimal | None = Field(default=None, alias="z")
    last_filled_price: Decimal = Field(default=Decimal(0), alias="L")
    commission: Decimal | None = Field(default=None, alias="n")
    trade_time: int | None = Field(default=None, alias="T")
    trade_id: int = Field(default=0, alias="t")
    maker: bool = Field(default=False, alias="m")
    reduce_only: bool = Field(default=False, alias="R")
