"""GRVT wire format (``pysdk.grvt_raw_types``: Instrument, Order/OrderState, Fill, Positions, SubAccount, Ticker)
↔ the contract's models. Prices and sizes are decimal strings; times are unix nanoseconds (strings)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges._shared.client_ids import IntegerClientIds
from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status
from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ns
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
)
from bot_runtime.exchanges.symbols import normalize

NAME = "grvt"
DEFAULT_FUNDING_HOURS = 8

_REJECT_REASONS: dict[str, CancelReason] = {
    "CLIENT_CANCEL": CancelReason.USER_CANCELED,
    "CLIENT_BULK_CANCEL": CancelReason.USER_CANCELED,
    "CLIENT_SESSION_END": CancelReason.USER_CANCELED,
    "CLIENT_CANCEL_ON_DISCONNECT_TRIGGERED": CancelReason.USER_CANCELED,
    "IOC_CANCEL": CancelReason.USER_CANCELED,
    "FOK_CANCEL": CancelReason.USER_CANCELED,
    "EXPIRED": CancelReason.EXPIRED,
    "FAIL_POST_ONLY": CancelReason.POST_ONLY_VIOLATION,
    "FAIL_REDUCE_ONLY": CancelReason.REDUCE_ONLY_VIOLATION,
    "REDUCE_ONLY_LIMIT": CancelReason.REDUCE_ONLY_VIOLATION,
    "BELOW_MARGIN": CancelReason.INSUFFICIENT_BALANCE,
    "LIQUIDATION": CancelReason.LIQUIDATION,
}


def parse_market(instrument: dict[str, Any]) -> Market:
    canonical = normalize(NAME, str(instrument["instrument"]))
    min_size = dec(instrument["min_size"])
    return Market(
        symbol=canonical.base,
        venue_symbol=str(instrument["instrument"]),
        contract_id=str(instrument["instrument"]),
        tick_size=dec(instrument["tick_size"]),
        size_step=min_size,
        min_size=min_size,
        min_notional=dec_or_none(instrument.get("min_notional")),
        multiplier=canonical.multiplier,
        quote=str(instrument.get("quote") or "USDT"),
    )


def _first(values: Any) -> Decimal | None:
    """The first leg's value of a per-leg list (``None`` when the field is left out)."""
    if values is None:
        return None
    if isinstance(values, list):
        return dec(values[0]) if values else None
    return dec_or_none(values)


# ``pysdk.grvt_raw_types.OrderStatus``: PENDING (sent, nothing traded yet), OPEN ("unfilled or partially filled"),
# FILLED ("fully filled and hence closed"), REJECTED ("Once an order is open, it cannot be rejected"), CANCELLED.
_STATUS = {
    "PENDING": OrderStatus.PENDING,
    "OPEN": OrderStatus.OPEN,
    "FILLED": OrderStatus.FILLED,
    "REJECTED": OrderStatus.REJECTED,
    "CANCELLED": OrderStatus.CANCELED,
}


def parse_order(raw: dict[str, Any], symbol: str, client_ids: IntegerClientIds) -> Order:
    """An ``Order`` (REST answer or ``v1.order`` feed). ``order_id``, the first leg's ``size`` and ``state.status``
    are required; an unknown status raises; FILLED without ``traded_size`` has traded the leg's size."""
    order_id = str(raw["order_id"])
    leg = raw["legs"][0]
    state = raw["state"]
    size = dec(leg["size"])
    status_raw = str(state["status"])
    status = _STATUS.get(status_raw)
    if status is None:
        raise unknown_status(NAME, status_raw, order_id)
    traded = filled_size(NAME, status, _first(state.get("traded_size")), size, order_id)
    if status is OrderStatus.OPEN and traded > 0:
        status = OrderStatus.PARTIALLY_FILLED
    avg = _first(state.get("avg_fill_price")) or ZERO
    reason = _REJECT_REASONS.get(str(state.get("reject_reason") or ""))
    if status is OrderStatus.CANCELED and reason is None:
        reason = CancelReason.USER_CANCELED
    if status is OrderStatus.REJECTED and reason is None:
        reason = CancelReason.REJECTED
    if status is OrderStatus.CANCELED and reason is CancelReason.EXPIRED:
        status = OrderStatus.EXPIRED
    tif_raw = str(raw.get("time_in_force") or "GOOD_TILL_TIME")
    if raw.get("post_only"):
        tif = TimeInForce.POST_ONLY
    elif tif_raw in ("IMMEDIATE_OR_CANCEL", "FILL_OR_KILL"):
        tif = TimeInForce.IOC
    else:
        tif = TimeInForce.GTC
    cid_raw = str((raw.get("metadata") or {}).get("client_order_id") or "")
    cid = client_ids.decode(cid_raw)
    extra: dict[str, Any] = {}
    created = (raw.get("metadata") or {}).get("create_time")
    if created:
        extra["created_at"] = from_ns(created)
    if state.get("update_time"):
        extra["updated_at"] = from_ns(state["update_time"])
    limit_price = dec_or_none(leg.get("limit_price"))
    return Order(
        order_id=order_id,
        client_order_id=cid,
        symbol=symbol,
        side=Side.BUY if leg["is_buying_asset"] else Side.SELL,
        order_type=OrderType.MARKET if raw.get("is_market") else OrderType.LIMIT,
        time_in_force=tif,
        price=limit_price if limit_price else None,
        size=size,
        filled_size=traded,
        avg_fill_price=avg if traded > 0 and avg > 0 else None,
        status=status,
        reduce_only=bool(raw.get("reduce_only")),
        cancel_reason=reason if status in (OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED) else None,
        **extra,
    )


def parse_fill(raw: dict[str, Any], symbol: str, client_ids: IntegerClientIds) -> Fill:
    cid_raw = str(raw.get("client_order_id") or "")
    extra: dict[str, Any] = {"timestamp": from_ns(raw["event_time"])} if raw.get("event_time") else {}
    return Fill(
        trade_id=str(raw["trade_id"]),
        order_id=str(raw["order_id"]),
        client_order_id=client_ids.decode(cid_raw),
        symbol=symbol,
        side=Side.BUY if raw.get("is_buyer") else Side.SELL,
        price=dec(raw["price"]),
        size=dec(raw["size"]),
        fee=dec_or_none(raw.get("fee")) or ZERO,
        liquidity=Liquidity.TAKER if raw.get("is_taker") else Liquidity.MAKER,
        **extra,
    )


def parse_position(raw: dict[str, Any], symbol: str) -> Position:
    size = dec(raw.get("size") or "0")
    liq = dec_or_none(raw.get("est_liquidation_price"))
    return Position(
        symbol=symbol,
        size=size,
        avg_entry_price=dec_or_none(raw.get("entry_price")) if size else None,
        mark_price=dec_or_none(raw.get("mark_price")),
        unrealized_pnl=dec_or_none(raw.get("unrealized_pnl")) or ZERO,
        realized_pnl=dec_or_none(raw.get("realized_pnl")) or ZERO,
        liquidation_price=liq if liq and liq > 0 else None,
        leverage=dec_or_none(raw.get("leverage")),
    )


def next_funding_boundary(now: datetime, interval_hours: int) -> datetime:
    """GRVT settles at fixed UTC boundaries (00:00, 08:00, 16:00 for 8 h)."""
    start = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    hours_past = start.hour % interval_hours
    return start + timedelta(hours=interval_hours - hours_past)
