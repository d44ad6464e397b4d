"""Lighter wire format ↔ the exchange contract's models. Pure functions over plain dicts (the SDK's models are
dumped with ``to_dict()`` first), so the same code serves REST responses and WebSocket messages.

Wire facts (SDK models ``Order``, ``Trade``, ``OrderBook``; WebSocket reference):
* prices and sizes are decimal strings; ``base_amount``/``price`` sent in a tx are integers scaled by the market's
  ``supported_size_decimals`` / ``supported_price_decimals``;
* ``client_order_index`` is an integer (our string client ids are packed into it and read back by
  :class:`~bot_runtime.exchanges._shared.tagged_ids.TaggedClientIds` with the ``LIGHTER`` layout);
* order ``status`` values: in-progress, pending, open, filled, canceled, canceled-post-only, canceled-reduce-only,
  canceled-margin-not-allowed, canceled-invalid-balance, canceled-expired, ...;
* a trade names both sides (``ask_account_id``/``bid_account_id``) and who was maker (``is_maker_ask``); fees are
  integers in millionths of the notional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status
from bot_runtime.exchanges._shared.tagged_ids import TaggedClientIds
from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ms, from_ns, from_seconds, from_us
from bot_runtime.exchanges.base import (
    ZERO,
    CancelReason,
    Fill,
    Liquidity,
    Market,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.symbols import normalize

NAME = "lighter"
FEE_SCALE = Decimal(1_000_000)

_CANCEL_REASONS: dict[str, CancelReason] = {
    "canceled": CancelReason.USER_CANCELED,
    "canceled-post-only": CancelReason.POST_ONLY_VIOLATION,
    "canceled-reduce-only": CancelReason.REDUCE_ONLY_VIOLATION,
    "canceled-position-not-allowed": CancelReason.REJECTED,
    "canceled-margin-not-allowed": CancelReason.INSUFFICIENT_BALANCE,
    "canceled-invalid-balance": CancelReason.INSUFFICIENT_BALANCE,
    "canceled-too-much-slippage": CancelReason.REJECTED,
    "canceled-not-enough-liquidity": CancelReason.REJECTED,
    "canceled-self-trade": CancelReason.REJECTED,
    "canceled-expired": CancelReason.EXPIRED,
    "canceled-oco": CancelReason.USER_CANCELED,
    "canceled-child": CancelReason.USER_CANCELED,
    "canceled-liquidation": CancelReason.LIQUIDATION,
}


def timestamp(value: Any) -> datetime:
    """Lighter mixes seconds, milliseconds and microseconds across endpoints (an order's ``transaction_time`` is in
    µs, its ``created_at``/``updated_at`` in s or ms, a trade's ``timestamp`` in ms); tell them apart by magnitude:
    any instant between 1973 and 5138 has 10-11 digits in s, 13-14 in ms, 16-17 in µs."""
    number = int(value)
    if number >= 10**17:
        return from_ns(number)
    if number >= 10**14:
        return from_us(number)
    return from_ms(number) if number >= 10**11 else from_seconds(number)


def parse_market(book: dict[str, Any]) -> Market:
    size_decimals = int(book["supported_size_decimals"])
    price_decimals = int(book["supported_price_decimals"])
    canonical = normalize(NAME, str(book["symbol"]))
    min_quote = dec_or_none(book.get("min_quote_amount"))
    return Market(
        symbol=canonical.base,
        venue_symbol=str(book["symbol"]),
        contract_id=str(book["market_id"]),
        tick_size=Decimal(1).scaleb(-price_decimals),
        size_step=Decimal(1).scaleb(-size_decimals),
        min_size=dec(book["min_base_amount"]),
        min_notional=min_quote if min_quote else None,
        multiplier=canonical.multiplier,
        quote="USD",
    )


def scale(value: Decimal, decimals: int) -> int:
    """A price/size as the integer the signer wants; refuses values finer than the market's precision."""
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than {decimals} decimals")
    return int(scaled)


def _status(raw: str, order_id: str) -> tuple[OrderStatus, CancelReason | None]:
    """The SDK's ``Order.status`` enum (``status_validate_enum``): any other value raises. An ``open`` order may be
    partially filled (Lighter has no partial status); ``filled`` means filled completely (nothing remains)."""
    if raw == "filled":
        return OrderStatus.FILLED, None
    if raw in ("open", "in-progress"):
        return OrderStatus.OPEN, None
    if raw == "pending":
        return OrderStatus.PENDING, None
    if raw == "canceled-expired":
        return OrderStatus.EXPIRED, CancelReason.EXPIRED
    if raw.startswith("canceled"):  # a cancel reason newer than this list still ends the order: never read as open
        reason = _CANCEL_REASONS.get(raw, CancelReason.REJECTED)
        rejected = reason in (
            CancelReason.POST_ONLY_VIOLATION,
            CancelReason.INSUFFICIENT_BALANCE,
            CancelReason.REDUCE_ONLY_VIOLATION,
        )
        return (OrderStatus.REJECTED if rejected else OrderStatus.CANCELED), reason
    raise unknown_status(NAME, raw, order_id)


def _filled(raw: dict[str, Any], status: OrderStatus, size: Decimal, order_id: str) -> Decimal:
    """``filled_base_amount``, else ``initial_base_amount - remaining_base_amount``, else what the status says."""
    reported = dec_or_none(raw.get("filled_base_amount"))
    remaining = dec_or_none(raw.get("remaining_base_amount"))
    if reported is None and remaining is not None:
        reported = size - remaining
    return filled_size(NAME, status, reported, size, order_id)


def parse_order(raw: dict[str, Any], symbol: str, client_ids: TaggedClientIds) -> Order:
    """An SDK ``Order`` (REST, dumped) or an ``account_all_orders`` entry: the id, ``initial_base_amount`` and
    ``status`` are required; FILLED without a filled amount is the whole ``initial_base_amount``."""
    order_id = str(raw.get("order_id") or raw["order_index"])
    size = dec(raw["initial_base_amount"])
    status, reason = _status(str(raw["status"]), order_id)
    # a refusal (post-only, margin, reduce-only) may come after trading: without an amount it is unreadable
    filled = _filled(raw, OrderStatus.CANCELED if status is OrderStatus.REJECTED else status, size, order_id)
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    elif status is OrderStatus.REJECTED and filled > 0:
        status = OrderStatus.CANCELED  # it traded before the engine cancelled it: not a refusal
    filled_quote = dec(raw.get("filled_quote_amount") or "0")
    tif_raw = str(raw.get("time_in_force", "good-till-time"))
    tif = {"post-only": TimeInForce.POST_ONLY, "immediate-or-cancel": TimeInForce.IOC}.get(tif_raw, TimeInForce.GTC)
    client_idx = int(raw.get("client_order_index") or 0)
    created = raw.get("created_at") or raw.get("timestamp")
    updated = raw.get("updated_at") or raw.get("transaction_time") or created
    extra: dict[str, Any] = {}
    if created:
        extra["created_at"] = timestamp(created)
    if updated:
        extra["updated_at"] = timestamp(updated)
    return Order(
        order_id=order_id,
        client_order_id=client_ids.decode(client_idx),
        symbol=symbol,
        side=Side.SELL if raw["is_ask"] else Side.BUY,
        order_type=OrderType.MARKET if raw.get("type") == "market" else OrderType.LIMIT,
        time_in_force=tif,
        price=dec_or_none(raw.get("price")) or None,
        size=size,
        filled_size=filled,
        avg_fill_price=(filled_quote / filled) if filled > 0 else None,
        status=status,
        reduce_only=bool(raw.get("reduce_only", False)),
        cancel_reason=reason,
        **extra,
    )


def parse_fills(trade: dict[str, Any], account_index: int, symbol: str, client_ids: TaggedClientIds) -> list[Fill]:
    """Our side(s) of one trade (two fills when we traded with ourselves)."""
    fills: list[Fill] = []
    size = dec(trade["size"])
    price = dec(trade["price"])
    notional = dec_or_none(trade.get("usd_amount")) or size * price
    maker_is_ask = bool(trade.get("is_maker_ask"))
    trade_id = str(trade.get("trade_id_str") or trade["trade_id"])
    when = timestamp(trade["timestamp"]) if trade.get("timestamp") else None
    for is_ask in (True, False):
        key = "ask" if is_ask else "bid"
        if int(trade.get(f"{key}_account_id", -1)) != account_index:
            continue
        maker = maker_is_ask == is_ask
        fee_units = trade.get("maker_fee" if maker else "taker_fee") or 0
        client_idx = int(trade.get(f"{key}_client_id") or 0)
        extra: dict[str, Any] = {"timestamp": when} if when else {}
        fills.append(
            Fill(
                trade_id=f"{trade_id}-{key}"
                if int(trade.get("ask_account_id", -1)) == int(trade.get("bid_account_id", -2))
                else trade_id,
                order_id=str(trade.get(f"{key}_id_str") or trade[f"{key}_id"]),
                client_order_id=client_ids.decode(client_idx),
                symbol=symbol,
                side=Side.SELL if is_ask else Side.BUY,
                price=price,
                size=size,
                fee=(notional * dec(fee_units) / FEE_SCALE) if fee_units else ZERO,
                liquidity=Liquidity.MAKER if maker else Liquidity.TAKER,
                **extra,
            )
        )
    return fills
