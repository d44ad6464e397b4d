"""Lighter's ``order_book/{market}`` channel as a local book that knows when it missed an update.

Wire facts (WebSocket reference, ``order_book`` channel; the same shape in the original perp-dex-tools client):
``subscribed/order_book`` carries the whole book, ``update/order_book`` the changed levels (size ``0`` removes one);
each ``order_book`` object carries ``offset`` (a per-market counter) and ``nonce`` / ``begin_nonce``: an update
continues the book when its ``begin_nonce`` equals the previous message's ``nonce``. Where the nonces are absent the
offset must move forward (the original's rule: an offset that does not grow means updates were lost).

On a gap the book is dropped and :meth:`LocalBook.apply` says so; the caller resubscribes, and quotes resume from
the fresh snapshot. Nothing is quoted between the gap and that snapshot.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any


class LocalBook:
    def __init__(self) -> None:
        self.asks: dict[Decimal, Decimal] = {}
        self.bids: dict[Decimal, Decimal] = {}
        self._nonce: int | None = None
        self._offset: int | None = None
        self.ready = False  # a snapshot arrived since the last reset

    def reset(self) -> None:
        self.asks.clear()
        self.bids.clear()
        self._nonce = self._offset = None
        self.ready = False

    def apply(self, kind: str, data: dict[str, Any]) -> bool:
        """Apply one message; ``False`` when it does not continue the book (the book is then reset)."""
        if kind == "subscribed/order_book":
            self.reset()
            self.ready = True
        elif not self.ready:
            return True  # updates before the snapshot are covered by it
        elif not self._continues(data):
            self.reset()
            return False
        self._remember(data)
        for side, levels in (("asks", self.asks), ("bids", self.bids)):
            for level in data.get(side) or []:
                price, size = Decimal(level["price"]), Decimal(level["size"])
                if size == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = size
        return True

    def _continues(self, data: dict[str, Any]) -> bool:
        begin = data.get("begin_nonce")
        if begin is not None and self._nonce is not None and data.get("nonce") is not None:
            return int(begin) == self._nonce
        offset = data.get("offset")
        if offset is not None and self._offset is not None:
            return int(offset) > self._offset
        return True

    def _remember(self, data: dict[str, Any]) -> None:
        if data.get("nonce") is not None:
            self._nonce = int(data["nonce"])
        if data.get("offset") is not None:
            self._offset = int(data["offset"])

    def best(self) -> tuple[tuple[Decimal, Decimal], tuple[Decimal, Decimal]] | None:
        """((bid, size), (ask, size)), or ``None`` while a side is empty."""
        if not self.asks or not self.bids:
            return None
        ask, bid = min(self.asks), max(self.bids)
        return (bid, self.bids[bid]), (ask, self.asks[ask])
