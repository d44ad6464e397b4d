"""The quotes the grid may use (issue 18, deliverable 4): every top of book is checked before any use.

A quote is *good* when ``0 < bid < ask``, it is at most :data:`QUOTE_MAX_AGE_S` old (by the venue's timestamp, so a
frozen feed ages out) and its mid is within :data:`QUOTE_BAND` of the last good quote's mid. A quote outside the band
is an *outlier*: refused until :data:`OUTLIER_CONFIRMATIONS` outliers in a row agree with each other (within the
band); then the market really moved and the new level is good. A refused quote raises :class:`BadQuote`: the loop
waits for a good one; it never prices an order, never triggers ``stopPrice``/``pausePrice``, never crashes.

``stopPrice`` needs a *confirmed* price: the last two quotes read were both good and both beyond it
(:meth:`QuoteGuard.confirmed`); one stray quote never ends the grid.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from bot_runtime.exchanges.base import ExchangeError, Quote

ZERO = Decimal(0)
QUOTE_MAX_AGE_S = 30.0
QUOTE_BAND = Decimal("0.05")  # a mid more than 5 % from the last good one is an outlier until confirmed
OUTLIER_CONFIRMATIONS = 3
CONFIRMING_QUOTES = 2  # stopPrice: this many good quotes in a row beyond it


class BadQuote(ExchangeError):
    """A top of book not to trade on (crossed, zero, stale, an unconfirmed outlier): the loop waits for a good one."""

    retryable = True


def quote_problem(quote: Quote, now: datetime) -> str | None:
    """Why ``quote`` must not be used on its own (None: it is fine): 0 < bid < ask, at most QUOTE_MAX_AGE_S old."""
    if not (ZERO < quote.bid < quote.ask):
        return f"quote not 0 < bid < ask (bid {quote.bid}, ask {quote.ask})"
    age = (now - quote.timestamp).total_seconds()
    if age > QUOTE_MAX_AGE_S:
        return f"quote {age:.0f}s old (more than {QUOTE_MAX_AGE_S:.0f}s)"
    return None


def _within(quote: Quote, reference: Quote, band: Decimal) -> bool:
    return abs(quote.mid / reference.mid - 1) <= band


class QuoteGuard:
    """Checks each quote read (:meth:`check`) against the rules above and remembers the last good ones."""

    def __init__(self, band: Decimal = QUOTE_BAND, confirmations: int = OUTLIER_CONFIRMATIONS) -> None:
        self.band = band
        self.confirmations = confirmations
        self.last_good: Quote | None = None
        self._outliers: list[Quote] = []  # outliers in a row that agree with each other
        self._run: list[Quote] = []  # the last good quotes in a row (none refused in between)

    def check(self, quote: Quote, now: datetime) -> Quote:
        """``quote`` when it is good; else :class:`BadQuote` saying why."""
        problem = quote_problem(quote, now)
        if problem is None and self.last_good is not None and not _within(quote, self.last_good, self.band):
            if self._outliers and not _within(quote, self._outliers[-1], self.band):
                self._outliers.clear()
            self._outliers.append(quote)
            if len(self._outliers) < self.confirmations:
                problem = (
                    f"quote mid {quote.mid} is more than {self.band:%} from the last good {self.last_good.mid}"
                    f" (outlier {len(self._outliers)}/{self.confirmations} before it counts as a move)"
                )
        if problem is not None:
            self._run.clear()
            raise BadQuote(f"{quote.symbol}: {problem}")
        self._outliers.clear()
        self.last_good = quote
        self._run = [*self._run[-(CONFIRMING_QUOTES - 1) :], quote]
        return quote

    def confirmed(self, reached: Callable[[Quote], bool]) -> bool:
        """True when the last :data:`CONFIRMING_QUOTES` quotes read were good, in a row, and all ``reached``."""
        return len(self._run) >= CONFIRMING_QUOTES and all(reached(q) for q in self._run)
