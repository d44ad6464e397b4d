"""Ethereal wire models (:mod:`.wire`) → the contract's models."""

from __future__ import annotations

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
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.ethereal.mapping import side_from_wire, status_from_wire
from bot_runtime.exchanges.ethereal.wire import Position as WirePosition
from bot_runtime.exchanges.ethereal.wire import Product, StreamFill, StreamOrder, WireFill, WireOrder
from bot_runtime.exchanges.symbols import normalize

PERPETUAL = 0  # engineType: 0 perp, 1 spot
ACTIVE = "ACTIVE"


def is_tradable_perp(product: Product) -> bool:
    return product.engine_type == PERPETUAL and product.status == ACTIVE


def market_from_product(exchange: str, product: Product) -> Market:
    canonical = normalize(exchange, product.ticker)
    return Market(
        symbol=canonical.base,
        venue_symbol=product.ticker,
        contract_id=product.id,
        tick_size=product.tick_size,
        size_step=product.lot_size,
        min_size=max(product.lot_size, product.min_quantity or ZERO),
        multiplier=canonical.multiplier,
        quote="USD",
        maker_fee=product.maker_fee,
        taker_fee=product.taker_fee,
        max_leverage=product.max_leverage,
    )


def _tif(time_in_force: str | None, post_only: bool | None, order_type: str) -> TimeInForce:
    if order_type == "MARKET" or time_in_force in {"IOC", "FOK"}:
        return TimeInForce.IOC
    return TimeInForce.POST_ONLY if post_only else TimeInForce.GTC


def order_from_wire(wire: WireOrder, symbol: str, client_order_id: str | None) -> Order:
    status, reason = status_from_wire(wire.status, wire.rejected_reason)
    return Order(
        order_id=wire.id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(wire.side),
        order_type=OrderType.MARKET if wire.type == "MARKET" else OrderType.LIMIT,
        time_in_force=_tif(wire.time_in_force, wire.post_only, wire.type),
        price=wire.price if wire.price > 0 else None,
        size=wire.quantity,
        filled_size=wire.filled,
        status=status,
        reduce_only=wire.reduce_only,
        cancel_reason=reason,
        created_at=from_ms(wire.created_at),
        updated_at=from_ms(wire.updated_at),
    )


def order_from_stream(
    entry: StreamOrder, symbol: str, client_order_id: str | None, known: Order | None = None
) -> Order:
    status, reason = status_from_wire(entry.st)
    if known is not None and known.cancel_reason is not None and status is known.status:
        reason = known.cancel_reason  # the stream carries no reason: keep one REST gave
    return Order(
        order_id=entry.id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(entry.sd),
        order_type=OrderType.MARKET if entry.otyp == "MARKET" else OrderType.LIMIT,
        time_in_force=_tif(entry.tif, entry.po, entry.otyp),
        price=entry.px if entry.px else None,
        size=entry.qty,
        filled_size=entry.fill,
        status=status,
        reduce_only=entry.ro,
        cancel_reason=reason,
        created_at=known.created_at if known is not None else from_ms(entry.t),
        updated_at=from_ms(entry.t),
    )


def fill_from_wire(wire: WireFill, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=wire.id,
        order_id=wire.order_id,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(wire.side),
        price=wire.price,
        size=wire.filled,
        fee=wire.fee_usd,
        liquidity=Liquidity.MAKER if wire.is_maker else Liquidity.TAKER,
        timestamp=from_ms(wire.created_at),
    )


def fill_from_stream(entry: StreamFill, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=entry.id,
        order_id=entry.oid,
        client_order_id=client_order_id,
        symbol=symbol,
        side=side_from_wire(entry.sd),
        price=entry.px,
        size=entry.sz,
        fee=entry.fee,
        liquidity=Liquidity.MAKER if entry.m else Liquidity.TAKER,
        timestamp=from_ms(entry.t),
    )


def position_from_wire(wire: WirePosition, symbol: str) -> Position:
    signed = wire.size if side_from_wire(wire.side) is Side.BUY else -wire.size
    entry = abs(wire.cost) / wire.size if wire.size else None
    return Position(
        symbol=symbol,
        size=signed,
        avg_entry_price=entry,
        unrealized_pnl=wire.unrealized_pnl or ZERO,
        realized_pnl=wire.realized_pnl,
        funding_pnl=wire.funding_accrued_usd + wire.funding_usd,
        liquidation_price=wire.liquidation_price,
    )


def is_open(order: Order) -> bool:
    return order.status in {OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING}
