"""A WebSocket message source that never gives up: it (re)connects with backoff, re-runs the subscription on every
new connection and tells its consumer when a connection (re)opened, so the consumer can reconcile over REST."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from bot_runtime.exchanges._shared.backoff import Backoff
from bot_runtime.exchanges._shared.http import loads
from bot_runtime.exchanges.base import ExchangeError

log = logging.getLogger(__name__)

JSON = Any


@dataclass(frozen=True)
class Opened:
    """Yielded after the subscription was sent on a fresh connection; ``reconnect`` is False for the first one."""

    reconnect: bool
    connection_number: int


UrlFactory = Callable[[], Awaitable[str]]
OnOpen = Callable[[ClientConnection], Awaitable[None]]


class ReconnectingWebSocket:
    """``messages()`` yields :class:`Opened` markers and decoded JSON messages (Decimal numbers) forever.

    ``url`` is awaited before every connection attempt (a venue may need a fresh token or listen key), ``on_open``
    authenticates/subscribes on the new connection. A network failure, a close frame, ``idle_timeout`` seconds
    without a message or :meth:`reconnect` lead to a new connection after a jittered exponential backoff (reset once
    a connection delivered a message). A non-retryable :class:`ExchangeError` from ``url``/``on_open`` (bad
    credentials) ends the iteration by raising it.
    """

    def __init__(
        self,
        url: UrlFactory,
        on_open: OnOpen,
        *,
        name: str,
        backoff: Backoff | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        idle_timeout: float | None = None,
    ) -> None:
        self._url = url
        self._on_open = on_open
        self.name = name
        self.backoff = backoff or Backoff()
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.idle_timeout = idle_timeout
        self._ws: ClientConnection | None = None
        self.connections = 0

    async def reconnect(self, reason: str) -> None:
        """Close the current connection; ``messages()`` reconnects (and resubscribes) by itself."""
        ws = self._ws
        if ws is not None:
            log.info("%s: reconnecting: %s", self.name, reason)
            await ws.close(code=1000, reason=reason[:100])

    async def send_json(self, message: JSON) -> None:
        if self._ws is None:
            raise ExchangeError(f"{self.name}: not connected")
        await self._ws.send(json.dumps(message, default=str))

    async def messages(self) -> AsyncIterator[Opened | JSON]:
        while True:
            try:
                target = await self._url()
                async with websockets.connect(
                    target,
                    open_timeout=self.open_timeout,
                    ping_interval=self.ping_interval,
                    max_size=2**24,
                    compression=None,
                ) as ws:
                    self._ws = ws
                    await self._on_open(ws)
                    self.connections += 1
                    yield Opened(reconnect=self.connections > 1, connection_number=self.connections)
                    while True:
                        if self.idle_timeout:
                            raw = await asyncio.wait_for(ws.recv(), self.idle_timeout)
                        else:
                            raw = await ws.recv()
                        self.backoff.reset()
                        try:
                            message = loads(raw)
                        except ValueError:
                            log.debug("%s: ignoring a non-JSON frame", self.name)
                            continue
                        yield message
            except ExchangeError as exc:
                if not exc.retryable:
                    raise
                log.warning("%s: %s", self.name, exc)
            except (OSError, TimeoutError, WebSocketException) as exc:
                log.warning("%s: connection lost (%s)", self.name, type(exc).__name__)
            finally:
                self._ws = None
            delay = self.backoff.next_delay()
            log.info("%s: reconnecting in %.2fs (attempt %d)", self.name, delay, self.backoff.attempts)
            await asyncio.sleep(delay)
