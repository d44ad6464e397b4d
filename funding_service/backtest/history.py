"""The stored funding history a backtest replays, read in one pass from the funding service's database.

A ``funding_rates`` row is one funding period of one (dex, symbol): the rate settled at ``funding_time`` for the
period ``(funding_time − interval_hours, funding_time]``, with the mark price, open interest and 24 h volume of its
last collection. At an instant ``t`` the service's latest rate of the pair is the row of the period covering ``t``
(``funding_time − interval ≤ t < funding_time``); the funding paid or received at ``funding_time`` is that row's rate on
the position's notional at that row's mark price.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from funding_service.core.fees import FeeSchedule
from funding_service.core.opportunities import Leg

# one stored period: the service's view of the pair while it runs (collected_at: its last collection)
_HISTORY = """
SELECT r.dex, r.symbol, r.funding_time, r.rate, r.interval_hours, r.mark_price, r.open_interest_usd,
       r.volume_24h_usd, r.collected_at
FROM funding_rates r
WHERE r.dex = ANY($1::text[]) AND ($2::text[] IS NULL OR r.symbol = ANY($2::text[]))
  AND r.funding_time > $3 AND r.funding_time - make_interval(secs => r.interval_hours * 3600) <= $4
ORDER BY r.dex, r.symbol, r.funding_time
"""
_MARKETS = """
SELECT s.dex, s.symbol, s.venue_symbol, s.multiplier FROM dex_symbols s
WHERE s.dex = ANY($1::text[]) AND ($2::text[] IS NULL OR s.symbol = ANY($2::text[]))
"""
_FEES = "SELECT name, maker_fee, taker_fee FROM dexes WHERE name = ANY($1::text[])"


class Row(Protocol):
    """A stored row (an ``asyncpg.Record`` or a plain mapping) read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True, slots=True)
class Period:
    funding_time: datetime
    rate: Decimal
    interval_hours: Decimal
    mark_price: Decimal | None
    open_interest_usd: Decimal | None
    volume_24h_usd: Decimal | None
    collected_at: datetime

    @property
    def starts(self) -> datetime:
        return self.funding_time - timedelta(hours=float(self.interval_hours))


@dataclass(slots=True)
class Series:
    """The periods of one (dex, symbol), in time order, with the finder's leg of each built when first asked for."""

    dex: str
    symbol: str
    venue_symbol: str
    multiplier: Decimal
    fees: FeeSchedule
    periods: list[Period]
    times: list[datetime] = field(init=False)
    _legs: dict[int, Leg] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.times = [p.funding_time for p in self.periods]

    def covering(self, t: datetime) -> int | None:
        """Index of the period running at ``t`` (None between stored periods: no data then)."""
        i = bisect_right(self.times, t)
        if i < len(self.periods) and self.periods[i].starts <= t:
            return i
        return None

    def settled(self, after: datetime, until: datetime) -> range:
        """Indexes of the periods settling in ``(after, until]``."""
        return range(bisect_right(self.times, after), bisect_right(self.times, until))

    def last_mark(self, t: datetime) -> Decimal | None:
        """The mark price at ``t``: the running period's, else the latest earlier period's that has one."""
        i = min(bisect_right(self.times, t), len(self.periods) - 1)
        while i >= 0:
            p = self.periods[i]
            if p.mark_price is not None and p.starts <= t:
                return p.mark_price
            i -= 1
        return None

    def leg(self, index: int) -> Leg:
        """The finder's leg of period ``index``: what the service's latest rate was while it ran."""
        leg = self._legs.get(index)
        if leg is None:
            p = self.periods[index]
            leg = self._legs[index] = Leg(
                dex=self.dex,
                symbol=self.symbol,
                rate=p.rate,
                interval_hours=p.interval_hours,
                fees=self.fees,
                collected_at=p.collected_at,
                venue_symbol=self.venue_symbol,
                multiplier=self.multiplier,
                mark_price=p.mark_price,
                open_interest_usd=p.open_interest_usd,
                volume_24h_usd=p.volume_24h_usd,
                next_funding_time=p.funding_time,
            )
        return leg


@dataclass(slots=True)
class History:
    """Every replayed series, by (dex, symbol)."""

    series: dict[tuple[str, str], Series]
    fees: dict[str, FeeSchedule]
    rows: int

    def legs_at(self, t: datetime) -> list[Leg]:
        """The service's latest rates at ``t``: one leg per (dex, symbol) with a period running then."""
        out: list[Leg] = []
        for s in self.series.values():
            i = s.covering(t)
            if i is not None:
                out.append(s.leg(i))
        return out


async def load_history(
    conn: asyncpg.Connection, dexes: Iterable[str], symbols: Iterable[str] | None, start: datetime, end: datetime
) -> History:
    """The periods of ``dexes`` (and ``symbols``; None = all) running at some instant of ``[start, end]``."""
    names = sorted(set(dexes))
    wanted = sorted(set(symbols)) if symbols is not None else None
    fees = {r["name"]: FeeSchedule(maker=r["maker_fee"], taker=r["taker_fee"]) for r in await conn.fetch(_FEES, names)}
    markets = {
        (r["dex"], r["symbol"]): (r["venue_symbol"], r["multiplier"]) for r in await conn.fetch(_MARKETS, names, wanted)
    }
    rows = await conn.fetch(_HISTORY, names, wanted, start, end)
    return history_from_rows(rows, fees, markets)


def history_from_rows(
    rows: Iterable[Row],
    fees: dict[str, FeeSchedule],
    markets: dict[tuple[str, str], tuple[str, Decimal]],
) -> History:
    """Group ``rows`` (ordered by dex, symbol, funding_time) into series."""
    series: dict[tuple[str, str], Series] = {}
    grouped: dict[tuple[str, str], list[Period]] = {}
    count = 0
    for r in rows:
        key = (str(r["dex"]), str(r["symbol"]))
        periods = grouped.get(key)
        if periods is None:
            periods = grouped[key] = []
        periods.append(
            Period(
                funding_time=r["funding_time"],
                rate=r["rate"],
                interval_hours=r["interval_hours"],
                mark_price=r["mark_price"],
                open_interest_usd=r["open_interest_usd"],
                volume_24h_usd=r["volume_24h_usd"],
                collected_at=r["collected_at"],
            )
        )
        count += 1
    for key, periods in grouped.items():
        dex, symbol = key
        if dex not in fees:
            continue
        venue_symbol, multiplier = markets.get(key, (symbol, Decimal(1)))
        series[key] = Series(dex, symbol, venue_symbol, multiplier, fees[dex], periods)
    return History(series=series, fees=fees, rows=count)
