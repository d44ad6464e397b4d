"""Nado wire rows → the exchange contract's models (pure functions; the client keeps the state)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from bot_runtime.exchanges._shared.values import from_ns, from_seconds
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
from bot_runtime.exchanges.nado.signing import AppendixOrderType, appendix_order_type, appendix_reduce_only
from bot_runtime.exchanges.nado.wire import (
    FillEvent,
    IndexerHistoricalOrder,
    IndexerMatch,
    OrderData,
    PerpProductBalance,
    SymbolData,
    from_x18,
)
from bot_runtime.exchanges.symbols import normalize

#: Client ids travel in the order's ``expiration`` (seconds, u64): ``EXPIRATION_BASE + venue id`` (a 32-bit
#: :data:`~.client.NADO_IDS` id), a date after the year 2242, so the order never expires by time and every process
#: reads the id back from the order itself (the engine's open orders and the indexer's history both carry it).
EXPIRATION_BASE = 1 << 33
_ID_SPAN = 1 << 32

_TIF = {
    AppendixOrderType.POST_ONLY: TimeInForce.POST_ONLY,
    AppendixOrderType.IOC: TimeInForce.IOC,
    AppendixOrderType.FOK: TimeInForce.IOC,
    AppendixOrderType.DEFAULT: TimeInForce.GTC,
}


def venue_id_of(expiration: int) -> int | None:
    offset = expiration - EXPIRATION_BASE
    return offset if 0 < offset < _ID_SPAN else None


def market_from_symbol(exchange: str, data: SymbolData) -> Market:
    canonical = normalize(exchange, data.symbol)
    return Market(
        symbol=canonical.base,
        venue_symbol=data.symbol,
        contract_id=str(data.product_id),
        tick_size=from_x18(data.price_increment_x18),
        size_step=from_x18(data.size_increment),
        min_size=from_x18(data.min_size),
        multiplier=canonical.multiplier,
        quote="USDT0",
        maker_fee=from_x18(data.maker_fee_rate_x18),
        taker_fee=from_x18(data.taker_fee_rate_x18),
    )


def _time_in_force(appendix: int | None, fallback: TimeInForce) -> TimeInForce:
    return fallback if appendix is None else _TIF[appendix_order_type(appendix)]


def order_from_open(data: OrderData, symbol: str, client_order_id: str | None, *, known: Order | None = None) -> Order:
    """An open order (``subaccount_orders`` / ``order``): amount > 0 buys; ``unfilled_amount`` is what rests."""
    size = abs(from_x18(data.amount))
    remaining = abs(from_x18(data.unfilled_amount))
    filled = size - remaining
    return Order(
        order_id=data.digest,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if data.amount > 0 else Side.SELL,
        order_type=OrderType.LIMIT,
        time_in_force=_time_in_force(data.appendix, known.time_in_force if known else TimeInForce.GTC),
        price=from_x18(data.price_x18),
        size=size,
        filled_size=filled,
        status=OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN,
        reduce_only=appendix_reduce_only(data.appendix)
        if data.appendix is not None
        else bool(known and known.reduce_only),
        created_at=from_seconds(data.placed_at),
    )


def order_from_history(row: IndexerHistoricalOrder, symbol: str, client_order_id: str | None) -> Order:
    """An order the engine no longer holds (the indexer's ``orders``): filled, cancelled, or an IOC that expired."""
    size = abs(from_x18(row.amount))
    filled = abs(from_x18(row.base_filled))
    tif = _time_in_force(row.appendix, TimeInForce.GTC)
    if filled >= size:
        status, reason = OrderStatus.FILLED, None
    elif tif is TimeInForce.IOC:
        status, reason = OrderStatus.EXPIRED, CancelReason.EXPIRED
    else:
        status, reason = OrderStatus.CANCELED, CancelReason.USER_CANCELED
    return Order(
        order_id=row.digest,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if row.amount > 0 else Side.SELL,
        time_in_force=tif,
        price=from_x18(row.price_x18),
        size=size,
        filled_size=filled,
        avg_fill_price=abs(from_x18(row.quote_filled)) / filled if filled else None,
        status=status,
        cancel_reason=reason,
        reduce_only=appendix_reduce_only(row.appendix),
        **({"updated_at": from_seconds(row.timestamp)} if row.timestamp else {}),
    )


def trade_id(submission_idx: str, digest: str) -> str:
    """One fill of one order: the engine's transaction index + the order (both sides of a self-trade differ)."""
    return f"{submission_idx}:{digest.lower()}"


def fill_from_event(event: FillEvent, symbol: str, client_order_id: str | None) -> Fill:
    return Fill(
        trade_id=trade_id(event.submission_idx, event.order_digest),
        order_id=event.order_digest,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if event.is_bid else Side.SELL,
        price=from_x18(event.price),
        size=abs(from_x18(event.filled_qty)),
        fee=from_x18(event.fee),
        liquidity=Liquidity.TAKER if event.is_taker else Liquidity.MAKER,
        timestamp=from_ns(event.timestamp),
    )


def fill_from_match(match: IndexerMatch, symbol: str, client_order_id: str | None, when: datetime) -> Fill:
    base = abs(from_x18(match.base_filled))
    quote = abs(from_x18(match.quote_filled))
    fee = from_x18(match.fee)
    taker = match.is_taker if match.is_taker is not None else fee > 0
    return Fill(
        trade_id=trade_id(match.submission_idx, match.digest),
        order_id=match.digest,
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side.BUY if match.order.amount > 0 else Side.SELL,
        price=quote / base if base else from_x18(match.order.priceX18),
        size=base,
        fee=fee,
        liquidity=Liquidity.TAKER if taker else Liquidity.MAKER,
        timestamp=when,
    )


def position_from_balance(row: PerpProductBalance, symbol: str, oracle: Decimal | None) -> Position:
    size = from_x18(row.balance.amount)
    v_quote = from_x18(row.balance.v_quote_balance)
    return Position(
        symbol=symbol,
        size=size,
        mark_price=oracle,
        # the engine's perp balance: amount x price + v_quote is the position's value net of what was paid
        unrealized_pnl=size * oracle + v_quote if oracle is not None else Decimal(0),
    )
