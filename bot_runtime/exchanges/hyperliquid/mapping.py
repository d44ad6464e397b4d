"""Our values ⇄ Hyperliquid's: client ids ⇄ ``cloid``, prices and sizes ⇄ wire strings, order statuses.

Client ids. A ``cloid`` is 16 bytes (``0x`` + 32 hex digits, ``hyperliquid.utils.types.Cloid``). The strategies'
ids ``pd<6 hex tag>-<role>-<base36 ms><3 base36 counter>`` are packed into it *losslessly*, so every process (a
restarted bot included) reads back exactly the id the strategy chose::

    0x 7064 (ASCII "pd") | tag: 24 bits | role: 3 letters x 5 bits + 1 | milliseconds: 48 bits | counter: 24 bits

Any other string is hashed into a cloid starting ``0x00`` (remembered in-process for the way back); a string that
already is a cloid is sent as it is.

Prices. Hyperliquid accepts a perp price with at most 5 significant figures (any integer is fine) and at most
``6 - szDecimals`` decimals ("Tick and lot size" in the API docs); sizes are multiples of ``10^-szDecimals``. So
the tick depends on the price: :func:`price_quantum`. :func:`round_price` rounds away from crossing (buys down,
sells up). Wire strings are the SDK's ``float_to_wire`` (8 decimals at most, trailing zeros dropped), computed on
the :class:`~decimal.Decimal` itself.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bot_runtime.exchanges._shared.id_text import NATIVE_ID, base36
from bot_runtime.exchanges._shared.payload_checks import unknown_status
from bot_runtime.exchanges.base import CancelReason, OrderStatus, Side

PERP_MAX_DECIMALS = 6
MAX_SIGNIFICANT = 5

_CLOID = re.compile(r"^0x[0-9a-f]{32}$")
_MARKER = 0x7064  # "pd"
_REMEMBERED = 100_000


class CloidCodec:
    """Our client ids ⇄ cloids (see the module docstring)."""

    def __init__(self) -> None:
        self._foreign: OrderedDict[str, str] = OrderedDict()

    def encode(self, client_order_id: str) -> str:
        native = NATIVE_ID.match(client_order_id)
        if native is not None and len(native["role"]) <= 3:  # three 5-bit letters fit the cloid's role field
            stamp = int(native["stamp"], 36)
            if stamp < 1 << 48:
                role = 0
                for letter in native["role"].ljust(3, "`"):  # "`" is code 0: no letter
                    role = (role << 5) | (ord(letter) - ord("`"))
                value = _MARKER
                for field, bits in ((int(native["tag"], 16), 24), (role << 1, 16), (stamp, 48)):
                    value = (value << bits) | field
                value = (value << 24) | int(native["counter"], 36)
                return f"0x{value:032x}"
        lowered = client_order_id.lower()
        if _CLOID.match(lowered):
            return lowered
        cloid = "0x00" + hashlib.blake2b(client_order_id.encode(), digest_size=15).hexdigest()
        self._foreign[cloid] = client_order_id
        while len(self._foreign) > _REMEMBERED:
            self._foreign.popitem(last=False)
        return cloid

    def decode(self, cloid: str | None) -> str | None:
        """The client id behind a cloid: ours (unpacked), a foreign one this process sent, else the cloid itself."""
        if not cloid:
            return None
        lowered = cloid.lower()
        if lowered in self._foreign:
            return self._foreign[lowered]
        if not _CLOID.match(lowered):
            return cloid
        value = int(lowered, 16)
        counter = value & 0xFFFFFF
        stamp = (value >> 24) & ((1 << 48) - 1)
        role_bits = (value >> 72) & 0xFFFF
        tag = (value >> 88) & 0xFFFFFF
        if value >> 112 != _MARKER or counter >= 36**3 or role_bits & 1 or stamp == 0:
            return lowered
        letters = [(role_bits >> shift) & 0x1F for shift in (11, 6, 1)]
        if letters[0] == 0 or any(code > 26 for code in letters) or (letters[1] == 0 and letters[2] != 0):
            return lowered
        role = "".join(chr(ord("`") + code) for code in letters if code)
        return f"pd{tag:06x}-{role}-{base36(stamp)}{base36(counter).rjust(3, '0')}"


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
