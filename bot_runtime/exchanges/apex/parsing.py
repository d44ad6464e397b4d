"""ApeX Omni wire rows → the exchange contract's models (:mod:`.wire` says where each shape comes from)."""

from __future__ import annotations

from bot_runtime.exchanges._shared.payload_checks import unknown_status
from bot_runtime.exchanges._shared.values import from_ms
from bot_runtime.exchanges.apex.wire import AccountBalance, FillRow, OrderRow, PerpetualContract, PositionRow
from bot_runtime.exchanges.base import (
    ZERO,
    Balance,
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

#: ``IOrder.status`` (the connector's ``OrderStatus`` enum; CANCELING and EXPIRED from ccxt's parse_order_status and
#: fetch_orders). A filled size decides OPEN vs PARTIALLY_FILLED, and CANCELED of an IOC is EXPIRED.
_STATUS = {
    "PENDING": OrderStatus.PENDING,
    "OPEN": OrderStatus.OPEN,
    "UNTRIGGERED": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "CANCELING": OrderStatus.OPEN,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
}
_TIF = {
    "POST_ONLY": TimeInForce.POST_ONLY,
    "IMMEDIATE_OR_CANCEL": TimeInForce.IOC,
    "FILL_OR_KILL": TimeInForce.IOC,
    "GOOD_TIL_CANCEL": TimeInForce.GTC,
}
TIF_WIRE = {
    TimeInForce.POST_ONLY: "POST_ONLY",
    TimeInForce.IOC: "IMMEDIATE_OR_CANCEL",
    TimeInForce.GTC: "GOOD_TIL_CANCEL",
}


def side_of(value: str) -> Side:
    return Side.BUY if value.upper() in ("BUY", "LONG") else Side.SELL


def market_from_contract(exchange: str, row: PerpetualContract) -> Market:
    canonical = normalize(exchange, row.symbol)
    return Market(
        symbol=canonical.base,
        venue_symbol=row.symbol,
        contract_id=row.symbol,
        tick_size=row.tick_size,
        size_step=row.step_size,
        min_size=row.min_order_size or row.step_size,
        multiplier=canonical.multiplier,
        quote=row.settle_asset_id or "USDT",
    )


def order_from_row(exchange: str, row: OrderRow, symbol: str, *, known: Order | None = None) -> Order:
    status = _STATUS.get(row.status.upper())
    if status is None:
        raise unknown_status(exchange, row.status, row.id)
    filled = row.cum_success_fill_size or ZERO
    tif = _TIF.get((row.time_in_force or "").upper(), TimeInForce.GTC)
    reason: CancelReason | None = None
    if status is OrderStatus.CANCELED and tif is TimeInForce.IOC:
        status, reason = OrderStatus.EXPIRED, CancelReason.EXPIRED
    elif status is OrderStatus.CANCELED:
        reason = CancelReason.USER_CANCELED
    elif status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    avg = row.cum_success_fill_value / filled if row.cum_success_fill_value and filled > 0 else None
    updated = row.updated_at or row.updated_time or row.created_at
    return Order(
        order_id=row.id,
        client_order_id=row.client_id or (known.client_order_id if known else None),
        symbol=symbol,
        side=side_of(row.side),
        order_type=OrderType.MARKET if row.type.upper() == "MARKET" else OrderType.LIMIT,
        time_in_force=tif,
        price=row.price if row.price else None,
        size=row.size,
        filled_size=filled,
        avg_fill_price=avg,
        status=status,
        reduce_only=bool(row.reduce_only),
        cancel_reason=reason,
        created_at=from_ms(row.created_at) if row.created_at else utcnow(),
        updated_at=from_ms(updated) if updated else utcnow(),
    )


def fill_from_row(row: FillRow, symbol: str, client_id: str | None) -> Fill:
    return Fill(
        trade_id=row.id,
        order_id=row.order_id,
        client_order_id=row.client_order_id or client_id,
        symbol=symbol,
        side=side_of(row.side),
        price=row.price,
        size=row.size,
        fee=row.fee,
        liquidity=Liquidity.MAKER if (row.direction or "").upper() == "MAKER" else Liquidity.TAKER,
        timestamp=from_ms(row.created_at),
    )


def position_from_row(row: PositionRow, symbol: str) -> Position:
    size = row.size if side_of(row.side) is Side.BUY else -row.size
    return Position(
        symbol=symbol,
        size=size,
        avg_entry_price=row.entry_price if row.entry_price else None,
        realized_pnl=row.realized_pnl or ZERO,
    )


def balance_from(row: AccountBalance) -> Balance:
    equity = row.total_equity_value
    return Balance(
        asset="USDT",
        equity=equity,
        available=row.available_balance,
        margin_used=row.initial_margin if row.initial_margin is not None else max(equity - row.available_balance, ZERO),
    )
