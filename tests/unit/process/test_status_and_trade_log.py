"""The status document the bot writes, the latest-value reporter, and the CSV trade log."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot_runtime.exchanges.base import Fill, Liquidity, Side
from bot_runtime.status import BotStatus, Leg, StatusReporter, decimal_str, legs_on_start
from bot_runtime.trade_log import HEADER, TradeLog


def test_decimal_str_is_plain_and_matches_the_crd_pattern() -> None:
    import re

    pattern = re.compile(r"^[-+]?(0|[1-9][0-9]*)(\.[0-9]+)?$")  # crds/tradingbots.yaml status decimals
    for value, text in [
        (Decimal("1E+2"), "100"),
        (Decimal("0.0400"), "0.04"),
        (Decimal("-0"), "0"),
        (Decimal("-0.000"), "0"),
        (Decimal("12.3100000001"), "12.3100000001"),
        (Decimal("1E-9"), "0.000000001"),
    ]:
        assert decimal_str(value) == text
        assert pattern.match(text)
    assert decimal_str(Decimal("1.234567891"), Decimal("0.00000001")) == "1.23456789"


def test_status_document_has_only_the_bot_fields() -> None:
    status = BotStatus(
        phase="Running",
        position=Decimal("0.040"),
        avg_entry_price=Decimal("61234.5"),
        realized_pnl=Decimal("12.31"),
        unrealized_pnl=Decimal("-1.20"),
        funding_pnl=Decimal("0.00"),
        open_orders=7,
        last_heartbeat=datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        legs=(Leg(symbol="ETH", long_exchange="paper-a", short_exchange="paper-b", size=Decimal("2.1")),),
    )
    assert status.to_status() == {
        "phase": "Running",
        "position": "0.04",
        "avgEntryPrice": "61234.5",
        "realizedPnl": "12.31",
        "unrealizedPnl": "-1.2",
        "fundingPnl": "0",
        "openOrders": 7,
        "lastHeartbeat": "2026-11-25T10:00:00Z",
        "lastError": None,
        "uncoveredFill": None,  # every fill has its take-profit
        "display": {"position": "0.04", "realizedPnl": "12.31", "unrealizedPnl": "-1.20", "fundingPnl": "0.00"},
        "legs": [
            {
                "symbol": "ETH",
                "longExchange": "paper-a",
                "shortExchange": "paper-b",
                "size": "2.1",
                "entrySpreadApr": None,
                "currentNetApr": None,
                "fundingPnl": None,
                "openedAt": None,
            }
        ],
    }
    assert "conditions" not in status.to_status() and "observedGeneration" not in status.to_status()
    # legs not known yet (a Kubernetes bot before it read them at start): the field is left alone, not emptied
    assert "legs" not in status.model_copy(update={"legs": None}).to_status()


def test_status_legs_round_trip_through_the_tradingbot() -> None:
    opened = datetime(2026, 11, 24, 8, 30, 15, 250000, tzinfo=UTC)
    leg = Leg(
        symbol="BTC",
        long_exchange="lighter",
        short_exchange="aster",
        size=Decimal("0.0166"),
        entry_spread_apr=Decimal("0.6132"),
        current_net_apr=Decimal("0.41"),
        funding_pnl=Decimal("1.25"),
        opened_at=opened,
    )
    written = BotStatus(phase="Running", legs=(leg,)).to_status()["legs"]
    assert written[0]["openedAt"] == "2026-11-24T08:30:15Z"  # RFC 3339, whole seconds (what the API server keeps)
    [read] = legs_on_start({"status": {"legs": written}})
    assert (read.symbol, read.long_exchange, read.short_exchange, read.size) == ("BTC", "lighter", "aster", leg.size)
    assert read.entry_spread_apr == leg.entry_spread_apr and read.opened_at == opened.replace(microsecond=0)
    # unreadable items cost only their own history; no legs, no status, a wrong type: nothing remembered
    bad = {"symbol": "ETH", "longExchange": "a", "shortExchange": "b", "size": "x", "openedAt": "yesterday"}
    assert [leg.symbol for leg in legs_on_start({"status": {"legs": [bad, *written]}})] == ["BTC"]
    assert legs_on_start({}) == () and legs_on_start({"status": {"legs": "oops"}}) == ()
    naive = legs_on_start({"status": {"legs": [{**written[0], "openedAt": "2026-11-24T08:30:15"}]}})
    assert naive[0].opened_at == opened.replace(microsecond=0)


class RecordingSink:
    def __init__(self, fail_first: int = 0) -> None:
        self.written: list[tuple[str, bool]] = []
        self.fail_first = fail_first
        self.wrote = asyncio.Event()

    async def write(self, status: BotStatus, *, final: bool = False) -> None:
        if self.fail_first:
            self.fail_first -= 1
            raise OSError("api down")
        self.written.append((status.phase, final))
        self.wrote.set()


async def test_reporter_keeps_only_the_latest_value_and_retries() -> None:
    sink = RecordingSink(fail_first=1)
    reporter = StatusReporter(sink, min_interval=3600, max_backoff=0.05)
    reporter.start()
    reporter.publish(BotStatus(phase="Starting"))
    await asyncio.wait_for(sink.wrote.wait(), 10)  # failed once, retried
    assert sink.written == [("Starting", False)]
    assert reporter.failures == 0
    # same phase within min_interval: held back, newest kept; a phase change goes out at once
    reporter.publish(BotStatus(phase="Starting", open_orders=1))
    reporter.publish(BotStatus(phase="Starting", open_orders=2))
    sink.wrote.clear()
    reporter.publish(BotStatus(phase="Running", open_orders=3))
    await asyncio.wait_for(sink.wrote.wait(), 10)
    assert sink.written == [("Starting", False), ("Running", False)]
    assert reporter.last_written is not None and reporter.last_written.open_orders == 3
    assert await reporter.flush(BotStatus(phase="Stopped"), within_s=5)
    assert sink.written[-1] == ("Stopped", True)


async def test_flush_gives_up_after_its_budget() -> None:
    sink = RecordingSink(fail_first=1000)
    reporter = StatusReporter(sink, max_backoff=0.05)
    assert not await reporter.flush(BotStatus(phase="Stopped"), within_s=0.3)
    assert reporter.failures >= 2


def test_trade_log_csv(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "trades.csv"
    log = TradeLog(path)
    for i, side in enumerate((Side.BUY, Side.SELL)):
        log.record(
            Fill(
                trade_id=f"t{i}",
                order_id=f"o{i}",
                symbol="BTC",
                side=side,
                price=Decimal("60000.5"),
                size=Decimal("0.010"),
                fee=Decimal("-0.06"),
                liquidity=Liquidity.MAKER,
                timestamp=datetime(2026, 11, 25, 10, 0, i, tzinfo=UTC),
            ),
            status="filled",
        )
    rows = list(csv.reader(path.open()))
    assert rows[0] == list(HEADER) == ["Timestamp", "OrderID", "Side", "Quantity", "Price", "Status", "Fee"]
    assert rows[1] == ["2026-11-25T10:00:00+00:00", "o0", "BUY", "0.010", "60000.5", "FILLED", "-0.06"]
    assert rows[2][1:3] == ["o1", "SELL"]
    assert len(rows) == 3 and log.count == 2
    TradeLog(path).record(  # a new process appends without a second header
        Fill(
            trade_id="t",
            order_id="o2",
            symbol="BTC",
            side=Side.BUY,
            price=Decimal(1),
            size=Decimal(1),
            fee=Decimal(0),
            liquidity=Liquidity.TAKER,
        )
    )
    assert [r[0] for r in csv.reader(path.open())].count("Timestamp") == 1


def test_trade_log_write_failure_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    log = TradeLog(blocker / "trades.csv")  # parent is a file: cannot create
    log.record(
        Fill(
            trade_id="t",
            order_id="o",
            symbol="BTC",
            side=Side.BUY,
            price=Decimal(1),
            size=Decimal(1),
            fee=Decimal(0),
            liquidity=Liquidity.TAKER,
        )
    )
    assert log.count == 0


def test_display_figures_are_rounded_and_the_status_keeps_full_precision() -> None:
    """kubectl get tb shows status.display (issue 23): cents and at most 6 decimals of size; APRs of legs keep 12
    significant digits instead of a division's 28."""
    status = BotStatus(
        phase="Running",
        position=Decimal("0.0400000000000000000000000001"),
        realized_pnl=Decimal("-0.004999999"),
        unrealized_pnl=Decimal("1234.565"),
        funding_pnl=Decimal("0.4565185185185185185185185"),
        legs=(
            Leg(
                symbol="ETH",
                long_exchange="paper-a",
                short_exchange="paper-b",
                size=Decimal("2.1"),
                entry_spread_apr=Decimal("0.00065") / Decimal(8) * Decimal(8760),
                current_net_apr=Decimal(1) / Decimal(3),
            ),
        ),
    )
    doc = status.to_status()
    assert doc["display"] == {
        "position": "0.04",
        "realizedPnl": "0.00",
        "unrealizedPnl": "1234.56",
        "fundingPnl": "0.46",
    }
    assert doc["position"] == "0.0400000000000000000000000001" and doc["fundingPnl"] == "0.45651852"
    assert doc["legs"][0]["entrySpreadApr"] == "0.711750000000".rstrip("0")
    assert doc["legs"][0]["currentNetApr"] == "0.333333333333"
    assert BotStatus(phase="Starting").to_status()["display"] == {
        "position": None,
        "unrealizedPnl": None,
        "fundingPnl": None,
    }  # fmt: skip  (realizedPnl: not known yet, left alone like status.realizedPnl)


def test_decimal_str_fits_the_crd_length() -> None:
    long = Decimal("59969.89521228134110787172011") * Decimal("1.000000000001")
    text = decimal_str(long, max_len=20)
    assert text is not None and len(text) <= 20
    assert abs(Decimal(text) - long) < Decimal("1e-12")  # only far decimals were dropped
    assert decimal_str(Decimal("0.0000000000000000000000000012345678")) == "0.0000000000000000000000000012345678"
    assert decimal_str(Decimal("0.0000000000000000000000000012345678"), max_len=20) == "0"
    assert decimal_str(Decimal("123456789012345678901234567890.5"), max_len=31) == "123456789012345678901234567890"
