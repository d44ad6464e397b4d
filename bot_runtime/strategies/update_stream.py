"""A venue's order-update stream consumed for as long as a strategy runs: restarted when it ends or fails, on the
strategy's clock, after :data:`RESTART_BACKOFF` seconds (1, 2, 5, 10, then every 30 s) while it keeps ending without
delivering anything; an update delivered resets the backoff. Used by the grid's feed and funding-arb's streams (REST
stays the source of truth: what a stream missed, the strategies read)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import OrderUpdate

log = logging.getLogger(__name__)

RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
DRAIN_S = 1.0  # how long a stopping consumer may drain what is already queued

Stream = AsyncIterator[OrderUpdate]


async def consume(
    open_stream: Callable[[], Stream],
    on_update: Callable[[OrderUpdate], None],
    *,
    clock: Clock,
    closing: asyncio.Event,
    name: str,
    on_error: Callable[[BaseException], None],
    on_open: Callable[[Stream], None],
    on_reopen: Callable[[], None],
    first: Stream | None = None,
) -> None:
    """Consume ``first`` (or a stream from ``open_stream``), and every stream opened after one ended, until
    ``closing`` is set. ``on_open`` learns each new stream (to close it on stop); ``on_reopen`` counts the restarts."""
    failures = 0
    stream = first
    while not closing.is_set():
        try:
            if stream is None:
                stream = open_stream()
                on_open(stream)
            async for update in stream:
                on_update(update)
                failures = 0
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a stream that fails is restarted like one that ends
            log.warning("%s: order-update stream failed: %s", name, exc)
            on_error(exc)
        stream = None
        if closing.is_set():
            return
        delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
        failures += 1
        log.warning("%s: order-update stream ended; restarting in %.0fs", name, delay)
        if await clock.wait_event(closing, delay):
            return
        on_reopen()


async def stop_consumer(task: asyncio.Task[None], stream: Stream | None) -> None:
    """Close ``stream`` (which wakes its consumer), let the consumer drain what was queued for up to
    :data:`DRAIN_S`, then cancel it. The caller has set the consumer's ``closing`` event."""
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(task), timeout=DRAIN_S)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
