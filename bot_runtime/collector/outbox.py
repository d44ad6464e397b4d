"""Cycles waiting for the funding service: bounded, sent oldest first by one sender, oldest dropped (with a warning)
when full. Nothing is lost silently: every drop is logged and counted.

``capacity`` cycles wait at most, plus the one being sent: a cycle leaves the outbox only once the funding service
accepted it; when sending fails it is the oldest waiting cycle again. Sizing: at the default 60 s interval the
default 120 cycles cover a two-hour outage (docs/collector.md, "Outbox").
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot_runtime.funding_api.ingest import IngestBatch

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds at least one cycle")
        self.capacity = capacity
        self._queue: deque[IngestBatch] = deque()
        self._sending: IngestBatch | None = None
        self.dropped = 0

    def __len__(self) -> int:
        """Cycles not yet accepted by the funding service (waiting, and the one being sent)."""
        return len(self._queue) + (self._sending is not None)

    def pending(self) -> tuple[IngestBatch, ...]:
        """The undelivered cycles, oldest first."""
        return ((self._sending,) if self._sending is not None else ()) + tuple(self._queue)

    @property
    def oldest_started_at(self) -> datetime | None:
        """When the oldest undelivered cycle started (None when everything is delivered)."""
        oldest = self._sending or (self._queue[0] if self._queue else None)
        return oldest.started_at if oldest is not None else None

    def put(self, batch: IngestBatch) -> None:
        self._queue.append(batch)
        self._trim()

    def _trim(self) -> None:
        while len(self._queue) > self.capacity:
            old = self._queue.popleft()
            self.dropped += 1
            log.warning(
                "outbox full: dropped the oldest undelivered cycle",
                extra={"cycle_id": old.cycle_id, "rates": len(old.rates), "capacity": self.capacity},
            )

    async def send_oldest(self, send: Callable[[IngestBatch], Awaitable[object]]) -> IngestBatch | None:
        """Send the oldest waiting cycle (None when none waits); it leaves the outbox once ``send`` returns. When
        ``send`` raises (or is cancelled) it is the oldest waiting cycle again. Only one sender may call this."""
        if not self._queue:
            return None
        batch = self._sending = self._queue.popleft()
        try:
            await send(batch)
        except BaseException:
            self._queue.appendleft(batch)
            self._trim()
            raise
        finally:
            self._sending = None
        return batch
