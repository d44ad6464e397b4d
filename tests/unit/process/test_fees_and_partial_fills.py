"""Fees and fills as the process reports them (issue 17, item 9): rebates counted, partial fills marked in the trade
log, realized PnL and fees in status summed over restarts."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot_runtime.exchanges.base import Fill, Liquidity, Side
from bot_runtime.logs import SecretRedactor
from bot_runtime.metrics import BotMetrics
from bot_runtime.notify import build_dispatcher
from bot_runtime.process.events import ProcessEvents
from bot_runtime.process.reporting import PnlCarry
from bot_runtime.status import BotStatus
from bot_runtime.trade_log import TradeLog


def fill(fee: str, trade: str) -> Fill:
    return Fill(
        trade_id=trade,
        order_id="o1",
        symbol="BTC",
        side=Side.BUY,
        price=Decimal(60000),
        size=Decimal("0.005"),
        fee=Decimal(fee),
        liquidity=Liquidity.MAKER,
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
    )


def events(tmp_path: Path) -> tuple[ProcessEvents, BotMetrics]:
    metrics = BotMetrics(bot="b", strategy="grid", exchange="paper", ticker="BTC")
    return (
        ProcessEvents(
            metrics=metrics,
            trade_log=TradeLog(tmp_path / "trades.csv"),
            notifier=build_dispatcher("b", {}),
            redactor=SecretRedactor(),
        ),
        metrics,
    )


def test_partial_fills_are_marked_and_rebates_counted(tmp_path: Path) -> None:
    sink, metrics = events(tmp_path)
    sink.on_fill(fill("0.06", "t1"), partial=True)  # half of the order
    sink.on_fill(fill("-0.03", "t2"))  # the rest, with a rebate
    rows = list(csv.reader((tmp_path / "trades.csv").open()))
    assert [row[5] for row in rows[1:]] == ["PARTIALLY_FILLED", "FILLED"]
    text = metrics.render().decode()
    assert "perpdex_bot_fees_quote_total 0.06" in text
    assert "perpdex_bot_fee_rebates_quote_total 0.03" in text


def test_status_pnl_is_left_alone_until_known_and_carried_after() -> None:
    unknown = BotStatus(phase="Starting").to_status()
    assert "realizedPnl" not in unknown and "feesPaid" not in unknown  # never written over before it was read
    carried = PnlCarry.from_status({"realizedPnl": "-1.5", "feesPaid": "0.75"})
    assert carried == PnlCarry(Decimal("-1.5"), Decimal("0.75"))
    assert PnlCarry.from_status({"realizedPnl": "junk"}) == PnlCarry()
    doc = BotStatus(phase="Running", realized_pnl=Decimal("-1.5"), fees_paid=Decimal("0.75")).to_status()
    assert Decimal(doc["realizedPnl"]) == Decimal("-1.5") and Decimal(doc["feesPaid"]) == Decimal("0.75")
