"""Which pairs to open, and how held pairs are doing: the funding service's opportunities, read for this bot.

The funding service does the ranking (``GET /api/v1/opportunities``); the strategy asks it with the bot's own
restrictions as the service's filters:

- ``whitelist_dexes`` = ``fundingArb.exchanges`` (both legs on the bot's venues), ``symbols``, ``required_dex``,
  ``min_oi``, ``max_oi`` (``maxOiUsd``: the original's low-OI cap, on the required venue's leg or the smaller OI),
  ``min_volume``;
- ``min_net_apr`` with ``position_size_usd`` and ``hold_hours``, so the service values each pair with the bot's own
  horizon (fees amortised over ``holdHours``); ``min_divergence=0`` so ``minNetApr`` alone decides;
- sorted by net APR, best first.

Held pairs are read one by one: every row of the pair's symbol on the bot's venues (``whitelist_dexes`` +
``symbol``, no profitability filter), so a pair whose spread flipped still has a row: the service then orients it the
other way round, which :func:`pair_rates` turns back into the pair's own orientation (a negative spread). The same
answer gives the best opportunity of the symbol (:func:`read_held`): a held pair that stays among the best is kept
(``holdWhileBestMargin``, :mod:`.exits`).

A held pair's net APR values only what is still to pay: the exit fees (one fill on each leg, ``long_fee +
short_fee``), not the round trip the service charges a new pair: the entry fees are sunk once the pair is open.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from bot_runtime.config import FundingArbConfig
from bot_runtime.funding_api.models import DexList, Opportunities, OpportunityRow
from bot_runtime.strategies.funding_arb.models import HOURS_PER_YEAR, Pair, PairRates

ZERO = Decimal(0)


class OpportunitySource(Protocol):
    """What the strategy needs of the funding service (:class:`bot_runtime.funding_api.client.FundingServiceClient`)."""

    async def opportunities(self, **filters: Any) -> Opportunities: ...

    async def dexes(self) -> DexList: ...


def candidate_filters(cfg: FundingArbConfig, venues: Sequence[str], limit: int) -> dict[str, Any]:
    """``GET /opportunities`` filters for new pairs."""
    filters: dict[str, Any] = {
        "whitelist_dexes": sorted(venues),
        "min_net_apr": cfg.min_net_apr,
        "min_divergence": ZERO,
        "position_size_usd": cfg.position_size_usd,
        "hold_hours": cfg.hold_hours,
        "sort_by": "net_apr",
        "sort_desc": True,
        "limit": limit,
    }
    if cfg.symbols:
        filters["symbols"] = sorted(cfg.symbols)
    if cfg.required_exchange:
        filters["required_dex"] = cfg.required_exchange
    if cfg.min_oi_usd is not None:
        filters["min_oi"] = cfg.min_oi_usd
    if cfg.max_oi_usd is not None:
        filters["max_oi"] = cfg.max_oi_usd
    if cfg.min_volume24h_usd is not None:
        filters["min_volume"] = cfg.min_volume24h_usd
    return filters


def held_filters(cfg: FundingArbConfig, pair: Pair) -> dict[str, Any]:
    """Filters that return every row of a held pair's symbol on the bot's venues whatever its profitability: the
    pair's own (either orientation) and the symbol's other venue pairs, best net APR first."""
    return {
        "symbol": pair.symbol,
        "whitelist_dexes": sorted(cfg.exchanges),
        "min_divergence": ZERO,
        "min_profit": Decimal(-1),
        "position_size_usd": cfg.position_size_usd,
        "hold_hours": cfg.hold_hours,
        "sort_by": "net_apr",
        "sort_desc": True,
    }


def read_held(rows: Iterable[OpportunityRow], cfg: FundingArbConfig, pair: Pair) -> PairRates | None:
    """The pair's rates (:func:`pair_rates`) from the answer to :func:`held_filters`, with ``best_net_apr``: the
    best net APR of a pair the bot could open in the symbol now (fresh, spread > 0, ``requiredExchange`` on a leg;
    the held pair's own orientation included). None when the answer has no row of the pair."""
    own: PairRates | None = None
    best: Decimal | None = None
    for row in rows:
        if own is None:
            own = pair_rates(row, pair.long.exchange, pair.short.exchange)
        if row.stale or row.divergence_hourly <= 0 or row.long_dex == row.short_dex:
            continue
        if cfg.required_exchange and cfg.required_exchange not in (row.long_dex, row.short_dex):
            continue
        if best is None or row.net_apr > best:
            best = row.net_apr
    if own is None:
        return None
    return replace(own, best_net_apr=best)


def pair_rates(row: OpportunityRow, long_exchange: str, short_exchange: str) -> PairRates | None:
    """The row's figures in the orientation long ``long_exchange`` / short ``short_exchange``; None if the row is
    about other venues."""
    if (row.long_dex, row.short_dex) == (long_exchange, short_exchange):
        spread, long_next, short_next = row.divergence_hourly, row.long_next_funding_time, row.short_next_funding_time
    elif (row.long_dex, row.short_dex) == (short_exchange, long_exchange):
        spread, long_next, short_next = -row.divergence_hourly, row.short_next_funding_time, row.long_next_funding_time
    else:
        return None
    hold = row.hold_hours
    net = (spread * hold - (row.long_fee + row.short_fee)) * HOURS_PER_YEAR / hold  # the exit fees only
    return PairRates(
        spread_hourly=spread,
        net_apr=net,
        stale=row.stale,
        long_next_funding=long_next,
        short_next_funding=short_next,
    )


def _next_boundary(when: datetime | None, interval_hours: Decimal, now: datetime) -> datetime | None:
    """``when`` rolled forward by whole intervals until it is not in the past (data may be older than a period)."""
    if when is None:
        return None
    step = timedelta(seconds=float(interval_hours) * 3600)
    if step.total_seconds() <= 0:
        return when
    while when < now:
        when += step
    return when


def funding_due(row: OpportunityRow, now: datetime, window_seconds: float) -> Decimal | None:
    """What a pair opened now (long ``row.long_dex``, short ``row.short_dex``) would settle at the funding times
    falling within ``window_seconds``, as a fraction of one leg's notional: > 0 received, < 0 paid. None when no
    funding time of either leg falls within the window (or the window is 0)."""
    if window_seconds <= 0:
        return None
    horizon = now + timedelta(seconds=window_seconds)
    total = ZERO
    due = False
    long_next = _next_boundary(row.long_next_funding_time, row.long_interval_hours, now)
    if long_next is not None and long_next <= horizon:
        total -= row.long_rate  # longs pay a positive rate
        due = True
    short_next = _next_boundary(row.short_next_funding_time, row.short_interval_hours, now)
    if short_next is not None and short_next <= horizon:
        total += row.short_rate  # shorts receive a positive rate
        due = True
    return total if due else None


def eligible(
    rows: Iterable[OpportunityRow],
    cfg: FundingArbConfig,
    *,
    venues: Collection[str],
    busy_symbols: Collection[str],
) -> list[OpportunityRow]:
    """The service's rows the bot may act on, best first, at most one per symbol: both legs on ``venues`` (the
    venues it can trade right now), the symbol not held/blocked, fresh data, net APR >= minNetApr, spread > 0 and
    ``requiredExchange`` on one leg (the service filtered already; checked again here, cheaply)."""
    out: list[OpportunityRow] = []
    seen: set[str] = set()
    for row in rows:
        if row.symbol in seen or row.symbol in busy_symbols:
            continue
        if row.long_dex not in venues or row.short_dex not in venues or row.long_dex == row.short_dex:
            continue
        if cfg.symbols and row.symbol not in cfg.symbols:
            continue
        if cfg.required_exchange and cfg.required_exchange not in (row.long_dex, row.short_dex):
            continue
        if row.stale or row.net_apr < cfg.min_net_apr or row.divergence_hourly <= 0:
            continue
        seen.add(row.symbol)
        out.append(row)
    return out
