"""The trade log never outgrows the pod's /tmp emptyDir (64 Mi, enforced by eviction): at ``max_bytes`` the file
becomes ``<path>.1`` and a new one starts with the header; the two hold the newest fills, contiguous and in order."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot_runtime.exchanges.base import Fill, Liquidity, Side
from bot_runtime.trade_log import HEADER, MAX_BYTES, TradeLog


def fill(i: int) -> Fill:
    return Fill(
        trade_id=f"t{i}",
        order_id=f"o{i}",
        symbol="BTC",
        side=Side.BUY if i % 2 else Side.SELL,
        price=Decimal("60000.5"),
        size=Decimal("0.010"),
        fee=Decimal("-0.06"),
        liquidity=Liquidity.MAKER,
        timestamp=datetime(2026, 11, 25, tzinfo=UTC) + timedelta(seconds=i),
    )


def test_the_log_rotates_at_max_bytes_and_keeps_one_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    log = TradeLog(path, max_bytes=2000)
    for i in range(500):  # about 35 kB of rows: many rotations
        log.record(fill(i))
    assert log.count == 500 and log.rotations > 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trades.csv", "trades.csv.1"]
    row = len("2026-11-25T00:00:00+00:00,o499,BUY,0.010,60000.5,FILLED,-0.06\n")
    for file in (path, log.previous):
        assert file.stat().st_size < 2000 + row
    older, newer = (list(csv.reader(f.open())) for f in (log.previous, path))
    assert older[0] == newer[0] == list(HEADER)
    ids = [r[1] for r in older[1:] + newer[1:]]
    assert ids[-1] == "o499" and ids == [f"o{i}" for i in range(500 - len(ids), 500)]  # newest, contiguous


def test_the_default_bound_stays_well_inside_the_pods_tmp() -> None:
    assert 2 * MAX_BYTES <= 64 * 1024 * 1024 // 4
