"""Which quotes the grid may use (issue 18, deliverable 4: bot_runtime/strategies/grid/quotes.py) and which of two
views of an order wins (deliverable 2: orders.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot_runtime.exchanges.base import Order, OrderStatus, Quote, Side
from bot_runtime.strategies.grid import BadQuote, QuoteGuard
from bot_runtime.strategies.grid.orders import freshest

D = Decimal
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def quote(bid: str, ask: str | None = None, age: float = 0.0) -> Quote:
    b = D(bid)
    return Quote(symbol="BTC", bid=b, ask=D(ask) if ask else b + D("0.2"), timestamp=NOW - timedelta(seconds=age))


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (quote("0", "0"), "0 < bid < ask"),
        (quote("60000", "59999"), "0 < bid < ask"),
        (quote("0", "60000"), "0 < bid < ask"),
        (quote("60000", age=31), "31s old"),
    ],
    ids=["zero", "crossed", "zero-bid", "stale"],
)
def test_a_bad_quote_is_refused(bad: Quote, why: str) -> None:
    guard = QuoteGuard()
    with pytest.raises(BadQuote, match=why):
        guard.check(bad, NOW)
    assert guard.last_good is None


def test_an_outlier_is_refused_until_three_in_a_row_agree() -> None:
    guard = QuoteGuard()
    guard.check(quote("60000"), NOW)
    with pytest.raises(BadQuote, match="outlier 1/3"):
        guard.check(quote("30000"), NOW)
    guard.check(quote("60010"), NOW)  # the truth again: the outlier is forgotten
    for n in (1, 2):
        with pytest.raises(BadQuote, match=f"outlier {n}/3"):
            guard.check(quote("70000"), NOW)
    assert guard.check(quote("70010"), NOW).bid == D(70010)  # a real move: three agreeing quotes
    assert guard.last_good is not None and guard.last_good.bid == D(70010)


def test_outliers_that_disagree_never_confirm_each_other() -> None:
    guard = QuoteGuard()
    guard.check(quote("60000"), NOW)
    for level in ("30000", "90000", "30000", "90000"):
        with pytest.raises(BadQuote, match="outlier 1/3"):
            guard.check(quote(level), NOW)


def test_a_price_level_is_confirmed_by_two_good_quotes_in_a_row() -> None:
    guard = QuoteGuard()

    def above(q: Quote) -> bool:
        return q.ask >= D(60050)

    guard.check(quote("60000"), NOW)
    guard.check(quote("60100"), NOW)
    assert not guard.confirmed(above)  # one quote beyond it
    with pytest.raises(BadQuote):
        guard.check(quote("0", "0"), NOW)
    guard.check(quote("60100"), NOW)
    assert not guard.confirmed(above)  # a refused quote in between breaks the run
    guard.check(quote("60110"), NOW)
    assert guard.confirmed(above)


def order(status: OrderStatus, filled: str) -> Order:
    return Order(
        order_id="1", symbol="BTC", side=Side.BUY, size=D("0.01"), filled_size=D(filled), status=status, price=D(1)
    )


def test_a_final_state_is_never_replaced_by_a_staler_read() -> None:
    filled, open_ = order(OrderStatus.FILLED, "0.01"), order(OrderStatus.OPEN, "0")
    assert freshest(filled, open_) is filled
    assert freshest(open_, filled) is filled
    partial = order(OrderStatus.PARTIALLY_FILLED, "0.004")
    assert freshest(partial, open_) is partial  # of two open views, the one that filled more
    assert freshest(None, open_) is open_ and freshest(open_, None) is open_
