"""Paradex's wire format: the response models of paradex-py's generated ``api/generated/responses.py`` (MarketResp,
MarketSummaryResp, OrderResp, FillResult, PositionResp, BBOResp) and of ``api/models.py`` (Auth, AccountSummary),
trimmed to what we read. Unknown fields ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_none(cls, data: Any) -> Any:
        """Paradex sends ``""`` for unset numeric fields (e.g. a flat position's liquidation price)."""
        if isinstance(data, dict):
            return {k: (None if v == "" else v) for k, v in data.items()}
        return data


def ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None


class MarketResp(_Wire):
    symbol: str
    asset_kind: str | None = None
    base_currency: str | None = None
    quote_currency: str | None = None
    settlement_currency: str | None = None
    price_tick_size: Decimal
    order_size_increment: Decimal
    min_notional: Decimal | None = None
    funding_period_hours: Decimal | None = None


class MarketSummaryResp(_Wire):
    symbol: str
    mark_price: Decimal | None = None
    underlying_price: Decimal | None = None
    funding_rate: Decimal | None = None
    open_interest: Decimal | None = Field(default=None, description="base currency")
    volume_24h: Decimal | None = Field(default=None, description="USD")
    bid: Decimal | None = None
    ask: Decimal | None = None
    created_at: int | None = None


class OrderResp(_Wire):
    id: str
    client_id: str | None = None
    market: str
    side: str
    type: str
    instruction: str | None = None
    size: Decimal
    remaining_size: Decimal
    price: Decimal | None = None
    avg_fill_price: Decimal | None = None
    status: str
    cancel_reason: str | None = None
    flags: list[str] | None = None
    created_at: int | None = None
    last_updated_at: int | None = None


class FillResult(_Wire):
    id: str
    order_id: str
    client_id: str | None = None
    market: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal = Decimal(0)
    liquidity: str | None = None
    remaining_size: Decimal | None = None
    created_at: int | None = None


class PositionResp(_Wire):
    market: str
    size: Decimal
    status: str | None = None
    average_entry_price: Decimal | None = None
    unrealized_pnl: Decimal = Decimal(0)
    realized_positional_pnl: Decimal = Decimal(0)
    unrealized_funding_pnl: Decimal = Decimal(0)
    realized_positional_funding_pnl: Decimal = Decimal(0)
    liquidation_price: Decimal | None = None
    leverage: Decimal | None = None


class BBOResp(_Wire):
    market: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    last_updated_at: int | None = None


class AuthResp(_Wire):
    jwt_token: str


class AccountSummaryResp(_Wire):
    account_value: Decimal
    free_collateral: Decimal
    initial_margin_requirement: Decimal
    total_collateral: Decimal
    settlement_asset: str | None = None
