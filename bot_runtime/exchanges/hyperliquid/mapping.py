"""Our values ⇄ Hyperliquid's: client ids ⇄ ``cloid``, prices and sizes ⇄ wire strings, order statuses.

Client ids. A ``cloid`` is 16 bytes (``0x`` + 32 hex digits, ``hyperliquid.utils.types.Cloid``): the strategies'
ids are packed into it losslessly by :class:`bot_runtime.exchanges._shared.packed_ids.PackedIdCodec`.

Prices. Hyperliquid accepts a perp price with at most 5 significant figures (any integer is fine) and at most
``6 - szDecimals`` decimals ("Tick and lot size" in the API docs); sizes are multiples of ``10^-szDecimals``. So
the tick depends on the price: :func:`price_quantum`. :func:`round_price` rounds away from crossing (buys down,
sells up). Wire strings are the SDK's ``float_to_wire`` (8 decimals at most, trailing zeros dropped), computed on
the :class:`~decimal.Decimal` itself.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot_runtime.exchanges._shared.payload_checks import unknown_status
from bot_runtime.exchanges.base import CancelReason, OrderStatus, Side

PERP_MAX_DECIMALS = 6
MAX_SIGNIFICANT = 5


# --- numbers --------------------------------------------------------------------------------------------------------
def size_step(sz_decimals: int) -> Decimal:
    return Decimal(1).scaleb(-sz_decimals)


def price_quantum(price: Decimal, sz_decimals: int) -> Decimal:
    """The price step at ``price``: the coarser of 5 significant figures (1 from 100000 up) and the
    ``6 - szDecimals`` decimals a perp allows."""
    decimals = Decimal(1).scaleb(-max(PERP_MAX_DECIMALS - sz_decimals, 0))
    if price <= 0:
        return decimals
    exponent = price.adjusted()  # floor(log10(price))
    significant = Decimal(1).scaleb(min(exponent - (MAX_SIGNIFICANT - 1), 0))  # integers are always valid
    return max(decimals, significant)


def round_price(price: Decimal, sz_decimals: int, side: Side | None = None) -> Decimal:
    """A valid Hyperliquid price: buys rounded down, sells up (never more aggressive than asked)."""
    quantum = price_quantum(price, sz_decimals)
    rounding = ROUND_CEILING if side is Side.SELL else ROUND_FLOOR
    return ((price / quantum).to_integral_value(rounding=rounding) * quantum).normalize()


def to_wire(value: Decimal) -> str:
    """``hyperliquid.utils.signing.float_to_wire`` on a Decimal: at most 8 decimals, no trailing zeros, no "-0"."""
    rounded = value.quantize(Decimal("1e-8"))
    if rounded != value:
        raise ValueError(f"{value} has more than 8 decimals")
    text = format(rounded.normalize(), "f")
    return "0" if text == "-0" else text


# --- sides and statuses ---------------------------------------------------------------------------------------------
def side_from_wire(side: str) -> Side:
    return Side.BUY if side == "B" else Side.SELL


_CANCEL_REASONS = {
    "canceled": CancelReason.USER_CANCELED,
    "scheduledCancel": CancelReason.USER_CANCELED,
    "marginCanceled": CancelReason.INSUFFICIENT_BALANCE,
    "reduceOnlyCanceled": CancelReason.REDUCE_ONLY_VIOLATION,
    "liquidatedCanceled": CancelReason.LIQUIDATION,
    "delistedCanceled": CancelReason.EXPIRED,
}
_REJECT_REASONS = {
    "badAloPxRejected": CancelReason.POST_ONLY_VIOLATION,
    "perpMarginRejected": CancelReason.INSUFFICIENT_BALANCE,
    "insufficientSpotBalanceRejected": CancelReason.INSUFFICIENT_BALANCE,
    "reduceOnlyRejected": CancelReason.REDUCE_ONLY_VIOLATION,
}


def status_from_wire(status: str, oid: object = None) -> tuple[OrderStatus, CancelReason | None]:
    """An order status of ``orderUpdates`` / ``orderStatus`` (the documented list: open, filled, canceled,
    triggered, rejected, and the ``*Canceled`` / ``*Rejected`` reasons) as ours. ``filled`` is filled completely
    (``sz`` 0: a partial fill stays ``open``). A status outside the list and its two suffix families raises
    :class:`~bot_runtime.exchanges.base.MalformedResponse`: it is neither proof that the order rests nor that it
    ended."""
    if status in {"open", "triggered"}:
        return OrderStatus.OPEN, None
    if status == "filled":
        return OrderStatus.FILLED, None
    if status == "iocCancelRejected":  # an IOC that found nothing to take: it expired, nothing was refused
        return OrderStatus.EXPIRED, CancelReason.EXPIRED
    if status == "rejected" or status.endswith("Rejected"):
        return OrderStatus.REJECTED, _REJECT_REASONS.get(status, CancelReason.REJECTED)
    if status.endswith("Canceled") or status.endswith("Cancel") or status == "canceled":
        return OrderStatus.CANCELED, _CANCEL_REASONS.get(status, CancelReason.REJECTED)
    raise unknown_status("hyperliquid", status, oid)
