"""The stored funding history a backtest replays, read in one pass from the funding service's database.

A ``funding_rates`` row is one funding period of one (dex, symbol): the rate settled at ``funding_time`` for the
period ``(funding_time − interval_hours, funding_time]``, with the mark price, open interest and 24 h volume of its
last collection. At an instant ``t`` the service's latest rate of the pair is the row of the period covering ``t``
(``funding_time − interval ≤ t < funding_time``); the funding paid or received at ``funding_time`` is that row's rate on
the position's notional at that row's mark price.

The periods of each (dex, symbol) are read as columns (one array per field, one database row per series), the
numbers as text made :class:`~decimal.Decimal` when first read (:class:`Column`): a 30-day hourly history of 2,400
markets is 1.7 M periods, and one Python object (or five Decimals) per period would cost more than the replay itself.
Periods longer than :data:`MAX_PERIOD` are not read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

import asyncpg

from funding_service.core.fees import FeeSchedule
from funding_service.core.opportunities import Leg

#: the longest funding period read (venues fund every 1 to 8 hours)
MAX_PERIOD = timedelta(days=1)
# the periods settling in ($3, $4 + MAX_PERIOD], one row per (dex, symbol); OI and volume only when asked ($5)
_HISTORY = """
SELECT r.dex, r.symbol,
       array_agg(r.funding_time ORDER BY r.funding_time) AS funding_time,
       array_agg(r.rate::text ORDER BY r.funding_time) AS rate,
       array_agg(r.interval_hours::text ORDER BY r.funding_time) AS interval_hours,
       array_agg(r.mark_price::text ORDER BY r.funding_time) AS mark_price,
       CASE WHEN $5 THEN array_agg(r.open_interest_usd::text ORDER BY r.funding_time) END AS open_interest_usd,
       CASE WHEN $5 THEN array_agg(r.volume_24h_usd::text ORDER BY r.funding_time) END AS volume_24h_usd
FROM funding_rates r
WHERE r.dex = ANY($1::text[]) AND ($2::text[] IS NULL OR r.symbol = ANY($2::text[]))
  AND r.funding_time > $3 AND r.funding_time <= $4
GROUP BY r.dex, r.symbol
ORDER BY r.dex, r.symbol
"""
_MARKETS = """
SELECT dex, symbol, venue_symbol, multiplier FROM dex_symbols
WHERE dex = ANY($1::text[]) AND ($2::text[] IS NULL OR symbol = ANY($2::text[]))
"""
_FEES = "SELECT name, maker_fee, taker_fee FROM dexes WHERE name = ANY($1::text[])"


class Column:
    """A numeric column read as text (or given as Decimals): each cell becomes a Decimal when read."""

    __slots__ = ("_cells",)

    def __init__(self, cells: Sequence[str | Decimal | None]) -> None:
        self._cells = cells

    def __len__(self) -> int:
        return len(self._cells)

    def get(self, i: int) -> Decimal | None:
        cell = self._cells[i]
        return None if cell is None else Decimal(cell)

    def at(self, i: int) -> Decimal:
        """A cell of a NOT NULL column."""
        cell = self._cells[i]
        if cell is None:
            raise ValueError(f"no value at {i}")
        return Decimal(cell)


_SPANS: dict[Decimal, timedelta] = {}


def _span(interval_hours: Decimal) -> timedelta:
    """``interval_hours`` as a timedelta (a handful of distinct intervals: computed once each)."""
    span = _SPANS.get(interval_hours)
    if span is None:
        span = _SPANS[interval_hours] = timedelta(hours=float(interval_hours))
    return span


class Row(Protocol):
    """A stored row (an ``asyncpg.Record`` or a plain mapping) read by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(slots=True)
class Series:
    """The periods of one (dex, symbol) in time order, as columns; the finder's leg of a period is built when asked
    for (the last one is kept: a cycle asks for the same period more than once). Instants are asked for in time order
    (a cursor follows them; an earlier instant is looked up afresh)."""

    dex: str
    symbol: str
    venue_symbol: str
    multiplier: Decimal
    fees: FeeSchedule
    times: Sequence[datetime]  # funding_time: when each period settles
    rates: Column
    intervals: Sequence[Decimal]
    marks: Column
    open_interest: Column | None = None  # None: not read (no bot filter needs it)
    volume: Column | None = None
    _next: int = 0  # the first period settling after the last instant asked for
    _leg: tuple[int, Leg] | None = None

    def __len__(self) -> int:
        return len(self.times)

    def starts(self, i: int) -> datetime:
        return self.times[i] - _span(self.intervals[i])

    def covering(self, t: datetime) -> int | None:
        """Index of the period running at ``t`` (None between stored periods: no data then)."""
        times, i = self.times, self._next
        n = len(times)
        if i > 0 and times[i - 1] > t:
            i = bisect_right(times, t)
        else:
            while i < n and times[i] <= t:
                i += 1
        self._next = i
        if i < n and self.starts(i) <= t:
            return i
        return None

    def settled(self, after: datetime, until: datetime) -> range:
        """Indexes of the periods settling in ``(after, until]``."""
        return range(bisect_right(self.times, after), bisect_right(self.times, until))

    def last_mark(self, t: datetime) -> Decimal | None:
        """The mark price at ``t``: the running period's, else the latest earlier period's that has one."""
        i = min(bisect_right(self.times, t), len(self.times) - 1)
        while i >= 0:
            mark = self.marks.get(i)
            if mark is not None and self.starts(i) <= t:
                return mark
            i -= 1
        return None

    def leg(self, i: int) -> Leg:
        """The finder's leg of period ``i``: what the service's latest rate was while it ran."""
        if self._leg is not None and self._leg[0] == i:
            return self._leg[1]
        leg = Leg(
            dex=self.dex,
            symbol=self.symbol,
            rate=self.rates.at(i),
            interval_hours=self.intervals[i],
            fees=self.fees,
            collected_at=self.times[i],  # never stale while it runs (replay.NEVER_STALE)
            venue_symbol=self.venue_symbol,
            multiplier=self.multiplier,
            mark_price=self.marks.get(i),
            open_interest_usd=self.open_interest.get(i) if self.open_interest is not None else None,
            volume_24h_usd=self.volume.get(i) if self.volume is not None else None,
            next_funding_time=self.times[i],
        )
        self._leg = (i, leg)
        return leg


@dataclass(slots=True)
class History:
    """Every replayed series, by (dex, symbol)."""

    series: dict[tuple[str, str], Series]
    fees: dict[str, FeeSchedule]
    rows: int  # stored periods read

    def legs_at(self, t: datetime) -> list[Leg]:
        """The service's latest rates at ``t``: one leg per (dex, symbol) with a period running then."""
        out: list[Leg] = []
        for s in self.series.values():
            i = s.covering(t)
            if i is not None:
                out.append(s.leg(i))
        return out


async def load_history(
    conn: asyncpg.Connection,
    dexes: Iterable[str],
    symbols: Iterable[str] | None,
    start: datetime,
    end: datetime,
    *,
    liquidity: bool = True,
) -> History:
    """The periods of ``dexes`` (and ``symbols``; None = all) running at some instant of ``[start, end]``; open
    interest and volume only with ``liquidity`` (a bot filtering on them)."""
    names = sorted(set(dexes))
    wanted = sorted(set(symbols)) if symbols is not None else None
    fees = {r["name"]: FeeSchedule(maker=r["maker_fee"], taker=r["taker_fee"]) for r in await conn.fetch(_FEES, names)}
    markets = {
        (r["dex"], r["symbol"]): (r["venue_symbol"], r["multiplier"]) for r in await conn.fetch(_MARKETS, names, wanted)
    }
    rows = await conn.fetch(_HISTORY, names, wanted, start, end + MAX_PERIOD, liquidity)
    return history_from_series(rows, fees, markets, end)


def history_from_series(
    rows: Iterable[Row],
    fees: dict[str, FeeSchedule],
    markets: dict[tuple[str, str], tuple[str, Decimal]] | None = None,
    end: datetime | None = None,
) -> History:
    """Series from rows shaped like :data:`_HISTORY`'s, with each market's venue symbol and multiplier; a dex
    missing from ``fees`` is left out, and so are the periods starting after ``end``."""
    series: dict[tuple[str, str], Series] = {}
    count = 0
    intervals: dict[str | Decimal, Decimal] = {}  # a handful of distinct intervals
    for r in rows:
        dex, symbol = str(r["dex"]), str(r["symbol"])
        if dex not in fees:
            continue
        venue_symbol, multiplier = (markets or {}).get((dex, symbol), (symbol, Decimal(1)))
        times: Sequence[datetime] = r["funding_time"]
        spans = [intervals.get(v) or intervals.setdefault(v, Decimal(v)) for v in r["interval_hours"]]
        s = Series(
            dex=dex,
            symbol=symbol,
            venue_symbol=venue_symbol,
            multiplier=multiplier,
            fees=fees[dex],
            times=times,
            rates=Column(r["rate"]),
            intervals=spans,
            marks=Column(r["mark_price"]),
            open_interest=Column(r["open_interest_usd"]) if r["open_interest_usd"] is not None else None,
            volume=Column(r["volume_24h_usd"]) if r["volume_24h_usd"] is not None else None,
        )
        if end is not None:
            while len(s.times) and s.starts(len(s.times) - 1) > end:  # settles after end + its interval
                s.times, s.intervals = s.times[:-1], s.intervals[:-1]
        if len(s.times):
            series[(dex, symbol)] = s
            count += len(s.times)
    return History(series=series, fees=fees, rows=count)


def history_from_rows(rows: Iterable[Row], fees: dict[str, FeeSchedule]) -> History:
    """Series from one row per period (``dex, symbol, funding_time, rate, interval_hours, mark_price``, optional
    ``open_interest_usd``, ``volume_24h_usd``, ``venue_symbol``, ``multiplier``), e.g. a hand-made history."""
    grouped: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        grouped.setdefault((str(r["dex"]), str(r["symbol"])), []).append(r)

    def column(periods: list[Row], name: str) -> list[Any]:
        return [_get(p, name) for p in periods]

    shaped: list[dict[str, Any]] = []
    markets: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for (dex, symbol), periods in grouped.items():
        periods.sort(key=lambda p: p["funding_time"])
        first = periods[0]
        markets[(dex, symbol)] = (_get(first, "venue_symbol") or symbol, _get(first, "multiplier") or Decimal(1))
        liquidity = [column(periods, "open_interest_usd"), column(periods, "volume_24h_usd")]
        shaped.append(
            {
                "dex": dex,
                "symbol": symbol,
                "funding_time": column(periods, "funding_time"),
                "rate": column(periods, "rate"),
                "interval_hours": column(periods, "interval_hours"),
                "mark_price": column(periods, "mark_price"),
                "open_interest_usd": liquidity[0] if any(v is not None for v in liquidity[0]) else None,
                "volume_24h_usd": liquidity[1] if any(v is not None for v in liquidity[1]) else None,
            }
        )
    return history_from_series(shaped, fees, markets)


def _get(row: Row, name: str) -> Any:
    try:
        return row[name]
    except KeyError:
        return None
