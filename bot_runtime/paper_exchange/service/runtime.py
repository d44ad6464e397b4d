"""The venues of a running paper exchange: in memory for speed, in PostgreSQL for truth.

Every operation on a venue runs under the venue's lock: first the market advances to now (steps, fills, funding),
then the operation; the :class:`~bot_runtime.paper_exchange.venue.Changes` of both are stored (one transaction each)
*before* the answer is sent or any update published, so whatever a client was told is on disk. If storing fails
the venue is dropped from memory and reloaded from the database on its next use (the failed operation's outcome is
then "not happened", and the client got a 503: it looks its order up by client id, as on any live venue).

A ticker advances every venue each ``tick_seconds`` even without requests, so resting orders fill, funding is paid
and quotes stream on their own. Subscribers (the WebSocket connections) get the stored updates of their account
and the quotes of their symbols.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.db.pool import Database, DatabaseUnavailable
from bot_runtime.paper_exchange.market import MarketSource, SyntheticMarket
from bot_runtime.paper_exchange.service import store
from bot_runtime.paper_exchange.venue import Changes, Venue
from bot_runtime.paper_exchange.venues import VenueConfig
from bot_runtime.paper_exchange.wire import OrderMessage, QuoteMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

#: a subscriber whose queue holds more than this is cut off (it reconnects with ``since`` and misses nothing)
MAX_BACKLOG = 50_000


def synthetic_markets(config: VenueConfig, epoch: float, cursor: Mapping[str, int] | None, now: float) -> MarketSource:
    if config.mirror is not None:
        from bot_runtime.paper_exchange.mirror import mirror_market

        return mirror_market(config)
    return SyntheticMarket(config.name, config.paper_options(), epoch=epoch, cursor=cursor, now=now)


class UnknownVenue(LookupError):
    pass


@dataclass(eq=False)
class Subscriber:
    account: str | None
    symbols: frozenset[str]
    queue: asyncio.Queue[tuple[int | None, str]] = field(default_factory=asyncio.Queue)  # (order seq, frame)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, seq: int | None, message: str) -> None:
        if self.queue.qsize() >= MAX_BACKLOG:
            self.overflowed.set()
            return
        self.queue.put_nowait((seq, message))


@dataclass(eq=False)
class VenueSlot:
    config: VenueConfig
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    venue: Venue | None = None
    subscribers: set[Subscriber] = field(default_factory=set)


class PaperExchangeRuntime:
    def __init__(
        self,
        db: Database,
        venues: list[VenueConfig],
        *,
        clock: Clock | None = None,
        markets: Callable[[VenueConfig, float, Mapping[str, int] | None, float], MarketSource] = synthetic_markets,
        tick_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.markets = markets
        self.tick_seconds = tick_seconds
        self.slots = {v.name: VenueSlot(v) for v in venues}
        self._ticker: asyncio.Task[None] | None = None

    # lifecycle ------------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        for slot in self.slots.values():
            try:
                async with slot.lock:
                    await self._loaded(slot)
            except DatabaseUnavailable as exc:
                log.warning("%s: not loaded yet, database unavailable: %s", slot.config.name, exc.reason)
        self._ticker = asyncio.create_task(self._tick_loop(), name="paper-exchange-ticker")

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for slot in self.slots.values():
            if slot.venue is not None and slot.config.mirror is not None:
                from bot_runtime.paper_exchange.mirror import close_market

                await close_market(slot.venue.market)

    async def _tick_loop(self) -> None:
        while True:
            await self.clock.sleep(self.tick_seconds)
            for name in list(self.slots):
                try:
                    await self.run(name, lambda _venue: (None, Changes()))
                except DatabaseUnavailable as exc:
                    log.warning("%s: market not advanced, database unavailable: %s", name, exc.reason)
                except Exception:
                    log.exception("%s: market step failed", name)

    # running operations ---------------------------------------------------------------------------------------------
    def slot(self, name: str) -> VenueSlot:
        try:
            return self.slots[name]
        except KeyError:
            raise UnknownVenue(f"no paper venue {name!r}; known: {', '.join(sorted(self.slots))}") from None

    async def _loaded(self, slot: VenueSlot) -> Venue:
        if slot.venue is None:
            now = self.clock.time()
            slot.venue = await self.db.run(lambda c: store.load_venue(c, slot.config, now, self.markets))
            log.info("%s: loaded (%d accounts)", slot.config.name, len(slot.venue.accounts))
        return slot.venue

    async def _store(self, slot: VenueSlot, venue: Venue, changes: Changes) -> None:
        if not changes:
            return
        try:
            async with self.db.connection() as conn:
                await store.save(conn, venue, changes)
        except BaseException:
            slot.venue = None  # memory is ahead of the database: reload the truth on next use
            raise
        for account, _, _ in changes.updates:
            engine = venue.accounts[account]
            engine.fills.clear()  # stored; the engine need not keep them
        for account, _ in changes.payments:
            venue.accounts[account].funding_payments.clear()

    def _publish(self, slot: VenueSlot, venue: Venue, changes: Changes) -> None:
        if not slot.subscribers:
            return
        quotes = {s: QuoteMessage(quote=venue.market.quote(s)).model_dump_json() for s in changes.moved}
        for sub in list(slot.subscribers):
            for account, seq, update in changes.updates:
                if account == sub.account:
                    sub.push(seq, OrderMessage(seq=seq, update=update).model_dump_json())
            for symbol in sub.symbols & quotes.keys():
                sub.push(None, quotes[symbol])

    async def run(self, name: str, operation: Callable[[Venue], tuple[T, Changes]]) -> T:
        """Advance ``name`` to now, then run ``operation`` on it; both stored before anything is returned."""
        slot = self.slot(name)
        async with slot.lock:
            venue = await self._loaded(slot)
            advanced = venue.advance(self.clock.time())
            await self._store(slot, venue, advanced)
            self._publish(slot, venue, advanced)
            result, changes = operation(venue)
            await self._store(slot, venue, changes)
            self._publish(slot, venue, changes)
            return result

    # streams --------------------------------------------------------------------------------------------------------
    def subscribe(self, name: str, account: str | None, symbols: frozenset[str]) -> Subscriber:
        sub = Subscriber(account, symbols)
        self.slot(name).subscribers.add(sub)
        return sub

    def unsubscribe(self, name: str, sub: Subscriber) -> None:
        self.slot(name).subscribers.discard(sub)
