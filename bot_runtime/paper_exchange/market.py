"""Where a paper venue's market comes from: its markets, top of book, what traded, and its funding rates.

A :class:`MarketSource` turns time into :class:`MarketStep` s ("between ``low`` and ``high``, ``volume`` contracts
traded on each side"), which the venue hands to every account's engine (:meth:`AccountEngine.trade_through`).

- :class:`SyntheticMarket`: the seeded random walk (or a replayed price file). One step per ``step`` seconds from
  the venue's ``epoch`` (stored, so a restarted service continues the same path and replays the steps it missed,
  filling what they traded through); top of book ``spreadTicks`` around the mid; ``volumePerStepUsd`` per side per
  step; funding from the deterministic model of the venue's name.
- :class:`~bot_runtime.paper_exchange.mirror.MirrorMarket`: a live venue's public trades and top of book.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from bot_runtime.exchanges.base import Market, Quote
from bot_runtime.exchanges.paper.funding import FundingModel
from bot_runtime.exchanges.paper.markets import build_markets
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import GbmPath, PricePath, ReplayPath
from bot_runtime.paper_exchange.engine.matching import TopOfBook


@dataclass(frozen=True, slots=True)
class MarketStep:
    symbol: str
    low: Decimal
    high: Decimal
    volume: Decimal  # contracts available to resting orders on each side
    when: datetime


class FundingSchedule(Protocol):
    interval_hours: Decimal

    def period(self, t: float) -> int: ...

    def boundary(self, period: int) -> float: ...

    def rate(self, symbol: str, period: int) -> Decimal: ...


class MarketSource(Protocol):
    markets: dict[str, Market]
    funding: FundingSchedule

    def touch(self, symbol: str) -> TopOfBook: ...

    def quote(self, symbol: str) -> Quote: ...

    def advance(self, t: float) -> list[MarketStep]:
        """Every step up to time ``t`` not returned before, in time order."""
        ...

    def cursor(self) -> dict[str, int]:
        """How far the source has advanced (stored with the venue; :meth:`advance` continues from it)."""
        ...


class SyntheticMarket:
    def __init__(
        self, name: str, options: PaperOptions, *, epoch: float, cursor: Mapping[str, int] | None, now: float
    ) -> None:
        """``cursor``: the stored progress (None for a new venue: it starts at ``now``, a market added to the
        venue's options likewise)."""
        self.name = name
        self.options = options
        self.epoch = epoch
        self.markets = build_markets(options)
        cfg = options.config
        self.paths: dict[str, PricePath] = {}
        for symbol, start in options.start_prices().items():
            if symbol == options.primary and cfg.price_file:
                self.paths[symbol] = ReplayPath(cfg.price_file, cfg.step, epoch)
            else:
                self.paths[symbol] = GbmPath(start, cfg.volatility, cfg.step, cfg.seed, symbol, epoch=epoch)
        self.funding: FundingSchedule = FundingModel.for_venue(name, options)
        stored = cursor or {}
        self._k = {symbol: stored.get(symbol, self.paths[symbol].index_at(now)) for symbol in self.markets}

    def cursor(self) -> dict[str, int]:
        return dict(self._k)

    def _mid(self, symbol: str, k: int | None = None) -> Decimal:
        return self.paths[symbol].price(self._k[symbol] if k is None else k)

    def touch(self, symbol: str) -> TopOfBook:
        market = self.markets[symbol]
        spread = market.tick_size * self.options.spread_ticks
        bid = max(market.round_price(self._mid(symbol) - spread / 2), market.tick_size)
        shown = market.round_size(self.options.config.volume_per_step_usd / self._mid(symbol))
        return TopOfBook(bid, bid + spread, shown, shown)

    def _time_of(self, symbol: str, k: int) -> datetime:
        return datetime.fromtimestamp(max(self.paths[symbol].time_of(k), 0.0), UTC)

    def quote(self, symbol: str) -> Quote:
        touch = self.touch(symbol)
        return Quote(
            symbol=symbol,
            bid=touch.bid,
            ask=touch.ask,
            bid_size=touch.bid_size,
            ask_size=touch.ask_size,
            timestamp=self._time_of(symbol, self._k[symbol]),
        )

    def advance(self, t: float) -> list[MarketStep]:
        steps: list[MarketStep] = []
        for symbol, path in self.paths.items():
            target = path.index_at(t)
            while self._k[symbol] < target:
                k = self._k[symbol] = self._k[symbol] + 1
                previous, current = self._mid(symbol, k - 1), self._mid(symbol, k)
                steps.append(
                    MarketStep(
                        symbol=symbol,
                        low=min(previous, current),
                        high=max(previous, current),
                        volume=self.options.config.volume_per_step_usd / current,
                        when=self._time_of(symbol, k),
                    )
                )
        steps.sort(key=lambda s: s.when)
        return steps
