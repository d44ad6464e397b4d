"""Funding of the paper venues: one deterministic model shared by the paper exchange (which pays it) and the paper
funding source (which the collector pushes to the funding service), so both always agree.

- A venue configured with ``fundingRateHourly`` pays that constant rate.
- Otherwise the rate is derived from (seed, venue name, symbol, funding period): a per-venue base level in
  [-0.2, +0.8] bp per hour plus a small per-period wobble, all exact decimals. ``paper`` itself defaults to the
  SPEC's 0.00001 per hour, so a grid bot on ``paper`` and the collector report the same numbers.
- Interval: ``fundingIntervalHours`` when given, else by name: ``paper`` and odd letters (``paper-a``, ``paper-c``)
  fund hourly, even letters (``paper-b``, ``paper-d``) every 8 h, other suffixes by a stable hash.

Funding is paid at absolute boundaries (multiples of the interval since the Unix epoch, like real venues paying on the
hour); the rate paid at the end of period ``p`` is ``rate(symbol, p)``, the rate the source reports during ``p``.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.exchanges.base import FundingRate, FundingSource, base_min_size
from bot_runtime.exchanges.paper.markets import build_markets, build_paths
from bot_runtime.exchanges.paper.options import DEFAULT_SEED, PaperOptions
from bot_runtime.exchanges.paper.prices import PricePath, stable_seed

PAPER_DEFAULT_HOURLY = Decimal("0.00001")
_MICRO = Decimal("0.000001")


def default_interval_hours(venue: str) -> Decimal:
    suffix = venue.split("-", 1)[1] if "-" in venue else ""
    if not suffix:
        return Decimal(1)
    if len(suffix) == 1 and suffix.isalpha():
        return Decimal(1) if (ord(suffix.lower()) - ord("a")) % 2 == 0 else Decimal(8)
    return Decimal(1) if stable_seed(suffix) % 2 == 0 else Decimal(8)


class FundingModel:
    def __init__(
        self,
        venue: str,
        *,
        seed: int = DEFAULT_SEED,
        hourly_rate: Decimal | None = None,
        interval_hours: Decimal | None = None,
    ) -> None:
        self.venue = venue
        self.seed = seed
        if hourly_rate is None and "-" not in venue:
            hourly_rate = PAPER_DEFAULT_HOURLY
        self.hourly_rate = hourly_rate
        self.interval_hours = interval_hours if interval_hours is not None else default_interval_hours(venue)
        self.interval_seconds = float(self.interval_hours) * 3600.0

    @classmethod
    def for_venue(cls, venue: str, options: PaperOptions) -> FundingModel:
        """The model of ``venue`` as its options configure it (``seed``, ``fundingRateHourly``,
        ``fundingIntervalHours``)."""
        return cls(
            venue,
            seed=options.config.seed,
            hourly_rate=options.config.funding_rate_hourly,
            interval_hours=options.config.funding_interval_hours,
        )

    def period(self, t: float) -> int:
        """The funding period that contains time ``t``."""
        return int(t // self.interval_seconds)

    def boundary(self, period: int) -> float:
        """The time at which period ``period`` ends (and its funding is paid)."""
        return (period + 1) * self.interval_seconds

    def rate(self, symbol: str, period: int) -> Decimal:
        """Rate per interval for ``period`` (a fraction; longs pay when > 0)."""
        if self.hourly_rate is not None:
            return self.hourly_rate * self.interval_hours
        base = Decimal(stable_seed(self.seed, self.venue, symbol) % 100 - 20) * _MICRO
        wobble = Decimal(random.Random(stable_seed(self.seed, self.venue, symbol, period)).randint(-5, 5)) * _MICRO  # noqa: S311
        return (base + wobble) * self.interval_hours


class PaperFundingSource(FundingSource):
    """Deterministic simulated funding data for one paper venue (what a collector of ``paper-a`` reports)."""

    def __init__(self, name: str, options: PaperOptions, clock: Clock | None = None) -> None:
        self.name = name
        self.options = options
        self.clock = clock or options.clock or SystemClock()
        self.model = FundingModel.for_venue(name, options)
        self._markets = build_markets(options)
        self._paths: dict[str, PricePath] = build_paths(options, self.clock)

    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        now = self.clock.time()
        period = self.model.period(now)
        wanted = {s.upper() for s in symbols} if symbols else None
        out: list[FundingRate] = []
        for symbol, market in sorted(self._markets.items()):
            if wanted is not None and symbol not in wanted:
                continue
            path = self._paths[symbol]
            mark = market.round_price(path.price(path.index_at(now)))
            spread = market.tick_size * self.options.spread_ticks
            bid = market.round_price(mark - spread / 2, None)
            size_factor = Decimal(stable_seed(self.seed_key, symbol) % 900 + 100)  # 100..999
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=symbol,
                    venue_symbol=market.venue_symbol,
                    rate=self.model.rate(symbol, period),
                    interval_hours=self.model.interval_hours,
                    mark_price=mark,
                    index_price=mark,
                    open_interest_usd=size_factor * Decimal(100_000),
                    volume_24h_usd=size_factor * Decimal(1_000_000),
                    best_bid=bid,
                    best_ask=bid + spread,
                    min_order_size=base_min_size(market.min_size, market.multiplier),
                    next_funding_time=datetime.fromtimestamp(self.model.boundary(period), UTC),
                    collected_at=datetime.fromtimestamp(now, UTC),
                )
            )
        return out

    @property
    def seed_key(self) -> str:
        return f"{self.options.seed}/{self.name}"
