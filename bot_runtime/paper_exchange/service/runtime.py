"""The venues of a running paper exchange: in memory for speed, in PostgreSQL for truth.

Every operation on a venue runs under the venue's lock, in memory: first the market advances to now (steps, fills,
funding), then the operation. Its changes join the venue's open *batch*; one writer per venue stores a batch in one
transaction (group commit: the operations that arrived while the previous transaction was in flight share the next
one) and only then are their answers sent and their updates published, in order. So whatever a client was told is on
disk, and a fleet's order flow costs one commit per batch, not one per order.

If storing fails, the venue is dropped from memory and reloaded from the database on its next use; the operations of
that batch (and of the batch applied on top of it) get a 503: their outcome is "not happened", and a client looks
its order up by client id, as on any live venue.

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
class Batch:
    """Changes applied in memory, waiting to be stored together."""

    changes: list[Changes] = field(default_factory=list)
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(eq=False)
class VenueSlot:
    config: VenueConfig
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    venue: Venue | None = None
    subscribers: set[Subscriber] = field(default_factory=set)
    batch: Batch | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.Task[None] | None = None


def _take_batch(slot: VenueSlot) -> Batch | None:
    batch, slot.batch = slot.batch, None
    return batch


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
            slot.writer = asyncio.create_task(self._writer(slot), name=f"paper-exchange-writer:{slot.config.name}")
        self._ticker = asyncio.create_task(self._tick_loop(), name="paper-exchange-ticker")

    async def close(self) -> None:
        tasks = [t for t in [self._ticker, *(slot.writer for slot in self.slots.values())] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
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

    async def _writer(self, slot: VenueSlot) -> None:
        """Store the slot's batches one after another (see the module docstring)."""
        while True:
            await slot.wake.wait()
            slot.wake.clear()
            async with slot.lock:
                batch = _take_batch(slot)
                venue = slot.venue
            if batch is None:
                continue
            if venue is None:  # dropped after a failure: its batch cannot be stored
                batch.done.set_exception(DatabaseUnavailable("the venue is being reloaded; retry"))
                continue
            merged = Changes.merged(batch.changes)
            try:
                if merged:
                    async with self.db.connection() as conn:
                        await store.save(conn, venue, merged)
            except Exception as exc:
                async with slot.lock:
                    slot.venue = None  # memory is ahead of the database: reload the truth on next use
                    later = _take_batch(slot)  # applied on top of what was just lost
                reason = exc if isinstance(exc, DatabaseUnavailable) else DatabaseUnavailable(type(exc).__name__)
                if not isinstance(exc, DatabaseUnavailable):
                    log.error("%s: storing failed: %s", slot.config.name, exc)
                batch.done.set_exception(reason)
                if later is not None:
                    later.done.set_exception(DatabaseUnavailable("an earlier write failed; retry"))
                if slot.config.mirror is not None:  # the reload builds a new market with its own feed
                    from bot_runtime.paper_exchange.mirror import close_market

                    await close_market(venue.market)
                continue
            for account, _, _ in merged.updates:
                venue.accounts[account].fills.clear()  # stored; the engine need not keep them
            for account, _ in merged.payments:
                venue.accounts[account].funding_payments.clear()
            self._publish(slot, venue, merged)
            batch.done.set_result(None)

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
        """Advance ``name`` to now, then run ``operation`` on it; returns once both are stored (a refusal raised by
        ``operation`` changes nothing and is raised then too)."""
        slot = self.slot(name)
        error: Exception | None = None
        async with slot.lock:
            venue = await self._loaded(slot)
            if slot.batch is None:
                slot.batch = Batch()
            batch = slot.batch
            batch.changes.append(venue.advance(self.clock.time()))
            try:
                result, changes = operation(venue)
                batch.changes.append(changes)
            except Exception as exc:  # a refusal (rejected order, unknown id): no state change
                error = exc
            slot.wake.set()
        await asyncio.shield(batch.done)
        if error is not None:
            raise error
        return result

    # streams --------------------------------------------------------------------------------------------------------
    def subscribe(self, name: str, account: str | None, symbols: frozenset[str]) -> Subscriber:
        sub = Subscriber(account, symbols)
        self.slot(name).subscribers.add(sub)
        return sub

    def unsubscribe(self, name: str, sub: Subscriber) -> None:
        self.slot(name).subscribers.discard(sub)
