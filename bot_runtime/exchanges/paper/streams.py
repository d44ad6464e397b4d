"""Fan-out async iterators for the paper venue's order-update and price streams."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class _End:
    pass


_END = _End()


class Subscription(Generic[T]):
    """One consumer's stream. ``latest_only`` keeps just the newest item (price streams: a slow consumer skips
    stale quotes instead of piling them up); otherwise nothing is dropped (order updates)."""

    def __init__(self, hub: Hub[T], *, latest_only: bool = False) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[T | _End] = asyncio.Queue(maxsize=1 if latest_only else 0)
        self._latest_only = latest_only
        self._closed = False

    def push(self, item: T) -> None:
        if self._closed:
            return
        if self._latest_only and self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(item)

    def end(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._latest_only and self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(_END)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # stay ended
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Stop receiving (the consumer is done)."""
        self._hub.remove(self)
        self.end()


class Hub(Generic[T]):
    def __init__(self) -> None:
        self._subs: list[Subscription[T]] = []

    def subscribe(self, *, latest_only: bool = False) -> Subscription[T]:
        sub = Subscription(self, latest_only=latest_only)
        self._subs.append(sub)
        return sub

    def remove(self, sub: Subscription[T]) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def publish(self, item: T) -> None:
        for sub in self._subs:
            sub.push(item)

    def end_all(self) -> None:
        for sub in self._subs:
            sub.end()
        self._subs.clear()

    def __len__(self) -> int:
        return len(self._subs)
