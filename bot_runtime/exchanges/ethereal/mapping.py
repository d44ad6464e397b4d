"""Our values ⇄ Ethereal's: client ids ⇄ UUID client order ids, sides, order statuses and refusal codes.

Client ids. Ethereal takes a ``clientOrderId`` that is "either a UUID or an alphanumeric string up to 32
characters" (the API's schema); the strategies' ids (``pd<tag>-<role>-<stamp><counter>``) carry hyphens, so they
travel as a UUID: the same lossless 16-byte packing as Hyperliquid's cloid (:class:`~bot_runtime.exchanges._shared.packed_ids.PackedIdCodec`), written as a UUID.
Every process reads back exactly the id the strategy chose. The SDK turns a UUID client id into the bytes32 it signs
(``ethereal.rest.util.client_order_id_to_bytes32``); the venue echoes the UUID (``clientOrderId``, stream ``cloid``).
"""

from __future__ import annotations

import uuid

from bot_runtime.exchanges._shared.packed_ids import PackedIdCodec
from bot_runtime.exchanges._shared.payload_checks import unknown_status, unknown_value
from bot_runtime.exchanges.base import CancelReason, OrderStatus, Side

EXCHANGE = "ethereal"
BUY, SELL = 0, 1


class ClientIdCodec:
    """Our client ids ⇄ the UUIDs sent as ``clientOrderId``."""

    def __init__(self) -> None:
        self._cloids = PackedIdCodec()

    def encode(self, client_order_id: str) -> str:
        return str(uuid.UUID(hex=self._cloids.encode(client_order_id)[2:]))

    def decode(self, wire: str | None) -> str | None:
        """The client id behind a wire id (a UUID, or its bytes32 form ``0x`` + 64 hex digits); a string that is
        neither comes back as it is (an order placed by hand with an alphanumeric id)."""
        if not wire:
            return None
        text = wire.lower()
        if text.startswith("0x") and len(text) == 66 and text[2:34] == "0" * 32:
            text = text[34:]
        try:
            value = uuid.UUID(text)
        except ValueError:
            return wire
        return self._cloids.decode("0x" + value.hex)


def side_to_wire(side: Side) -> int:
    return BUY if side is Side.BUY else SELL


def side_from_wire(side: int) -> Side:
    if side == BUY:
        return Side.BUY
    if side == SELL:
        return Side.SELL
    raise unknown_value(EXCHANGE, "order side", side)


_REASONS = {
    "ImmediateMatchPostOnly": CancelReason.POST_ONLY_VIOLATION,
    "InsufficientBalance": CancelReason.INSUFFICIENT_BALANCE,
    "RiskLimitExceeded": CancelReason.INSUFFICIENT_BALANCE,
    "CausesImmediateLiquidation": CancelReason.INSUFFICIENT_BALANCE,
    "OrderIncreasesPosition": CancelReason.REDUCE_ONLY_VIOLATION,
    "UnfilledImmediateOrCancel": CancelReason.EXPIRED,
    "UnfilledFillOrKill": CancelReason.EXPIRED,
    "UnfilledMarketOrder": CancelReason.EXPIRED,
    "MarketOrderReachedMaxSlippage": CancelReason.EXPIRED,
    "Liquidation": CancelReason.LIQUIDATION,
}

# a refusal code that leaves an order unfilled without anything being wrong with it
EXPIRY_CODES = frozenset({"UnfilledImmediateOrCancel", "UnfilledFillOrKill", "UnfilledMarketOrder"})


def reason_from_code(code: str | None) -> CancelReason:
    return _REASONS.get(code or "", CancelReason.REJECTED)


def status_from_wire(status: str, reason: str | None = None) -> tuple[OrderStatus, CancelReason | None]:
    """An ``OrderDto.status`` / stream ``st`` (NEW, PENDING, FILLED_PARTIAL, FILLED, REJECTED, CANCELED, EXPIRED: the
    SDK's ``Status`` enum); any other is a :class:`~bot_runtime.exchanges.base.MalformedResponse`, never a guess."""
    if status == "NEW":
        return OrderStatus.OPEN, None
    if status == "PENDING":  # accepted, not yet through the engine (block execution) or a stop not triggered
        return OrderStatus.PENDING, None
    if status == "FILLED_PARTIAL":
        return OrderStatus.PARTIALLY_FILLED, None
    if status == "FILLED":
        return OrderStatus.FILLED, None
    if status == "REJECTED":
        if reason in EXPIRY_CODES:
            return OrderStatus.EXPIRED, CancelReason.EXPIRED
        return OrderStatus.REJECTED, reason_from_code(reason)
    if status == "CANCELED":
        if reason in EXPIRY_CODES:
            return OrderStatus.EXPIRED, CancelReason.EXPIRED
        return OrderStatus.CANCELED, _REASONS.get(reason or "", CancelReason.USER_CANCELED)
    if status == "EXPIRED":
        return OrderStatus.EXPIRED, CancelReason.EXPIRED
    raise unknown_status(EXCHANGE, status)
