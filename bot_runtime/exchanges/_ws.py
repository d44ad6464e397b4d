"""Shared streaming helpers for venue clients (asyncio, websockets 15):

* :class:`Backoff` - exponential backoff with jitter and a cap.
* :class:`ReconnectingWebSocket` - one logical WebSocket that reconnects with backoff, re-sends its subscriptions
  on every (re)connect and then runs a reconciliation hook, so events missed during the gap are fetched over REST.
* :class:`Broadcast` - fan-out of events to every ``async for`` consumer (the ``order_updates()`` iterators).
* :class:`SeenIds` - a bounded set, to drop fills seen twice (WebSocket and REST reconciliation overlap on purpose).

No SDK is imported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

log = logging.getLogger(__name__)

T = TypeVar("T")


class Backoff:
    """``initial * factor**n`` capped at ``maximum``, with +-``jitter`` (a fraction) randomisation."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, factor: float = 2.0, jitter: float = 0.2) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self.jitter = jitter
        self.attempt = 0

    def next(self) -> float:
        base = min(self.maximum, self.initial * self.factor**self.attempt)
        self.attempt += 1
        spread = base * self.jitter
        return max(0.0, base + random.uniform(-spread, spread))  # noqa: S311 - jitter, not crypto

    def reset(self) -> None:
        self.attempt = 0


class SeenIds:
    """Remember the last ``capacity`` ids; ``add`` returns False when the id was already seen."""

    def __init__(self, capacity: int = 20_000) -> None:
        self._order: deque[str] = deque()
        self._set: set[str] = set()
        self._capacity = capacity

    def add(self, item: str) -> bool:
        if item in self._set:
            return False
        self._set.add(item)
        self._order.append(item)
        if len(self._order) > self._capacity:
            self._set.discard(self._order.popleft())
        return True

    def __contains__(self, item: object) -> bool:
        return item in self._set

    def __len__(self) -> int:
        return len(self._set)


_CLOSED = object()


class Broadcast(Generic[T]):
    """Publish once, deliver to every subscriber. Events published before the first subscriber arrives are kept
    (up to ``backlog``) and delivered to it, so a strategy that starts iterating a moment late loses nothing."""

    def __init__(self, backlog: int = 10_000) -> None:
        self._queues: list[asyncio.Queue[Any]] = []
        self._backlog: deque[T] = deque(maxlen=backlog)
        self._had_subscriber = False
        self._closed = False

    def publish(self, item: T) -> None:
        if self._closed:
            return
        if not self._queues and not self._had_subscriber:
            self._backlog.append(item)
            return
        for queue in self._queues:
            queue.put_nowait(item)

    def close(self) -> None:
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_CLOSED)

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self) -> AsyncIterator[T]:
        """A new consumer, registered *now* (not at its first ``anext``), so nothing published after this call is
        missed. The first consumer ever also receives the backlog."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        if not self._had_subscriber:
            self._had_subscriber = True
            while self._backlog:
                queue.put_nowait(self._backlog.popleft())
        if self._closed:
            queue.put_nowait(_CLOSED)
        self._queues.append(queue)
        return _Subscription(self, queue)

    def _detach(self, queue: asyncio.Queue[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)


class _Subscription(AsyncIterator[T]):
    def __init__(self, hub: Broadcast[T], queue: asyncio.Queue[Any]) -> None:
        self._hub = hub
        self._queue = queue
        self._done = False

    def __aiter__(self) -> _Subscription[T]:
        return self

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _CLOSED:
            await self.aclose()
            raise StopAsyncIteration
        result: T = item
        return result

    async def aclose(self) -> None:
        self._done = True
        self._hub._detach(self._queue)


MessageHandler = Callable[[Any], Awaitable[None]]
SessionHook = Callable[["ReconnectingWebSocket"], Awaitable[None]]


class ReconnectingWebSocket:
    """A WebSocket that survives drops.

    On every successful connect it awaits ``on_connect(self)`` (send the subscriptions there, with
    :meth:`send_json`), then - from the second connect on - ``on_reconnect(self)`` (REST reconciliation of what
    happened during the gap; run *after* resubscribing so nothing falls between the two). Every received JSON
    message goes to ``on_message``. ``before_connect`` runs before every attempt (renew a login). Connection failures and drops are retried with :class:`Backoff` forever,
    until :meth:`close`.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        name: str,
        on_message: MessageHandler,
        on_connect: SessionHook | None = None,
        on_reconnect: SessionHook | None = None,
        before_connect: Callable[[], Awaitable[None]] | None = None,
        headers: Callable[[], Mapping[str, str]] | None = None,
        subprotocols: Callable[[], list[str]] | None = None,
        backoff: Backoff | None = None,
        ping_interval: float | None = 20.0,
        open_timeout: float = 10.0,
    ) -> None:
        self._url = url
        self.name = name
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_reconnect = on_reconnect
        self._before_connect = before_connect
        self._headers = headers
        self._subprotocols = subprotocols
        self.backoff = backoff or Backoff()
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.connects = 0  # successful connections so far
        self.last_error: str | None = None

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def url(self) -> str:
        return self._url() if callable(self._url) else self._url

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"ws:{self.name}")

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a plain deadline
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def send_json(self, message: Any) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        await ws.send(json.dumps(message))

    async def receive_json(self, timeout: float = 10.0) -> Any:  # noqa: ASYNC109 - a plain deadline
        """Read one message directly (only inside ``on_connect``, e.g. a venue's "connected" greeting)."""
        ws = self._ws
        if ws is None:
            raise ConnectionError(f"{self.name}: not connected")
        raw = await asyncio.wait_for(ws.recv(), timeout)
        return json.loads(raw)

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None
        self.connected.clear()

    async def _run(self) -> None:
        while not self._closing:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (ConnectionClosed, InvalidHandshake, InvalidURI, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            except Exception as exc:  # a handler bug must not kill the stream forever
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("%s: websocket session failed", self.name)
            self._ws = None
            self.connected.clear()
            if self.closing:
                return
            delay = self.backoff.next()
            log.warning("%s: websocket down (%s), reconnecting in %.2fs", self.name, self.last_error, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        if self._before_connect is not None:
            await self._before_connect()  # e.g. renew a session cookie used in the handshake headers
        headers = dict(self._headers()) if self._headers else None
        subprotocols = self._subprotocols() if self._subprotocols else None
        async with websockets.connect(
            self.url,
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            open_timeout=self._open_timeout,
            ping_interval=self._ping_interval,
            max_size=2**24,
        ) as ws:
            self._ws = ws
            self.connects += 1
            if self._on_connect is not None:
                await self._on_connect(self)
            if self.connects > 1 and self._on_reconnect is not None:
                await self._on_reconnect(self)
            self.backoff.reset()
            self.connected.set()
            async for raw in ws:
                text = raw.decode() if isinstance(raw, bytes) else raw
                try:
                    message = json.loads(text)
                except json.JSONDecodeError:
                    log.debug("%s: non-JSON frame ignored", self.name)
                    continue
                await self._on_message(message)
