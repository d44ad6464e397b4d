"""Trading fees of a funding-arbitrage pair (fractions of notional; negative = rebate)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

FeeMode = Literal["taker", "maker"]


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """One venue's fee per trade, as fractions of notional (``0.0005`` = 5 bp); maker may be negative (rebate)."""

    maker: Decimal
    taker: Decimal

    def per_trade(self, mode: FeeMode) -> Decimal:
        return self.maker if mode == "maker" else self.taker


def round_trip_fees(long_fee: Decimal, short_fee: Decimal) -> Decimal:
    """Entry + exit on both legs, as a fraction of one leg's notional: ``2 × (long_fee + short_fee)``."""
    return 2 * (long_fee + short_fee)
