"""Realized PnL net of fees (issue 17, item 9): the fill book, and a grid round trip whose realized PnL is the
account's cash change."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges.base import Fill, Liquidity, Side
from bot_runtime.strategies.pnl import FillBook

D = Decimal


def fill(side: Side, size: str, price: str, fee: str, trade: str) -> Fill:
    return Fill(
        trade_id=trade,
        order_id=f"o-{trade}",
        symbol="BTC",
        side=side,
        price=D(price),
        size=D(size),
        fee=D(fee),
        liquidity=Liquidity.MAKER,
    )


def test_a_round_trip_is_net_of_both_fees() -> None:
    book = FillBook()
    book.apply(fill(Side.BUY, "0.01", "60000", "0.12", "1"))  # 2 bp maker fee on 600
    book.apply(fill(Side.SELL, "0.01", "60012", "0.120024", "2"))  # the 0.02 % take-profit
    assert book.realized == D("0.12")  # what the grid used to report
    assert book.realized_net == D("-0.120024")  # what the account lost
    assert book.position == 0 and book.avg_price is None


def test_rebates_add_and_a_fill_seen_twice_counts_once() -> None:
    book = FillBook()
    buy = fill(Side.BUY, "0.02", "100", "-0.0002", "1")
    book.apply(buy)
    book.apply(buy)
    assert book.position == D("0.02") and book.fees == D("-0.0002")
    book.apply(fill(Side.SELL, "0.01", "110", "-0.0001", "2"))
    assert book.realized == D("0.1") and book.realized_net == D("0.1003")


def test_the_seed_is_the_cost_basis_and_a_flip_reopens_at_the_fill_price() -> None:
    book = FillBook()
    book.seed(D("0.03"), D("100"))  # left by the previous process
    book.apply(fill(Side.BUY, "0.01", "120", "0", "1"))
    assert book.avg_price == D("105")
    book.apply(fill(Side.SELL, "0.06", "110", "0", "2"))  # closes 0.04 at +5, opens 0.02 short at 110
    assert book.realized == D("0.2") and book.position == D("-0.02") and book.avg_price == D("110")
    book.apply(fill(Side.BUY, "0.02", "100", "0", "3"))
    assert book.realized == D("0.4") and book.position == 0


async def test_a_grid_round_trip_realizes_the_accounts_cash_change(
    make_grid: Callable[..., Any], make_paper: Callable[..., Any]
) -> None:
    # down through the entry, then up through its take-profit, then flat: one full round trip
    prices = ["60000", "59990", "59980", *["59980"] * 20, *[str(59980 + 5 * i) for i in range(1, 40)], *["60200"] * 50]
    exchange = await make_paper(prices, volumePerStepUsd="100000")
    before = (await exchange.balance()).equity
    bot = await make_grid(exchange=exchange, grid={"waitTime": "4000s", "takeProfit": "0.05"})
    await bot.run_for(120)
    assert bot.events.fills and len(bot.events.fills) >= 2
    assert (await exchange.position("BTC")).size == 0  # the take-profit filled
    after = (await exchange.balance()).equity
    snap = bot.strategy.snapshot()
    fees = sum((f.fee for f in bot.events.fills), D(0))
    assert fees > 0 and snap.fees_paid == fees
    assert snap.realized_pnl == after - before  # net of fees: the account's cash change
    await bot.stop()
