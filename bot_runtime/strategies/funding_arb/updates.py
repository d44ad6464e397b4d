"""The funding-arb strategy's order-update streams, one per venue (a convenience: REST stays the source of truth).

Every update a venue streams goes to ``on_update(venue, update)`` (the strategy keeps the bot's own: fees into the
ledger, fills to the events, order changes to the confirmers waiting for them). A stream that ends or fails is
restarted on the strategy's clock: after :data:`~bot_runtime.strategies.update_stream.RESTART_BACKOFF` seconds (1, 2, 5, 10, then every 30 s) while it keeps
ending without delivering anything; an update delivered resets the backoff. What a stream missed meanwhile the strategy
reads over REST: confirmers read the order they follow, the cycle reads positions. :meth:`OrderStreams.stop` lets each
consumer drain what is queued (up to a second), then ends it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import Exchange, OrderUpdate
from bot_runtime.strategies.update_stream import consume, stop_consumer


class OrderStreams:
    def __init__(
        self,
        exchanges: Mapping[str, Exchange],
        clock: Clock,
        *,
        name: str,
        on_update: Callable[[str, OrderUpdate], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self.exchanges = exchanges
        self.clock = clock
        self.name = name
        self.on_update = on_update
        self.on_error = on_error
        self.restarts: dict[str, int] = dict.fromkeys(exchanges, 0)  # venue → streams opened again after one ended
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._streams: dict[str, AsyncIterator[OrderUpdate]] = {}
        self._closing = asyncio.Event()

    def start(self) -> None:
        """One consumer per venue, each stream opened here, before anything is traded (a second call does nothing
        while they run)."""
        if self._tasks:
            return
        self._closing.clear()
        for venue, exchange in self.exchanges.items():
            stream = exchange.order_updates()
            self._streams[venue] = stream
            self._tasks[venue] = asyncio.create_task(
                self._consume(venue, exchange, stream), name=f"{self.name}-{venue}-updates"
            )

    async def _consume(self, venue: str, exchange: Exchange, stream: AsyncIterator[OrderUpdate]) -> None:
        def opened(new: AsyncIterator[OrderUpdate]) -> None:
            self._streams[venue] = new

        def reopened() -> None:
            self.restarts[venue] += 1

        await consume(
            exchange.order_updates,
            lambda update: self.on_update(venue, update),
            clock=self.clock,
            closing=self._closing,
            name=f"{self.name} {venue}",
            on_error=self.on_error,
            on_open=opened,
            on_reopen=reopened,
            first=stream,
        )

    async def stop(self) -> None:
        """Stop consuming (after letting each consumer drain what was already queued, up to a second)."""
        tasks, streams = self._tasks, self._streams
        self._closing.set()
        self._tasks, self._streams = {}, {}
        await asyncio.gather(*(stop_consumer(task, streams.get(venue)) for venue, task in tasks.items()))
