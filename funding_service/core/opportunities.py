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

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
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


@dataclass(slots=True, unsafe_hash=True)
class Leg:
    """One venue's latest funding data for one symbol, with that venue's fees.

    Treat it as immutable (it is hashed and shared by every request until the next ingest). It is not a frozen
    dataclass only because a frozen one sets every field through ``object.__setattr__``: about 5x the construction
    cost, and the service builds 2,400 legs per ingest and per cache refresh.
    """

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
    # floats for the finder's pre-selection only (never an output): (hourly, |hourly|, 2 x fee, |2 x fee|) per fee
    # mode; None when a value is not finite or out of the float path's range (the finder then works in Decimal)
    taker_f: tuple[float, float, float, float] | None = field(init=False, repr=False, compare=False)
    maker_f: tuple[float, float, float, float] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.hourly_rate = hourly = hourly_rate(self.rate, self.interval_hours)
        # inline (legs are built by the thousand): a float out of range, infinite or NaN fails the comparison
        h, taker, maker = float(hourly), 2.0 * float(self.fees.taker), 2.0 * float(self.fees.maker)
        ah, at, am = abs(h), abs(taker), abs(maker)
        ok = ah < _MAX_F
        self.taker_f = (h, ah, taker, at) if ok and at < _MAX_F else None
        self.maker_f = (h, ah, maker, am) if ok and am < _MAX_F else None
        self.spread_bps = spread_bps(self.best_bid, self.best_ask)
        # ``1000PEPE`` quotes 1000 PEPE: divide by the multiplier to compare venues
        self.base_price = self.mark_price / self.multiplier if self.mark_price is not None else None

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

    @property
    def pair_restricted(self) -> bool:
        """Does a filter look at the pair of venues (beyond dropping single venues)?"""
        return any(
            v is not None
            for v in (self.dex, self.dex_pair, self.dexes, self.required_dex, self.long_dex, self.short_dex)
        )

    @property
    def venue_restricted(self) -> bool:
        """Can a venue be dropped whatever it is paired with?"""
        return bool(self.exclude_dexes) or self.whitelist_dexes is not None or self.dex_pair is not None

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
    """Every pair of venues per symbol, valued, filtered, sorted and cut to ``limit``.

    The result is exactly that of :func:`find_exact` (all Decimal); floats only pre-select. A pair is dropped on
    floats only when it misses a threshold by far more than rounding could explain (:data:`_REL` of the operands'
    magnitude), and kept on floats only when it passes every threshold by as much; a pair in between is decided
    in Decimal with the expressions of :func:`evaluate`. With a ``limit``, only the rows whose float bounds can
    still make the cut are built and ranked (in Decimal); the others are counted in ``matched``, never built.
    """
    filters = filters or Filters()
    if sort_by not in SORT_FIELDS:
        raise ValueError(f"cannot sort by {sort_by!r}")
    if not isinstance(legs, Sequence):
        legs = list(legs)  # read twice when find_exact takes over
    fast = _Thresholds.of(params, filters)
    if fast is None:
        return find_exact(legs, params, now, filters, sort_by=sort_by, desc=desc, limit=limit)
    by_symbol: defaultdict[str, list[Leg]] = defaultdict(list)
    wanted = filters.symbols
    if wanted is None and not filters.venue_restricted:
        for leg in legs:
            by_symbol[leg.symbol].append(leg)
    else:
        for leg in legs:
            if (wanted is None or leg.symbol in wanted) and filters.venue_allowed(leg.dex):
                by_symbol[leg.symbol].append(leg)

    floats_of = attrgetter("maker_f" if params.fee_mode == "maker" else "taker_f")
    pair_filter = filters.pair_restricted
    check_liquidity = filters.any_liquidity
    include_stale = filters.include_stale
    hold, hold_f, mode = params.hold_hours, fast.hold, params.fee_mode
    rel = _REL
    div_lo, div_hi, profit_lo, profit_hi = fast.div_lo, fast.div_hi, fast.profit_lo, fast.profit_hi
    stale_at: dict[datetime, bool] = {}
    stale_after = params.stale_after_seconds
    accepted: list[_Row] = []
    stale_excluded = 0
    for group in by_symbol.values():
        n = len(group)
        if n < 2:
            continue
        floats: list[tuple[float, float, float, float] | None] = list(map(floats_of, group))
        if None in floats:
            return find_exact(legs, params, now, filters, sort_by=sort_by, desc=desc, limit=limit)
        for i in range(n - 1):
            ha, aha, fa, afa = floats[i]  # type: ignore[misc]
            for j in range(i + 1, n):
                hb, ahb, fb, afb = floats[j]  # type: ignore[misc]
                # spread (float) = |hourly difference|, whichever way evaluate() orients the pair; scale bounds
                # its rounding, err that of the net profit over the holding period
                spread = hb - ha if hb >= ha else ha - hb
                scale = aha + ahb
                if spread + rel * scale < div_lo:
                    continue  # surely below min_divergence
                net = spread * hold_f - fa - fb
                err = scale * hold_f + afa + afb
                if net + rel * err < profit_lo:
                    continue  # surely below min_profit / min_net_apr
                a, b = group[i], group[j]
                if a.dex == b.dex:
                    continue
                if pair_filter:
                    long, short = orient(a, b)
                    if not filters.accepts_pair(long.dex, short.dex):
                        continue
                if (spread - rel * scale < div_hi or net - rel * err < profit_hi) and not _profitable(
                    filters, a, b, hold, mode
                ):
                    continue  # near a threshold: decided in Decimal
                opp: Opportunity | None = None
                if check_liquidity:
                    opp = evaluate(a, b, params, now)
                    if not filters.liquidity_ok(opp):
                        continue
                if not include_stale:
                    # a pair is stale when one of its legs is (evaluate() ages a pair by its older leg)
                    stale_a = stale_at.get(a.collected_at)
                    if stale_a is None:
                        stale_a = _is_stale(a.collected_at, now, stale_after, stale_at)
                    stale_b = stale_at.get(b.collected_at)
                    if stale_b is None:
                        stale_b = _is_stale(b.collected_at, now, stale_after, stale_at)
                    if stale_a or stale_b:
                        stale_excluded += 1  # would have matched with fresh data
                        continue
                accepted.append((net, err, spread, scale, a, b, opp))

    matched = len(accepted)
    if limit is not None and matched > limit and sort_by in _FLOAT_KEYS:
        accepted = _may_rank(accepted, _FLOAT_KEYS[sort_by], hold_f, desc, limit)
    opps = [row[6] or evaluate(row[4], row[5], params, now) for row in accepted]
    if len({(o.symbol, o.long.dex, o.short.dex) for o in opps}) < len(opps):
        # a venue listed twice for a symbol: find_exact's order among rows equal in every sort key is its pairing
        # order, which this loop does not follow
        return find_exact(legs, params, now, filters, sort_by=sort_by, desc=desc, limit=limit)
    ranked = sort_opportunities(opps, sort_by, desc)
    return Result(ranked[:limit] if limit is not None else ranked, matched, stale_excluded)


# Floats pre-select only far from any decision: a float rounds at ~1e-16 relative, the 28-digit Decimal context at
# ~1e-28, and each float figure below is a handful of operations from the Decimal it stands for, so 1e-9 of the
# magnitude of the operands is a wide margin. Magnitudes are bounded so that no float overflows or loses its scale.
_REL = 1e-9
_TINY = 1e-250  # absolute floor of every margin (subnormal floats, values that round to 0.0)
_HOLD_RANGE = (1e-50, 1e50)  # hold hours the float path accepts
_MAX_F = 1e50  # largest |hourly rate|, |fee| and |threshold| the float path accepts
HOURS_PER_YEAR_F = 8760.0

# one accepted pair: (net profit, its error scale, spread, its error scale, leg, leg, the opportunity if built)
_Row = tuple[float, float, float, float, Leg, Leg, Opportunity | None]


def _float(value: Decimal, low: float = 0.0, high: float = _MAX_F) -> float | None:
    """A Decimal as a float when it is finite and zero or within [low, high] in magnitude; else None."""
    if not value.is_finite():
        return None
    f = float(value)
    magnitude = abs(f)
    return f if magnitude <= high and (magnitude >= low or f == 0.0) else None


def _by_dex(leg: Leg) -> str:
    return leg.dex


def _is_stale(collected_at: datetime, now: datetime, stale_after: int, memo: dict[datetime, bool]) -> bool:
    """Is a leg collected at ``collected_at`` stale (as evaluate() ages it)? Remembered per collection time."""
    stale = memo[collected_at] = max((now - collected_at).total_seconds(), 0.0) > stale_after
    return stale


def _profitable(filters: Filters, a: Leg, b: Leg, hold: Decimal, mode: FeeMode) -> bool:
    """The cheap filters in Decimal, on the same expressions as evaluate() and Opportunity."""
    long, short = orient(a, b)
    spread = short.hourly_rate - long.hourly_rate
    net_profit = spread * hold - round_trip_fees(long.fees.per_trade(mode), short.fees.per_trade(mode))
    return filters.profitable(spread * ORIGINAL_INTERVAL_HOURS, net_profit, net_profit * HOURS_PER_YEAR / hold)


@dataclass(frozen=True, slots=True)
class _Thresholds:
    """The cheap filters as float cuts: below ``*_lo`` a pair surely fails, from ``*_hi`` on it surely passes.

    ``div_*`` apply to the hourly spread (min_divergence is per 8 h), ``profit_*`` to the net profit over the
    holding period (min_profit directly, min_net_apr divided by 8760 / hold). No threshold: -inf.
    """

    hold: float
    div_lo: float
    div_hi: float
    profit_lo: float
    profit_hi: float

    @classmethod
    def of(cls, params: Params, filters: Filters) -> _Thresholds | None:
        hold = _float(params.hold_hours, *_HOLD_RANGE)
        if hold is None:
            return None
        bounds: list[tuple[float, float]] = []
        for value, per_unit in (
            (filters.min_divergence, 8.0),
            (filters.min_profit, 1.0),
            (filters.min_net_apr, HOURS_PER_YEAR_F / hold),
        ):
            if value is None:
                bounds.append((-math.inf, -math.inf))
                continue
            f = _float(value)
            if f is None:
                return None
            slack = _REL * abs(f) + _TINY
            bounds.append(((f - slack) / per_unit - _TINY, (f + slack) / per_unit + _TINY))
        (div_lo, div_hi), (profit_lo, profit_hi), (apr_lo, apr_hi) = bounds
        return cls(hold, div_lo, div_hi, max(profit_lo, apr_lo), max(profit_hi, apr_hi))


# sort fields estimated in floats: (index of the value in a row, index of its error scale, factor, per hold hour?)
# net_profit_percent is the net profit itself; net_apr and annualized_apy x 8760 (x 100) / hold; the others the
# hourly spread x a constant
_FLOAT_KEYS: dict[str, tuple[int, int, float, bool]] = {
    "net_profit_percent": (0, 1, 1.0, False),
    "net_apr": (0, 1, HOURS_PER_YEAR_F, True),
    "annualized_apy": (0, 1, HOURS_PER_YEAR_F * 100.0, True),
    "divergence_hourly": (2, 3, 1.0, False),
    "divergence": (2, 3, 8.0, False),
    "gross_apr": (2, 3, HOURS_PER_YEAR_F, False),
}


def _may_rank(rows: list[_Row], key: tuple[int, int, float, bool], hold: float, desc: bool, limit: int) -> list[_Row]:
    """The rows that may be among the first ``limit`` once sorted exactly, in their original order.

    Each row's exact value lies within [value - error, value + error]. Descending: at least ``limit`` rows are worth
    at least the ``limit``-th largest lower bound ``cut``; a row whose upper bound is below ``cut`` is strictly
    worth less than all of them, so it cannot make the cut, not even on a tie. Ascending is the mirror image.
    """
    if limit <= 0:
        return []
    value, scale, factor, per_hold = key
    k = factor / hold if per_hold else factor
    rel, tiny = _REL * k, _TINY * k + _TINY
    if desc:
        cut = heapq.nlargest(limit, [r[value] * k - (rel * r[scale] + tiny) for r in rows])[-1]  # type: ignore[operator]
        return [r for r in rows if r[value] * k + (rel * r[scale] + tiny) >= cut]  # type: ignore[operator]
    cut = heapq.nsmallest(limit, [r[value] * k + (rel * r[scale] + tiny) for r in rows])[-1]  # type: ignore[operator]
    return [r for r in rows if r[value] * k - (rel * r[scale] + tiny) <= cut]  # type: ignore[operator]


def find_exact(
    legs: Iterable[Leg],
    params: Params,
    now: datetime,
    filters: Filters | None = None,
    *,
    sort_by: str = "net_profit_percent",
    desc: bool = True,
    limit: int | None = None,
) -> Result:
    """:func:`find` all in Decimal, pair by pair (used for data the float pre-selection does not cover)."""
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
        group.sort(key=_by_dex)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.dex == b.dex:
                    continue
                long, short = orient(a, b)
                if not filters.accepts_pair(long.dex, short.dex):
                    continue
                if not _profitable(filters, long, short, hold, mode):
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
