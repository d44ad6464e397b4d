"""What the routes share: settings, the database, metrics and two tiny in-process caches."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from fastapi import Request

from funding_service.api.metrics import ServiceMetrics
from funding_service.core.opportunities import Leg
from funding_service.db.pool import Database
from funding_service.db.repositories import dexes as dex_repo
from funding_service.db.repositories import rates as rate_repo
from funding_service.settings import Settings

T = TypeVar("T")


class TtlCache(Generic[T]):
    """One value, reloaded at most every ``ttl`` seconds (single flight); ``invalidate()`` after a write."""

    def __init__(self, ttl: float, load: Callable[[], Awaitable[T]]) -> None:
        self._ttl = ttl
        self._load = load
        self._value: T | None = None
        self._at = 0.0
        self._generation = 0
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        if self._value is not None and time.monotonic() - self._at < self._ttl:
            return self._value
        async with self._lock:
            if self._value is not None and time.monotonic() - self._at < self._ttl:
                return self._value
            generation = self._generation
            value = await self._load()
            if generation == self._generation:  # not invalidated while loading
                self._value, self._at = value, time.monotonic()
            return value

    def invalidate(self) -> None:
        self._generation += 1
        self._value = None


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    legs: TtlCache[list[Leg]] = field(init=False)
    dexes: TtlCache[dict[str, bool]] = field(init=False)

    def __post_init__(self) -> None:
        self.legs = TtlCache(self.settings.latest_cache_seconds, lambda: self.db.run(rate_repo.latest_legs))
        self.dexes = TtlCache(5.0, lambda: self.db.run(dex_repo.dex_index))

    def invalidate(self) -> None:
        self.legs.invalidate()
        self.dexes.invalidate()


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state
