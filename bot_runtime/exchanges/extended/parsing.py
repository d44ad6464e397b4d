"""The SDK's wire models (``x10.models``: ``MarketModel``, ``OpenOrderModel``, ``AccountTradeModel``,
``PositionModel``) → the contract's models. Imported by the trading client only."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status
from bot_runtime.exchanges._shared.values import from_ms
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
)
from bot_runtime.exchanges.symbols import normalize

if TYPE_CHECKING:
    from x10.models.market import MarketModel
    from x10.models.order import OpenOrderModel
    from x10.models.position import PositionModel
    from x10.models.trade import AccountTradeModel

_STATUS = {
    "NEW": OrderStatus.OPEN,  # acknowledged by the engine, resting
    "UNTRIGGERED": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELLED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
_REASON = {
    "POST_ONLY_FAILED": CancelReason.POST_ONLY_VIOLATION,
    "NOT_ENOUGH_FUNDS": CancelReason.INSUFFICIENT_BALANCE,
    "REDUCE_ONLY_FAILED": CancelReason.REDUCE_ONLY_VIOLATION,
    "NO_LIQUIDITY": CancelReason.EXPIRED,  # an IOC/market order that found nothing (more) to take
    "EXPIRED": CancelReason.EXPIRED,
    "INVALID_EXPIRE_TIME": CancelReason.EXPIRED,
}


def is_perpetual(model: MarketModel) -> bool:
    return str(model.type) == "PERPETUAL" and model.active


def market_from_model(
    exchange: str, model: MarketModel, maker_fee: Decimal | None, taker_fee: Decimal | None
) -> Market:
    canonical = normalize(exchange, model.name)
    config = model.trading_config
    return Market(
        symbol=canonical.base,
        venue_symbol=model.name,
        contract_id=model.name,  # Extended names markets, it has no numeric id
        tick_size=config.min_price_change,
        size_step=config.min_order_size_change,
        min_size=config.min_order_size,
        multiplier=canonical.multiplier,
        quote=model.collateral_asset_name,
        maker_fee=maker_fee,
        taker_fee=taker_fee,
        max_leverage=config.max_leverage,
    )


def status_of(exchange: str, model: OpenOrderModel) -> tuple[OrderStatus, CancelReason | None, Decimal]:
    """The order's status, why it ended (if it did) and its filled size. A status outside the documented list (the
    SDK's technical ``UNKNOWN`` included) or a filled size the status does not imply is a ``MalformedResponse``."""
    status = _STATUS.get(str(model.status))
    if status is None:
        raise unknown_status(exchange, model.status, model.id)
    # NEW / UNTRIGGERED: nothing filled yet (a partial fill is PARTIALLY_FILLED)
    none_filled = str(model.status) in {"NEW", "UNTRIGGERED"}
    filled = filled_size(exchange, status, model.filled_qty, model.qty, model.id, none_filled=none_filled)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    if not status.is_final or status is OrderStatus.FILLED:
        return status, None, filled
    reason = _REASON.get(str(model.status_reason or ""))
    if reason is None:
        reason = CancelReason.USER_CANCELED if status is OrderStatus.CANCELED else CancelReason.REJECTED
    if status is OrderStatus.EXPIRED:
        reason = CancelReason.EXPIRED
    return status, reason, filled


def order_from_model(exchange: str, model: OpenOrderModel, symbol: str) -> Order:
    status, reason, filled = status_of(exchange, model)
    if model.post_only:
        tif = TimeInForce.POST_ONLY
    elif str(model.time_in_force) == "IOC":
        tif = TimeInForce.IOC
    else:
        tif = TimeInForce.GTC
    return Order(
        order_id=str(model.id),
        client_order_id=model.external_id or None,
        symbol=symbol,
        side=Side.BUY if str(model.side) == "BUY" else Side.SELL,
        order_type=OrderType.MARKET if str(model.type) == "MARKET" else OrderType.LIMIT,
        time_in_force=tif,
        price=model.price,
        size=model.qty,
        filled_size=filled,
        avg_fill_price=model.average_price if filled > 0 and model.average_price else None,
        status=status,
        reduce_only=model.reduce_only,
        cancel_reason=reason,
        created_at=from_ms(model.created_time),
        updated_at=from_ms(model.updated_time),
    )


def fill_from_trade(trade: AccountTradeModel, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=str(trade.id),
        order_id=str(trade.order_id),
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if str(trade.side) == "BUY" else Side.SELL,
        price=trade.price,
        size=trade.qty,
        fee=trade.fee,  # in collateral (USD); negative = a rebate
        liquidity=Liquidity.TAKER if trade.is_taker else Liquidity.MAKER,
        timestamp=from_ms(trade.created_time),
    )


def position_from_model(model: PositionModel, symbol: str) -> Position:
    sign = 1 if str(model.side) == "LONG" else -1
    return Position(
        symbol=symbol,
        size=model.size * sign,
        avg_entry_price=model.open_price,
        mark_price=model.mark_price,
        unrealized_pnl=model.unrealised_pnl,
        realized_pnl=model.realised_pnl,
        liquidation_price=model.liquidation_price,
        leverage=model.leverage,
    )
