"""EdgeX V2 wire format (api docs: metadata ``contractList``, order objects, ``orderFillTransaction``,
``getAccountAsset``) ↔ the contract's models. Numbers are decimal strings, times unix milliseconds (strings)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot_runtime.exchanges._shared.payload_checks import filled_size, unknown_status, unknown_value
from bot_runtime.exchanges._shared.values import dec, dec_or_none, from_ms
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

NAME = "edgex"

# The order's ``cancelReason`` enum as EdgeX's V2 API docs list it (Order schema, "Enum Values"): USER_CANCELED,
# EXPIRE_CANCELED, COULD_NOT_FILL, REDUCE_ONLY_CANCELED, LIQUIDATE_CANCELED, MARGIN_NOT_ENOUGH, SYSTEM_LIMIT_EVICTED,
# ADMIN_CANCELED, INTERNAL_FAILED (plus UNKNOWN_ORDER_CANCEL_REASON / UNRECOGNIZED). COULD_NOT_FILL is the engine
# refusing what it cannot do as asked: a post-only order that would take (the retryable case) or an IOC/FOK that did
# not fill; see :func:`_cancel_reason`.
_CANCEL_REASONS: dict[str, CancelReason] = {
    "USER_CANCELED": CancelReason.USER_CANCELED,
    "EXPIRE_CANCELED": CancelReason.EXPIRED,
    "REDUCE_ONLY_CANCELED": CancelReason.REDUCE_ONLY_VIOLATION,
    "LIQUIDATE_CANCELED": CancelReason.LIQUIDATION,
    "MARGIN_NOT_ENOUGH": CancelReason.INSUFFICIENT_BALANCE,
    "SYSTEM_LIMIT_EVICTED": CancelReason.REJECTED,
    "ADMIN_CANCELED": CancelReason.REJECTED,
    "INTERNAL_FAILED": CancelReason.REJECTED,
}


def _cancel_reason(raw: str, tif: TimeInForce) -> CancelReason:
    if raw == "COULD_NOT_FILL":
        return CancelReason.POST_ONLY_VIOLATION if tif is TimeInForce.POST_ONLY else CancelReason.EXPIRED
    # no reason (or UNKNOWN_ORDER_CANCEL_REASON): a cancel, never guessed to be a post-only refusal
    return _CANCEL_REASONS.get(raw, CancelReason.USER_CANCELED)


def parse_market(contract: dict[str, Any]) -> Market:
    canonical = normalize(NAME, str(contract["contractName"]))
    leverage = dec_or_none(contract.get("displayMaxLeverage") or contract.get("defaultLeverage"))
    return Market(
        symbol=canonical.base,
        venue_symbol=str(contract["contractName"]),
        contract_id=str(contract["contractId"]),
        tick_size=dec(contract["tickSize"]),
        size_step=dec(contract["stepSize"]),
        min_size=dec(contract["minOrderSize"]),
        multiplier=canonical.multiplier,
        quote="USD",
        maker_fee=dec_or_none(contract.get("defaultMakerFeeRate")),
        taker_fee=dec_or_none(contract.get("defaultTakerFeeRate")),
        max_leverage=leverage,
    )


def funding_interval_hours(contract: dict[str, Any], default: Decimal = Decimal(4)) -> Decimal:
    minutes = dec_or_none(contract.get("fundingRateIntervalMin"))
    return minutes / 60 if minutes and minutes > 0 else default


# The order schema's ``status`` enum (V2 API docs, "Enum Values"): PENDING, OPEN, FILLED, CANCELING, CANCELED,
# UNTRIGGERED. Anything else (UNKNOWN_ORDER_STATUS, UNRECOGNIZED, a new value) raises. OPEN and CANCELING may carry
# partial fills; FILLED is filled completely (a partial fill stays OPEN).
_KNOWN_STATUSES = {"PENDING", "OPEN", "FILLED", "CANCELING", "CANCELED", "UNTRIGGERED"}


def parse_order(raw: dict[str, Any], symbol: str) -> Order:
    """An order object: ``id``, ``size``, ``side`` and ``status`` are required; FILLED without ``cumFillSize`` has
    filled its ``size``; an open or cancelled order without it is unreadable."""
    order_id = str(raw["id"])
    size = dec(raw["size"])
    status_raw = str(raw["status"])
    if status_raw not in _KNOWN_STATUSES:
        raise unknown_status(NAME, status_raw, order_id)
    side = _side(raw["side"])
    reported = dec_or_none(raw.get("cumFillSize"))
    value = dec_or_none(raw.get("cumFillValue")) or ZERO
    reason_raw = str(raw.get("cancelReason") or "")
    tif_raw = str(raw.get("timeInForce") or "GOOD_TIL_CANCEL")
    tif = {
        "POST_ONLY": TimeInForce.POST_ONLY,
        "IMMEDIATE_OR_CANCEL": TimeInForce.IOC,
        "FILL_OR_KILL": TimeInForce.IOC,
    }.get(tif_raw, TimeInForce.GTC)
    reason: CancelReason | None = None
    coarse = {"FILLED": OrderStatus.FILLED, "PENDING": OrderStatus.PENDING, "CANCELED": OrderStatus.CANCELED}
    filled = filled_size(
        NAME,
        coarse.get(status_raw, OrderStatus.OPEN),
        reported,
        size,
        order_id,
        none_filled=status_raw == "UNTRIGGERED",
    )
    if status_raw == "FILLED":
        status = OrderStatus.FILLED
    elif status_raw in ("OPEN", "CANCELING", "UNTRIGGERED"):
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    elif status_raw == "CANCELED":
        reason = _cancel_reason(reason_raw, tif)
        if reason is CancelReason.EXPIRED:
            status = OrderStatus.EXPIRED
        elif filled == 0 and reason in (
            CancelReason.POST_ONLY_VIOLATION,
            CancelReason.INSUFFICIENT_BALANCE,
            CancelReason.REDUCE_ONLY_VIOLATION,
        ):
            status = OrderStatus.REJECTED
        else:
            status = OrderStatus.CANCELED
    else:  # PENDING
        status = OrderStatus.PENDING
    price = dec_or_none(raw.get("price"))
    extra: dict[str, Any] = {}
    if raw.get("createdTime"):
        extra["created_at"] = from_ms(raw["createdTime"])
    if raw.get("updatedTime"):
        extra["updated_at"] = from_ms(raw["updatedTime"])
    return Order(
        order_id=order_id,
        client_order_id=str(raw["clientOrderId"]) if raw.get("clientOrderId") else None,
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET if raw.get("type") == "MARKET" else OrderType.LIMIT,
        time_in_force=tif,
        price=price if price else None,
        size=size,
        filled_size=filled,
        avg_fill_price=value / filled if filled > 0 and value > 0 else None,
        status=status,
        reduce_only=bool(raw.get("reduceOnly")),
        cancel_reason=reason,
        **extra,
    )


def _side(value: object) -> Side:
    if value not in ("BUY", "SELL"):
        raise unknown_value(NAME, "order side", value)
    return Side.BUY if value == "BUY" else Side.SELL


def parse_fill(raw: dict[str, Any], symbol: str, client_order_id: str | None) -> Fill:
    when = raw.get("matchTime") or raw.get("createdTime")
    extra: dict[str, Any] = {"timestamp": from_ms(when)} if when else {}
    return Fill(
        trade_id=str(raw["id"]),
        order_id=str(raw["orderId"]),
        client_order_id=client_order_id,
        symbol=symbol,
        side=_side(raw["orderSide"]),
        price=dec(raw["fillPrice"]),
        size=dec(raw["fillSize"]),
        fee=dec_or_none(raw.get("fillFee")) or ZERO,
        liquidity=Liquidity.MAKER if raw.get("direction") == "MAKER" else Liquidity.TAKER,
        **extra,
    )


def parse_positions(asset: dict[str, Any], symbols: dict[str, str]) -> list[Position]:
    """``getAccountAsset`` data: ``positionList`` (signed ``openSize``) joined with ``positionAssetList``."""
    details = {str(p["contractId"]): p for p in asset.get("positionAssetList") or []}
    out: list[Position] = []
    for raw in asset.get("positionList") or []:
        size = dec_or_none(raw.get("openSize")) or ZERO
        contract = str(raw["contractId"])
        detail = details.get(contract, {})
        value = dec_or_none(detail.get("positionValue"))
        liq = dec_or_none(detail.get("liquidatePrice"))
        funding = dec_or_none(raw.get("fundingFee"))
        out.append(
            Position(
                symbol=symbols.get(contract, contract),
                size=size,
                avg_entry_price=dec_or_none(detail.get("avgEntryPrice")) if size else None,
                mark_price=abs(value / size) if value is not None and size else None,
                unrealized_pnl=dec_or_none(detail.get("unrealizePnl")) or ZERO,
                realized_pnl=dec_or_none(detail.get("totalRealizePnl")) or ZERO,
                funding_pnl=funding or ZERO,
                liquidation_price=liq if liq and liq > 0 else None,
                margin=dec_or_none(detail.get("initialMarginRequirement")),
            )
        )
    return out
