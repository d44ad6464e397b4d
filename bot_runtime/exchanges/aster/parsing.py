"""Aster wire models → the exchange contract's models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status, unknown_value
from bot_runtime.exchanges.aster.wire import OrderEvent, OrderResp, PositionRisk, SymbolInfo, UserTrade
from bot_runtime.exchanges.base import (
    ZERO,
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
from bot_runtime.exchanges.symbols import normalize

EXCHANGE = "aster"

_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_TIF = {"GTX": TimeInForce.POST_ONLY, "IOC": TimeInForce.IOC, "FOK": TimeInForce.IOC}
_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
TIF_TO_WIRE = {TimeInForce.POST_ONLY: "GTX", TimeInForce.IOC: "IOC", TimeInForce.GTC: "GTC"}


def ms(value: int | None) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC) if value else utcnow()


def side(value: str) -> Side:
    if value.upper() not in _SIDES:
        raise unknown_value(EXCHANGE, "order side", value)
    return _SIDES[value.upper()]


def market_from_symbol(info: SymbolInfo) -> Market:
    base, multiplier = normalize(EXCHANGE, info.symbol)
    price = info.filter("PRICE_FILTER")
    lot = info.filter("LOT_SIZE")
    notional = info.filter("MIN_NOTIONAL")
    step = lot.step_size if lot and lot.step_size else Decimal(1)
    return Market(
        symbol=base,
        venue_symbol=info.symbol,
        contract_id=info.symbol,
        tick_size=price.tick_size if price and price.tick_size else Decimal("0.01"),
        size_step=step,
        min_size=lot.min_qty if lot and lot.min_qty else step,
        min_notional=notional.notional if notional else None,
        multiplier=multiplier,
        quote=info.quote_asset,
    )


def _status(
    raw: str, tif: str, reported: Decimal | None, size: Decimal, order_id: int
) -> tuple[OrderStatus, CancelReason | None, Decimal]:
    """Status, cancel reason and filled size. The status enum is the doc's ("ENUM definitions", Order status): any
    other raises; FILLED means ``executedQty == origQty`` there (Binance-USDⓈ-M semantics), so a FILLED order
    without ``executedQty`` has filled its ``origQty``."""
    status = _STATUS.get(raw)
    if status is None:
        raise unknown_status(EXCHANGE, raw, order_id)
    filled = filled_size(EXCHANGE, status, reported, size, order_id, none_filled=raw == "NEW")
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    reason: CancelReason | None = None
    if status is OrderStatus.EXPIRED:
        reason = CancelReason.POST_ONLY_VIOLATION if tif == "GTX" and filled == 0 else CancelReason.EXPIRED
    elif status is OrderStatus.CANCELED:
        reason = CancelReason.USER_CANCELED
    elif status is OrderStatus.REJECTED:
        reason = CancelReason.REJECTED
    return status, reason, filled


def order_from_resp(resp: OrderResp, symbol: str, client_order_id: str | None) -> Order:
    status, reason, filled = _status(resp.status, resp.time_in_force, resp.executed_qty, resp.orig_qty, resp.order_id)
    return Order(
        order_id=str(resp.order_id),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(resp.side),
        order_type=OrderType.MARKET if resp.type == "MARKET" else OrderType.LIMIT,
        time_in_force=_TIF.get(resp.time_in_force, TimeInForce.GTC),
        price=resp.price if resp.price > 0 else None,
        size=resp.orig_qty,
        filled_size=filled,
        avg_fill_price=resp.avg_price if resp.avg_price > 0 else None,
        status=status,
        reduce_only=resp.reduce_only,
        cancel_reason=reason,
        created_at=ms(resp.time or resp.update_time),
        updated_at=ms(resp.update_time or resp.time),
    )


def order_from_event(event: OrderEvent, symbol: str, client_order_id: str | None, event_time: int | None) -> Order:
    status, reason, filled = _status(
        event.status, event.time_in_force, event.filled_qty, event.quantity, event.order_id
    )
    return Order(
        order_id=str(event.order_id),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(event.side),
        order_type=OrderType.MARKET if event.order_type == "MARKET" else OrderType.LIMIT,
        time_in_force=_TIF.get(event.time_in_force, TimeInForce.GTC),
        price=event.price if event.price > 0 else None,
        size=event.quantity,
        filled_size=filled,
        avg_fill_price=event.avg_price if event.avg_price > 0 else None,
        status=status,
        reduce_only=event.reduce_only,
        cancel_reason=reason,
        updated_at=ms(event.trade_time or event_time),
    )


def trade_id(symbol: str, venue_trade_id: int) -> str:
    """Aster trade ids are per symbol: prefix them so they are unique per account."""
    return f"{symbol}:{venue_trade_id}"


def fill_from_event(event: OrderEvent, symbol: str, client_order_id: str | None) -> Fill | None:
    if event.execution_type != "TRADE" or event.last_filled_qty <= 0:
        return None
    return Fill(
        trade_id=trade_id(event.symbol, event.trade_id),
        order_id=str(event.order_id),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(event.side),
        price=event.last_filled_price,
        size=event.last_filled_qty,
        fee=event.commission or ZERO,
        liquidity=Liquidity.MAKER if event.maker else Liquidity.TAKER,
        timestamp=ms(event.trade_time),
    )


def fill_from_trade(trade: UserTrade, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=trade_id(trade.symbol, trade.id),
        order_id=str(trade.order_id),
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(trade.side),
        price=trade.price,
        size=trade.qty,
        fee=trade.commission,
        liquidity=Liquidity.MAKER if trade.maker else Liquidity.TAKER,
        timestamp=ms(trade.time),
    )


def position_from_risk(rows: list[PositionRisk], symbol: str) -> Position:
    """One-way mode has one ``BOTH`` row; hedge mode LONG/SHORT rows are netted."""
    size = sum((r.position_amt for r in rows), ZERO)
    live = [r for r in rows if r.position_amt != 0]
    entry = None
    if live and size != 0:
        entry = sum((abs(r.position_amt) * r.entry_price for r in live), ZERO) / sum(
            (abs(r.position_amt) for r in live), ZERO
        )
    first = live[0] if live else (rows[0] if rows else None)
    return Position(
        symbol=symbol,
        size=size,
        avg_entry_price=entry,
        mark_price=first.mark_price if first else None,
        unrealized_pnl=sum((r.unrealized_profit for r in rows), ZERO),
        liquidation_price=first.liquidation_price if first and first.liquidation_price else None,
        margin=first.isolated_margin if first and first.isolated_margin else None,
        leverage=first.leverage if first else None,
    )
