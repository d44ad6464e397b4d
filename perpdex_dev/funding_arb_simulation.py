"""A multi-day funding-arb run on paper venues in virtual time (minutes of CPU for a week of trading)::

    python -m perpdex_dev.funding_arb_simulation --days 7 [--seed 42] [--json]

The venues are ``paper-a``, ``paper-b``, ``paper-c`` (BTC, ETH, SOL on one shared seeded price path per symbol, each
venue with its own seed-derived funding rates: hourly on a and c, every 8 h on b; 2 bp maker / 5 bp taker fees).
The opportunities come from :class:`PaperOpportunitySource`: the funding service's own finder
(:mod:`funding_service.core.opportunities`) run in-process on the venues' current rates, i.e. what the service
would answer after a paper collector cycle, without HTTP or PostgreSQL. The figures reported are the paper venues'
own books (fees charged, funding paid and received, price PnL), not the strategy's estimates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot_runtime.clock import Clock, VirtualClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.funding_api.models import DexList, Opportunities
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import RecordingEvents
from bot_runtime.strategies.funding_arb.models import Tuning
from bot_runtime.strategies.funding_arb.strategy import FundingArbStrategy

ZERO = Decimal(0)
VENUES = ("paper-a", "paper-b", "paper-c")


def _names(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset(v for v in value.split(",") if v)
    return frozenset(str(v) for v in value)


class PaperOpportunitySource:
    """``opportunities(**filters)`` like ``GET /api/v1/opportunities``, computed by the funding service's finder from
    paper venues' current funding models and quotes, at the clock's time."""

    def __init__(self, venues: Mapping[str, PaperExchange], clock: Clock) -> None:
        self.venues = venues
        self.clock = clock

    async def legs(self) -> list[Any]:
        from funding_service.core.fees import FeeSchedule
        from funding_service.core.opportunities import Leg

        now = self.clock.now()
        out: list[Leg] = []
        for name, venue in self.venues.items():
            model = venue.funding
            period = model.period(self.clock.time())
            cfg = venue.options.config
            for symbol, market in (await venue.markets()).items():
                quote = await venue.best_bid_ask(symbol)
                out.append(
                    Leg(
                        dex=name,
                        symbol=symbol,
                        rate=model.rate(symbol, period),
                        interval_hours=model.interval_hours,
                        fees=FeeSchedule(cfg.maker_fee, cfg.taker_fee),
                        collected_at=now,
                        venue_symbol=market.venue_symbol,
                        multiplier=market.multiplier,
                        mark_price=quote.mid,
                        index_price=quote.mid,
                        open_interest_usd=Decimal(10_000_000),
                        volume_24h_usd=Decimal(100_000_000),
                        best_bid=quote.bid,
                        best_ask=quote.ask,
                        next_funding_time=datetime.fromtimestamp(model.boundary(period), UTC),
                    )
                )
        return out

    async def opportunities(self, **filters: Any) -> Opportunities:
        from funding_service.api.views import opportunity_row
        from funding_service.core.opportunities import Filters, Params, find

        symbols = _names(filters.get("symbols"))
        if filters.get("symbol"):
            one = str(filters["symbol"])
            symbols = frozenset({one}) if symbols is None else symbols & {one}
        chosen = Filters(
            symbols=symbols,
            dex_pair=_names(filters.get("dex_pair")),
            whitelist_dexes=_names(filters.get("whitelist_dexes")),
            required_dex=filters.get("required_dex"),
            min_divergence=Decimal(str(filters.get("min_divergence", "0.0001"))),
            min_profit=Decimal(str(filters.get("min_profit", "0"))),
            min_net_apr=Decimal(str(filters["min_net_apr"])) if filters.get("min_net_apr") is not None else None,
            min_oi=filters.get("min_oi"),
            min_volume=filters.get("min_volume"),
            include_stale=True,
        )
        params = Params(
            hold_hours=Decimal(str(filters.get("hold_hours", 24))),
            position_size_usd=Decimal(str(filters.get("position_size_usd", 1000))),
        )
        now = self.clock.now()
        result = find(
            await self.legs(),
            params,
            now,
            chosen,
            sort_by=str(filters.get("sort_by", "net_profit_percent")),
            desc=bool(filters.get("sort_desc", True)),
            limit=int(filters.get("limit", 10)),
        )
        rows = [opportunity_row(o, now) for o in result.opportunities]
        return Opportunities(
            opportunities=rows,
            total_count=len(rows),
            matched_count=result.matched,
            stale_excluded=0,
            filters_applied={},
            generated_at=now,
        )

    async def dexes(self) -> DexList:
        raise NotImplementedError("every paper venue is known")


@dataclass(frozen=True)
class Report:
    days: float
    seed: int
    pairs_opened: int
    pairs_closed: int
    pairs_open_at_end: int
    closed_at_end: bool  # the open pairs were closed (onStop closePositions) before measuring
    exits: dict[str, int]
    entries_failed: int
    funding_earned: Decimal  # funding received minus paid, all venues
    fees_paid: Decimal
    price_pnl: Decimal  # realized + unrealized at the end
    net: Decimal  # equity change of all venues
    starting_equity: Decimal
    strategy_funding: Decimal  # the strategy's own figures, for comparison
    strategy_fees: Decimal

    def text(self) -> str:
        lines = [
            f"simulated {self.days:g} days on paper-a/paper-b/paper-c (seed {self.seed}):",
            f"  pairs opened {self.pairs_opened}, closed {self.pairs_closed}, open at the end {self.pairs_open_at_end}"
            f"{' (then closed: onStop closePositions)' if self.closed_at_end else ''}, failed entries"
            f" {self.entries_failed}",
            f"  exits: {', '.join(f'{k} {v}' for k, v in sorted(self.exits.items())) or 'none'}",
            f"  funding earned {self.funding_earned:.4f} USD",
            f"  fees paid      {self.fees_paid:.4f} USD",
            f"  price PnL      {self.price_pnl:.4f} USD (realized + unrealized)",
            f"  net            {self.net:.4f} USD on {self.starting_equity:.0f} USD of equity",
            f"  (strategy's own view: funding {self.strategy_funding:.4f}, fees {self.strategy_fees:.4f})",
        ]
        return "\n".join(lines)


def simulation_config(seed: int, **fa: Any) -> BotConfig:
    return parse_config(
        {
            "name": "farb-sim",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingArb": {
                "exchanges": list(VENUES),
                "symbols": ["BTC", "ETH", "SOL"],
                "positionSizeUsd": "1000",
                "maxPositions": 3,
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "maxHoldHours": 168,
                **fa,
            },
            "paper": {"volatility": "0.6", "step": "60s", "seed": seed, "startingBalanceUsd": "10000"},
            "onStop": "closePositions",
        }
    )


async def simulate(days: float = 7.0, seed: int = 42, *, close_at_end: bool = True, **fa: Any) -> Report:
    clock = VirtualClock(datetime(2026, 1, 5, tzinfo=UTC), settle_rounds=60)
    config = simulation_config(seed, **fa)
    venues: dict[str, PaperExchange] = {}
    for name in VENUES:
        venues[name] = PaperExchange(name, config.venue_options(name), clock=clock)
        await venues[name].connect()
    start_equity = sum([(await v.balance()).equity for v in venues.values()], ZERO)
    strategy = FundingArbStrategy(
        config,
        venues,
        RiskManager(config.risk, clock),
        RecordingEvents(),
        clock=clock,
        source=PaperOpportunitySource(venues, clock),
        tuning=Tuning(poll_interval=60.0),
    )
    stopping = asyncio.Event()
    task = asyncio.create_task(strategy.run(stopping))
    try:
        await clock.advance(days * 86400)
        if task.done():
            task.result()
        stopping.set()
        await clock.drive(task)
        open_at_end = len(strategy.pairs)
        if close_at_end:  # onStop closePositions: every figure below is then realized, exit fees included
            await clock.drive(strategy.shutdown(OnStop.CLOSE_POSITIONS))
        snap = strategy.snapshot()
        books = [b for v in venues.values() for b in v.account.books.values()]
        marks = {name: {s: (await v.best_bid_ask(s)).mid for s in v.account.books} for name, v in venues.items()}
        unrealized = sum(
            [b.unrealized(marks[name][s]) for name, v in venues.items() for s, b in v.account.books.items()], ZERO
        )
        end_equity = sum([(await v.balance()).equity for v in venues.values()], ZERO)
        return Report(
            days=days,
            seed=seed,
            pairs_opened=strategy.pairs_opened,
            pairs_closed=len(strategy.closed),
            pairs_open_at_end=open_at_end,
            closed_at_end=close_at_end,
            exits=dict(Counter(c.reason.value for c in strategy.closed)),
            entries_failed=strategy.entries_failed,
            funding_earned=sum((b.funding_pnl for b in books), ZERO),
            fees_paid=sum((b.fees for b in books), ZERO),
            price_pnl=sum((b.realized_pnl for b in books), ZERO) + unrealized,
            net=end_equity - start_equity,
            starting_equity=start_equity,
            strategy_funding=snap.funding_pnl,
            strategy_fees=snap.fees_paid or ZERO,
        )
    finally:
        if not task.done():
            task.cancel()
        await strategy.stop_updates()
        for venue in venues.values():
            await venue.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep-open", action="store_true", help="do not close the pairs still open at the end")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = asyncio.run(simulate(args.days, args.seed, close_at_end=not args.keep_open))
    if args.json:
        print(json.dumps(asdict(report), default=str, indent=2))
    else:
        print(report.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
