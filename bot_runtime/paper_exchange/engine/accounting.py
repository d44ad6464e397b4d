"""The paper account's books: positions with average entry, realized PnL on reductions and flips, funding, fees.

Invariants (checked by property tests):
- a position's size is the signed sum of its fills;
- cash balance = starting balance + realized PnL + funding - fees (exactly, it is computed that way);
- equity = cash + unrealized PnL at mark;
- realized PnL of a reduction = reduced size x (exit price - average entry) x direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bot_runtime.exchanges.base import Side

ZERO = Decimal(0)


@dataclass
class PositionBook:
    """One market's position in contract units (signed: > 0 long)."""

    size: Decimal = ZERO
    avg_entry: Decimal | None = None
    realized_pnl: Decimal = ZERO
    funding_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    volume: Decimal = ZERO  # traded notional

    def unrealized(self, mark: Decimal) -> Decimal:
        if self.size == 0 or self.avg_entry is None:
            return ZERO
        return self.size * (mark - self.avg_entry)

    def apply_fill(self, side: Side, size: Decimal, price: Decimal, fee: Decimal) -> Decimal:
        """Book one fill; returns the PnL it realized."""
        if size <= 0:
            raise ValueError("fill size must be > 0")
        signed = size * side.sign
        realized = ZERO
        if self.size == 0 or (self.size > 0) == (signed > 0):
            # opening or adding: size-weighted average entry
            held = abs(self.size)
            avg = self.avg_entry if self.avg_entry is not None else price
            self.avg_entry = (held * avg + size * price) / (held + size)
            self.size += signed
        else:
            closing = min(size, abs(self.size))
            direction = Decimal(1) if self.size > 0 else Decimal(-1)
            assert self.avg_entry is not None
            realized = closing * (price - self.avg_entry) * direction
            self.size += signed
            if self.size == 0:
                self.avg_entry = None
            elif (self.size > 0) != (direction > 0):
                # flipped: the rest opens a new position at the fill price
                self.avg_entry = price
        self.realized_pnl += realized
        self.fees += fee
        self.volume += size * price
        return realized

    def apply_funding(self, mark: Decimal, rate: Decimal) -> Decimal:
        """Pay/receive one funding interval: longs pay when ``rate`` > 0. Returns the amount received (+) or paid."""
        payment = -self.size * mark * rate
        self.funding_pnl += payment
        return payment


@dataclass
class Account:
    starting_balance: Decimal
    leverage: Decimal

    def __post_init__(self) -> None:
        self.books: dict[str, PositionBook] = {}

    def book(self, symbol: str) -> PositionBook:
        if symbol not in self.books:
            self.books[symbol] = PositionBook()
        return self.books[symbol]

    @property
    def realized_pnl(self) -> Decimal:
        return sum((b.realized_pnl for b in self.books.values()), ZERO)

    @property
    def funding_pnl(self) -> Decimal:
        return sum((b.funding_pnl for b in self.books.values()), ZERO)

    @property
    def fees(self) -> Decimal:
        return sum((b.fees for b in self.books.values()), ZERO)

    @property
    def cash(self) -> Decimal:
        """Collateral: starting balance + realized PnL + funding - fees."""
        return self.starting_balance + self.realized_pnl + self.funding_pnl - self.fees

    def unrealized(self, marks: dict[str, Decimal]) -> Decimal:
        return sum((b.unrealized(marks[s]) for s, b in self.books.items() if b.size != 0), ZERO)

    def equity(self, marks: dict[str, Decimal]) -> Decimal:
        return self.cash + self.unrealized(marks)

    def margin_used(self, marks: dict[str, Decimal]) -> Decimal:
        return sum((abs(b.size) * marks[s] / self.leverage for s, b in self.books.items() if b.size != 0), ZERO)
