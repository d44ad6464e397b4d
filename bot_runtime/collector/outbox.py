"""Cycles waiting for the funding service: bounded, sent oldest first by one sender, oldest dropped (with a warning)
when full. Nothing is lost silently: every drop is logged and counted.

``capacity`` cycles wait at most, plus the one being sent: a cycle leaves the outbox only once the funding service
accepted it; when sending fails it is the oldest waiting cycle again. Sizing: at the default 60 s interval the
default 120 cycles cover a two-hour outage (``spec.bufferCycles``; docs/collector.md, "Outbox").

A waiting cycle is packed (its JSON, zlib-compressed) as soon as a newer one queues behind it: a 2,400-rate cycle
takes about 5.3 MB as validated models and about 71 KB packed, so a full outbox of 120 such cycles needs about 9 MB
instead of 640 MB (the collector's default memory limit is 768 MiB). A healthy collector never packs: each cycle is
sent before the next one is collected. A packed cycle is validated again when it is sent.
"""

from __future__ import annotations

import logging
import zlib
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime

from bot_runtime.funding_api.ingest import IngestBatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Waiting:
    """A cycle in the outbox: the batch itself while it is the newest, packed once another cycle queues behind it."""

    cycle_id: str
    started_at: datetime
    rates: int
    batch: IngestBatch | None = None
    packed: bytes | None = None

    @classmethod
    def of(cls, batch: IngestBatch) -> Waiting:
        return cls(cycle_id=batch.cycle_id, started_at=batch.started_at, rates=len(batch.rates), batch=batch)

    def pack(self) -> Waiting:
        if self.batch is None:
            return self
        return replace(self, batch=None, packed=zlib.compress(self.batch.model_dump_json().encode(), 1))

    def unpack(self) -> IngestBatch:
        if self.batch is not None:
            return self.batch
        assert self.packed is not None  # one of the two is always set (of / pack)
        return IngestBatch.model_validate_json(zlib.decompress(self.packed))

    @property
    def size(self) -> int:
        """Bytes held when packed (0 for the unpacked newest cycle, whose models are not measured)."""
        return len(self.packed) if self.packed is not None else 0


class Outbox:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("an outbox holds at least one cycle")
        self.capacity = capacity
        self._queue: deque[Waiting] = deque()
        self._sending: Waiting | None = None
        self.dropped = 0

    def __len__(self) -> int:
        """Cycles not yet accepted by the funding service (waiting, and the one being sent)."""
        return len(self._queue) + (self._sending is not None)

    def pending(self) -> tuple[Waiting, ...]:
        """The undelivered cycles, oldest first."""
        return ((self._sending,) if self._sending is not None else ()) + tuple(self._queue)

    @property
    def packed_bytes(self) -> int:
        """Bytes held by the packed waiting cycles."""
        return sum(w.size for w in self.pending())

    @property
    def oldest_started_at(self) -> datetime | None:
        """When the oldest undelivered cycle started (None when everything is delivered)."""
        oldest = self._sending or (self._queue[0] if self._queue else None)
        return oldest.started_at if oldest is not None else None

    def put(self, batch: IngestBatch) -> None:
        if self._queue:  # the previous newest has waited a whole cycle: keep it packed from now on
            self._queue[-1] = self._queue[-1].pack()
        self._queue.append(Waiting.of(batch))
        self._trim()

    def _trim(self) -> None:
        while len(self._queue) > self.capacity:
            old = self._queue.popleft()
            self.dropped += 1
            log.warning(
                "outbox full: dropped the oldest undelivered cycle",
                extra={"cycle_id": old.cycle_id, "rates": old.rates, "capacity": self.capacity},
            )

    async def send_oldest(self, send: Callable[[IngestBatch], Awaitable[object]]) -> IngestBatch | None:
        """Send the oldest waiting cycle (None when none waits); it leaves the outbox once ``send`` returns. When
        ``send`` raises (or is cancelled) it is the oldest waiting cycle again. Only one sender may call this."""
        if not self._queue:
            return None
        waiting = self._sending = self._queue.popleft()
        try:
            batch = waiting.unpack()
            await send(batch)
        except BaseException:
            self._queue.appendleft(waiting if len(self._queue) == 0 else waiting.pack())
            self._trim()
            raise
        finally:
            self._sending = None
        return batch
