"""What the routes share: settings, the database, metrics, the latest-rates snapshot and the answers cache.

Freshness rules (one invalidation path: :meth:`ServiceState.invalidate`, called by the ingest route after its commit):

- :class:`LatestCache` holds one :class:`Snapshot` of the latest rates and the dex table. After an ingest in this
  process it is dropped at once. Otherwise it is re-checked at most every ``latest_cache_seconds`` with a cheap
  fingerprint query, and reloaded only when the fingerprint changed (an ingest through another replica or worker,
  a dex edited by hand), so several replicas serve data at most ``latest_cache_seconds`` older than their database.
- Every snapshot has its own ``generation``; :class:`ResponseCache` keeps encoded answers per (path, query,
  generation), so an answer computed from an older snapshot is never served once a newer one is in use.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import asyncpg
from fastapi import Request

from funding_service.api.encoded import Template
from funding_service.api.metrics import ServiceMetrics
from funding_service.core.opportunities import Leg
from funding_service.db.pool import Database
from funding_service.db.repositories import dexes as dex_repo
from funding_service.db.repositories import rates as rate_repo
from funding_service.settings import Settings

T = TypeVar("T")

_generations = itertools.count(1)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The latest rate of every (active dex, symbol) and the dex table, as read together from the database."""

    generation: int
    fingerprint: str
    rows: list[asyncpg.Record]  # rates.latest(): ORDER BY symbol, dex (the database's collation)
    legs: list[Leg]  # one per row, same order
    dex_rows: list[asyncpg.Record]  # dexes.dex_table(): ORDER BY name
    dexes: dict[str, bool]  # name → is_active of every registered dex
    stale_after_seconds: int
    # the instants at which the passing of time alone can change which pairs an opportunity query selects or how it
    # orders them: a leg turning stale (collected_at + stale limit) or a future collected_at being reached
    _turns: list[datetime] = field(init=False, repr=False)
    symbols: frozenset[str] = field(init=False)  # every symbol with a latest rate on an active dex

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", frozenset(leg.symbol for leg in self.legs))
        stale = timedelta(seconds=self.stale_after_seconds)
        turns = {leg.collected_at for leg in self.legs} | {leg.collected_at + stale for leg in self.legs}
        object.__setattr__(self, "_turns", sorted(turns))

    def next_turn(self, at: datetime) -> datetime | None:
        """The first turning point at or after ``at``: an opportunity answer computed at ``at`` holds for every
        instant from ``at`` up to (not including) it. (What changes at a turning point t changes just after t: a
        leg is stale when its age is strictly above the limit; an age is clamped to 0 up to its collected_at.)"""
        i = bisect.bisect_left(self._turns, at)
        return self._turns[i] if i < len(self._turns) else None


async def _load_snapshot(conn: asyncpg.Connection, stale_after_seconds: int) -> Snapshot:
    # the fingerprint first: data changed after it only causes one more reload, never a missed change
    fingerprint = await rate_repo.latest_fingerprint(conn)
    rows = await rate_repo.latest(conn)
    dex_rows = await dex_repo.dex_table(conn)
    return Snapshot(
        generation=next(_generations),
        fingerprint=fingerprint,
        rows=rows,
        legs=[rate_repo.leg_from_record(r) for r in rows],
        dex_rows=dex_rows,
        dexes={r["name"]: r["is_active"] for r in dex_rows},
        stale_after_seconds=stale_after_seconds,
    )


class LatestCache:
    """The current :class:`Snapshot`: checked at most every ``ttl`` seconds (single flight), reloaded only when its
    fingerprint changed, dropped by :meth:`invalidate` (after an ingest committed here)."""

    def __init__(self, db: Database, ttl: float, stale_after_seconds: int) -> None:
        self._db = db
        self._ttl = ttl
        self._stale_after = stale_after_seconds
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._epoch = 0  # bumped by invalidate(): a check or load begun before it never stores its result
        self._lock = asyncio.Lock()

    def current(self) -> Snapshot | None:
        """The snapshot when it needs no check now (no I/O), else None."""
        return self._fresh()

    def _fresh(self) -> Snapshot | None:
        snap = self._snapshot
        if snap is not None and time.monotonic() - self._checked_at < self._ttl:
            return snap
        return None

    async def get(self) -> Snapshot:
        snap = self._fresh()
        if snap is not None:
            return snap
        async with self._lock:
            snap = self._fresh()
            if snap is not None:
                return snap
            epoch, started = self._epoch, time.monotonic()
            current = self._snapshot
            if current is not None:
                fingerprint = await self._db.run(rate_repo.latest_fingerprint)
                if fingerprint == current.fingerprint:
                    if epoch == self._epoch:
                        self._checked_at = started
                    return current
            stale_after = self._stale_after
            loaded = await self._db.run(lambda c: _load_snapshot(c, stale_after))
            if epoch == self._epoch:
                self._snapshot, self._checked_at = loaded, started
            return loaded

    def invalidate(self) -> None:
        self._epoch += 1
        self._snapshot = None


@dataclass(frozen=True, slots=True)
class CachedAnswer(Generic[T]):
    """An answer computed at ``computed_at`` from snapshot ``generation``; valid for requests made in
    [computed_at, valid_until) while that snapshot is current (``valid_until`` None: until the snapshot changes)."""

    generation: int
    computed_at: datetime
    valid_until: datetime | None
    value: T
    size: int = 0  # bytes, for the cache's budget

    def valid(self, generation: int, now: datetime) -> bool:
        if generation != self.generation or now < self.computed_at:
            return False
        return self.valid_until is None or now < self.valid_until


class ResponseCache(Generic[T]):
    """A bounded LRU of answers keyed by (path, normalised query), at most ``max_entries`` entries and about
    ``max_bytes`` bytes; each entry also names its snapshot generation."""

    def __init__(self, max_entries: int, max_bytes: int = 1 << 62) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], CachedAnswer[T]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, key: tuple[str, tuple[tuple[str, str], ...]], generation: int, now: datetime
    ) -> CachedAnswer[T] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if not entry.valid(generation, now):
            if entry.generation != generation:
                self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, tuple[tuple[str, str], ...]], entry: CachedAnswer[T]) -> None:
        if self.max_entries <= 0 or entry.size > self.max_bytes:
            return
        self._drop(key)
        self._entries[key] = entry
        self.bytes += entry.size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry.size

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    started_at: datetime = field(default_factory=utc_now)
    clock: Callable[[], datetime] = utc_now  # the "now" of every answer (tests freeze it)
    latest: LatestCache = field(init=False)
    responses: ResponseCache[Template] = field(init=False)
    # path → (its route, the query parameters it reads), for the paths whose answers are cached (FastAnswers)
    fast_paths: dict[str, tuple[object, frozenset[str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.settings
        self.latest = LatestCache(self.db, s.latest_cache_seconds, s.stale_after_seconds)
        self.responses = ResponseCache(s.response_cache_entries, s.response_cache_megabytes << 20)

    async def dexes(self) -> Mapping[str, bool]:
        """name → is_active of every registered dex (from the current snapshot)."""
        return (await self.latest.get()).dexes

    def invalidate(self) -> None:
        """After a write committed in this process: the next read reloads the snapshot, no cached answer survives."""
        self.latest.invalidate()
        self.responses.clear()


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state
