"""One logical WebSocket that survives drops (asyncio, websockets >= 14).

:class:`ReconnectingWebSocket` owns a task that connects, awaits ``on_connect`` (authenticate and subscribe there,
with :meth:`~ReconnectingWebSocket.send_json` / :meth:`~ReconnectingWebSocket.receive_json`), then - on every
connection after the first attempt - ``on_reconnect`` (the REST reconciliation of what happened during the gap; run
*after* resubscribing, so nothing falls between the two), and hands every received JSON message (numbers as
:class:`~decimal.Decimal`) to ``on_message``. A drop, a failed handshake, ``idle_timeout`` seconds without a frame,
a failing ``on_connect``/``on_reconnect`` (even a non-retryable error such as refused credentials: it is logged and
retried, never the end of the stream) or :meth:`~ReconnectingWebSocket.reconnect` lead to a new connection after a
jittered exponential :class:`~bot_runtime.exchanges._shared.backoff.Backoff`; the backoff starts over only after a
connection stayed up for ``stable_after`` seconds, so a venue that accepts and drops at once is not hammered.

A message ``on_message`` cannot handle is logged and skipped (the connection stays); because it may have been a fill,
``on_reconnect`` then runs once more (at most every ``stable_after`` seconds) to catch up over REST.

:func:`relay` turns a socket plus a :class:`LatestQueue` into the async iterator behind ``price_stream``.

No SDK is imported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from bot_runtime.exchanges._shared.backoff import Backoff
from bot_runtime.exchanges._shared.http import loads
from bot_runtime.exchanges.base import ExchangeError

log = logging.getLogger(__name__)

T = TypeVar("T")
JSON = Any
MessageHandler = Callable[[JSON], Awaitable[None]]
SessionHook = Callable[["ReconnectingWebSocket"], Awaitable[None]]
UrlSource = str | Callable[[], str] | Callable[[], Awaitable[str]]
Answer = Callable[[JSON], JSON | None]


class ReconnectingWebSocket:
    """See the module docstring. ``url`` may be a string or a (sync or async) callable evaluated before every
    attempt (a fresh timestamp, a listen key); ``headers``/``subprotocols`` likewise (a session cookie, a signature).
    ``answer`` handles application-level pings: a message it returns a reply for is answered and not passed on."""

    def __init__(
        self,
        url: UrlSource,
        *,
        name: str,
        on_message: MessageHandler,
        on_connect: SessionHook | None = None,
        on_reconnect: SessionHook | None = None,
        before_connect: Callable[[], Awaitable[None]] | None = None,
        headers: Callable[[], Mapping[str, str]] | None = None,
        subprotocols: Callable[[], list[str]] | None = None,
        answer: Answer | None = None,
        backoff: Backoff | None = None,
        ping_interval: float | None = 20.0,
        open_timeout: float = 10.0,
        idle_timeout: float | None = None,
        stable_after: float = 10.0,
    ) -> None:
        self._url = url
        self.name = name
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_reconnect = on_reconnect
        self._before_connect = before_connect
        self._headers = headers
        self._subprotocols = subprotocols
        self._answer = answer
        self.backoff = backoff or Backoff()
        self._ping_interval = ping_interval
        self._open_timeout = open_timeout
        self._idle_timeout = idle_timeout
        self._stable_after = stable_after
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._last_resync = float("-inf")
        self.connected = asyncio.Event()
        self.attempts = 0  # connection attempts so far
        self.connects = 0  # successful connections so far
        self.last_error: str | None = None

    # lifecycle ------------------------------------------------------------------------------------------------------
    @property
    def closing(self) -> bool:
        return self._closing

    def start(self) -> None:
        if self._task is None and not self._closing:
            self._task = asyncio.create_task(self._run(), name=f"ws:{self.name}")

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a plain deadline
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def reconnect(self, reason: str) -> None:
        """Close the current connection; the socket reconnects (and resubscribes, and reconciles) by itself."""
        ws = self._ws
        if ws is not None:
            log.info("%s: reconnecting: %s", self.name, reason)
            await ws.close(code=1000, reason=reason[:100])

    async def close(self) -> None:
        self._closing = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.connected.clear()

    # I/O on the current connection ----------------------------------------------------------------------------------
    async def send_json(self, message: JSON) -> None:
        ws = self._ws
        if ws is None:
            raise ExchangeError(f"{self.name}: not connected")
        await ws.send(json.dumps(message, default=str))

    async def receive_json(self, timeout: float = 10.0) -> JSON:  # noqa: ASYNC109 - a plain deadline
        """Read the next message directly: only inside ``on_connect`` (a greeting, the reply to a login)."""
        ws = self._ws
        if ws is None:
            raise ExchangeError(f"{self.name}: not connected")
        return loads(await asyncio.wait_for(ws.recv(), timeout))

    # the loop -------------------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._closing:
            self.attempts += 1
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except ExchangeError as exc:
                self.last_error = str(exc)[:300]
                level = logging.WARNING if exc.retryable else logging.ERROR
                log.log(level, "%s: session failed: %s", self.name, self.last_error)
            except (WebSocketException, OSError, TimeoutError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            except Exception as exc:  # a bug in a hook must not end the stream for good
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("%s: websocket session failed", self.name)
            if self.closing:  # close() was called while the session ran
                return
            delay = self.backoff.next_delay()
            log.warning("%s: websocket down (%s), reconnecting in %.2fs", self.name, self.last_error, delay)
            await asyncio.sleep(delay)

    async def _target(self) -> str:
        if isinstance(self._url, str):
            return self._url
        target = self._url()
        return await target if inspect.isawaitable(target) else target

    async def _session(self) -> None:
        if self._before_connect is not None:
            await self._before_connect()
        target = await self._target()
        headers = dict(self._headers()) if self._headers else None
        subprotocols = self._subprotocols() if self._subprotocols else None
        loop = asyncio.get_running_loop()
        async with websockets.connect(
            target,
            additional_headers=headers,
            subprotocols=subprotocols,  # type: ignore[arg-type]
            open_timeout=self._open_timeout,
            ping_interval=self._ping_interval,
            max_size=2**24,
            compression=None,
        ) as ws:
            self._ws = ws
            opened = loop.time()
            try:
                self.connects += 1
                if self._on_connect is not None:
                    await self._on_connect(self)
                if self.attempts > 1 and self._on_reconnect is not None:
                    await self._on_reconnect(self)
                    self._last_resync = loop.time()
                self.connected.set()
                await self._read(ws)
            finally:
                self._ws = None
                self.connected.clear()
                if loop.time() - opened >= self._stable_after:
                    self.backoff.reset()

    async def _read(self, ws: ClientConnection) -> None:
        while True:
            if self._idle_timeout:
                raw = await asyncio.wait_for(ws.recv(), self._idle_timeout)
            else:
                raw = await ws.recv()
            try:
                message = loads(raw)
            except ValueError:
                log.debug("%s: non-JSON frame ignored", self.name)
                continue
            if self._answer is not None:
                reply = self._answer(message)
                if reply is not None:
                    await self.send_json(reply)
                    continue
            await self._dispatch(message)

    async def _dispatch(self, message: JSON) -> None:
        try:
            await self._on_message(message)
            return
        except asyncio.CancelledError:
            raise
        except ExchangeError as exc:
            log.warning("%s: message not handled: %s", self.name, exc)
        except Exception:
            log.exception("%s: message handler failed on %s", self.name, str(message)[:200])
        loop = asyncio.get_running_loop()
        if self._on_reconnect is not None and loop.time() - self._last_resync >= self._stable_after:
            self._last_resync = loop.time()
            await self._on_reconnect(self)  # it may have been a fill: catch up over REST


class LatestQueue(Generic[T]):
    """A bounded queue that drops its oldest item when full (a slow price consumer wants the latest quotes)."""

    def __init__(self, maxsize: int = 1000) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=maxsize)

    def put(self, item: T) -> None:
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    async def get(self) -> T:
        return await self._queue.get()


async def relay(ws: ReconnectingWebSocket, queue: LatestQueue[T]) -> AsyncGenerator[T, None]:
    """Start ``ws`` and yield what its handler puts into ``queue`` until the consumer stops; then close ``ws``."""
    ws.start()
    try:
        while True:
            yield await queue.get()
    finally:
        await ws.close()
