"""Helpers of the funding-arb tests: an in-test opportunity source computed from live paper venues by the funding
service's own finder, a paper venue with injectable faults, a strategy rig on virtual time.

The faults are the ways real venues misbehave (issue 21): one leg rejected again and again (margin, price band),
quotes that lag the book, replies lost after the order landed, orders that land long after the send timed out,
lookups that only see open orders, a venue that hangs or is down, an order-update stream that ends. :class:`ExposureLog` follows the venues' books fill
by fill, so a test can say how long the account was naked, whether an order was doubled (a venue's position beyond
one leg) and whether it ended flat or hedged."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot_runtime.clock import VirtualClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.base import (
    Balance,
    Exchange,
    Fill,
    InsufficientMargin,
    Order,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderUpdate,
    Position,
    Quote,
    Side,
    TimeInForce,
    TransientNetworkError,
)
from bot_runtime.exchanges.paper import PaperExchange
from bot_runtime.exchanges.paper.prices import PricePath
from bot_runtime.exchanges.paper.streams import Hub, Subscription
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


class FailingStream(Subscription[OrderUpdate]):
    """An order-update stream whose connection is reset as soon as it is read."""

    def __init__(self, hub: Hub[OrderUpdate], venue: str) -> None:
        super().__init__(hub)
        self.venue = venue

    async def __anext__(self) -> OrderUpdate:
        raise TransientNetworkError(f"{self.venue}: order-update stream reset", exchange=self.venue)


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
        self.rejection: OrderRejected | None = None  # what reject_entries raises (default: insufficient margin)
        self.lose_replies = 0  # the next N entries land (and fill), but their reply is lost (a timeout)
        self.lookup_open_only = False  # lookups by client id see open orders only (the Exchange default)
        self.land_after: float | None = None  # entries land this long after the send, which times out meanwhile
        self.land_reduces_after: float | None = None  # the same for reduce-only orders (trims, unwinds)
        self.late_reduces = 0  # reduce-only orders sent under land_reduces_after (distinct client ids)
        self.hang: asyncio.Event | None = None  # every call waits for this event (never set: the venue hangs)
        self.stall_from_entry: float | None = None  # from the next entry on, every call waits this long, then times
        # out (math.inf: the venue hangs); the entry itself does not land
        self._stalled = False
        self.stale_quotes: float | None = None  # quotes this many seconds old and 1 % off the book (IOCs miss)
        self.on_fill: Callable[[], None] | None = None  # told after every fill (the rig's exposure log)
        self.before_entry: Callable[[], None] | None = None  # called as an entry arrives (e.g. to move the price)
        self.lose_reduce_replies = 0  # the next N reduce-only orders land (and fill), but their reply is lost
        self.after_reduce: Callable[[OrderRequest], None] | None = None  # told after a reduce-only order landed
        # (e.g. to move the price through a resting maker exit)
        self.dead_streams = 0  # the next N order-update streams opened end at once, delivering nothing
        self.failing_streams = 0  # the next N order-update streams opened fail at once (a connection reset)
        self.streams_opened = 0
        self.late: list[asyncio.Task[None]] = []
        self._pending_landings: set[str] = set()  # client ids sent under land_after, not landed yet

    def end_streams(self) -> None:
        """Every open order-update stream ends (a websocket closed by the venue)."""
        self._updates.end_all()

    def order_updates(self) -> Subscription[OrderUpdate]:
        stream = super().order_updates()
        self.streams_opened += 1
        if self.dead_streams > 0 or self.failing_streams > 0:
            self._updates.remove(stream)
        if self.dead_streams > 0:
            self.dead_streams -= 1
            stream.end()
        elif self.failing_streams > 0:
            self.failing_streams -= 1
            return FailingStream(self._updates, self.name)
        return stream

    def _check(self) -> None:
        if self.down:
            raise TransientNetworkError(f"{self.name}: connection refused", exchange=self.name)

    async def _gate(self) -> None:
        if self.hang is not None:
            await self.hang.wait()
        if self._stalled and self.stall_from_entry is not None:
            if self.stall_from_entry == math.inf:
                await asyncio.Event().wait()
            await self.clock.sleep(self.stall_from_entry)
            raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
        self._check()

    def _publish(self, events: list[OrderUpdate]) -> None:
        for event in events:
            super()._publish([event])
            if event.fill is not None and self.on_fill is not None:
                self.on_fill()

    async def _land_later(self, request: OrderRequest, delay: float) -> None:
        await self.clock.sleep(delay)
        self._pending_landings.discard(request.client_order_id)
        with contextlib.suppress(Exception):
            await super().place_order(request)

    def _lands_late(self, request: OrderRequest, delay: float) -> bool:
        """``request`` goes into the venue's queue and lands ``delay`` seconds from its first send: True while it has
        not landed (its sends time out meanwhile); a new client id is queued, a resend of a queued one is not."""
        client_id = request.client_order_id
        if client_id not in self._pending_landings and client_id not in self.engine.by_client_id:
            self._pending_landings.add(client_id)
            self.late.append(asyncio.create_task(self._land_later(request, delay)))
        return client_id in self._pending_landings

    async def place_order(self, request: OrderRequest) -> Order:
        await self._gate()
        if request.reduce_only:
            if self.land_reduces_after is not None:
                queued = request.client_order_id in self._pending_landings
                if self._lands_late(request, self.land_reduces_after):
                    self.late_reduces += 0 if queued else 1
                    raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
                return await super().place_order(request)  # landed meanwhile: the venue says duplicate
            if self.lose_reduce_replies > 0 and request.client_order_id not in self.engine.by_client_id:
                self.lose_reduce_replies -= 1
                await super().place_order(request)
                raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
            landed = await super().place_order(request)
            if self.after_reduce is not None:
                self.after_reduce(request)
            return landed
        if self.before_entry is not None and request.client_order_id not in self.engine.by_client_id:
            self.before_entry()
        if self.land_after is not None:
            if request.client_order_id not in self._pending_landings and request.client_order_id not in (
                self.engine.by_client_id
            ):
                self.entry_attempts += 1
            if self._lands_late(request, self.land_after):
                raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
            return await super().place_order(request)  # landed meanwhile: the venue says duplicate
        if request.client_order_id in self.engine.by_client_id:
            return await super().place_order(request)  # a resend of a lost reply: the venue says duplicate
        self.entry_attempts += 1
        if self.stall_from_entry is not None:
            self._stalled = True
            await self._gate()
        if self.hang_entries is not None:
            await self.hang_entries.wait()
        if self.reject_entries:
            raise self.rejection or InsufficientMargin(f"{self.name}: insufficient margin", exchange=self.name)
        if self.lose_replies > 0:
            self.lose_replies -= 1
            await super().place_order(request)
            raise TransientNetworkError(f"{self.name}: request timed out", exchange=self.name)
        if self.rest_entries:
            market = self._markets[request.symbol]
            touch = self._touch(request.symbol)
            bid, ask = touch.bid, touch.ask
            away = market.tick_size * 100
            price = bid - away if request.side is Side.BUY else ask + away
            resting = request.model_copy(update={"price": price, "time_in_force": TimeInForce.GTC})
            return await super().place_order(resting)
        if self.fill_fraction is not None:
            market = self._markets[request.symbol]
            part = market.round_size(request.size * self.fill_fraction)
            if part <= 0:  # nothing fills: an IOC away from the book expires
                touch = self._touch(request.symbol)
                bid, ask = touch.bid, touch.ask
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
        await self._gate()
        if self.exploding is not None:
            raise self.exploding
        if self.lookup_open_only:
            return await Exchange.find_order_by_client_id(self, symbol, client_order_id)
        return await super().find_order_by_client_id(symbol, client_order_id)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        await self._gate()
        return await super().get_order(symbol, order_id)

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        await self._gate()
        await super().cancel_order(symbol, order_id)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        await self._gate()
        return await super().open_orders(symbol)

    async def best_bid_ask(self, symbol: str) -> Quote:
        await self._gate()
        quote = await super().best_bid_ask(symbol)
        if self.stale_quotes is None:
            return quote
        off = D("0.99")
        market = self._markets[symbol]
        return quote.model_copy(
            update={
                "bid": market.round_price(quote.bid * off),
                "ask": market.round_price(quote.ask * off),
                "timestamp": self.clock.now() - timedelta(seconds=self.stale_quotes),
            }
        )

    def _liquidation(self, position: Position) -> Position:
        if self.liquidation_pct is None or position.size == 0 or position.mark_price is None:
            return position
        distance = position.mark_price * self.liquidation_pct / 100
        liq = position.mark_price - distance if position.size > 0 else position.mark_price + distance
        return position.model_copy(update={"liquidation_price": liq})

    async def position(self, symbol: str) -> Position:
        await self._gate()
        if self.position_errors > 0:
            self.position_errors -= 1
            raise RuntimeError(f"{self.name}: unexpected answer")
        if self.exploding is not None:
            raise self.exploding
        return self._liquidation(await super().position(symbol))

    async def positions(self) -> list[Position]:
        await self._gate()
        if self.blink_positions > 0:
            self.blink_positions -= 1
            return []
        return [self._liquidation(p) for p in await super().positions()]

    async def balance(self) -> Balance:
        await self._gate()
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

    def on_fill(self, fill: Fill, partial: bool = False) -> None:
        super().on_fill(fill, partial)

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


class ExposureLog:
    """The venues' net base-asset exposure in one symbol after every fill, on the rig's clock: how long the account
    was naked (non-zero net exposure), and the largest position each venue held (more than one leg = an order
    doubled)."""

    def __init__(self, clock: VirtualClock, venues: Mapping[str, PaperExchange], symbol: str = "BTC") -> None:
        self.clock = clock
        self.venues = venues
        self.symbol = symbol
        self.changes: list[tuple[float, Decimal]] = [(clock.time(), D(0))]
        self.largest: dict[str, Decimal] = dict.fromkeys(venues, D(0))

    def record(self) -> None:
        total = D(0)
        for name, venue in self.venues.items():
            size = venue.account.book(self.symbol).size
            self.largest[name] = max(self.largest[name], abs(size))
            total += venue._markets[self.symbol].to_base_size(size)
        if total != self.changes[-1][1]:
            self.changes.append((self.clock.time(), total))

    def naked_spans(self) -> list[tuple[float, float, Decimal]]:
        """(start, end, exposure) of every stretch with a non-zero exposure (the last one ends now)."""
        spans: list[tuple[float, float, Decimal]] = []
        points = [*self.changes, (self.clock.time(), D(0))]
        for (start, value), (end, _) in itertools.pairwise(points):
            if value != 0:
                if spans and spans[-1][1] == start:
                    spans[-1] = (spans[-1][0], end, value)
                else:
                    spans.append((start, end, value))
        return spans

    def longest_naked(self) -> float:
        return max((end - start for start, end, _ in self.naked_spans()), default=0.0)


LEG = D("0.0166")  # one leg of the default config: 1000 USD at 60000 on the 0.0001 step
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
    exposure_log: ExposureLog
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def check_invariants(self, *, leg: Decimal = LEG, timeout: float = 30.0, breach_expected: bool = False) -> None:
        """What every fault scenario must keep (issue 21): the longest naked exposure <= singleLegTimeout + one poll,
        no order doubled (no venue ever held more than one leg), no (false) risk breach, flat or hedged now."""
        poll = self.strategy.tuning.poll_interval
        assert self.exposure_log.longest_naked() <= timeout + poll, self.exposure_log.naked_spans()
        for name, largest in self.exposure_log.largest.items():
            assert largest <= leg, f"{name} held {largest} > one leg {leg}: an order was doubled"
        if not breach_expected:
            assert self.risk.breach is None, self.risk.breach
        self.exposure_log.record()
        assert self.exposure_log.changes[-1][1] == 0, "neither flat nor hedged"

    def start(self) -> None:
        self.task = asyncio.create_task(self.strategy.run(self.stopping))

    async def run_for(self, seconds: float) -> None:
        if self.task is None:
            self.start()
        await self.clock.advance(seconds)
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


class MovablePath(PricePath):
    """A flat price that a test moves (``move(level)``: from the next step on), shared by venues for a hedged pair."""

    def __init__(self, clock: VirtualClock, level: str, step: float = 10.0) -> None:
        super().__init__(clock.time(), step)
        self.clock = clock
        self.levels: list[tuple[int, Decimal]] = [(0, D(level))]

    def move(self, level: str, *, at_once: bool = False) -> None:
        start = self.index_at(self.clock.time()) + (0 if at_once else 1)
        self.levels = [(k, v) for k, v in self.levels if k < start] + [(start, D(level))]

    def price(self, k: int) -> Decimal:
        return [value for start, value in self.levels if start <= k][-1]


def shared_path_venues(
    clock: VirtualClock, config: BotConfig, rates: Mapping[str, str], path: MovablePath
) -> dict[str, FaultyVenue]:
    """Venues that all follow ``path`` (not yet connected: the rig's users connect them)."""
    venues = {}
    for name, rate in rates.items():
        opts = dict(config.venue_options(name))
        opts.update(fundingIntervalHours="1", fundingRateHourly=rate)
        venues[name] = FaultyVenue(name, opts, clock=clock, price_paths={"BTC": path})
    return venues


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
    log = ExposureLog(clock, venues)
    for venue in venues.values():
        venue.on_fill = log.record
    return Rig(clock, venues, config, risk, events, source, strategy, log)


def names(pairs: Sequence[Any]) -> list[str]:
    return sorted(p.symbol for p in pairs)
