"""Mirror mode: a paper venue on a live venue's public market (paper trading on the live market, no credentials).

The live venue's public streams give the top of book and the trades, its public funding endpoint (the venue's own
funding adapter, polled every ``fundingPollSeconds``, default 60) the rate each market pays; the venue's own options
give its market rules (tick size, size step, fees: copy them from the live venue's schedule) and the funding interval
(``fundingIntervalHours``: 8 for Aster). Until the first poll answers, a market pays the options' synthetic rate.

The queue model (what decides a paper fill):

- a resting paper order fills only when a live trade prints **through** its price: a buy when a trade prints strictly
  below it, a sell strictly above. A print *at* the order's price does not fill it: the paper order's place in the
  live queue at that price is unknown, and every order already resting there is ahead of it (a back-of-the-queue
  model: it never fills sooner than a real order would, only possibly later);
- each print fills at most its own size, paper orders best price first, then oldest;
- a crossing paper order (a taker) fills at once at the live touch, up to the size shown there; what is left of an IOC
  or market order expires, the rest of a GTC order rests;
- trades printed while the paper exchange was down are not replayed (the live market moved on without it).

Sources: ``aster`` (its Binance-shaped public streams ``<symbol>usdt@bookTicker`` and ``<symbol>usdt@aggTrade`` on one
combined connection, parsed with the Aster client's own wire model, through the project's reconnecting WebSocket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from bot_runtime.exchanges._shared.ws import ReconnectingWebSocket
from bot_runtime.exchanges.aster.settings import DEFAULT_WS_URL as ASTER_WS_URL
from bot_runtime.exchanges.aster.wire import BookTicker
from bot_runtime.exchanges.base import FundingRate, Market, Quote
from bot_runtime.exchanges.paper.funding import FundingModel
from bot_runtime.exchanges.paper.markets import build_markets
from bot_runtime.paper_exchange.engine.matching import TopOfBook
from bot_runtime.paper_exchange.market import FundingSchedule, MarketStep
from bot_runtime.paper_exchange.venue import MarketNotFound
from bot_runtime.paper_exchange.venues import MIRROR_SOURCES, VenueConfig

log = logging.getLogger(__name__)


class PublicFeed(Protocol):
    """A live venue's public market data, pushed into a :class:`MirrorMarket`."""

    def start(self, market: MirrorMarket) -> None: ...

    async def close(self) -> None: ...


class AsterPublicFeed:
    def __init__(self, ws_url: str, symbols: list[str]) -> None:
        self.ws_url = ws_url.rstrip("/")
        self.by_venue_symbol = {f"{s}USDT": s for s in symbols}
        self._socket: ReconnectingWebSocket | None = None

    def url(self) -> str:
        streams = "/".join(f"{v.lower()}@{kind}" for v in self.by_venue_symbol for kind in ("bookTicker", "aggTrade"))
        return f"{self.ws_url}/stream?streams={streams}"

    def start(self, market: MirrorMarket) -> None:
        async def on_message(message: Any) -> None:
            data = message.get("data", message) if isinstance(message, Mapping) else None
            if not isinstance(data, Mapping):
                return
            symbol = self.by_venue_symbol.get(str(data.get("s", "")).upper())
            if symbol is None:
                return
            if data.get("e") == "bookTicker":
                ticker = BookTicker.from_stream(dict(data))
                market.on_quote(symbol, ticker.bid_price, ticker.ask_price, ticker.bid_qty, ticker.ask_qty)
            elif data.get("e") == "aggTrade":
                when = datetime.fromtimestamp(int(data.get("T") or data.get("E") or 0) / 1000, UTC)
                market.on_trade(symbol, Decimal(str(data["p"])), Decimal(str(data["q"])), when)

        self._socket = ReconnectingWebSocket(self.url, name="mirror:aster", on_message=on_message)
        self._socket.start()

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()


class LiveFunding:
    """The live venue's latest rate per market (per interval), on the venue's own interval; the synthetic model until
    a market's first live rate arrives."""

    def __init__(self, fallback: FundingModel) -> None:
        self.fallback = fallback
        self.interval_hours = fallback.interval_hours
        self.live: dict[str, Decimal] = {}

    def period(self, t: float) -> int:
        return self.fallback.period(t)

    def boundary(self, period: int) -> float:
        return self.fallback.boundary(period)

    def rate(self, symbol: str, period: int) -> Decimal:
        live = self.live.get(symbol)
        return live if live is not None else self.fallback.rate(symbol, period)

    def update(self, rates: list[FundingRate]) -> None:
        for r in rates:
            if r.interval_hours != self.interval_hours:  # pay per the venue's interval: rescale the live rate
                self.live[r.symbol] = r.rate / r.interval_hours * self.interval_hours
            else:
                self.live[r.symbol] = r.rate


class FundingFeed(Protocol):
    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]: ...

    async def close(self) -> None: ...


class MirrorMarket:
    def __init__(
        self, config: VenueConfig, feed: PublicFeed, funding: FundingFeed | None = None, poll_seconds: float = 60.0
    ) -> None:
        assert config.mirror is not None
        self.name = config.name
        options = config.paper_options()
        wanted = {s.upper() for s in config.mirror.symbols}
        self.markets: dict[str, Market] = {s: m for s, m in build_markets(options).items() if s in wanted}
        self.live_funding = LiveFunding(FundingModel.for_venue(config.name, options))
        self.funding: FundingSchedule = self.live_funding
        self.feed = feed
        self.funding_feed = funding
        self.poll_seconds = poll_seconds
        self._poller: asyncio.Task[None] | None = None
        self._quotes: dict[str, Quote] = {}
        self._trades: list[MarketStep] = []
        self._started = False

    async def _poll_funding(self) -> None:
        assert self.funding_feed is not None
        while True:
            try:
                self.live_funding.update(await self.funding_feed.funding_rates(sorted(self.markets)))
            except Exception as exc:  # the live venue's hiccup keeps the last rates
                log.warning("%s: live funding rates not read: %s", self.name, exc)
            await asyncio.sleep(self.poll_seconds)

    # fed by the live venue --------------------------------------------------------------------------------------
    def on_quote(
        self, symbol: str, bid: Decimal, ask: Decimal, bid_size: Decimal | None, ask_size: Decimal | None
    ) -> None:
        self._quotes[symbol] = Quote(symbol=symbol, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size)

    def on_trade(self, symbol: str, price: Decimal, size: Decimal, when: datetime) -> None:
        self._trades.append(MarketStep(symbol=symbol, low=price, high=price, volume=size, when=when))

    # MarketSource ---------------------------------------------------------------------------------------------------
    def quote(self, symbol: str) -> Quote:
        try:
            return self._quotes[symbol]
        except KeyError:
            raise MarketNotFound(f"{self.name}: no live quote for {symbol} yet") from None

    def touch(self, symbol: str) -> TopOfBook:
        q = self.quote(symbol)
        return TopOfBook(q.bid, q.ask, q.bid_size, q.ask_size)

    def advance(self, t: float) -> list[MarketStep]:
        if not self._started:
            self._started = True
            self.feed.start(self)
            if self.funding_feed is not None:
                self._poller = asyncio.get_running_loop().create_task(self._poll_funding(), name=f"{self.name}-funding")
        steps, self._trades = self._trades, []
        return steps

    def cursor(self) -> dict[str, int]:
        return {}

    async def aclose(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._poller
        with contextlib.suppress(Exception):
            await self.feed.close()
        if self.funding_feed is not None:
            with contextlib.suppress(Exception):
                await self.funding_feed.close()


def mirror_market(config: VenueConfig) -> MirrorMarket:
    assert config.mirror is not None
    source = config.mirror.venue
    if source == "aster":
        from bot_runtime.exchanges.registry import create_funding_source

        ws_url = str(config.mirror.options.get("wsUrl") or config.mirror.options.get("ws_url") or ASTER_WS_URL)
        return MirrorMarket(
            config,
            AsterPublicFeed(ws_url, sorted(s.upper() for s in config.mirror.symbols)),
            create_funding_source(
                "aster", {k: v for k, v in config.mirror.options.items() if k != "fundingPollSeconds"}
            ),
            float(config.mirror.options.get("fundingPollSeconds", 60)),
        )
    raise ValueError(f"{config.name}: mirror source {source!r} is not supported; one of {', '.join(MIRROR_SOURCES)}")


async def close_market(market: object) -> None:
    """Stop a market source's background feed, if it has one."""
    if isinstance(market, MirrorMarket):
        await market.aclose()
    await asyncio.sleep(0)
