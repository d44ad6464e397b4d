"""Backpack wire models → the exchange contract's models."""

from __future__ import annotations

from decimal import Decimal

from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status, unknown_value
from bot_runtime.exchanges.backpack.wire import (
    FillResp,
    MarketInfo,
    OrderEvent,
    OrderResp,
    PositionResp,
    parse_time,
)
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

EXCHANGE = "backpack"
HOUR_MS = Decimal(3_600_000)

_STATUS = {
    "New": OrderStatus.OPEN,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELED,
    "Expired": OrderStatus.EXPIRED,
    "TriggerPending": OrderStatus.OPEN,
    "TriggerFailed": OrderStatus.REJECTED,
}


_NOTHING_FILLED = {"New", "TriggerPending"}  # resting untouched / a trigger order not yet live


def side(value: str) -> Side:
    if value not in ("Bid", "Ask"):
        raise unknown_value(EXCHANGE, "order side", value)
    return Side.BUY if value == "Bid" else Side.SELL


def side_to_wire(value: Side) -> str:
    return "Bid" if value is Side.BUY else "Ask"


def market_from_info(info: MarketInfo) -> Market:
    base, multiplier = normalize(EXCHANGE, info.symbol)
    step = info.filters.quantity.step_size
    return Market(
        symbol=base,
        venue_symbol=info.symbol,
        contract_id=info.symbol,
        tick_size=info.filters.price.tick_size,
        size_step=step,
        min_size=info.filters.quantity.min_quantity or step,
        multiplier=multiplier,
        quote=info.quote_symbol,
    )


def funding_interval_hours(info: MarketInfo, default: Decimal) -> Decimal:
    if info.funding_interval and info.funding_interval > 0:
        return info.funding_interval / HOUR_MS
    return default


# OpenAPI ``OrderExpiryReason`` (REST ``expiryReason``, stream ``R``): why the engine expired an order. Only
# ``PostOnlyTaker`` is a post-only order that would have crossed (worth retrying at a new price); an expired post-only
# order without a reason is just expired.
_EXPIRY_REASONS: dict[str, CancelReason] = {
    "PostOnlyTaker": CancelReason.POST_ONLY_VIOLATION,
    "ImmediateOrCancel": CancelReason.EXPIRED,
    "FillOrKill": CancelReason.EXPIRED,
    "InsufficientFunds": CancelReason.INSUFFICIENT_BALANCE,
    "InsufficientMargin": CancelReason.INSUFFICIENT_BALANCE,
    "InsufficientBorrowableQuantity": CancelReason.INSUFFICIENT_BALANCE,
    "NegativeEquity": CancelReason.INSUFFICIENT_BALANCE,
    "ReduceOnlyNotReduced": CancelReason.REDUCE_ONLY_VIOLATION,
    "Liquidation": CancelReason.LIQUIDATION,
    "Unknown": CancelReason.EXPIRED,
}


def _status(
    raw: str, reported: Decimal | None, size: Decimal, expiry_reason: str | None, order_id: str
) -> tuple[OrderStatus, CancelReason | None, Decimal]:
    """Status, cancel reason and filled size. The statuses are the OpenAPI ``OrderStatus`` enum: any other raises.
    ``Filled`` is the final state of an order that executed its whole quantity, so ``Filled`` without
    ``executedQuantity`` has filled ``quantity``."""
    status = _STATUS.get(raw)
    if status is None:
        raise unknown_status(EXCHANGE, raw, order_id)
    filled = filled_size(EXCHANGE, status, reported, size, order_id, none_filled=raw in _NOTHING_FILLED)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    reason = None
    if status is OrderStatus.CANCELED:
        reason = CancelReason.USER_CANCELED
    elif status is OrderStatus.EXPIRED:
        # other documented reasons (self-trade prevention, price bands, position limits, ...) are refusals
        reason = _EXPIRY_REASONS.get(expiry_reason, CancelReason.REJECTED) if expiry_reason else CancelReason.EXPIRED
    elif status is OrderStatus.REJECTED:
        reason = CancelReason.REJECTED
    return status, reason, filled


def _tif(time_in_force: str | None, post_only: bool | None) -> TimeInForce:
    if post_only:
        return TimeInForce.POST_ONLY
    return TimeInForce.IOC if time_in_force in {"IOC", "FOK"} else TimeInForce.GTC


def _size(quantity: Decimal | None, executed: Decimal | None) -> Decimal:
    """An order's size: its ``quantity`` (an order sized in quote has none: what it executed)."""
    if quantity is not None:
        return quantity
    return executed if executed is not None else ZERO


def _average(quote_quantity: Decimal, executed: Decimal | None) -> Decimal | None:
    return quote_quantity / executed if executed and quote_quantity > 0 else None


def order_from_resp(resp: OrderResp, symbol: str, client_order_id: str | None) -> Order:
    size = _size(resp.quantity, resp.executed_quantity)
    status, reason, filled = _status(resp.status, resp.executed_quantity, size, resp.expiry_reason, resp.id)
    created = parse_time(resp.created_at) or utcnow()
    avg = _average(resp.executed_quote_quantity, resp.executed_quantity)
    return Order(
        order_id=resp.id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(resp.side),
        order_type=OrderType.MARKET if resp.order_type.upper() == "MARKET" else OrderType.LIMIT,
        time_in_force=_tif(resp.time_in_force, resp.post_only),
        price=resp.price if resp.price else None,
        size=size,
        filled_size=filled,
        avg_fill_price=avg,
        status=status,
        reduce_only=bool(resp.reduce_only),
        cancel_reason=reason,
        created_at=created,
        updated_at=created,
    )


def order_from_event(event: OrderEvent, symbol: str, client_order_id: str | None, post_only: bool) -> Order:
    size = _size(event.quantity, event.executed_quantity)
    status, reason, filled = _status(event.status, event.executed_quantity, size, event.expiry_reason, event.order_id)
    avg = _average(event.executed_quote_quantity, event.executed_quantity)
    return Order(
        order_id=event.order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(event.side),
        order_type=OrderType.MARKET if event.order_type.upper() == "MARKET" else OrderType.LIMIT,
        time_in_force=_tif(event.time_in_force, post_only),
        price=event.price if event.price else None,
        size=size,
        filled_size=filled,
        avg_fill_price=avg,
        status=status,
        reduce_only=bool(event.reduce_only),
        cancel_reason=reason,
        updated_at=parse_time(event.engine_time or event.event_time) or utcnow(),
    )


def trade_id(symbol: str, venue_trade_id: int | str) -> str:
    return f"{symbol}:{venue_trade_id}"


def fill_from_event(event: OrderEvent, symbol: str, client_order_id: str | None) -> Fill | None:
    if event.event != "orderFill" or not event.fill_quantity or event.trade_id is None or event.fill_price is None:
        return None
    return Fill(
        trade_id=trade_id(event.symbol, event.trade_id),
        order_id=event.order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(event.side),
        price=event.fill_price,
        size=event.fill_quantity,
        fee=event.fee or ZERO,
        liquidity=Liquidity.MAKER if event.maker else Liquidity.TAKER,
        timestamp=parse_time(event.engine_time or event.event_time) or utcnow(),
    )


def fill_from_resp(resp: FillResp, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=trade_id(resp.symbol, resp.trade_id),
        order_id=resp.order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side(resp.side),
        price=resp.price,
        size=resp.quantity,
        fee=resp.fee,
        liquidity=Liquidity.MAKER if resp.is_maker else Liquidity.TAKER,
        timestamp=parse_time(resp.timestamp) or utcnow(),
    )


def position_from_resp(resp: PositionResp, symbol: str) -> Position:
    return Position(
        symbol=symbol,
        size=resp.net_quantity,
        avg_entry_price=resp.entry_price if resp.net_quantity != 0 else None,
        mark_price=resp.mark_price,
        unrealized_pnl=resp.pnl_unrealized,
        realized_pnl=resp.pnl_realized,
        funding_pnl=resp.cumulative_funding_payment,
        liquidation_price=resp.est_liquidation_price if resp.est_liquidation_price else None,
    )
