"""The funding-arb backtest over a small hand-made history, every figure worked out by hand below.

Venues (hourly funding): lighter (fees 0 / 0), backpack (maker 0.0002, taker 0.0005). ETH periods, settling at:

    01:00  lighter 0.00001 mark 2000   backpack 0.0001  mark 2000   (runs 00:00-01:00)
    02:00  lighter 0.00001 mark 2000   backpack 0.00008 mark 2000
    03:00  lighter 0.00002 mark 2010   backpack 0.00003 mark 2012
    04:00  lighter 0.00002 mark 2010   backpack 0.00003 mark 2012

Bot: positionSizeUsd 1000, maxPositions 1, minNetApr 0.15, exitNetApr 0.03, holdHours 72, erosionExitRatio 0.5;
steps 00:00 … 03:00.

- 00:00: spread 0.0001 − 0.00001 = 0.00009 / h; round-trip fees 2 × (0 + 0.0005) = 0.001; net APR
  (0.00009 × 72 − 0.001) / 72 × 8760 = 0.6667 ≥ 0.15 → long lighter, short backpack, 1000 / 2000 = 0.5 ETH a leg;
  entry fees 0.5 × 2000 × 0.0005 = 0.5.
- 01:00: funding at 01:00: long pays 0.00001 × 1000 = 0.01, short receives 0.0001 × 1000 = 0.1 → +0.09. Spread now
  0.00007 ≥ 0.5 × 0.00009 and net APR 0.49 ≥ 0.03: hold.
- 02:00: funding at 02:00: −0.01 + 0.08 = +0.07 (0.16 in all). Spread now 0.00001 < 0.000045, but erosion waits:
  the pair is still its symbol's only (so best) opportunity (holdWhileBestMargin). Its net APR, valued with the exit
  fees only (the entry's are sunk): (0.00001 × 72 − 0.0005) / 72 × 8760 = 0.0267 < 0.03: netApr exit at the
  marks 2010 / 2012: exit fees 0.5 × 2012 × 0.0005 = 0.503; price PnL 0.5 × (2010 − 2000) + 0.5 × (2000 − 2012) = −1;
  net 0.16 − 1.003 − 1 = −1.843. ETH cools down 600 s.
- 03:00: spread 0.00001 / h: net APR < 0, nothing opens.

Totals: capital 1 × 2 × 1000 = 2000; APR on capital −1.843 / 2000 × 8760 / 3 h; turnover 2000 + 0.5 × (2010 + 2012).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from bot_runtime.config import FundingArbConfig
from funding_service.backtest.history import history_from_rows
from funding_service.backtest.replay import finder_query, run_backtest
from funding_service.core.fees import FeeSchedule

START = datetime(2026, 3, 2, tzinfo=UTC)
HOUR = timedelta(hours=1)
PERIODS = [  # (settles at hour, lighter rate, lighter mark, backpack rate, backpack mark)
    (1, "0.00001", "2000", "0.0001", "2000"),
    (2, "0.00001", "2000", "0.00008", "2000"),
    (3, "0.00002", "2010", "0.00003", "2012"),
    (4, "0.00002", "2010", "0.00003", "2012"),
]
FEES = {"lighter": FeeSchedule(maker=D(0), taker=D(0)), "backpack": FeeSchedule(maker=D("0.0002"), taker=D("0.0005"))}


def _rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for dex, rate_at, mark_at in (("backpack", 3, 4), ("lighter", 1, 2)):
        for period in PERIODS:
            settles = START + period[0] * HOUR
            rows.append(
                {
                    "dex": dex,
                    "symbol": "ETH",
                    "funding_time": settles,
                    "rate": D(period[rate_at]),
                    "interval_hours": D(1),
                    "mark_price": D(period[mark_at]),
                    "open_interest_usd": D(5_000_000),
                    "volume_24h_usd": D(20_000_000),
                }
            )
    return rows


def _cfg(**overrides: Any) -> FundingArbConfig:
    spec: dict[str, Any] = {
        "exchanges": ["lighter", "backpack"],
        "symbols": ["ETH"],
        "positionSizeUsd": "1000",
        "maxPositions": 1,
        "minNetApr": "0.15",
        "exitNetApr": "0.03",
        "holdHours": 72,
        "erosionExitRatio": "0.5",
    }
    spec.update(overrides)
    return FundingArbConfig.model_validate(spec)


def test_hand_made_history() -> None:
    history = history_from_rows(_rows(), FEES)
    result = run_backtest(_cfg(), history, START, START + 3 * HOUR)
    [pair] = result.pairs
    assert (pair.symbol, pair.long_dex, pair.short_dex) == ("ETH", "lighter", "backpack")
    assert (pair.opened_at, pair.closed_at) == (START, START + 2 * HOUR)
    assert pair.exit_reason == "netApr"
    assert pair.base_size == D("0.5")
    assert pair.entry_notional_usd == D(1000)
    assert pair.entry_net_apr == (D("0.00009") * 72 - D("0.001")) / 72 * 8760
    assert pair.funding_payments == 4
    assert pair.funding_usd == D("0.16")
    assert pair.fees_usd == D("1.003")
    assert pair.price_pnl_usd == D(-1)
    assert pair.net_pnl_usd == D("-1.843")
    t = result.totals
    assert (t.pairs, t.max_concurrent_pairs, t.steps, t.history_rows) == (1, 1, 4, 8)
    assert (t.funding_usd, t.fees_usd, t.price_pnl_usd, t.net_pnl_usd) == (D("0.16"), D("1.003"), D(-1), D("-1.843"))
    assert t.capital_usd == D(2000)
    assert t.hours == D(3)
    assert t.apr_on_capital == D("-1.843") / 2000 * 8760 / 3
    assert t.turnover_usd == D(2000) + D("0.5") * (D(2010) + D(2012))
    # the curve: the open pair's funding − fees + price PnL, then the closed pair's net
    assert [p.pnl_usd for p in result.curve] == [D("-0.5"), D("-0.41"), D("-1.843"), D("-1.843")]


def test_a_pair_open_at_the_end_is_closed_at_its_marks() -> None:
    history = history_from_rows(_rows(), FEES)
    result = run_backtest(_cfg(), history, START, START + HOUR)
    [pair] = result.pairs
    assert pair.exit_reason == "shutdown"
    assert pair.closed_at == START + HOUR
    assert pair.funding_usd == D("0.09")
    assert pair.fees_usd == D("0.5") + D("0.5") * 2000 * D("0.0005")  # exit at the 02:00 period's marks (2000)
    assert pair.net_pnl_usd == D("0.09") - D(1)


def test_a_pair_below_min_net_apr_is_never_opened() -> None:
    history = history_from_rows(_rows(), FEES)
    result = run_backtest(_cfg(minNetApr="0.7", exitNetApr="0.03"), history, START, START + 3 * HOUR)
    assert result.pairs == [] and result.totals.net_pnl_usd == 0  # 0.6667 < 0.7 at 00:00, less afterwards


def test_a_filter_the_replay_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="max_spread"):
        finder_query({"max_spread": D(5)})


def _eight_hour_history(oi: str = "5000000") -> list[dict[str, Any]]:
    """lighter funds hourly at 0, grvt every 8 h at 0.0008 (0.0001 / h); both marks 1000; 00:00-16:00."""
    rows: list[dict[str, Any]] = []
    for hour in range(1, 17):
        rows.append(_period("lighter", START + hour * HOUR, "0", 1, oi))
    for hour in (8, 16):
        rows.append(_period("grvt", START + hour * HOUR, "0.0008", 8, oi))
    return rows


def _period(dex: str, settles: datetime, rate: str, interval: int, oi: str) -> dict[str, Any]:
    return {
        "dex": dex,
        "symbol": "ETH",
        "funding_time": settles,
        "rate": D(rate),
        "interval_hours": D(interval),
        "mark_price": D(1000),
        "open_interest_usd": D(oi),
        "volume_24h_usd": D(20_000_000),
    }


EIGHT_HOUR_FEES = {"lighter": FeeSchedule(maker=D(0), taker=D(0)), "grvt": FeeSchedule(maker=D(0), taker=D("0.0005"))}


def test_funding_is_booked_at_each_venues_own_funding_times() -> None:
    """Spread 0.0001 / h, net APR (0.0001 × 72 − 0.001) / 72 × 8760 = 7.54: long lighter, short grvt at 00:00, one ETH
    (1000 USD). lighter settles 0 every hour (9 payments by 09:00), grvt 0.0008 × 1000 = 0.8 once, at 08:00. Closed
    at 09:00 (the end): fees 0.5 in + 0.5 out, net 0.8 − 1 = −0.2."""
    history = history_from_rows(_eight_hour_history(), EIGHT_HOUR_FEES)
    cfg = _cfg(exchanges=["lighter", "grvt"])
    result = run_backtest(cfg, history, START, START + 9 * HOUR)
    [pair] = result.pairs
    assert (pair.long_dex, pair.short_dex, pair.exit_reason) == ("lighter", "grvt", "shutdown")
    assert pair.base_size == D(1)
    assert pair.funding_payments == 10
    assert (pair.funding_usd, pair.fees_usd, pair.net_pnl_usd) == (D("0.8"), D(1), D("-0.2"))
    curve = {p.time: p.pnl_usd for p in result.curve}
    assert curve[START + 7 * HOUR] == D("-0.5")  # nothing settled on grvt yet
    assert curve[START + 8 * HOUR] == D("0.3")  # 0.8 at 08:00


def test_min_oi_filters_on_the_stored_open_interest() -> None:
    history = history_from_rows(_eight_hour_history(oi="900000"), EIGHT_HOUR_FEES)
    kept_out = run_backtest(_cfg(exchanges=["lighter", "grvt"], minOiUsd="1000000"), history, START, START + HOUR)
    assert kept_out.pairs == []
    let_in = run_backtest(_cfg(exchanges=["lighter", "grvt"], minOiUsd="800000"), history, START, START + HOUR)
    assert len(let_in.pairs) == 1


def test_max_oi_caps_on_the_stored_open_interest() -> None:
    """maxOiUsd (the service's max_oi, on the smaller leg's OI: 900 000 here) keeps out a pair above it."""
    history = history_from_rows(_eight_hour_history(oi="900000"), EIGHT_HOUR_FEES)
    kept_out = run_backtest(_cfg(exchanges=["lighter", "grvt"], maxOiUsd="800000"), history, START, START + HOUR)
    assert kept_out.pairs == []
    let_in = run_backtest(_cfg(exchanges=["lighter", "grvt"], maxOiUsd="1000000"), history, START, START + HOUR)
    assert len(let_in.pairs) == 1


def test_margin_sizing_and_its_capital() -> None:
    """sizing.mode margin, 250 USD x leverage 2 = 500 USD a leg at 1000: 0.5 ETH; capital 1 x 2 x 250 = 500."""
    history = history_from_rows(_eight_hour_history(), EIGHT_HOUR_FEES)
    cfg = _cfg(exchanges=["lighter", "grvt"], sizing={"mode": "margin", "marginUsd": "250", "leverage": "2"})
    result = run_backtest(cfg, history, START, START + HOUR)
    [pair] = result.pairs
    assert pair.base_size == D("0.5")
    assert result.totals.capital_usd == D(500)
