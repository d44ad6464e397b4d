"""Opportunity computation as a pure function (issue 12, item 5): one full recompute of
``funding_service.core.opportunities.find`` (default filters, as ``/opportunities`` calls it) over V venues x S
symbols of latest rates, and how it grows with venues and symbols.

Baseline, same run, same legs: the bare pair enumeration -- every pair of venues per symbol and its hourly spread
in Decimal, nothing else -- i.e. the least work any finder must do.

``python -m bench.opportunities [--quick] [--repeat N]``
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from bench.common import (
    Table,
    Target,
    base_parser,
    command_line,
    load_note,
    median,
    run_module,
)
from bench.fs_data import VENUES, ingest_rates, markets
from funding_service.core import opportunities as finder
from funding_service.core.fees import FeeSchedule

MODULE = "bench.opportunities"
# the seeded fees of migration 002 (maker, taker)
FEES: dict[str, tuple[str, str]] = {
    "lighter": ("0", "0"),
    "grvt": ("-0.0001", "0.00055"),
    "edgex": ("0.00015", "0.00038"),
    "paradex": ("0.00003", "0.0002"),
    "backpack": ("0.0002", "0.0005"),
    "aster": ("0.00005", "0.0004"),
}
FULL = (6, 1000)
GROWTH: tuple[tuple[int, int], ...] = ((2, 1000), (4, 1000), (6, 100), (6, 400), (6, 1000))
SNAPSHOT = (6, 400)  # the ingest benchmark's data
SNAPSHOT_FILTERS = finder.Filters(min_divergence=None, min_profit=None)


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "opportunity finder: time per full recompute vs. bare pair enumeration")
    p.add_argument("--repeat", type=int, default=None, help="recomputes per size, median kept (default 30, quick 10)")
    return p


def make_legs(n_venues: int, n_symbols: int, now: datetime) -> list[finder.Leg]:
    venues = list(VENUES)[:n_venues]
    ms = [m for m in markets(n_symbols) if m.dex in venues]
    return [
        finder.Leg(
            dex=r.exchange,
            symbol=r.symbol,
            rate=r.rate,
            interval_hours=r.interval_hours,
            fees=FeeSchedule(maker=Decimal(FEES[r.exchange][0]), taker=Decimal(FEES[r.exchange][1])),
            collected_at=r.collected_at,
            venue_symbol=r.venue_symbol,
            multiplier=r.multiplier,
            mark_price=r.mark_price,
            index_price=r.index_price,
            open_interest_usd=r.open_interest_usd,
            volume_24h_usd=r.volume_24h_usd,
            best_bid=r.best_bid,
            best_ask=r.best_ask,
        )
        for r in ingest_rates(ms, now, seed=5)
    ]


def enumerate_pairs(legs: Sequence[finder.Leg]) -> int:
    """The baseline: group by symbol, every pair of venues, its hourly spread. Returns the pair count."""
    by_symbol: dict[str, list[finder.Leg]] = defaultdict(list)
    for leg in legs:
        by_symbol[leg.symbol].append(leg)
    pairs = 0
    for group in by_symbol.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                _ = abs(a.rate / a.interval_hours - b.rate / b.interval_hours)
                pairs += 1
    return pairs


def time_call(fn: Callable[[], object], repeat: int) -> float:
    samples = []
    fn()  # warm
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return median(samples) * 1000


def measure(args: argparse.Namespace) -> list[Table]:
    repeat = args.repeat or (10 if args.quick else 30)
    now = datetime.now(UTC)
    params = finder.Params()
    table = Table(
        f"Opportunity finder, one full recompute (find() with /opportunities' default filters, limit 10), "
        f"median of {repeat}",
        "bare pair enumeration with the Decimal hourly spread, same legs, same run",
        command=command_line(MODULE, ["--quick"] if args.quick else []),
    )
    for venues, syms in GROWTH:
        legs = make_legs(venues, syms, now)
        pairs = enumerate_pairs(legs)
        result = finder.find(legs, params, now, finder.Filters(), limit=10)
        ms = time_call(partial(finder.find, legs, params, now, finder.Filters(), limit=10), repeat)
        base = time_call(partial(enumerate_pairs, legs), repeat)
        target = Target("<", 10) if (venues, syms) == FULL else None
        table.add(
            f"{venues} venues x {syms} symbols ({pairs:,} pairs)",
            ms,
            "ms",
            base,
            target,
            note=f"{result.matched:,} matched",
        )
    # what each ingest cycle runs for its snapshot: every pair, no threshold, the best 100 by net APR
    legs = make_legs(*SNAPSHOT, now)
    snapshot = partial(finder.find, legs, params, now, SNAPSHOT_FILTERS, sort_by="net_apr", limit=100)
    table.add(
        f"ingest snapshot, {SNAPSHOT[0]} venues x {SNAPSHOT[1]} symbols (no threshold, top 100 by net APR)",
        time_call(snapshot, repeat),
        "ms",
        time_call(partial(enumerate_pairs, legs), repeat),
        note=f"{snapshot().matched:,} matched",
    )
    table.notes.append(load_note())
    return [table]


def run(args: argparse.Namespace) -> list[Table]:
    return measure(args)


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
