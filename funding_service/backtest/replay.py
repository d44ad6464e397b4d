"""Replay of the funding-arbitrage strategy over stored history, through the bot's own decision code.

The bot asks the funding service for opportunities and decides with ``bot_runtime.strategies.funding_arb``: its
filters (``candidate_filters``, ``held_filters``), ``eligible``, ``pair_rates`` and the cycle's glue in
``funding_arb.cycle`` (``free_slots``, ``running_cooldowns``, ``cooldown_until``, ``exit_decisions``,
``pre_quote_check``, ``size_entry``). The replay calls exactly those, and answers their questions with the service's own finder
(``funding_service.core.opportunities.find``) and row builder (``opportunity_row``) on the rates the service held at
each instant (:mod:`.history`). Each step ``t`` (hourly by default), in the order of the bot's cycle:

1. funding: each held leg's periods settling in ``(previous step, t]`` pay or receive ``rate × base size × that
   period's mark`` (a long pays a positive rate, a short receives it): accrued per funding interval of each venue;
2. held pairs' rates: the finder on the symbol's legs on the bot's venues with ``held_filters``, read by
   ``read_held`` (the pair's own rates and the symbol's best net APR; a leg of the pair without data at ``t`` makes
   the last reading stale, as a failed service call does);
3. exits: ``evaluate_exit``; a closed pair pays the exit fees and books its price PnL; its symbol then waits
   ``Tuning.entry_cooldown`` as in the bot;
4. entries while slots are free (``min(maxNewPositionsPerCycle, maxPositions − held)``): the finder on every leg at
   ``t`` with ``candidate_filters``, ``eligible``, the ``preFundingWindow`` check (``funding_due``), the venues' price
   divergence (``maxEntryPriceDivergencePct``) and ``plan_sizes``; entry fees on both legs.

At ``end`` the pairs still open are closed at the marks (reason ``shutdown``, as the bot's ``onStop:
closePositions``). :data:`ASSUMPTIONS` lists what the stored history cannot tell (it holds no order books).

What stays here is what the bot does with I/O: reading the rates and quotes (here: the history at ``t``), filling
orders (here: at the marks), and booking funding and fees.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bot_runtime.config import FundingArbConfig, SizingMode
from bot_runtime.exchanges.base import Market, Quote, Side
from bot_runtime.funding_api.models import OpportunityRow
from bot_runtime.strategies.funding_arb import cycle as glue
from bot_runtime.strategies.funding_arb.models import ExitDecision, ExitReason, Leg, Pair, Tuning
from bot_runtime.strategies.funding_arb.selection import candidate_filters, eligible, held_filters, read_held
from bot_runtime.strategies.funding_arb.sizing import base_mid
from funding_service.api.views import opportunity_row
from funding_service.backtest.history import History, Series
from funding_service.backtest.models import BacktestResult, CurvePoint, PairResult, Totals
from funding_service.core import opportunities as finder

ZERO = Decimal(0)
HOURS_PER_YEAR = Decimal(8760)
#: pairs still open at the last step close as the bot's onStop closePositions closes them
END = ExitDecision(ExitReason.SHUTDOWN, "the backtest ended: closed at the last step's marks")
#: the history holds no order-book or market metadata: sizes are rounded to this many contracts
SIZE_STEP = Decimal("0.00000001")
# a stored period stands for every collection made while it ran: never stale within it
NEVER_STALE = 10**9

ASSUMPTIONS = [
    "fills at the mark price of the period running at the step (no bid/ask spread, no slippage)",
    "every fill pays the venue's taker fee from the funding service's dex table (the bot's entries are IOC; its exits"
    " are taken as their IOC fallback: the maker-first step and the wait for narrow spreads need order books)",
    f"sizes rounded down to {SIZE_STEP} contracts (venue size steps and minimums are not in the history)",
    "a stored period's rate, mark, open interest and volume stand for every collection made while it ran",
    "funding settles at each stored funding time on the position then held, at that period's mark",
    "no risk limits, venue faults, lone legs or rebalancing (both legs always fill in full)",
]


def finder_query(
    query: Mapping[str, Any],
) -> tuple[finder.Filters, finder.Params, str, bool, int | None]:
    """The bot's ``GET /opportunities`` query (``candidate_filters`` / ``held_filters``) as the finder's arguments,
    with the route's defaults; a parameter this does not know is an error (never silently dropped)."""
    known = {
        "symbol",
        "symbols",
        "dex_pair",
        "whitelist_dexes",
        "required_dex",
        "min_divergence",
        "min_profit",
        "min_net_apr",
        "min_oi",
        "max_oi",
        "min_volume",
        "position_size_usd",
        "hold_hours",
        "sort_by",
        "sort_desc",
        "limit",
    }
    unknown = set(query) - known
    if unknown:
        raise ValueError(f"the backtest does not replay the opportunity filters {sorted(unknown)}")
    symbols: frozenset[str] | None = None
    if "symbols" in query:
        symbols = frozenset(query["symbols"])
    if "symbol" in query:
        symbols = frozenset({query["symbol"]})
    filters = finder.Filters(
        symbols=symbols,
        dex_pair=frozenset(query["dex_pair"]) if "dex_pair" in query else None,
        whitelist_dexes=frozenset(query["whitelist_dexes"]) if "whitelist_dexes" in query else None,
        required_dex=query.get("required_dex"),
        min_divergence=query.get("min_divergence", Decimal("0.0001")),
        min_profit=query.get("min_profit", ZERO),
        min_net_apr=query.get("min_net_apr"),
        min_oi=query.get("min_oi"),
        max_oi=query.get("max_oi"),
        min_volume=query.get("min_volume"),
    )
    params = finder.Params(
        hold_hours=query.get("hold_hours", Decimal(24)),
        position_size_usd=query.get("position_size_usd", Decimal(1000)),
        stale_after_seconds=NEVER_STALE,
    )
    return filters, params, query.get("sort_by", "net_profit_percent"), query.get("sort_desc", True), query.get("limit")


@dataclass
class _Held:
    pair: Pair
    long_series: Series
    short_series: Series
    opened: datetime
    long_entry: Decimal  # base-unit fill prices
    short_entry: Decimal
    settled_until: datetime
    fees: Decimal
    funding: Decimal = ZERO
    payments: int = 0


class Replay:
    """One backtest run (:func:`run_backtest`)."""

    def __init__(self, cfg: FundingArbConfig, history: History, start: datetime, tuning: Tuning | None = None) -> None:
        self.cfg = cfg
        self.history = history
        self.start = start
        self.tuning = tuning or Tuning()
        self.venues = list(cfg.exchanges)
        self.held: dict[str, _Held] = {}
        self.cooldown: dict[str, float] = {}
        self.closed: list[PairResult] = []
        self.turnover = ZERO
        self.max_concurrent = 0
        self._markets: dict[tuple[str, str], Market] = {}

    def clock(self, t: datetime) -> float:
        """The bot's monotonic clock: seconds since the first step."""
        return (t - self.start).total_seconds()

    # one cycle ---------------------------------------------------------------------------------------------------------
    def cycle(self, t: datetime) -> None:
        for held in self.held.values():
            self._settle(held, t)
        for held in self.held.values():
            self._refresh_rates(held, t)
        by_pair = {id(held.pair): held for held in self.held.values()}
        pairs = [h.pair for h in self.held.values()]
        for pair, decision in glue.exit_decisions(pairs, self.cfg, self.clock(t), lambda p: by_pair[id(p)].funding):
            self._close(pair.symbol, by_pair[id(pair)], t, decision)
        self._entries(t)
        self.max_concurrent = max(self.max_concurrent, len(self.held))

    def finish(self, t: datetime) -> None:
        for symbol, held in list(self.held.items()):
            self._close(symbol, held, t, END)

    def pnl(self, t: datetime) -> Decimal:
        """Closed pairs' net PnL, plus the open pairs' funding − fees + price PnL at the marks of ``t``."""
        total = sum((p.net_pnl_usd for p in self.closed), ZERO)
        for held in self.held.values():
            long_price, short_price = self._marks(held, t)
            total += held.funding - held.fees + self._price_pnl(held, long_price, short_price)
        return total

    # funding and rates -------------------------------------------------------------------------------------------------
    def _settle(self, held: _Held, t: datetime) -> None:
        base = held.pair.base_size
        for leg, series, entry in (
            (held.pair.long, held.long_series, held.long_entry),
            (held.pair.short, held.short_series, held.short_entry),
        ):
            for i in series.settled(held.settled_until, t):
                mark = series.marks.get(i)
                price = mark / series.multiplier if mark is not None else entry
                held.funding -= leg.side.sign * series.rates.at(i) * base * price  # a long pays a positive rate
                held.payments += 1
        held.settled_until = t

    def _refresh_rates(self, held: _Held, t: datetime) -> None:
        pair = held.pair
        rates = None
        if held.long_series.covering(t) is not None and held.short_series.covering(t) is not None:
            rows = self._rows(self._symbol_legs(pair.symbol, t), held_filters(self.cfg, pair), t)
            rates = read_held(rows, self.cfg, pair)
        if rates is None:
            if pair.rates is not None:
                pair.rates = dataclasses.replace(pair.rates, stale=True)
            return
        pair.rates = rates

    def _symbol_legs(self, symbol: str, t: datetime) -> list[finder.Leg]:
        """The service's latest rates of ``symbol`` at ``t`` on the bot's venues."""
        legs: list[finder.Leg] = []
        for venue in self.venues:
            series = self.history.series.get((venue, symbol))
            i = series.covering(t) if series is not None else None
            if series is not None and i is not None:
                legs.append(series.leg(i))
        return legs

    def _rows(self, legs: list[finder.Leg], query: Mapping[str, Any], t: datetime) -> list[OpportunityRow]:
        """What ``GET /opportunities`` with ``query`` answers from ``legs`` at ``t``."""
        filters, params, sort_by, desc, limit = finder_query(query)
        result = finder.find(legs, params, t, filters, sort_by=sort_by, desc=desc, limit=limit)
        return [opportunity_row(o, t) for o in result.opportunities]

    # exits -------------------------------------------------------------------------------------------------------------
    def _marks(self, held: _Held, t: datetime) -> tuple[Decimal, Decimal]:
        long_mark = held.long_series.last_mark(t)
        short_mark = held.short_series.last_mark(t)
        long_price = long_mark / held.long_series.multiplier if long_mark is not None else held.long_entry
        short_price = short_mark / held.short_series.multiplier if short_mark is not None else held.short_entry
        return long_price, short_price

    @staticmethod
    def _price_pnl(held: _Held, long_price: Decimal, short_price: Decimal) -> Decimal:
        base = held.pair.base_size
        return base * (long_price - held.long_entry) + base * (held.short_entry - short_price)

    def _close(self, symbol: str, held: _Held, t: datetime, decision: ExitDecision) -> None:
        self._settle(held, t)
        long_price, short_price = self._marks(held, t)
        base = held.pair.base_size
        held.fees += base * long_price * held.long_series.fees.taker + base * short_price * held.short_series.fees.taker
        self.turnover += base * (long_price + short_price)
        price_pnl = self._price_pnl(held, long_price, short_price)
        pair = held.pair
        self.closed.append(
            PairResult(
                symbol=symbol,
                long_dex=pair.long.exchange,
                short_dex=pair.short.exchange,
                opened_at=held.opened,
                closed_at=t,
                exit_reason=str(decision.reason),
                exit_detail=decision.detail,
                base_size=base,
                entry_notional_usd=base * held.long_entry,
                entry_net_apr=pair.entry_net_apr if pair.entry_net_apr is not None else ZERO,
                funding_payments=held.payments,
                funding_usd=held.funding,
                fees_usd=held.fees,
                price_pnl_usd=price_pnl,
                net_pnl_usd=held.funding - held.fees + price_pnl,
            )
        )
        del self.held[symbol]
        self.cooldown[symbol] = glue.cooldown_until(self.clock(t), self.tuning)

    # entries -----------------------------------------------------------------------------------------------------------
    def _entries(self, t: datetime) -> None:
        cfg = self.cfg
        slots = glue.free_slots(cfg, len(self.held))
        if slots <= 0:
            return
        self.cooldown = glue.running_cooldowns(self.cooldown, self.clock(t))
        busy = set(self.held) | set(self.cooldown)
        query = candidate_filters(cfg, self.venues, self.tuning.candidate_limit)
        rows = self._rows(self.history.legs_at(t), query, t)
        opened = 0
        for row in eligible(rows, cfg, venues=self.venues, busy_symbols=busy):
            if opened >= slots or len(self.held) >= cfg.max_positions:
                break
            if self._try_entry(row, t):
                opened += 1

    def _market(self, series: Series) -> Market:
        key = (series.dex, series.symbol)
        market = self._markets.get(key)
        if market is None:
            market = self._markets[key] = Market(
                symbol=series.symbol,
                venue_symbol=series.venue_symbol,
                contract_id=series.venue_symbol,
                tick_size=SIZE_STEP,
                size_step=SIZE_STEP,
                min_size=ZERO,
                multiplier=series.multiplier,
                maker_fee=series.fees.maker,
                taker_fee=series.fees.taker,
            )
        return market

    def _try_entry(self, row: OpportunityRow, t: datetime) -> bool:
        cfg = self.cfg
        symbol = row.symbol
        if glue.pre_quote_check(row, cfg, t) is not None:
            return False
        if row.long_mark_price is None or row.short_mark_price is None:
            return False  # the bot needs both venues' quotes
        long_series = self.history.series[(row.long_dex, symbol)]
        short_series = self.history.series[(row.short_dex, symbol)]
        lm, sm = self._market(long_series), self._market(short_series)
        lq = Quote(symbol=symbol, bid=row.long_mark_price, ask=row.long_mark_price, timestamp=t)
        sq = Quote(symbol=symbol, bid=row.short_mark_price, ask=row.short_mark_price, timestamp=t)
        caps = glue.Caps(exposure=glue.venue_exposure(h.pair for h in self.held.values()))
        sizes = glue.size_entry(cfg, lm, sm, lq, sq, venues=(row.long_dex, row.short_dex), caps=caps)
        if isinstance(sizes, glue.Skip):
            if sizes.cooldown:
                self.cooldown[symbol] = glue.cooldown_until(self.clock(t), self.tuning)
            return False
        pair = Pair(
            symbol=symbol,
            long=Leg(row.long_dex, Side.BUY, lm, sizes.long_contracts),
            short=Leg(row.short_dex, Side.SELL, sm, sizes.short_contracts),
            opened_at=self.clock(t),
            entry_spread_hourly=row.divergence_hourly,
            entry_net_apr=row.net_apr,
            opened_wall=t,
            entry_price=sizes.reference_price,
        )
        base, long_price, short_price = pair.base_size, base_mid(lm, lq), base_mid(sm, sq)
        fees = base * long_price * long_series.fees.taker + base * short_price * short_series.fees.taker
        self.turnover += base * (long_price + short_price)
        self.held[symbol] = _Held(
            pair=pair,
            long_series=long_series,
            short_series=short_series,
            opened=t,
            long_entry=long_price,
            short_entry=short_price,
            settled_until=t,
            fees=fees,
        )
        return True


def capital_per_leg(cfg: FundingArbConfig) -> Decimal:
    """What one leg commits: its notional (``fixedUsd``, fully collateralised) or its margin (``margin``)."""
    if cfg.sizing.mode is SizingMode.MARGIN and cfg.sizing.margin_usd is not None:
        return cfg.sizing.margin_usd
    return cfg.position_size_usd


def run_backtest(
    cfg: FundingArbConfig, history: History, start: datetime, end: datetime, step: timedelta = timedelta(hours=1)
) -> BacktestResult:
    """Replay ``history`` from ``start`` to ``end`` (inclusive) every ``step`` through the bot's code."""
    if end < start:
        raise ValueError("the backtest ends before it starts")
    if step <= timedelta(0):
        raise ValueError("the step must be positive")
    replay = Replay(cfg, history, start)
    curve: list[CurvePoint] = []
    t = start
    steps = 0
    while t <= end:
        replay.cycle(t)
        steps += 1
        if t + step > end:
            replay.finish(t)
        curve.append(CurvePoint(time=t, pnl_usd=replay.pnl(t)))
        t += step
    last = curve[-1].time if curve else start
    hours = Decimal(str((last - start).total_seconds())) / 3600
    pairs = sorted(replay.closed, key=lambda p: (p.opened_at, p.symbol))
    funding = sum((p.funding_usd for p in pairs), ZERO)
    fees = sum((p.fees_usd for p in pairs), ZERO)
    price = sum((p.price_pnl_usd for p in pairs), ZERO)
    net = funding - fees + price
    capital = cfg.max_positions * 2 * capital_per_leg(cfg)
    totals = Totals(
        pairs=len(pairs),
        funding_usd=funding,
        fees_usd=fees,
        price_pnl_usd=price,
        net_pnl_usd=net,
        capital_usd=capital,
        apr_on_capital=net / capital * HOURS_PER_YEAR / hours if hours > 0 else ZERO,
        max_concurrent_pairs=replay.max_concurrent,
        turnover_usd=replay.turnover,
        hours=hours,
        steps=steps,
        history_rows=history.rows,
    )
    return BacktestResult(
        start=start,
        end=last,
        step_minutes=int(step.total_seconds() // 60),
        exchanges=list(cfg.exchanges),
        pairs=pairs,
        totals=totals,
        curve=curve,
        assumptions=ASSUMPTIONS,
    )
