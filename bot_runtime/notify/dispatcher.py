"""The rate-limited notification dispatcher: never blocks trading, never fails it.

:meth:`NotificationDispatcher.notify` is synchronous and instant: it puts the message on each channel's bounded queue
(dropping the oldest when full, and saying so in the next message) and returns. One worker task per channel waits for
a token of that channel's bucket, sends, retries briefly on retryable errors (honouring Telegram's ``retry_after``),
and logs failures. Nothing a channel raises reaches the caller.

Title and body are redacted when queued (:class:`~bot_runtime.logs.SecretRedactor`: every credential of the
environment, JWTs, bearer tokens, webhook tokens), so a secret in an error message never reaches a chat.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from bot_runtime.logs import SecretRedactor
from bot_runtime.notify.base import ALL_EVENTS, Channel, Notification, NotificationError, NotifyEvent
from bot_runtime.notify.ratelimit import TokenBucket

log = logging.getLogger(__name__)

# result labels passed to ``on_result``: sent, failed (after retries), dropped (queue overflow or shutdown)
ResultHook = Callable[[str, str], None]


class _Lane:
    """One channel's queue, bucket, worker and drop counter."""

    def __init__(self, channel: Channel, bucket: TokenBucket, queue_size: int) -> None:
        self.channel = channel
        self.bucket = bucket
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(maxsize=queue_size)
        self.dropped_since_last_send = 0
        self.task: asyncio.Task[None] | None = None


class NotificationDispatcher:
    def __init__(
        self,
        channels: Sequence[Channel],
        *,
        events: Iterable[NotifyEvent | str] = ALL_EVENTS,
        rate_per_minute: float = 20.0,
        burst: int = 5,
        queue_size: int = 50,
        attempts: int = 3,
        retry_delay: float = 1.0,
        max_retry_after: float = 30.0,
        on_result: ResultHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        redactor: SecretRedactor | None = None,
    ) -> None:
        self.events = frozenset(NotifyEvent(e) for e in events)
        self.redactor = SecretRedactor.from_env() if redactor is None else redactor
        self.attempts = max(1, attempts)
        self.retry_delay = retry_delay
        self.max_retry_after = max_retry_after
        self._on_result = on_result
        self._lanes = [
            _Lane(ch, TokenBucket(rate=rate_per_minute / 60.0, capacity=burst, clock=clock), queue_size)
            for ch in channels
        ]

    @property
    def channels(self) -> list[str]:
        return [lane.channel.name for lane in self._lanes]

    def enabled(self, event: NotifyEvent | str) -> bool:
        return bool(self._lanes) and NotifyEvent(event) in self.events

    def pending(self) -> int:
        return sum(lane.queue.qsize() for lane in self._lanes)

    def _result(self, channel: str, result: str, count: int = 1) -> None:
        if self._on_result is not None:
            for _ in range(count):
                with contextlib.suppress(Exception):
                    self._on_result(channel, result)

    def notify(self, event: NotifyEvent | str, title: str, body: str = "") -> bool:
        """Queue a message for every channel if ``event`` is enabled; returns whether it was queued. Never raises."""
        try:
            if not self.enabled(event):
                return False
            message = Notification(NotifyEvent(event), self.redactor.redact(title), self.redactor.redact(body))
            for lane in self._lanes:
                if lane.queue.full():
                    lane.queue.get_nowait()
                    lane.dropped_since_last_send += 1
                    self._result(lane.channel.name, "dropped")
                lane.queue.put_nowait(message)
            return True
        except Exception:  # a notification must never break the caller
            log.exception("could not queue a notification")
            return False

    async def start(self) -> None:
        for lane in self._lanes:
            if lane.task is None:
                lane.task = asyncio.create_task(self._work(lane), name=f"notify-{lane.channel.name}")

    async def close(self, drain_s: float = 5.0) -> None:
        """Deliver what is queued within ``drain_s`` seconds (the stop message), then stop the workers."""
        if not self._lanes:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(lane.queue.join() for lane in self._lanes)), drain_s)
        except TimeoutError:
            log.warning("notifications still queued at shutdown were dropped", extra={"pending": self.pending()})
        for lane in self._lanes:
            if lane.task is not None:
                lane.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await lane.task
                lane.task = None
            left = lane.queue.qsize()
            if left:
                self._result(lane.channel.name, "dropped", left)
            with contextlib.suppress(Exception):
                await lane.channel.aclose()

    async def _work(self, lane: _Lane) -> None:
        while True:
            message = await lane.queue.get()
            try:
                await lane.bucket.acquire()
                dropped, lane.dropped_since_last_send = lane.dropped_since_last_send, 0
                await self._deliver(lane.channel, message, dropped)
            except asyncio.CancelledError:
                self._result(lane.channel.name, "dropped")  # the message in hand dies with the worker
                raise
            except Exception:  # never let the worker die
                log.exception("notification worker error", extra={"channel": lane.channel.name})
            finally:
                lane.queue.task_done()

    async def _deliver(self, channel: Channel, message: Notification, dropped: int) -> None:
        delay = self.retry_delay
        for attempt in range(1, self.attempts + 1):
            try:
                await channel.send(message, dropped=dropped)
                self._result(channel.name, "sent")
                return
            except NotificationError as exc:
                if not exc.retryable or attempt == self.attempts:
                    log.warning(
                        "notification not delivered",
                        extra={"channel": channel.name, "event": message.event.value, "error": str(exc)},
                    )
                    self._result(channel.name, "failed")
                    return
                wait = min(exc.retry_after, self.max_retry_after) if exc.retry_after else delay
                log.info(
                    "notification failed, retrying",
                    extra={"channel": channel.name, "error": str(exc), "attempt": attempt, "retry_in_s": wait},
                )
                await asyncio.sleep(wait)
                delay *= 2
