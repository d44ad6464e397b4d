"""The in-process paper venue: the whole :class:`~bot_runtime.exchanges.base.Exchange` contract on a simulated
market, in the bot's own process (unit tests, and ``perpdex bot`` without a paper exchange URL). Its state dies with
the process; a deployed bot trades on the paper exchange service instead (:mod:`.client`).

The matching and accounting rules are the engine's (:mod:`bot_runtime.paper_exchange.engine.matching`), the very
code the service runs. This module only drives it on the injected clock (lazily on every call, and by a ticker task
every ``step`` so the streams move on their own):

- each market's mid price follows its :mod:`~bot_runtime.exchanges.paper.prices` path, one move per step;
  top of book: ``spreadTicks`` ticks around the mid (bid rounded down to the tick);
- each step's traded range (previous mid to current mid) trades through resting orders, up to
  ``volumePerStepUsd`` per side per step;
- funding at every interval boundary on the position notional at mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.exchanges.base import (
    Balance,
    Exchange,
    ExchangeError,
    Fill,
    Market,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    Quote,
    Side,
)
from bot_runtime.exchanges.paper.funding import FundingModel
from bot_runtime.exchanges.paper.markets import build_markets, build_paths
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import PricePath
from bot_runtime.exchanges.paper.streams import Hub, Subscription
from bot_runtime.exchanges.symbols import venue_family
from bot_runtime.paper_exchange.engine.accounting import Account
from bot_runtime.paper_exchange.engine.matching import AccountEngine, Sequencer, TopOfBook

log = logging.getLogger(__name__)

DEFAULT_CLOCK: Clock = SystemClock()


class PaperExchange(Exchange):
    def __init__(
        self,
        name: str = "paper",
        options: Mapping[str, Any] | PaperOptions | None = None,
        *,
        clock: Clock | None = None,
        price_paths: Mapping[str, PricePath] | None = None,
    ) -> None:
        if venue_family(name) != "paper":
            raise ValueError(f"a paper venue's name is 'paper' or 'paper-<suffix>', not {name!r}")
        self.name = name
        self.options = options if isinstance(options, PaperOptions) else PaperOptions.parse(name, options or {})
        self.clock = clock or self.options.clock or DEFAULT_CLOCK
        self._markets = build_markets(self.options)
        self._paths = build_paths(self.options, self.clock)
        for symbol, path in (price_paths or {}).items():
            if symbol not in self._markets:
                raise ValueError(f"{name}: no market {symbol!r} for a scripted price path")
            self._paths[symbol] = path
        self.funding = FundingModel.for_venue(name, self.options)
        self.engine = AccountEngine(
            name,
            self._markets,
            starting_balance=self.options.config.starting_balance_usd,
            leverage=self.options.config.leverage,
            ids=Sequencer(name),
        )
        now = self.clock.time()
        self._k = {symbol: path.index_at(now) for symbol, path in self._paths.items()}
        self._funding_period = self.funding.period(now)
        self._updates: Hub[OrderUpdate] = Hub()
        self._quotes: dict[str, Hub[Quote]] = {symbol: Hub() for symbol in self._markets}
        self._connected = False
        self._ticker: asyncio.Task[None] | None = None

    # the engine's state, for tests ----------------------------------------------------------------------------------
    @property
    def account(self) -> Account:
        return self.engine.account

    @property
    def fills(self) -> list[Fill]:
        return self.engine.fills

    @property
    def funding_payments(self) -> list[tuple[datetime, str, Decimal]]:
        return [(p.paid_at, p.symbol, p.amount) for p in self.engine.funding_payments]

    @property
    def _orders(self) -> dict[str, Order]:
        return self.engine.orders

    # lifecycle ------------------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._connected:
            return
        self._connected = True
        self._sync()
        self._ticker = asyncio.create_task(self._tick_loop(), name=f"{self.name}-ticker")

    async def close(self) -> None:
        self._connected = False
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        self._updates.end_all()
        for hub in self._quotes.values():
            hub.end_all()

    async def _tick_loop(self) -> None:
        while self._connected:
            await self.clock.sleep(self.options.step)
            try:
                self._sync()
            except Exception:  # the ticker must survive a bug report
                log.exception("%s: simulation step failed", self.name)

    def _require(self) -> None:
        if not self._connected:
            raise ExchangeError(f"{self.name}: not connected", exchange=self.name)

    def _market(self, symbol: str) -> Market:
        try:
            return self._markets[symbol]
        except KeyError:
            raise ExchangeError(f"{self.name}: no perpetual market for {symbol!r}", exchange=self.name) from None

    def _publish(self, events: list[OrderUpdate]) -> None:
        for event in events:
            self._updates.publish(event)

    # simulation -----------------------------------------------------------------------------------------------------
    def _sync(self) -> None:
        """Advance the simulation to the clock's now: price steps, fills, funding boundaries in time order."""
        now = self.clock.time()
        moved: set[str] = set()
        while (boundary := self.funding.boundary(self._funding_period)) <= now:
            moved |= self._advance_prices(boundary)
            self._pay_funding(boundary, self._funding_period)
            self._funding_period += 1
        moved |= self._advance_prices(now)
        for symbol in moved:
            if len(self._quotes[symbol]):
                self._quotes[symbol].publish(self._quote(symbol))

    def _advance_prices(self, t: float) -> set[str]:
        moved: set[str] = set()
        for symbol, path in self._paths.items():
            target = path.index_at(t)
            while self._k[symbol] < target:
                self._k[symbol] += 1
                self._match(symbol, self._k[symbol])
                moved.add(symbol)
        return moved

    def _mid(self, symbol: str, k: int | None = None) -> Decimal:
        return self._paths[symbol].price(self._k[symbol] if k is None else k)

    def _touch(self, symbol: str, k: int | None = None) -> TopOfBook:
        market = self._markets[symbol]
        spread = market.tick_size * self.options.spread_ticks
        bid = market.round_price(self._mid(symbol, k) - spread / 2)
        bid = max(bid, market.tick_size)
        shown = market.round_size(self.options.config.volume_per_step_usd / self._mid(symbol, k))
        return TopOfBook(bid, bid + spread, shown, shown)

    def _quote(self, symbol: str) -> Quote:
        touch = self._touch(symbol)
        k = self._k[symbol]
        return Quote(
            symbol=symbol,
            bid=touch.bid,
            ask=touch.ask,
            bid_size=touch.bid_size,
            ask_size=touch.ask_size,
            timestamp=self._time_of(symbol, k),
        )

    def _marks(self) -> dict[str, Decimal]:
        return {symbol: self._touch(symbol).mid for symbol in self._markets}

    def _time_of(self, symbol: str, k: int) -> datetime:
        return datetime.fromtimestamp(max(self._paths[symbol].time_of(k), 0.0), UTC)

    def _match(self, symbol: str, k: int) -> None:
        """The step's traded range (previous mid to this one) trades through resting orders."""
        previous, current = self._mid(symbol, max(k - 1, 0)), self._mid(symbol, k)
        volume = self.options.config.volume_per_step_usd / current
        self._publish(
            self.engine.trade_through(
                symbol,
                min(previous, current),
                max(previous, current),
                {Side.BUY: volume, Side.SELL: volume},
                self._time_of(symbol, k),
            )
        )

    def _pay_funding(self, boundary: float, period: int) -> None:
        when = datetime.fromtimestamp(boundary, UTC)
        for symbol in self._markets:
            self.engine.pay_funding(symbol, self._touch(symbol).mid, self.funding.rate(symbol, period), when)

    # market data ----------------------------------------------------------------------------------------------------
    async def markets(self) -> dict[str, Market]:
        return dict(self._markets)

    async def best_bid_ask(self, symbol: str) -> Quote:
        self._require()
        self._market(symbol)
        self._sync()
        return self._quote(symbol)

    def price_stream(self, symbol: str) -> Subscription[Quote]:
        self._market(symbol)
        return self._quotes[symbol].subscribe(latest_only=True)

    # orders ---------------------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> Order:
        self._require()
        self._market(request.symbol)
        self._sync()
        events = self.engine.place(request, self._touch(request.symbol), self._marks(), self.clock.now())
        self._publish(events)
        return events[-1].order

    async def cancel_order(self, symbol: str, order_id: str) -> None:
        self._require()
        self._sync()
        self._publish([self.engine.cancel(symbol, order_id, self.clock.now())])

    async def cancel_all(self, symbol: str | None = None) -> int:
        self._require()
        self._sync()
        if symbol is not None:
            self._market(symbol)
        events = self.engine.cancel_all(symbol, self.clock.now())
        self._publish(events)
        return len(events)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        self._require()
        self._sync()
        return self.engine.open_orders(symbol)

    async def get_order(self, symbol: str, order_id: str) -> Order | None:
        self._require()
        self._sync()
        order = self.engine.orders.get(order_id)
        return order if order is not None and order.symbol == symbol else None

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        self._require()
        self._sync()
        order = self.engine.find_by_client_id(client_order_id)
        return order if order is not None and order.symbol == symbol else None

    def order_updates(self) -> Subscription[OrderUpdate]:
        return self._updates.subscribe()

    # account --------------------------------------------------------------------------------------------------------
    async def position(self, symbol: str) -> Position:
        self._require()
        self._market(symbol)
        self._sync()
        return self.engine.position(symbol, self._touch(symbol).mid)

    async def positions(self) -> list[Position]:
        self._require()
        self._sync()
        return self.engine.positions(self._marks())

    async def balance(self) -> Balance:
        self._require()
        self._sync()
        return self.engine.balance(self._marks())
