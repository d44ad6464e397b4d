"""The funding-arbitrage opportunity finder (SPEC §6), pure and Decimal throughout.

For one symbol listed on two venues: go long where the hourly funding rate is lower and short where it is higher;
both legs have the same notional, so the position earns the hourly spread.

- hourly = rate / interval_hours; APR = hourly × 8760 (each venue's own interval: a 1 h venue and an 8 h venue are
  compared on hourly rates, never on raw rates);
- spread_hourly = short_hourly − long_hourly; gross APR = spread_hourly × 8760;
- fees = entry + exit on both legs = 2 × (long_fee + short_fee) (taker unless maker is asked for);
- net APR over ``hold`` hours = (spread_hourly × hold − fees) / hold × 8760;
- break-even hours = fees / spread_hourly.

Field names of the original service are kept with *correct* meanings: ``divergence`` is the spread expressed per
8 h (the original's unit, now computed from hourly rates), ``estimated_fees`` is the round trip, ``net_profit_percent``
is the net return over the holding horizon (a fraction, as the original), ``annualized_apy`` is the net APR in percent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal

from funding_service.core.fees import FeeMode, FeeSchedule, round_trip_fees
from funding_service.core.rates import (
    HOURS_PER_DAY,
    HOURS_PER_YEAR,
    HUNDRED,
    ORIGINAL_INTERVAL_HOURS,
    apr,
    hourly_rate,
    spread_bps,
)

OI_LONG_HEAVY = Decimal("1.2")
OI_SHORT_HEAVY = Decimal("0.8")

SortField = Literal[
    "net_profit_percent",
    "net_apr",
    "annualized_apy",
    "gross_apr",
    "divergence",
    "divergence_hourly",
    "break_even_hours",
    "daily_pnl_usd",
    "min_oi_usd",
    "max_oi_usd",
    "min_volume_24h",
    "oi_ratio",
    "avg_spread_bps",
    "price_spread_pct",
    "data_age_seconds",
    "symbol",
]
SORT_FIELDS: tuple[str, ...] = SortField.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Leg:
    """One venue's latest funding data for one symbol, with that venue's fees."""

    dex: str
    symbol: str
    rate: Decimal
    interval_hours: Decimal
    fees: FeeSchedule
    collected_at: datetime
    venue_symbol: str | None = None
    multiplier: Decimal = Decimal(1)
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    open_interest_usd: Decimal | None = None
    volume_24h_usd: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    next_funding_time: datetime | None = None
    # derived once per leg (legs are cached and paired many times)
    hourly_rate: Decimal = field(init=False, repr=False, compare=False)
    spread_bps: Decimal | None = field(init=False, repr=False, compare=False)
    base_price: Decimal | None = field(init=False, repr=False, compare=False)  # mark price per ONE base unit

    def __post_init__(self) -> None:
        object.__setattr__(self, "hourly_rate", hourly_rate(self.rate, self.interval_hours))
        object.__setattr__(self, "spread_bps", spread_bps(self.best_bid, self.best_ask))
        # ``1000PEPE`` quotes 1000 PEPE: divide by the multiplier to compare venues
        base = self.mark_price / self.multiplier if self.mark_price is not None else None
        object.__setattr__(self, "base_price", base)

    @property
    def apr(self) -> Decimal:
        return apr(self.hourly_rate)


@dataclass(frozen=True, slots=True)
class Params:
    """How opportunities are valued."""

    hold_hours: Decimal = Decimal(24)
    position_size_usd: Decimal = Decimal(1000)
    fee_mode: FeeMode = "taker"
    stale_after_seconds: int = 600

    def __post_init__(self) -> None:
        if self.hold_hours <= 0:
            raise ValueError("hold_hours must be positive")
        if self.position_size_usd <= 0:
            raise ValueError("position_size_usd must be positive")


@dataclass(slots=True, eq=False)
class Opportunity:
    """One valued pair. The core figures are computed when the pair is evaluated; the others on access (a request
    values thousands of pairs but shows a hundred)."""

    symbol: str
    long: Leg
    short: Leg
    fee_mode: FeeMode
    long_fee: Decimal
    short_fee: Decimal
    spread_hourly: Decimal
    fees: Decimal
    hold_hours: Decimal
    net_profit: Decimal  # spread_hourly × hold − fees
    position_size_usd: Decimal
    now: datetime
    data_age_seconds: float
    stale: bool
    collected_at: datetime

    @property
    def divergence(self) -> Decimal:
        """The hourly spread per 8 h: the original service's unit."""
        return self.spread_hourly * ORIGINAL_INTERVAL_HOURS

    @property
    def gross_apr(self) -> Decimal:
        return apr(self.spread_hourly)

    @property
    def net_apr(self) -> Decimal:
        return self.net_profit * HOURS_PER_YEAR / self.hold_hours  # = net_apr(spread, fees, hold)

    @property
    def annualized_apy(self) -> Decimal:
        return self.net_apr * HUNDRED

    @property
    def break_even_hours(self) -> Decimal | None:
        return break_even_hours(self.fees, self.spread_hourly)

    @property
    def fees_usd(self) -> Decimal:
        return self.position_size_usd * self.fees

    @property
    def net_profit_usd(self) -> Decimal:
        return self.position_size_usd * self.net_profit

    @property
    def daily_funding_usd(self) -> Decimal:
        return self.position_size_usd * self.spread_hourly * HOURS_PER_DAY

    @property
    def daily_pnl_usd(self) -> Decimal:
        """Net of fees amortised over the holding horizon, per day."""
        return self.position_size_usd * self.net_profit * HOURS_PER_DAY / self.hold_hours

    @property
    def min_volume_24h(self) -> Decimal | None:
        return _min(self.long.volume_24h_usd, self.short.volume_24h_usd)

    @property
    def min_oi_usd(self) -> Decimal | None:
        return _min(self.long.open_interest_usd, self.short.open_interest_usd)

    @property
    def max_oi_usd(self) -> Decimal | None:
        return _max(self.long.open_interest_usd, self.short.open_interest_usd)

    @property
    def oi_ratio(self) -> Decimal | None:
        """Long OI / short OI."""
        lo, sh = self.long.open_interest_usd, self.short.open_interest_usd
        return lo / sh if lo is not None and sh else None

    @property
    def oi_imbalance(self) -> str | None:
        return oi_imbalance(self.oi_ratio)

    @property
    def avg_spread_bps(self) -> Decimal | None:
        lo, sh = self.long.spread_bps, self.short.spread_bps
        return (lo + sh) / 2 if lo is not None and sh is not None else None

    @property
    def price_spread_pct(self) -> Decimal | None:
        """(short − long) mark price per base unit, relative to the long venue's, in percent."""
        lo, sh = self.long.base_price, self.short.base_price
        return (sh - lo) / lo * HUNDRED if lo is not None and sh is not None else None

    @property
    def seconds_to_next_funding(self) -> float | None:
        upcoming = [
            (t - self.now).total_seconds()
            for t in (self.long.next_funding_time, self.short.next_funding_time)
            if t is not None and t > self.now
        ]
        return min(upcoming) if upcoming else None

    def sort_value(self, name: str) -> Decimal | float | str | None:
        if name == "net_profit_percent":
            return self.net_profit
        if name == "divergence_hourly":
            return self.spread_hourly
        value: Decimal | float | str | None = getattr(self, name)
        return value


# ---------------------------------------------------------------------------------------------------------------------
# the math


def net_apr(spread_hourly: Decimal, fees: Decimal, hold_hours: Decimal) -> Decimal:
    """Fee-adjusted APR over a holding horizon: ``(spread_hourly × hold − fees) / hold × 8760``."""
    if hold_hours <= 0:
        raise ValueError("hold_hours must be positive")
    # multiply before dividing: exact whenever the result has a finite decimal expansion
    return (spread_hourly * hold_hours - fees) * HOURS_PER_YEAR / hold_hours


def break_even_hours(fees: Decimal, spread_hourly: Decimal) -> Decimal | None:
    """Hours of holding until the funding earned pays the fees (0 when fees are a net rebate; None without spread)."""
    if spread_hourly <= 0:
        return None
    if fees <= 0:
        return Decimal(0)
    return fees / spread_hourly


def oi_imbalance(ratio: Decimal | None) -> str | None:
    """The original's label of the long/short OI ratio."""
    if ratio is None:
        return None
    if ratio > OI_LONG_HEAVY:
        return "long_heavy"
    if ratio < OI_SHORT_HEAVY:
        return "short_heavy"
    return "balanced"


def _min(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return min(a, b) if a is not None and b is not None else None


def _abs(a: Decimal | None) -> Decimal | None:
    return abs(a) if a is not None else None


def _max(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return max(a, b) if a is not None and b is not None else None


def orient(a: Leg, b: Leg) -> tuple[Leg, Leg]:
    """(long, short): long the lower hourly rate; equal rates order by venue name (deterministic)."""
    ha, hb = a.hourly_rate, b.hourly_rate
    if ha < hb or (ha == hb and a.dex <= b.dex):
        return a, b
    return b, a


def evaluate(a: Leg, b: Leg, params: Params, now: datetime) -> Opportunity:
    """Value the pair (a, b) of one symbol: long the lower hourly rate, short the higher."""
    if a.symbol != b.symbol:
        raise ValueError(f"legs of different symbols: {a.symbol} / {b.symbol}")
    if a.dex == b.dex:
        raise ValueError(f"both legs on {a.dex}")
    long, short = orient(a, b)
    long_fee = long.fees.per_trade(params.fee_mode)
    short_fee = short.fees.per_trade(params.fee_mode)
    fees = round_trip_fees(long_fee, short_fee)
    spread_hourly = short.hourly_rate - long.hourly_rate
    oldest = min(long.collected_at, short.collected_at)
    age = max((now - oldest).total_seconds(), 0.0)
    return Opportunity(
        symbol=long.symbol,
        long=long,
        short=short,
        fee_mode=params.fee_mode,
        long_fee=long_fee,
        short_fee=short_fee,
        spread_hourly=spread_hourly,
        fees=fees,
        hold_hours=params.hold_hours,
        net_profit=spread_hourly * params.hold_hours - fees,
        position_size_usd=params.position_size_usd,
        now=now,
        data_age_seconds=age,
        stale=age > params.stale_after_seconds,
        collected_at=oldest,
    )


# ---------------------------------------------------------------------------------------------------------------------
# filters


@dataclass(frozen=True, slots=True)
class Filters:
    """Every filter of the original ``GET /opportunities`` plus the SPEC's additions.

    Liquidity filters (volume, OI, OI ratio, spread, price divergence) exclude a pair whose value is unknown: a
    filter the data cannot prove is not passed.
    """

    symbols: frozenset[str] | None = None
    dex: str | None = None  # on either leg
    dex_pair: frozenset[str] | None = None  # exactly these two, any direction
    dexes: frozenset[str] | None = None  # at least one leg among these
    whitelist_dexes: frozenset[str] | None = None  # both legs among these
    exclude_dexes: frozenset[str] = field(default_factory=frozenset)
    required_dex: str | None = None  # on at least one leg
    long_dex: str | None = None
    short_dex: str | None = None
    min_divergence: Decimal | None = Decimal("0.0001")
    min_profit: Decimal | None = Decimal(0)
    min_net_apr: Decimal | None = None
    min_volume: Decimal | None = None
    max_volume: Decimal | None = None
    min_oi: Decimal | None = None
    max_oi: Decimal | None = None
    oi_ratio_min: Decimal | None = None
    oi_ratio_max: Decimal | None = None
    max_spread_bps: Decimal | None = None
    max_price_divergence_pct: Decimal | None = None
    include_stale: bool = False

    @property
    def any_liquidity(self) -> bool:
        return any(
            v is not None
            for v in (
                self.min_volume,
                self.max_volume,
                self.min_oi,
                self.max_oi,
                self.oi_ratio_min,
                self.oi_ratio_max,
                self.max_spread_bps,
                self.max_price_divergence_pct,
            )
        )

    def venue_allowed(self, dex: str) -> bool:
        """Can a leg on ``dex`` appear at all? (used to drop legs before pairing)"""
        if dex in self.exclude_dexes:
            return False
        if self.whitelist_dexes is not None and dex not in self.whitelist_dexes:
            return False
        return self.dex_pair is None or dex in self.dex_pair

    def accepts_pair(self, long_dex: str, short_dex: str) -> bool:
        pair = {long_dex, short_dex}
        if not (self.venue_allowed(long_dex) and self.venue_allowed(short_dex)):
            return False
        if self.dex is not None and self.dex not in pair:
            return False
        if self.dex_pair is not None and pair != self.dex_pair:
            return False
        if self.dexes is not None and not pair & self.dexes:
            return False
        if self.required_dex is not None and self.required_dex not in pair:
            return False
        if self.long_dex is not None and long_dex != self.long_dex:
            return False
        return self.short_dex is None or short_dex == self.short_dex

    def accepts(self, opp: Opportunity) -> bool:
        if self.symbols is not None and opp.symbol not in self.symbols:
            return False
        if not self.accepts_pair(opp.long.dex, opp.short.dex):
            return False
        return self.profitable(opp.divergence, opp.net_profit, opp.net_apr) and (
            (self.include_stale or not opp.stale) and self.liquidity_ok(opp)
        )

    def profitable(self, divergence: Decimal, net_profit: Decimal, net_apr: Decimal) -> bool:
        """The cheap checks, on numbers known before a row is built."""
        if self.min_divergence is not None and divergence < self.min_divergence:
            return False
        if self.min_profit is not None and net_profit < self.min_profit:
            return False
        return self.min_net_apr is None or net_apr >= self.min_net_apr

    def liquidity_ok(self, opp: Opportunity) -> bool:
        checks: list[tuple[Callable[[], Decimal | None], Decimal | None, Decimal | None]] = [
            (lambda: opp.min_volume_24h, self.min_volume, self.max_volume),
            (lambda: opp.min_oi_usd, self.min_oi, None),
            (lambda: opp.oi_ratio, self.oi_ratio_min, self.oi_ratio_max),
            (lambda: opp.avg_spread_bps, None, self.max_spread_bps),
            (lambda: _abs(opp.price_spread_pct), None, self.max_price_divergence_pct),
        ]
        for value_of, low, high in checks:
            if low is None and high is None:
                continue  # only what a filter asks for is computed
            value = value_of()
            if value is None:
                return False
            if low is not None and value < low:
                return False
            if high is not None and value > high:
                return False
        if self.max_oi is not None:
            # the original's low-OI farming cap: on the required venue's leg when one is required, else on the smaller OI
            if self.required_dex is not None:
                leg = opp.long if opp.long.dex == self.required_dex else opp.short
                target = leg.open_interest_usd
            else:
                target = opp.min_oi_usd
            if target is None or target > self.max_oi:
                return False
        return True


# ---------------------------------------------------------------------------------------------------------------------
# the finder


@dataclass(frozen=True, slots=True)
class Result:
    opportunities: list[Opportunity]
    matched: int  # before the limit
    stale_excluded: int


def sort_opportunities(
    opps: Iterable[Opportunity], sort_by: str = "net_profit_percent", desc: bool = True
) -> list[Opportunity]:
    """Sort by a field; rows without a value go last either way; ties break on (symbol, long, short)."""
    if sort_by not in SORT_FIELDS:
        raise ValueError(f"cannot sort by {sort_by!r}")
    present: list[Opportunity] = []
    missing: list[Opportunity] = []
    for opp in opps:
        (missing if opp.sort_value(sort_by) is None else present).append(opp)
    present.sort(key=lambda o: (o.symbol, o.long.dex, o.short.dex))
    present.sort(key=lambda o: o.sort_value(sort_by), reverse=desc)  # type: ignore[arg-type,return-value]
    missing.sort(key=lambda o: (o.symbol, o.long.dex, o.short.dex))
    return present + missing


def find(
    legs: Iterable[Leg],
    params: Params,
    now: datetime,
    filters: Filters | None = None,
    *,
    sort_by: str = "net_profit_percent",
    desc: bool = True,
    limit: int | None = None,
) -> Result:
    """Every pair of venues per symbol, valued, filtered, sorted and cut to ``limit``."""
    filters = filters or Filters()
    by_symbol: dict[str, list[Leg]] = defaultdict(list)
    for leg in legs:
        if filters.symbols is not None and leg.symbol not in filters.symbols:
            continue
        if filters.venue_allowed(leg.dex):
            by_symbol[leg.symbol].append(leg)
    accepted: list[Opportunity] = []
    stale_excluded = 0
    hold, mode = params.hold_hours, params.fee_mode
    check_liquidity = filters.any_liquidity
    for group in by_symbol.values():
        group.sort(key=lambda leg: leg.dex)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.dex == b.dex:
                    continue
                long, short = orient(a, b)
                if not filters.accepts_pair(long.dex, short.dex):
                    continue
                # the same arithmetic as evaluate(), on the few numbers the cheap filters need
                spread = short.hourly_rate - long.hourly_rate
                net_profit = spread * hold - round_trip_fees(long.fees.per_trade(mode), short.fees.per_trade(mode))
                if not filters.profitable(
                    spread * ORIGINAL_INTERVAL_HOURS, net_profit, net_profit * HOURS_PER_YEAR / hold
                ):
                    continue
                opp = evaluate(long, short, params, now)
                if check_liquidity and not filters.liquidity_ok(opp):
                    continue
                if opp.stale and not filters.include_stale:
                    stale_excluded += 1  # would have matched with fresh data
                    continue
                accepted.append(opp)
    ranked = sort_opportunities(accepted, sort_by, desc)
    return Result(ranked[:limit] if limit is not None else ranked, len(ranked), stale_excluded)


def pairs_for(legs: Sequence[Leg], params: Params, now: datetime) -> list[Opportunity]:
    """Every pair valued, unfiltered (fresh or not): for the per-cycle snapshot and comparisons."""
    return find(legs, params, now, Filters(min_divergence=None, min_profit=None, include_stale=True)).opportunities
