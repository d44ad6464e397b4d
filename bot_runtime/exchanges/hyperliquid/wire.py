"""Hyperliquid wire payloads (pydantic), as the venue sends them: numbers are decimal strings, times epoch ms,
sides ``"B"`` (bid/buy) / ``"A"`` (ask/sell), coins the perp's name (``BTC``, ``kPEPE``).

Shapes from the SDK (``hyperliquid/utils/types.py``: ``Meta``/``AssetInfo``, ``PerpAssetCtx``, ``L2Level``,
``BboData``, ``Fill``; ``info.py`` docstrings for ``clearinghouseState``, ``frontendOpenOrders``, ``orderStatus``)
and the API docs (for-developers/api: info-endpoint, exchange-endpoint, websocket/subscriptions: ``WsOrder``,
``WsBasicOrder``, ``WsFill``, ``WsUserEvent``). Unknown fields are ignored: the venue adds fields over time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


WireSide = Literal["A", "B"]


# --- market data ----------------------------------------------------------------------------------------------------
class AssetInfo(_Wire):
    """One ``meta.universe`` entry: its index in the list is the asset id an order names (``a``)."""

    name: str
    sz_decimals: int = Field(alias="szDecimals")
    max_leverage: int | None = Field(default=None, alias="maxLeverage")
    only_isolated: bool = Field(default=False, alias="onlyIsolated")
    is_delisted: bool = Field(default=False, alias="isDelisted")


class Meta(_Wire):
    universe: list[AssetInfo]


class AssetCtx(_Wire):
    """``metaAndAssetCtxs[1][i]``: ``funding`` is the current rate *per hour* (funding settles hourly)."""

    funding: Decimal
    open_interest: Decimal = Field(alias="openInterest")
    day_ntl_vlm: Decimal = Field(alias="dayNtlVlm")
    mark_px: Decimal | None = Field(default=None, alias="markPx")
    oracle_px: Decimal | None = Field(default=None, alias="oraclePx")
    mid_px: Decimal | None = Field(default=None, alias="midPx")
    premium: Decimal | None = None
    prev_day_px: Decimal | None = Field(default=None, alias="prevDayPx")
    impact_pxs: list[Decimal] | None = Field(default=None, alias="impactPxs")


class Level(_Wire):
    px: Decimal
    sz: Decimal
    n: int


class L2Book(_Wire):
    coin: str
    time: int
    levels: tuple[list[Level], list[Level]]


class Bbo(_Wire):
    """``bbo`` channel data: ``bbo`` = [best bid or null, best ask or null]."""

    coin: str
    time: int
    bbo: tuple[Level | None, Level | None]


# --- orders ---------------------------------------------------------------------------------------------------------
class BasicOrder(_Wire):
    """``WsBasicOrder`` (orderUpdates) and the richer frontend order (``frontendOpenOrders``, ``orderStatus``):
    ``sz`` is what remains, ``origSz`` what was ordered."""

    coin: str
    side: WireSide
    limit_px: Decimal = Field(alias="limitPx")
    sz: Decimal | None = None  # required by the docs; left out, the status decides (see parsing.order_from_basic)
    oid: int
    timestamp: int
    orig_sz: Decimal = Field(alias="origSz")
    cloid: str | None = None
    reduce_only: bool | None = Field(default=None, alias="reduceOnly")
    order_type: str | None = Field(default=None, alias="orderType")
    tif: str | None = None


class WsOrder(_Wire):
    """One ``orderUpdates`` element, and ``orderStatus``'s ``order`` object."""

    order: BasicOrder
    status: str
    status_timestamp: int = Field(alias="statusTimestamp")


class OrderStatusResponse(_Wire):
    """``{"type": "orderStatus"}``: ``{"status": "order", "order": WsOrder}`` or ``{"status": "unknownOid"}``."""

    status: str
    order: WsOrder | None = None


class Fill(_Wire):
    """``WsFill`` / ``userFills`` / ``userFillsByTime`` row; ``fee`` is paid (negative: a rebate) in ``feeToken``,
    ``crossed`` is true when the order took liquidity."""

    coin: str
    px: Decimal
    sz: Decimal
    side: WireSide
    time: int
    oid: int
    tid: int
    crossed: bool
    fee: Decimal
    fee_token: str = Field(default="USDC", alias="feeToken")
    closed_pnl: Decimal | None = Field(default=None, alias="closedPnl")
    dir: str | None = None
    hash: str | None = None
    cloid: str | None = None


class RoleData(_Wire):
    user: str | None = None
    master: str | None = None


class UserRole(_Wire):
    """``{"type": "userRole"}``: ``user``, ``agent`` (``data.user`` = the account it signs for), ``vault``,
    ``subAccount`` (``data.master``) or ``missing``."""

    role: str
    data: RoleData | None = None


class NonUserCancel(_Wire):
    coin: str
    oid: int


# --- /exchange answers ----------------------------------------------------------------------------------------------
class Resting(_Wire):
    oid: int
    cloid: str | None = None


class Filled(_Wire):
    oid: int
    total_sz: Decimal = Field(alias="totalSz")
    avg_px: Decimal = Field(alias="avgPx")
    cloid: str | None = None


class OrderOutcome(_Wire):
    """One element of ``response.data.statuses`` of an ``order`` action."""

    resting: Resting | None = None
    filled: Filled | None = None
    error: str | None = None


class ExchangeResponse(_Wire):
    """``{"status": "ok", "response": {"type": ..., "data": {"statuses": [...]}}}`` or
    ``{"status": "err", "response": "<message>"}``."""

    status: Literal["ok", "err"]
    response: Any = None

    def statuses(self) -> list[Any]:
        if not isinstance(self.response, dict):
            return []
        data = self.response.get("data") or {}
        statuses = data.get("statuses") if isinstance(data, dict) else None
        return list(statuses or [])


# --- account --------------------------------------------------------------------------------------------------------
class Leverage(_Wire):
    type: str
    value: Decimal


class PositionData(_Wire):
    coin: str
    szi: Decimal
    entry_px: Decimal | None = Field(default=None, alias="entryPx")
    position_value: Decimal | None = Field(default=None, alias="positionValue")
    unrealized_pnl: Decimal = Field(default=Decimal(0), alias="unrealizedPnl")
    liquidation_px: Decimal | None = Field(default=None, alias="liquidationPx")
    margin_used: Decimal | None = Field(default=None, alias="marginUsed")
    leverage: Leverage | None = None


class AssetPosition(_Wire):
    position: PositionData
    type: str = "oneWay"


class MarginSummary(_Wire):
    account_value: Decimal = Field(alias="accountValue")
    total_margin_used: Decimal = Field(alias="totalMarginUsed")
    total_ntl_pos: Decimal = Field(default=Decimal(0), alias="totalNtlPos")


class ClearinghouseState(_Wire):
    asset_positions: list[AssetPosition] = Field(alias="assetPositions")
    margin_summary: MarginSummary = Field(alias="marginSummary")
    cross_margin_summary: MarginSummary | None = Field(default=None, alias="crossMarginSummary")
    withdrawable: Decimal
    time: int | None = None
