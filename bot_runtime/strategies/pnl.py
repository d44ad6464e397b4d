"""Realized PnL net of fees, from the bot's own fills (average cost), the same on every venue.

Venues disagree on what their position's "realized PnL" holds (gross or net of fees, since the position opened or
since the account opened), so a strategy books its own fills instead:

- the book starts from the position the venue reports at start (size and average entry): what a previous process
  left is the cost basis of what this one closes;
- a fill that adds to the position (or opens it) moves the average entry: ``(|pos| x avg + size x price) / (|pos| +
  size)``;
- a fill that reduces it realizes ``closed x (price - avg) x sign(pos)``; a fill that flips it closes the old side and
  opens the rest at its price;
- every fill's fee is paid (a negative fee, a rebate, is received): ``realized_net = realized - fees``.

So a round trip's ``realized_net`` is exactly the account's cash change (funding aside). The book is this process's;
the process carries the totals of earlier processes over in ``status.realizedPnl`` / ``status.feesPaid``
(:mod:`bot_runtime.process.reporting`).
"""

from __future__ import annotations

from decimal import Decimal

from bot_runtime.exchanges.base import Fill

ZERO = Decimal(0)


class FillBook:
    def __init__(self) -> None:
        self.position = ZERO  # signed
        self.avg_price: Decimal | None = None
        self.realized = ZERO  # price PnL of the closed size, gross of fees
        self.fees = ZERO  # paid (rebates subtract)
        self._seen: set[str] = set()

    def seed(self, size: Decimal, avg_entry_price: Decimal | None) -> None:
        """The position found on the venue at start (its average entry is the cost basis)."""
        self.position = size
        self.avg_price = avg_entry_price if size != 0 else None

    @property
    def realized_net(self) -> Decimal:
        return self.realized - self.fees

    def apply(self, fill: Fill) -> None:
        """Book one fill (a fill seen twice, by its trade id, counts once)."""
        key = f"{fill.order_id}/{fill.trade_id}"
        if key in self._seen:
            return
        self._seen.add(key)
        self.fees += fill.fee
        signed = fill.side.sign * fill.size
        pos = self.position
        if pos == 0 or (pos > 0) == (signed > 0) or self.avg_price is None:
            total = abs(pos) + fill.size
            avg = self.avg_price if self.avg_price is not None and pos != 0 else fill.price
            self.avg_price = (abs(pos) * avg + fill.size * fill.price) / total
            self.position = pos + signed
            return
        closed = min(abs(signed), abs(pos))
        direction = Decimal(1) if pos > 0 else Decimal(-1)
        self.realized += closed * (fill.price - self.avg_price) * direction
        self.position = pos + signed
        if self.position == 0:
            self.avg_price = None
        elif (self.position > 0) != (pos > 0):  # flipped: the rest opened at this price
            self.avg_price = fill.price
