"""Hyperliquid wire models (:mod:`.wire`) → the contract's models."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from bot_runtime.exchanges._shared.payload_checks import filled_size
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges.base import (
    ZERO,
    Fill,
    Liquidity,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Position,
    TimeInForce,
)
from bot_runtime.exchanges.hyperliquid.mapping import price_quantum, side_from_wire, size_step, status_from_wire
from bot_runtime.exchanges.hyperliquid.wire import AssetInfo, BasicOrder, PositionData, WsOrder
from bot_runtime.exchanges.hyperliquid.wire import Fill as WireFill
from bot_runtime.exchanges.symbols import normalize

MIN_NOTIONAL = Decimal(10)  # "Order must have minimum value of $10."
_TIF = {"Alo": TimeInForce.POST_ONLY, "Ioc": TimeInForce.IOC, "Gtc": TimeInForce.GTC}


def market_from_asset(exchange: str, asset_id: int, info: AssetInfo, mark_price: Decimal | None) -> Market:
    """``tick_size`` is the price step at the current mark (it changes with the price's magnitude; orders are
    rounded by :func:`~.mapping.round_price` at their own price). Hyperliquid has no minimum size, only a minimum
    order value ($10): ``min_size`` is the smallest size on the step worth $10 at the mark when markets loaded."""
    canonical = normalize(exchange, info.name)
    step = size_step(info.sz_decimals)
    min_size = step
    if mark_price:
        min_size = max(step, (MIN_NOTIONAL / mark_price / step).to_integral_value(rounding=ROUND_CEILING) * step)
    return Market(
        symbol=canonical.base,
        venue_symbol=info.name,
        contract_id=str(asset_id),
        tick_size=price_quantum(mark_price or Decimal(0), info.sz_decimals),
        size_step=step,
        min_size=min_size,
        min_notional=MIN_NOTIONAL,
        multiplier=canonical.multiplier,
        quote="USDC",
        max_leverage=Decimal(info.max_leverage) if info.max_leverage is not None else None,
    )


def order_from_basic(
    basic: BasicOrder,
    status: str,
    status_time: int | None,
    symbol: str,
    client_order_id: str | None,
    *,
    time_in_force: TimeInForce | None = None,
    reduce_only: bool | None = None,
) -> Order:
    state, reason = status_from_wire(status, basic.oid)
    # filled = origSz - sz; "filled" is filled completely whatever sz says; without sz an open or cancelled order
    # may have filled anything: MalformedResponse
    reported = max(basic.orig_sz - basic.sz, ZERO) if basic.sz is not None else None
    filled = filled_size(
        "hyperliquid", state, None if state is OrderStatus.FILLED else reported, basic.orig_sz, basic.oid
    )
    if state is OrderStatus.OPEN and filled > 0:
        state = OrderStatus.PARTIALLY_FILLED
    tif = _TIF.get(basic.tif or "", time_in_force or TimeInForce.GTC)
    is_market = (basic.order_type or "").lower() == "market" or basic.tif in {"FrontendMarket", "LiquidationMarket"}
    return Order(
        order_id=str(basic.oid),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(basic.side),
        order_type=OrderType.MARKET if is_market else OrderType.LIMIT,
        time_in_force=TimeInForce.IOC if is_market else tif,
        price=basic.limit_px,
        size=basic.orig_sz,
        filled_size=filled,
        status=state,
        reduce_only=basic.reduce_only if basic.reduce_only is not None else bool(reduce_only),
        cancel_reason=reason,
        created_at=from_ms(basic.timestamp),
        updated_at=from_ms(status_time or basic.timestamp),
    )


def order_from_ws(
    ws: WsOrder,
    symbol: str,
    client_order_id: str | None,
    *,
    time_in_force: TimeInForce | None = None,
    reduce_only: bool | None = None,
) -> Order:
    return order_from_basic(
        ws.order,
        ws.status,
        ws.status_timestamp,
        symbol,
        client_order_id,
        time_in_force=time_in_force,
        reduce_only=reduce_only,
    )


def fill_from_wire(fill: WireFill, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=str(fill.tid),
        order_id=str(fill.oid),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(fill.side),
        price=fill.px,
        size=fill.sz,
        fee=fill.fee,
        liquidity=Liquidity.TAKER if fill.crossed else Liquidity.MAKER,
        timestamp=from_ms(fill.time),
    )


def position_from_wire(data: PositionData, symbol: str) -> Position:
    mark = None
    if data.position_value is not None and data.szi != 0:
        mark = data.position_value / abs(data.szi)
    return Position(
        symbol=symbol,
        size=data.szi,
        avg_entry_price=data.entry_px,
        mark_price=mark,
        unrealized_pnl=data.unrealized_pnl,
        liquidation_price=data.liquidation_px,
        margin=data.margin_used,
        leverage=data.leverage.value if data.leverage is not None else None,
    )
