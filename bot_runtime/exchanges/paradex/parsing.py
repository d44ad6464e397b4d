"""Paradex wire models → the exchange contract's models."""

from __future__ import annotations

from bot_runtime.exchanges._shared.payload_checks import unknown_status, unknown_value
from bot_runtime.exchanges.base import (
    CancelReason,
    Fill,
    Liquidity,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
    utcnow,
)
from bot_runtime.exchanges.paradex.errors import CANCEL_REASONS
from bot_runtime.exchanges.paradex.wire import FillResult, MarketResp, OrderResp, PositionResp, ms
from bot_runtime.exchanges.symbols import normalize

EXCHANGE = "paradex"
_TIF = {"POST_ONLY": TimeInForce.POST_ONLY, "IOC": TimeInForce.IOC}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
TIF_TO_WIRE = {TimeInForce.POST_ONLY: "POST_ONLY", TimeInForce.IOC: "IOC", TimeInForce.GTC: "GTC"}


def side(value: str) -> Side:
    if value.upper() not in _SIDES:
        raise unknown_value(EXCHANGE, "order side", value)
    return _SIDES[value.upper()]


def is_perpetual(market: MarketResp) -> bool:
    return (market.asset_kind or "PERP") == "PERP" and market.symbol.endswith("-PERP")


def market_from_resp(resp: MarketResp) -> Market:
    base, multiplier = normalize(EXCHANGE, resp.symbol)
    return Market(
        symbol=base,
        venue_symbol=resp.symbol,
        contract_id=resp.symbol,
        tick_size=resp.price_tick_size,
        size_step=resp.order_size_increment,
        min_size=resp.order_size_increment,
        min_notional=resp.min_notional,
        multiplier=multiplier,
        quote=resp.quote_currency or "USD",
    )


def status_of(resp: OrderResp) -> tuple[OrderStatus, CancelReason | None]:
    """Paradex's ``OrderStatus`` enum is NEW, UNTRIGGERED, OPEN, CLOSED (any other raises). There is no FILLED: a
    CLOSED order with ``remaining_size`` 0 filled completely; ``size`` and ``remaining_size`` are required fields of
    :class:`~.wire.OrderResp`, so a payload without them never reaches this point."""
    filled = resp.size - resp.remaining_size
    if resp.status == "NEW":
        return OrderStatus.PENDING, None
    if resp.status in {"OPEN", "UNTRIGGERED"}:
        return (OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN), None
    if resp.status != "CLOSED":
        raise unknown_status(EXCHANGE, resp.status, resp.id)
    if resp.remaining_size == 0:
        return OrderStatus.FILLED, None
    reason = CANCEL_REASONS.get(resp.cancel_reason or "", CancelReason.REJECTED)
    if reason is CancelReason.USER_CANCELED or filled > 0:
        return OrderStatus.CANCELED, reason
    if reason is CancelReason.EXPIRED:
        return OrderStatus.EXPIRED, reason
    return OrderStatus.REJECTED, reason


def order_from_resp(resp: OrderResp, symbol: str) -> Order:
    status, reason = status_of(resp)
    created = ms(resp.created_at) or utcnow()
    return Order(
        order_id=resp.id,
        client_order_id=resp.client_id or None,
        symbol=symbol,
        side=side(resp.side),
        order_type=OrderType.MARKET if resp.type == "MARKET" else OrderType.LIMIT,
        time_in_force=_TIF.get(resp.instruction or "GTC", TimeInForce.GTC),
        price=resp.price if resp.price else None,
        size=resp.size,
        filled_size=resp.size - resp.remaining_size,
        avg_fill_price=resp.avg_fill_price if resp.avg_fill_price else None,
        status=status,
        reduce_only="REDUCE_ONLY" in (resp.flags or []),
        cancel_reason=reason,
        created_at=created,
        updated_at=ms(resp.last_updated_at) or created,
    )


def fill_from_result(fill: FillResult, symbol: str) -> Fill:
    return Fill(
        trade_id=fill.id,
        order_id=fill.order_id,
        client_order_id=fill.client_id or None,
        symbol=symbol,
        side=side(fill.side),
        price=fill.price,
        size=fill.size,
        fee=fill.fee,
        liquidity=Liquidity.MAKER if (fill.liquidity or "").upper() == "MAKER" else Liquidity.TAKER,
        timestamp=ms(fill.created_at) or utcnow(),
    )


def order_after_fill(order: Order, fill: FillResult) -> Order:
    """The order's state implied by a fill event (``remaining_size`` is the order's, after the fill)."""
    if fill.remaining_size is None:
        return order
    filled = order.size - fill.remaining_size
    status = OrderStatus.FILLED if fill.remaining_size == 0 else OrderStatus.PARTIALLY_FILLED
    if order.status.is_final and order.filled_size >= filled:
        return order
    return order.model_copy(
        update={"filled_size": filled, "status": status, "updated_at": ms(fill.created_at) or utcnow()}
    )


def position_from_resp(resp: PositionResp, symbol: str) -> Position:
    return Position(
        symbol=symbol,
        size=resp.size,
        avg_entry_price=resp.average_entry_price if resp.size != 0 else None,
        unrealized_pnl=resp.unrealized_pnl,
        realized_pnl=resp.realized_positional_pnl - resp.realized_positional_funding_pnl,
        funding_pnl=resp.realized_positional_funding_pnl + resp.unrealized_funding_pnl,
        liquidation_price=resp.liquidation_price,
        leverage=resp.leverage,
    )
