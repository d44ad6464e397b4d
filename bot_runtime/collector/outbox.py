"""Cycles waiting for the funding service: bounded, oldest delivered first, oldest dropped (with a warning) when full.
Nothing is lost silently: every drop is logged and counted."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable

from bot_runtime.funding_api.ingest import IngestBatch

log = logging.getLogger(__name__)


class Outbox:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._queue: deque[IngestBatch] = deque()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, batch: IngestBatch) -> None:
        if len(self._queue) >= self.capacity:
            old = self._queue.popleft()
            self.dropped += 1
            log.warning(
                "outbox full: dropped the oldest undelivered cycle",
                extra={"cycle_id": old.cycle_id, "rates": len(old.rates), "capacity": self.capacity},
            )
        self._queue.append(batch)

    async def flush(self, send: Callable[[IngestBatch], Awaitable[object]]) -> int:
        """Deliver in order until one fails (it stays at the head); returns how many were delivered."""
        delivered = 0
        while self._queue:
            await send(self._queue[0])
            self._queue.popleft()
            delivered += 1
        return delivered
