"""Mirror mode: a paper venue on a live venue's public market (paper trading on the live market, no credentials).

The live venue's public streams give the top of book and the trades; the venue's own options give its market rules
(tick size, size step, fees: copy them from the live venue's schedule) and funding (the synthetic model; live
funding rates are not mirrored yet).

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
from bot_runtime.exchanges.base import Market, Quote
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


class MirrorMarket:
    def __init__(self, config: VenueConfig, feed: PublicFeed) -> None:
        assert config.mirror is not None
        self.name = config.name
        options = config.paper_options()
        wanted = {s.upper() for s in config.mirror.symbols}
        self.markets: dict[str, Market] = {s: m for s, m in build_markets(options).items() if s in wanted}
        self.funding: FundingSchedule = FundingModel.for_venue(config.name, options)
        self.feed = feed
        self._quotes: dict[str, Quote] = {}
        self._trades: list[MarketStep] = []
        self._started = False

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
        steps, self._trades = self._trades, []
        return steps

    def cursor(self) -> dict[str, int]:
        return {}

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.feed.close()


def mirror_market(config: VenueConfig) -> MirrorMarket:
    assert config.mirror is not None
    source = config.mirror.venue
    if source == "aster":
        ws_url = str(config.mirror.options.get("wsUrl") or config.mirror.options.get("ws_url") or ASTER_WS_URL)
        return MirrorMarket(config, AsterPublicFeed(ws_url, sorted(s.upper() for s in config.mirror.symbols)))
    raise ValueError(f"{config.name}: mirror source {source!r} is not supported; one of {', '.join(MIRROR_SOURCES)}")


async def close_market(market: object) -> None:
    """Stop a market source's background feed, if it has one."""
    if isinstance(market, MirrorMarket):
        await market.aclose()
    await asyncio.sleep(0)
