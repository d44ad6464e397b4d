"""The funding-arb strategy's order-update streams, one per venue (a convenience: REST stays the source of truth).

Every update a venue streams goes to ``on_update(venue, update)`` (the strategy keeps the bot's own: fees into the
ledger, fills to the events, order changes to the confirmers waiting for them). A stream that ends or fails is
restarted on the strategy's clock: after :data:`RESTART_BACKOFF` seconds (1, 2, 5, 10, then every 30 s) while it keeps
ending without delivering anything; an update delivered resets the backoff. What a stream missed meanwhile the strategy
reads over REST: confirmers read the order they follow, the cycle reads positions. :meth:`OrderStreams.stop` lets each
consumer drain what is queued (up to a second), then ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import Exchange, OrderUpdate

log = logging.getLogger(__name__)

RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)


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

    async def _consume(self, venue: str, exchange: Exchange, stream: AsyncIterator[OrderUpdate] | None) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                if stream is None:
                    stream = exchange.order_updates()
                    self._streams[venue] = stream
                async for update in stream:
                    self.on_update(venue, update)
                    failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a stream that fails is restarted like one that ends
                log.warning("%s: %s order-update stream failed: %s", self.name, venue, exc)
                self.on_error(exc)
            stream = None
            if self._closing.is_set():
                return
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
            failures += 1
            log.warning("%s: %s order-update stream ended; restarting in %.0fs", self.name, venue, delay)
            if await self.clock.wait_event(self._closing, delay):
                return
            self.restarts[venue] += 1

    async def stop(self) -> None:
        """Stop consuming (after letting each consumer drain what was already queued, up to a second)."""
        tasks, streams = self._tasks, self._streams
        self._closing.set()
        self._tasks, self._streams = {}, {}
        for stream in streams.values():
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        for task in tasks.values():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), timeout=1.0)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
