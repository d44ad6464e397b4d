"""Pure parts of the funding-arb strategy: sizing with steps and multipliers, reading the service's rows, the
pre-funding rule, exit-rule order, recovery matching, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from bot_runtime.exchanges.base import Market, Order, OrderStatus, Position, Quote, Side
from bot_runtime.funding_api.models import OpportunityRow
from bot_runtime.strategies.funding_arb.exits import evaluate_exit, imbalance_pct
from bot_runtime.strategies.funding_arb.ledger import Ledger, cash_flow
from bot_runtime.strategies.funding_arb.models import ExitReason, Leg, Pair, PairRates
from bot_runtime.strategies.funding_arb.recovery import Holding, match_holdings
from bot_runtime.strategies.funding_arb.selection import (
    candidate_filters,
    eligible,
    funding_due,
    held_filters,
    pair_rates,
)
from bot_runtime.strategies.funding_arb.sizing import (
    SizingError,
    common_step,
    pair_step,
    plan_sizes,
    tradable_base,
)
from tests.unit.funding_arb.farb_helpers import farb_config

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def market(symbol: str = "PEPE", step: str = "1", mult: str = "1", min_size: str | None = None, **kw: Any) -> Market:
    return Market(
        symbol=symbol,
        venue_symbol=f"{symbol}-X",
        contract_id=symbol,
        tick_size=D(kw.pop("tick", "0.000001")),
        size_step=D(step),
        min_size=D(min_size or step),
        multiplier=D(mult),
        **kw,
    )


def quote(mid: str, symbol: str = "PEPE") -> Quote:
    m = D(mid)
    return Quote(symbol=symbol, bid=m, ask=m)


# --- sizing ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "lcm"),
    [
        ("0.01", "0.001", "0.01"),
        ("0.001", "0.01", "0.01"),
        ("0.002", "0.003", "0.006"),
        ("1", "1000", "1000"),
        ("0.5", "0.2", "1"),
        ("10", "10", "10"),
        ("0.0001", "0.0001", "0.0001"),
    ],
)
def test_common_step_is_the_least_common_multiple(a: str, b: str, lcm: str) -> None:
    assert common_step(D(a), D(b)) == D(lcm)


def test_sizes_match_in_base_units_across_multipliers() -> None:
    """1000PEPE-style contracts (x1000, step 1 contract = 1000 PEPE) against a x1 venue stepping 100 PEPE."""
    k_market = market(step="1", mult="1000")  # 1 contract = 1000 PEPE
    plain = market(step="100", mult="1")
    sizes = plan_sizes(D(1000), k_market, plain, quote("0.012"), quote("0.0000121"))
    # base-unit prices: 0.012 / 1000 = 0.000012 and 0.0000121; reference 0.00001205
    assert sizes.step == D(1000)  # the coarser step in base units
    assert sizes.base == D(82_987_000)  # 1000 / 0.00001205 = 82 987 551, rounded down to 1000 PEPE
    assert sizes.long_contracts == D(82_987)  # x1000 venue: 82 987 contracts
    assert sizes.short_contracts == D(82_987_000)
    assert str(sizes.short_contracts) == "82987000" and str(sizes.long_contracts) == "82987"
    assert k_market.to_base_size(sizes.long_contracts) == plain.to_base_size(sizes.short_contracts)


def test_sizes_with_non_nested_steps_land_on_both_grids() -> None:
    a, b = market("ETH", step="0.002"), market("ETH", step="0.003")
    sizes = plan_sizes(D(1000), a, b, quote("3000", "ETH"), quote("3000", "ETH"))
    assert sizes.step == D("0.006")
    assert sizes.base == D("0.330")  # 0.3333 rounded down to 0.006
    assert sizes.long_contracts % D("0.002") == 0 and sizes.short_contracts % D("0.003") == 0
    assert sizes.long_contracts == sizes.short_contracts == D("0.330")


def test_sizing_refuses_what_a_venue_cannot_trade() -> None:
    big_min = market("BTC", step="0.001", min_size="0.1", tick="0.1")
    fine = market("BTC", step="0.0001", tick="0.1")
    with pytest.raises(SizingError, match="below the tradable minimum"):
        plan_sizes(D(1000), big_min, fine, quote("60000", "BTC"), quote("60000", "BTC"))
    notional = market("BTC", step="0.0001", tick="0.1", min_notional=D(2000))
    with pytest.raises(SizingError):
        plan_sizes(D(1000), notional, fine, quote("60000", "BTC"), quote("60000", "BTC"))
    assert pair_step(big_min, fine) == D("0.001")
    assert tradable_base(D("0.0999"), big_min, fine, D(60000)) == 0
    assert tradable_base(D("0.1239"), big_min, fine, D(60000)) == D("0.123")


# --- the service's rows -------------------------------------------------------------------------------------------


def row(**kw: Any) -> OpportunityRow:
    base: dict[str, Any] = {
        "symbol": "BTC",
        "long_dex": "paper-a",
        "short_dex": "paper-b",
        "long_rate": D("0.00001"),
        "short_rate": D("0.00064"),
        "long_interval_hours": D(1),
        "short_interval_hours": D(8),
        "long_hourly_rate": D("0.00001"),
        "short_hourly_rate": D("0.00008"),
        "long_apr": D("0.0876"),
        "short_apr": D("0.7008"),
        "long_venue_symbol": "BTC-PERP",
        "short_venue_symbol": "BTC-PERP",
        "long_multiplier": D(1),
        "short_multiplier": D(1),
        "long_mark_price": D(60000),
        "short_mark_price": D(60000),
        "price_spread_pct": D(0),
        "divergence": D("0.00056"),
        "divergence_hourly": D("0.00007"),
        "gross_apr": D("0.6132"),
        "fee_mode": "taker",
        "long_fee": D("0.0005"),
        "short_fee": D("0.0005"),
        "estimated_fees": D("0.002"),
        "hold_hours": D(72),
        "net_profit_percent": D("0.00304"),
        "net_apr": D("0.36986"),
        "annualized_apy": D("36.986"),
        "break_even_hours": D("28.57"),
        "position_size_usd": D(1000),
        "estimated_fees_usd": D(2),
        "net_profit_usd": D("3.04"),
        "daily_funding_usd": D("1.68"),
        "daily_pnl_usd": D("1.01"),
        "long_dex_volume_24h": None,
        "short_dex_volume_24h": None,
        "min_volume_24h": None,
        "long_dex_oi_usd": None,
        "short_dex_oi_usd": None,
        "min_oi_usd": None,
        "max_oi_usd": None,
        "oi_ratio": None,
        "oi_imbalance": None,
        "long_dex_spread_bps": None,
        "short_dex_spread_bps": None,
        "avg_spread_bps": None,
        "long_next_funding_time": NOW + timedelta(minutes=5),
        "short_next_funding_time": NOW + timedelta(hours=4),
        "seconds_to_next_funding": 300.0,
        "data_age_seconds": 3.0,
        "stale": False,
        "collected_at": NOW,
        "discovered_at": NOW,
    }
    base.update(kw)
    return OpportunityRow(**base)


def test_pair_rates_in_the_pair_orientation_and_flipped() -> None:
    r = row()
    same = pair_rates(r, "paper-a", "paper-b")
    assert same is not None
    assert same.spread_hourly == D("0.00007")
    # a held pair pays only its exit fees (0.0005 + 0.0005), not the service's round trip (0.002): entry fees are sunk
    assert same.net_apr == (D("0.00007") * 72 - D("0.001")) * 8760 / 72
    assert same.net_apr == D("0.4915333333333333333333333333")  # 0.00404 x 8760 / 72
    # the service orients long = lower rate; our pair is the other way round: the spread flipped
    flipped = pair_rates(r, "paper-b", "paper-a")
    assert flipped is not None
    assert flipped.spread_hourly == D("-0.00007")
    assert flipped.net_apr == (D("-0.00007") * 72 - D("0.001")) * 8760 / 72
    assert flipped.long_next_funding == r.short_next_funding_time
    assert pair_rates(r, "paper-a", "paper-c") is None


def test_funding_due_inside_the_window() -> None:
    r = row()  # paper-a (long) funds in 5 min at +0.00001: the long would pay
    assert funding_due(r, NOW, 600) == D("-0.00001")
    assert funding_due(r, NOW, 240) is None  # outside a 4-minute window
    assert funding_due(r, NOW, 0) is None  # window off
    receiving = row(long_rate=D("-0.00002"))
    assert funding_due(receiving, NOW, 600) == D("0.00002")
    both = row(short_next_funding_time=NOW + timedelta(minutes=3))
    assert funding_due(both, NOW, 600) == D("0.00063")  # the 8 h short payment outweighs
    # a next-funding time already in the past rolls forward by the interval (old data)
    old = row(long_next_funding_time=NOW - timedelta(minutes=55))
    assert funding_due(old, NOW, 600) == D("-0.00001")


def test_filters_sent_to_the_service() -> None:
    cfg = farb_config(
        {
            "exchanges": ["paper-b", "paper-a"],
            "symbols": ["ETH", "BTC"],
            "requiredExchange": "paper-a",
            "minOiUsd": "1000000",
            "minVolume24hUsd": "5000000",
        }
    ).funding_arb
    assert cfg is not None
    filters = candidate_filters(cfg, ["paper-b", "paper-a"], 50)
    assert filters == {
        "whitelist_dexes": ["paper-a", "paper-b"],
        "min_net_apr": D("0.15"),
        "min_divergence": D(0),
        "position_size_usd": D(1000),
        "hold_hours": D(72),
        "sort_by": "net_apr",
        "sort_desc": True,
        "limit": 50,
        "symbols": ["BTC", "ETH"],
        "required_dex": "paper-a",
        "min_oi": D(1_000_000),
        "min_volume": D(5_000_000),
    }


def test_held_pair_filters_return_its_row_whatever_its_profitability() -> None:
    cfg = farb_config().funding_arb
    assert cfg is not None
    pair = held_pair(None)
    assert held_filters(cfg, pair) == {
        "symbol": "BTC",
        "whitelist_dexes": ["paper-a", "paper-b"],
        "min_divergence": D(0),
        "min_profit": D(-1),
        "position_size_usd": D(1000),
        "hold_hours": D(72),
        "sort_by": "net_apr",
        "sort_desc": True,
    }


def test_eligible_rows_one_per_symbol_best_first() -> None:
    cfg = farb_config({"exchanges": ["paper-a", "paper-b", "paper-c"], "symbols": []}).funding_arb
    assert cfg is not None
    rows = [
        row(net_apr=D("0.9")),
        row(short_dex="paper-c", net_apr=D("0.8")),  # BTC again: only the best one
        row(symbol="ETH", stale=True),
        row(symbol="SOL", net_apr=D("0.1")),  # below minNetApr
        row(symbol="DOGE", short_dex="paper-x"),  # a venue the bot does not trade (or is down)
        row(symbol="XRP"),
        row(symbol="ADA"),
    ]
    got = eligible(rows, cfg, venues=["paper-a", "paper-b", "paper-c"], busy_symbols={"ADA"})
    assert [(r.symbol, r.short_dex) for r in got] == [("BTC", "paper-b"), ("XRP", "paper-b")]


# --- exits -----------------------------------------------------------------------------------------------------------


def held_pair(rates: PairRates | None, *, opened_hours_ago: float = 10, entry: str = "0.00007") -> Pair:
    m = market("BTC", step="0.0001", tick="0.1")
    pos = Position(symbol="BTC", size=D("0.0166"), mark_price=D(60000))
    return Pair(
        symbol="BTC",
        long=Leg("paper-a", Side.BUY, m, D("0.0166"), position=pos),
        short=Leg("paper-b", Side.SELL, m, D("0.0166"), position=pos.model_copy(update={"size": D("-0.0166")})),
        opened_at=100_000.0 - opened_hours_ago * 3600,
        entry_spread_hourly=D(entry),
        rates=rates,
    )


def rates(spread: str, net: str, stale: bool = False) -> PairRates:
    return PairRates(spread_hourly=D(spread), net_apr=D(net), stale=stale)


@pytest.mark.parametrize(
    ("pair_rates_", "fa", "reason"),
    [
        (rates("-0.00001", "-0.2"), {}, ExitReason.SPREAD_FLIP),  # flip first, though erosion and APR hold too
        (rates("0.00003", "0.01"), {}, ExitReason.EROSION),  # erosion before net APR
        (rates("0.00005", "0.01"), {}, ExitReason.NET_APR),
        (rates("0.00005", "0.2"), {"maxHoldHours": 10}, ExitReason.MAX_HOLD),
        (rates("-0.00001", "-0.2", stale=True), {}, None),  # stale rates decide nothing
        (None, {}, None),
        (rates("-0.00001", "-0.2"), {"minHoldHours": 12}, None),  # rate exits wait for minHoldHours
        (rates("-0.00001", "-0.2"), {"minHoldHours": 12, "maxHoldHours": 12}, None),
    ],
)
def test_exit_rules_in_order(pair_rates_: PairRates | None, fa: dict[str, Any], reason: ExitReason | None) -> None:
    cfg = farb_config(fa).funding_arb
    assert cfg is not None
    decision = evaluate_exit(held_pair(pair_rates_), cfg, 100_000.0)
    assert (decision.reason if decision else None) is reason


def test_safety_exits_ignore_min_hold() -> None:
    cfg = farb_config({"minHoldHours": 100, "maxHoldHours": 200}).funding_arb
    assert cfg is not None
    pair = held_pair(rates("-0.00001", "-0.2"))
    assert pair.short.position is not None
    pair.short.position = pair.short.position.model_copy(update={"liquidation_price": D(64000)})  # 6.7 %
    decision = evaluate_exit(pair, cfg, 100_000.0)
    assert decision is not None and decision.reason is ExitReason.LIQUIDATION
    pair = held_pair(None)
    pair.long.position = Position(symbol="BTC", size=D(0))
    decision = evaluate_exit(pair, cfg, 100_000.0)
    assert decision is not None and decision.reason is ExitReason.LEG_CLOSED


def test_imbalance_is_measured_in_base_units() -> None:
    pair = held_pair(None)
    assert imbalance_pct(pair) == 0
    # the venues' prices drift 5 % apart: still perfectly hedged in base units
    assert pair.short.position is not None
    pair.short.position = pair.short.position.model_copy(update={"mark_price": D(63000)})
    assert imbalance_pct(pair) == 0
    pair.short.size = D("0.0150")
    assert imbalance_pct(pair) == (D("0.0016") / D("0.0166") * 100)


# --- recovery ----------------------------------------------------------------------------------------------------------


def holding(exchange: str, size: str, symbol: str = "BTC", mult: str = "1") -> Holding:
    return Holding(exchange, market(symbol, step="0.0001", mult=mult), Position(symbol=symbol, size=D(size)))


def test_match_holdings() -> None:
    matches, unmatched = match_holdings(
        [
            holding("a", "0.02"),
            holding("b", "-0.015"),
            holding("c", "-0.005"),
            holding("a", "0.3", "ETH"),
            holding("b", "0", "SOL"),
            holding("b", "-300", "PEPE", mult="1"),
            holding("c", "0.3", "PEPE", mult="1000"),
        ]
    )
    assert [(m.symbol, m.long.exchange, m.short.exchange) for m in matches] == [
        ("BTC", "a", "b"),
        ("PEPE", "c", "b"),
    ]
    assert sorted(h.describe() for h in unmatched) == ["a ETH long 0.3", "c BTC short 0.005"]


# --- ledger ----------------------------------------------------------------------------------------------------------


def order(side: Side, size: str, price: str, oid: str) -> Order:
    return Order(
        order_id=oid,
        symbol="BTC",
        side=side,
        size=D(size),
        filled_size=D(size),
        avg_fill_price=D(price),
        status=OrderStatus.FILLED,
    )


def test_ledger_fees_from_the_stream_or_estimated_once() -> None:
    from bot_runtime.exchanges.base import Fill, Liquidity

    ledger = Ledger()
    m = market("BTC", step="0.0001", tick="0.1", taker_fee=D("0.0005"))
    buy, sell = order(Side.BUY, "0.01", "60000", "1"), order(Side.SELL, "0.01", "60100", "2")
    assert cash_flow(buy) == D(-600) and cash_flow(sell) == D(601)
    ledger.book("a", buy, m, None)
    ledger.book("a", buy, m, None)  # the same order twice: booked once
    ledger.book("a", sell, m, None)
    assert ledger.fees == D("0.3") + D("0.3005")  # estimated
    ledger.on_fill(
        "a",
        Fill(
            trade_id="t",
            order_id="1",
            symbol="BTC",
            side=Side.BUY,
            price=D(60000),
            size=D("0.01"),
            fee=D("0.12"),
            liquidity=Liquidity.TAKER,
        ),
    )
    assert ledger.fees == D("0.12") + D("0.3005")  # the venue's figure replaces the estimate
    assert ledger.realized == D(1) - ledger.fees
