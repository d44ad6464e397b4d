"""The daily summary: at 00:00 UTC every day, a summary text from a callable, notified as the ``daily`` event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bot_runtime.notify.base import NotifyEvent
from bot_runtime.notify.dispatcher import NotificationDispatcher

log = logging.getLogger(__name__)


def seconds_until_next_midnight_utc(now: datetime) -> float:
    """Seconds from ``now`` (aware) to the next 00:00 UTC (a full day when ``now`` is exactly midnight)."""
    now = now.astimezone(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - now).total_seconds()


class DailySummary:
    def __init__(
        self,
        dispatcher: NotificationDispatcher,
        summary: Callable[[], str],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._dispatcher = dispatcher
        self._summary = summary
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self._dispatcher.enabled(NotifyEvent.DAILY):
            self._task = asyncio.create_task(self._run(), name="daily-summary")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def send_now(self) -> None:
        day = (self._clock() - timedelta(seconds=1)).date().isoformat()
        try:
            body = self._summary()
        except Exception:
            log.exception("daily summary failed")
            return
        self._dispatcher.notify(NotifyEvent.DAILY, f"daily summary {day}", body)

    async def _run(self) -> None:
        while True:
            # sleeps again if woken early (clock adjustments): fires only once the UTC date has changed
            target = self._clock().date() + timedelta(days=1)
            while self._clock().date() < target:  # noqa: ASYNC110 - waits for a wall-clock date, no event to await
                await asyncio.sleep(max(1.0, seconds_until_next_midnight_utc(self._clock())))
            self.send_now()
