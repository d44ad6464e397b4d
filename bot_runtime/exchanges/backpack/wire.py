"""Backpack's wire format: REST models (docs.backpack.exchange; shapes as returned by the API and parsed by bpx-py's
callers) and the ``account.orderUpdate`` / ``bookTicker`` stream payloads. Unknown fields are ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def parse_time(value: Any) -> datetime | None:
    """Backpack sends ms integers (orders), µs integers/strings (streams) and naive ISO strings in UTC (history)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    number = int(value)
    if number > 10**14:  # microseconds
        return datetime.fromtimestamp(number / 1_000_000, UTC)
    return datetime.fromtimestamp(number / 1000, UTC)


class QuantityFilter(_Wire):
    min_quantity: Decimal | None = Field(default=None, alias="minQuantity")
    step_size: Decimal = Field(alias="stepSize")


class PriceFilter(_Wire):
    tick_size: Decimal = Field(alias="tickSize")


class MarketFilters(_Wire):
    price: PriceFilter
    quantity: QuantityFilter


class MarketInfo(_Wire):
    """``GET /api/v1/markets`` item."""

    symbol: str
    base_symbol: str = Field(alias="baseSymbol")
    quote_symbol: str = Field(alias="quoteSymbol")
    market_type: str = Field(default="SPOT", alias="marketType")
    order_book_state: str = Field(default="Open", alias="orderBookState")
    funding_interval: Decimal | None = Field(default=None, alias="fundingInterval", description="milliseconds")
    filters: MarketFilters


class OrderResp(_Wire):
    """``POST/GET/DELETE /api/v1/order``, ``GET /api/v1/orders``, ``GET /wapi/v1/history/orders`` item."""

    id: str
    client_id: int | None = Field(default=None, alias="clientId")
    symbol: str
    side: str
    order_type: str = Field(alias="orderType")
    time_in_force: str | None = Field(default=None, alias="timeInForce")
    post_only: bool | None = Field(default=None, alias="postOnly")
    reduce_only: bool | None = Field(default=None, alias="reduceOnly")
    price: Decimal | None = None
    quantity: Decimal | None = None
    executed_quantity: Decimal | None = Field(default=None, alias="executedQuantity")
    executed_quote_quantity: Decimal = Field(default=Decimal(0), alias="executedQuoteQuantity")
    status: str
    expiry_reason: str | None = Field(default=None, alias="expiryReason")  # OpenAPI Order.expiryReason
    created_at: Any = Field(default=None, alias="createdAt")

    @field_validator("id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        return str(value)


class FillResp(_Wire):
    """``GET /wapi/v1/history/fills`` item."""

    trade_id: int | str = Field(alias="tradeId")
    order_id: str = Field(alias="orderId")
    client_id: int | None = Field(default=None, alias="clientId")
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal = Decimal(0)
    fee_symbol: str | None = Field(default=None, alias="feeSymbol")
    is_maker: bool = Field(default=False, alias="isMaker")
    timestamp: Any


class PositionResp(_Wire):
    """``GET /api/v1/position`` item."""

    symbol: str
    net_quantity: Decimal = Field(alias="netQuantity")
    entry_price: Decimal | None = Field(default=None, alias="entryPrice")
    mark_price: Decimal | None = Field(default=None, alias="markPrice")
    pnl_unrealized: Decimal = Field(default=Decimal(0), alias="pnlUnrealized")
    pnl_realized: Decimal = Field(default=Decimal(0), alias="pnlRealized")
    cumulative_funding_payment: Decimal = Field(default=Decimal(0), alias="cumulativeFundingPayment")
    est_liquidation_price: Decimal | None = Field(default=None, alias="estLiquidationPrice")


class CollateralResp(_Wire):
    """``GET /api/v1/capital/collateral``."""

    net_equity: Decimal = Field(alias="netEquity")
    net_equity_available: Decimal = Field(alias="netEquityAvailable")
    net_equity_locked: Decimal = Field(default=Decimal(0), alias="netEquityLocked")
    pnl_unrealized: Decimal = Field(default=Decimal(0), alias="pnlUnrealized")


class MarkPrice(_Wire):
    """``GET /api/v1/markPrices`` item."""

    symbol: str
    funding_rate: Decimal = Field(alias="fundingRate")
    index_price: Decimal | None = Field(default=None, alias="indexPrice")
    mark_price: Decimal = Field(alias="markPrice")
    next_funding_timestamp: int | None = Field(default=None, alias="nextFundingTimestamp")


class Ticker(_Wire):
    """``GET /api/v1/tickers`` item."""

    symbol: str
    quote_volume: Decimal = Field(default=Decimal(0), alias="quoteVolume")
    last_price: Decimal | None = Field(default=None, alias="lastPrice")


class OpenInterest(_Wire):
    """``GET /api/v1/openInterest`` item (contracts)."""

    symbol: str
    open_interest: Decimal = Field(alias="openInterest")


class OrderEvent(_Wire):
    """``account.orderUpdate`` stream ``data``."""

    event: str = Field(alias="e")
    event_time: Any = Field(default=None, alias="E")
    symbol: str = Field(alias="s")
    client_id: int | None = Field(default=None, alias="c")
    side: str = Field(alias="S")
    order_type: str = Field(alias="o")
    time_in_force: str | None = Field(default=None, alias="f")
    quantity: Decimal | None = Field(default=None, alias="q")
    price: Decimal | None = Field(default=None, alias="p")
    status: str = Field(alias="X")
    expiry_reason: str | None = Field(default=None, alias="R")  # only on orderExpired
    order_id: str = Field(alias="i")
    executed_quantity: Decimal | None = Field(default=None, alias="z")
    executed_quote_quantity: Decimal = Field(default=Decimal(0), alias="Z")
    fill_quantity: Decimal | None = Field(default=None, alias="l")
    fill_price: Decimal | None = Field(default=None, alias="L")
    trade_id: int | str | None = Field(default=None, alias="t")
    maker: bool = Field(default=False, alias="m")
    fee: Decimal | None = Field(default=None, alias="n")
    reduce_only: bool | None = Field(default=None, alias="r")
    engine_time: Any = Field(default=None, alias="T")

    @field_validator("order_id", mode="before")
    @classmethod
    def _id(cls, value: Any) -> str:
        return str(value)


class BookTickerEvent(_Wire):
    """``bookTicker.<symbol>`` stream ``data``."""

    symbol: str = Field(alias="s")
    bid: Decimal = Field(alias="b")
    bid_size: Decimal | None = Field(default=None, alias="B")
    ask: Decimal = Field(alias="a")
    ask_size: Decimal | None = Field(default=None, alias="A")
    event_time: Any = Field(default=None, alias="E")
