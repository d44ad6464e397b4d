"""Rebuilding pairs from the venues' actual positions (restart recovery, and the per-cycle reconciliation).

Per symbol, the largest long and the largest short on the bot's venues form the symbol's one pair (a venue holds one
net position per market, so the two legs of a pair are always on two venues). Whatever is left over is an
*unmatched* leg: a long or short with no hedge, which the strategy reports and unwinds (whatever ``onStop`` says:
``leave`` keeps pairs, never a naked leg).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot_runtime.exchanges.base import Market, Position

ZERO = Decimal(0)


@dataclass(frozen=True)
class Holding:
    """A non-zero position of one venue in one market."""

    exchange: str
    market: Market
    position: Position

    @property
    def symbol(self) -> str:
        return self.market.symbol

    @property
    def base(self) -> Decimal:
        """Signed size in base units."""
        return self.market.to_base_size(self.position.size)

    def describe(self) -> str:
        side = "long" if self.position.size > 0 else "short"
        return f"{self.exchange} {self.symbol} {side} {abs(self.position.size)}"


@dataclass(frozen=True)
class Match:
    symbol: str
    long: Holding
    short: Holding


def match_holdings(holdings: Iterable[Holding]) -> tuple[list[Match], list[Holding]]:
    """At most one pair per symbol (largest long, largest short); returns (pairs, unmatched legs)."""
    by_symbol: dict[str, list[Holding]] = defaultdict(list)
    for holding in holdings:
        if holding.position.size != 0:
            by_symbol[holding.symbol].append(holding)
    matches: list[Match] = []
    unmatched: list[Holding] = []
    for symbol in sorted(by_symbol):
        group = by_symbol[symbol]
        longs = sorted((h for h in group if h.base > 0), key=lambda h: (-h.base, h.exchange))
        shorts = sorted((h for h in group if h.base < 0), key=lambda h: (h.base, h.exchange))
        if longs and shorts:  # one pair per symbol: the largest long with the largest short
            matches.append(Match(symbol, longs.pop(0), shorts.pop(0)))
        unmatched.extend(longs)
        unmatched.extend(shorts)
    return matches, unmatched
