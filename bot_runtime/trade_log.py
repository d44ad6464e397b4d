"""The trade log: every fill appended to a CSV file (the original's columns plus the fee) and logged as one line.

Columns: ``Timestamp,OrderID,Side,Quantity,Price,Status,Fee`` — the original perp-dex-tools log
(``Timestamp,OrderID,Side,Quantity,Price,Status``) with ``Fee`` (quote currency, negative = rebate) appended, so
scripts reading the original file keep working. Timestamps are ISO-8601 UTC. Writing is append-only and flushed per
fill; a failing disk is logged, never fatal (the fill is also in the structured log).

The file is bounded: once it reaches ``max_bytes`` (8 MiB, about 80 000 fills) it becomes ``<path>.1`` (replacing
the previous one) and a new file starts with the header, so the log never holds more than twice ``max_bytes``. In a
pod it lives on the ``/tmp`` emptyDir, whose 64 Mi ``sizeLimit`` the kubelet enforces by evicting the pod: 16 MiB
stays well inside it. Every fill is also a ``fill`` line of the structured log (stdout), the durable record.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import tempfile
from pathlib import Path

from bot_runtime.exchanges.base import Fill

log = logging.getLogger("perpdex.trades")

HEADER = ("Timestamp", "OrderID", "Side", "Quantity", "Price", "Status", "Fee")
MAX_BYTES = 8 * 1024 * 1024


def default_path(bot: str) -> Path:
    """``$TMPDIR/perpdex-trades-<bot>.csv`` (a writable emptyDir in the pod; the root filesystem is read-only)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in bot) or "bot"
    return Path(tempfile.gettempdir()) / f"perpdex-trades-{safe}.csv"


def _row(fill: Fill, status: str) -> list[str]:
    return [
        fill.timestamp.isoformat(),
        fill.order_id,
        fill.side.value.upper(),
        format(fill.size, "f"),
        format(fill.price, "f"),
        status.upper(),
        format(fill.fee, "f"),
    ]


class TradeLog:
    def __init__(self, path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.count = 0
        self.rotations = 0
        self._failed = False

    @property
    def previous(self) -> Path:
        """Where the file goes when it is full (one generation is kept)."""
        return self.path.with_name(self.path.name + ".1")

    def _rotate_if_full(self) -> None:
        if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
            self.path.replace(self.previous)
            self.rotations += 1
            log.info("trade log rotated", extra={"path": str(self.path), "previous": str(self.previous)})

    def record(self, fill: Fill, *, status: str = "FILLED") -> None:
        """Append one fill and log it. Never raises."""
        log.info(
            "fill",
            extra={
                "trade_id": fill.trade_id,
                "order_id": fill.order_id,
                "symbol": fill.symbol,
                "side": fill.side.value,
                "size": str(fill.size),
                "price": str(fill.price),
                "fee": str(fill.fee),
                "liquidity": fill.liquidity.value,
                "order_status": status,
            },
        )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        try:
            self._rotate_if_full()
            new = not self.path.exists() or self.path.stat().st_size == 0
            if new:
                writer.writerow(HEADER)
            writer.writerow(_row(fill, status))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8", newline="") as fh:
                fh.write(buffer.getvalue())
            self.count += 1
            self._failed = False
        except OSError as exc:
            if not self._failed:  # once per failure streak
                log.error("could not write the trade log", extra={"path": str(self.path), "error": str(exc)})
            self._failed = True
