"""State of the funding-arbitrage strategy: pairs, their legs, the current rates of a held pair, exit reasons, tuning.

Sizes: a leg's ``size`` is in its venue's contract units (what orders carry); ``base_size`` is in units of the base
asset (``size x multiplier``), the unit in which the two legs of a pair match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from bot_runtime.exchanges.base import Market, Position, Side
from bot_runtime.strategies.base import LegSnapshot

ZERO = Decimal(0)
HOURS_PER_YEAR = Decimal(8760)


class ExitReason(StrEnum):
    """Why a pair is closed, in the order the rules are checked (the original's order)."""

    SPREAD_FLIP = "spreadFlip"  # the short venue now pays less than the long venue
    EROSION = "erosion"  # current spread < erosionExitRatio x entry spread
    NET_APR = "netApr"  # current net APR < exitNetApr
    PROFIT_TARGET = "profitTarget"  # funding PnL >= takeProfitUsd, or >= takeProfitPct of the notional
    MAX_HOLD = "maxHold"  # held maxHoldHours
    LIQUIDATION = "liquidationDistance"  # a leg's mark is within minLiquidationDistancePct of its liquidation price
    LEG_CLOSED = "legClosed"  # the venue closed (liquidated, ADL'd) one leg: close the other
    FILL_DIVERGENCE = "fillDivergence"  # the entry's fills are further apart than maxEntryPriceDivergencePct
    RISK = "risk"  # a risk-manager breach (closeAll / closeWorst)
    SHUTDOWN = "shutdown"  # onStop closePositions

    @property
    def voluntary(self) -> bool:
        """Exits the bot chooses (it may wait for spreads and leave maker-first); the others are safety exits."""
        return self in {
            ExitReason.SPREAD_FLIP,
            ExitReason.EROSION,
            ExitReason.NET_APR,
            ExitReason.PROFIT_TARGET,
            ExitReason.MAX_HOLD,
        }

    @property
    def rate_based(self) -> bool:
        """Rate-based exits wait for minHoldHours; the others apply at once."""
        return self in {ExitReason.SPREAD_FLIP, ExitReason.EROSION, ExitReason.NET_APR}


@dataclass(frozen=True)
class Tuning:
    """Timings and bounds of the strategy that are not part of the TradingBot spec (defaults suit live venues)."""

    poll_interval: float = 30.0  # seconds between cycles (rates, exits, entries)
    risk_interval: float = 5.0  # seconds between risk-manager timer checks
    entry_slippage_pct: Decimal = Decimal("0.1")  # limit price of an entry leg: touch +/- this percent
    confirm_poll: float = 0.5  # seconds between order-state reads while confirming a fill (and between lookups)
    final_read_reserve: float = 5.0  # seconds of singleLegTimeout kept for cancelling and reading back (<= 1/3 of it)
    absent_confirmations: int = 2  # answers "no such order, position unchanged" before an order counts as absent
    unwind_slippage_pct: Decimal = Decimal("0.2")  # first limit of an unwind/trim/close IOC: touch -/+ this percent
    max_unwind_slippage_pct: Decimal = Decimal("2")  # the limit widens (doubling) up to this after a miss
    unwind_attempts: int = 6  # reduce-only orders tried before a leg is left to the next cycle
    unwind_backoff: float = 1.0  # seconds before the second unwind attempt (doubles, capped at 10 s)
    entry_cooldown: float = 600.0  # no new entry on a symbol this long after an exit, nor after a failed entry (the
    # first back-off step of the symbol's venue pair; it doubles with every further consecutive failure)
    max_entry_backoff: float = 6 * 3600.0  # the longest back-off between two entries of one key
    max_failed_entries: int = 5  # consecutive failed entries after which a (symbol, venue pair) is stopped
    max_quote_age: float = 15.0  # seconds: an entry needs quotes this fresh on both venues
    error_backoff: tuple[float, ...] = (5.0, 10.0, 30.0, 60.0)  # after a failed cycle
    shutdown_close_wait: float = 30.0  # onStop closePositions: how long a pair with an unreachable venue is retried
    shutdown_retry_interval: float = 5.0
    candidate_limit: int = 100  # opportunities asked from the funding service per cycle


@dataclass
class Leg:
    """One side of a pair on one venue."""

    exchange: str
    side: Side  # BUY = long leg, SELL = short leg
    market: Market
    size: Decimal  # contracts, > 0
    funding_baseline: Decimal = ZERO  # the venue's cumulative funding of this market when the leg was opened
    position: Position | None = None  # the last reading

    @property
    def base_size(self) -> Decimal:
        return self.market.to_base_size(self.size)

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign

    @property
    def funding_pnl(self) -> Decimal:
        if self.position is None:
            return ZERO
        return self.position.funding_pnl - self.funding_baseline

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.position.unrealized_pnl if self.position is not None else ZERO

    @property
    def base_mark(self) -> Decimal | None:
        """Mark price per base unit (None before the first reading)."""
        if self.position is None or self.position.mark_price is None:
            return None
        return self.market.to_base_price(self.position.mark_price)

    @property
    def notional(self) -> Decimal | None:
        mark = self.base_mark
        return None if mark is None else self.base_size * mark


@dataclass(frozen=True)
class PairRates:
    """The funding service's current view of a held pair, in the pair's own orientation."""

    spread_hourly: Decimal  # short hourly - long hourly; < 0 means the spread flipped
    net_apr: Decimal  # (spread_hourly x hold - exit fees) / hold x 8760: the entry fees are sunk
    stale: bool
    long_next_funding: datetime | None = None
    short_next_funding: datetime | None = None
    best_net_apr: Decimal | None = None  # the best net APR (a new pair's, round-trip fees) of the symbol now

    @property
    def gross_apr(self) -> Decimal:
        return self.spread_hourly * HOURS_PER_YEAR


@dataclass
class Pair:
    """A delta-neutral pair: long ``long.exchange``, short ``short.exchange``, same base size."""

    symbol: str
    long: Leg
    short: Leg
    opened_at: float  # monotonic clock time (a recovered pair: from status.legs' openedAt, else when recovered)
    entry_spread_hourly: Decimal | None  # None for a recovered pair not in status.legs until the first rate reading
    entry_net_apr: Decimal | None = None
    recovered: bool = False
    opened_wall: datetime | None = None  # wall-clock opening time, reported as status.legs[].openedAt
    entry_price: Decimal | None = None  # base-unit reference price at entry (None: recovered; the marks stand in)
    exit_deferred_since: float | None = None  # clock time a voluntary exit first waited for a leg's spread
    rates: PairRates | None = None
    price_cash: Decimal = ZERO  # signed quote-currency flow of the pair's fills (price PnL once flat)
    order_ids: list[tuple[str, str]] = field(default_factory=list)  # (exchange, order id) of every pair order

    @property
    def key(self) -> str:
        return f"{self.symbol}:{self.long.exchange}/{self.short.exchange}"

    @property
    def legs(self) -> tuple[Leg, Leg]:
        return self.long, self.short

    @property
    def base_size(self) -> Decimal:
        """The hedged size: the smaller leg in base units."""
        return min(self.long.base_size, self.short.base_size)

    @property
    def exposure(self) -> Decimal:
        """Net base-asset delta of the pair (0 when perfectly hedged)."""
        return self.long.base_size - self.short.base_size

    @property
    def funding_pnl(self) -> Decimal:
        return self.long.funding_pnl + self.short.funding_pnl

    @property
    def unrealized_pnl(self) -> Decimal:
        return self.long.unrealized_pnl + self.short.unrealized_pnl

    @property
    def notional(self) -> Decimal | None:
        """The hedged size valued at the entry price, else at the long leg's last mark (None when neither is known)."""
        price = self.entry_price if self.entry_price is not None else self.long.base_mark
        return None if price is None else self.base_size * price

    @property
    def entry_spread_apr(self) -> Decimal | None:
        return None if self.entry_spread_hourly is None else self.entry_spread_hourly * HOURS_PER_YEAR

    def held_hours(self, now: float) -> Decimal:
        return Decimal(repr(max(now - self.opened_at, 0.0))) / 3600

    def snapshot(self) -> LegSnapshot:
        return LegSnapshot(
            symbol=self.symbol,
            long_exchange=self.long.exchange,
            short_exchange=self.short.exchange,
            size=self.base_size,
            entry_spread_apr=self.entry_spread_apr,
            current_net_apr=self.rates.net_apr if self.rates is not None else None,
            funding_pnl=self.funding_pnl,
            opened_at=self.opened_wall,
        )


@dataclass(frozen=True)
class ExitDecision:
    reason: ExitReason
    detail: str


@dataclass
class OrderRecord:
    """What the strategy knows of one of its orders with fills (for fees and realized PnL)."""

    exchange: str
    order_id: str
    filled: Decimal
    avg_price: Decimal
    fee_rate: Decimal  # estimate when the venue's fills were not seen on the update stream
    client_ids: tuple[str, ...] = ()  # an estimate's orders: a fee streamed for any of them replaces the estimate

    @property
    def estimated_fee(self) -> Decimal:
        return self.filled * self.avg_price * self.fee_rate
