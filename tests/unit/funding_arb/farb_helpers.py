"""Helpers of the funding-arb tests: an in-test opportunity source computed from live paper venues by the funding
service's own finder, a paper venue with injectable faults, a strategy rig on virtual time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.base import (
    Balance,
    Fill,
    InsufficientMargin,
    Order,
    OrderRequest,
    OrderStatus,
    Position,
    Quote,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.funding_api.client import FundingServiceError
from bot_runtime.funding_api.models import DexList, Opportunities
from bot_runtime.risk import RiskBreach, RiskManager
from bot_runtime.strategies.base import OrderResult, RecordingEvents
from bot_runtime.strategies.funding_arb import FundingArbStrategy, Tuning
from perpdex_dev.funding_arb_simulation import PaperOpportunitySource

D = Decimal


def farb_config(fa: Mapping[str, Any] | None = None, **spec: Any) -> BotConfig:
    """A fundingArb config on paper-a/paper-b with flat prices (volatility 0) and no pre-funding window."""
    body: dict[str, Any] = {
        "name": "farb",
        "namespace": "trading",
        "strategy": "fundingArb",
        "exchange": "multi",
        "fundingArb": {
            "exchanges": ["paper-a", "paper-b"],
            "symbols": ["BTC"],
            "positionSizeUsd": "1000",
            "minNetApr": "0.15",
            "exitNetApr": "0.03",
            "holdHours": 72,
            "singleLegTimeout": "30s",
            "preFundingWindow": "0s",
            **(fa or {}),
        },
        "paper": {"volatility": "0", "startPrice": "60000", "step": "10s", "startingBalanceUsd": "10000"},
    }
    body.update(spec)
    return parse_config(body)


# ---------------------------------------------------------------------------------------------------------------------
# the in-test funding service


class PaperOpportunities(PaperOpportunitySource):
    """The package's in-process source (the funding service's own finder on the paper venues' current rates), plus
    what tests need: the filters of every call, an injectable failure, stale rows."""

    def __init__(self, venues: Mapping[str, PaperExchange], clock: VirtualClock) -> None:
        super().__init__(venues, clock)
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.stale = False

    async def opportunities(self, **filters: Any) -> Opportunities:
        self.calls.append(dict(filters))
        if self.fail is not None:
            raise self.fail
        page = await super().opportunities(**filters)
        if self.stale:
            rows = [r.model_copy(update={"stale": True}) for r in page.opportunities]
            page = page.model_copy(update={"opportunities": rows})
        return page

    async def dexes(self) -> DexList:
        raise FundingServiceError("not used by these tests")


# ---------------------------------------------------------------------------------------------------------------------
# a paper venue with faults


class FaultyVenue(PaperExchange):
    """A real paper venue whose behaviour a test can bend. "Entry" orders are the non-reduce-only ones."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.down = False  # every call raises TransientNetworkError
        self.reject_entries = False  # entries rejected (insufficient margin)
        self.rest_entries = False  # entries acknowledged but resting away from the book (never fill)
        self.fill_fraction: Decimal | None = None  # entries fill only this fraction (IOC remainder expires)
        self.down_after_entry = False  # an entry fills, then the venue stops answering
        self.raise_after_entry: Exception | None = None  # an entry fills, then this is raised ...
        self.exploding: Exception | None = None  # ... and lookups and position reads raise it until cleared
        self.hang_entries: asyncio.Event | None = None  # entries wait for this event (never set: hang)
        self.liquidation_pct: Decimal | None = None  # report a liquidation price this percent from the mark
        self.blink_positions = 0  # the next N positions() calls report nothing (a transient 0 position)
        self.position_errors = 0  # the next N position() calls raise RuntimeError
        self.entry_attempts = 0

    def _check(self) -> None:
        if self.down:
            raise TransientNetworkError(f"{self.name}: connection refused", exchange=self.name)

    async def place_order(self, request: OrderRequest) -> Order:
        self._check()
        if request.reduce_only:
            return await super().place_order(request)
        self.entry_attempts += 1
        if self.hang_entries is not None:
            await self.hang_entries.wait()
        if self.reject_entries:
            raise InsufficientMargin(f"{self.name}: insufficient margin", exchange=self.name)
        if self.rest_entries:
            market = self._markets[request.symbol]
            bid, ask = self._quote_at(request.symbol)
            away = market.tick_size * 100
            price = bid - away if request.side is Side.BUY else ask + away
            resting = request.model_copy(update={"price": price, "time_in_force": TimeInForce.GTC})
            return await super().place_order(resting)
        if self.fill_fraction is not None:
            market = self._markets[request.symbol]
            part = market.round_size(request.size * self.fill_fraction)
            if part <= 0:  # nothing fills: an IOC away from the book expires
                bid, ask = self._quote_at(request.symbol)
                away = market.tick_size * 100
                price = bid - away if request.side is Side.BUY else ask + away
                return await super().place_order(request.model_copy(update={"price": price}))
            order = await super().place_order(request.model_copy(update={"size": part}))
            final = order.model_copy(update={"size": request.size, "status": OrderStatus.EXPIRED})
            self._orders[order.order_id] = final
            return final
        order = await super().place_order(request)
        if self.down_after_entry:
            self.down = True
            raise TransientNetworkError(f"{self.name}: connection reset", exchange=self.name)
        if self.raise_after_entry is not None:
            self.exploding = self.raise_after_entry
            raise self.raise_after_entry
        return order

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        self._check()
        if self.exploding is not None:
            raise self.exploding
        return await super().find_order_by_client_id(symbol, client_order_id)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        self._check()
        return await super().get_order(symbol, order_id)

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        self._check()
        await super().cancel_order(symbol, order_id)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        self._check()
        return await super().open_orders(symbol)

    async def best_bid_ask(self, symbol: str) -> Quote:
        self._check()
        return await super().best_bid_ask(symbol)

    def _liquidation(self, position: Position) -> Position:
        if self.liquidation_pct is None or position.size == 0 or position.mark_price is None:
            return position
        distance = position.mark_price * self.liquidation_pct / 100
        liq = position.mark_price - distance if position.size > 0 else position.mark_price + distance
        return position.model_copy(update={"liquidation_price": liq})

    async def position(self, symbol: str) -> Position:
        self._check()
        if self.position_errors > 0:
            self.position_errors -= 1
            raise RuntimeError(f"{self.name}: unexpected answer")
        if self.exploding is not None:
            raise self.exploding
        return self._liquidation(await super().position(symbol))

    async def positions(self) -> list[Position]:
        self._check()
        if self.blink_positions > 0:
            self.blink_positions -= 1
            return []
        return [self._liquidation(p) for p in await super().positions()]

    async def balance(self) -> Balance:
        self._check()
        return await super().balance()


# ---------------------------------------------------------------------------------------------------------------------
# the rig


class TimedEvents(RecordingEvents):
    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock
        self.order_times: list[tuple[float, OrderRequest, OrderResult]] = []

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        super().on_order(order, result, latency_s)
        self.order_times.append((self.clock.time(), order, result))

    def on_fill(self, fill: Fill) -> None:
        super().on_fill(fill)

    def on_risk(self, breach: RiskBreach) -> None:
        super().on_risk(breach)

    def roles(self) -> list[str]:
        """Roles of accepted/filled orders in sending order (o entry, u unwind, b rebalance, x exit)."""
        return [
            r.client_order_id.split("-")[1]
            for _, r, res in self.order_times
            if res in (OrderResult.ACCEPTED, OrderResult.FILLED)
        ]

    def lone_leg_reports(self) -> list[str]:
        return [str(e) for e in self.errors if type(e).__name__ == "LoneLegError"]


TEST_TUNING = Tuning(poll_interval=60.0, risk_interval=5.0, unwind_backoff=1.0, entry_cooldown=600.0)


@dataclass
class Rig:
    clock: VirtualClock
    venues: dict[str, FaultyVenue]
    config: BotConfig
    risk: RiskManager
    events: TimedEvents
    source: PaperOpportunities
    strategy: FundingArbStrategy
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.strategy.run(self.stopping))

    async def run_for(self, seconds: float) -> None:
        if self.task is None:
            self.start()
        await self.clock.advance(seconds)
        if self.task is not None and self.task.done():
            self.task.result()

    async def run_real(self, seconds: float, *, real_pause: float = 0.05) -> None:
        """Like :meth:`run_for`, one virtual second at a time with a real pause after each: for code paths that
        sleep in real time (the exchange contract's ``submit_order`` retries a transient failure with
        ``asyncio.sleep``)."""
        if self.task is None:
            self.start()
        for _ in range(int(seconds)):
            await self.clock.advance(1)
            await asyncio.sleep(real_pause)
        if self.task is not None and self.task.done():
            self.task.result()

    async def stop(self, on_stop: OnStop | None = None) -> None:
        self.stopping.set()
        if self.task is not None:
            await self.clock.drive(self.task)
        if on_stop is not None:
            await self.clock.drive(self.strategy.shutdown(on_stop))

    async def crash(self) -> None:
        """Kill the strategy like a dying pod: no shutdown."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.strategy.stop_updates()

    def set_rates(self, **hourly: str) -> None:
        """``set_rates(paper_a="0.00001")``: the venue's funding model pays (and reports) this hourly rate."""
        for key, value in hourly.items():
            self.venues[key.replace("_", "-")].funding.hourly_rate = D(value)

    async def sizes(self, symbol: str = "BTC") -> dict[str, Decimal]:
        """Signed position per venue (contract units), read from the venues."""
        out = {}
        for name, venue in self.venues.items():
            was, venue.down = venue.down, False
            try:
                out[name] = (await PaperExchange.position(venue, symbol)).size
            finally:
                venue.down = was
        return out

    async def exposure(self, symbol: str = "BTC") -> Decimal:
        """Net base-asset exposure across the venues."""
        total = D(0)
        for name, size in (await self.sizes(symbol)).items():
            total += (await self.venues[name].market(symbol)).to_base_size(size)
        return total


def make_venue(clock: VirtualClock, config: BotConfig, name: str, rate: str | None, **options: Any) -> FaultyVenue:
    opts = dict(config.venue_options(name))
    opts.setdefault("fundingIntervalHours", "1")
    if rate is not None:
        opts["fundingRateHourly"] = rate
    opts.update(options)
    return FaultyVenue(name, opts, clock=clock)


async def build_rig(
    clock: VirtualClock,
    config: BotConfig,
    rates: Mapping[str, str | None],
    *,
    venues: dict[str, FaultyVenue] | None = None,
    venue_options: Mapping[str, Mapping[str, Any]] | None = None,
    tuning: Tuning = TEST_TUNING,
    source: PaperOpportunities | None = None,
) -> Rig:
    if venues is None:
        venues = {}
        for name, rate in rates.items():
            venue = make_venue(clock, config, name, rate, **dict((venue_options or {}).get(name, {})))
            await venue.connect()
            venues[name] = venue
    risk = RiskManager(config.risk, clock)
    events = TimedEvents(clock)
    source = source or PaperOpportunities(venues, clock)
    strategy = FundingArbStrategy(config, venues, risk, events, clock=clock, source=source, tuning=tuning)
    return Rig(clock, venues, config, risk, events, source, strategy)


def names(pairs: Sequence[Any]) -> list[str]:
    return sorted(p.symbol for p in pairs)
