"""Property tests of the paper venue's money paths (hypothesis)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges.base import (
    ExchangeError,
    Liquidity,
    OrderRequest,
    OrderType,
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.paper import PaperExchange, ScriptedPath
from bot_runtime.paper_exchange.engine.accounting import PositionBook

D = Decimal
TOLERANCE = D("1e-15")

fills = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(min_value=1, max_value=500),  # size in 0.001 steps
        st.integers(min_value=50_000, max_value=70_000),  # price in 0.1 ticks / 10 → 5000.0 .. 7000.0
        st.integers(min_value=-2, max_value=5),  # fee rate in bp
    ),
    min_size=1,
    max_size=40,
)


class ReferenceBook:
    """Average-cost position book on exact fractions: the textbook definition the paper venue must match."""

    def __init__(self) -> None:
        self.size = Fraction(0)
        self.avg: Fraction | None = None
        self.realized = Fraction(0)

    def fill(self, side: Side, size: Fraction, price: Fraction) -> None:
        signed = size if side is Side.BUY else -size
        if self.size == 0 or (self.size > 0) == (signed > 0):
            held = abs(self.size)
            self.avg = (held * (self.avg or 0) + size * price) / (held + size)
            self.size += signed
            return
        closing = min(size, abs(self.size))
        assert self.avg is not None
        self.realized += closing * (price - self.avg) * (1 if self.size > 0 else -1)
        self.size += signed
        if self.size == 0:
            self.avg = None
        elif (self.size > 0) != (signed < 0):
            self.avg = price


@settings(max_examples=300, deadline=None)
@given(fills, st.integers(min_value=50_000, max_value=70_000))
def test_position_book_matches_average_cost_and_cash_flows(
    sequence: list[tuple[Side, int, int, int]], mark_ticks: int
) -> None:
    book, ref = PositionBook(), ReferenceBook()
    cash_flow = Fraction(0)
    fees = D(0)
    mark = D(mark_ticks) / 10
    for side, size_steps, price_ticks, fee_bp in sequence:
        size, price = D(size_steps) / 1000, D(price_ticks) / 10
        fee = size * price * D(fee_bp) / 10_000
        before = book.size
        realized = book.apply_fill(side, size, price, fee)
        ref.fill(side, Fraction(size), Fraction(price))
        fees += fee
        cash_flow += -Fraction(size * side.sign) * Fraction(price)
        # position = signed sum of fills
        assert book.size == before + size * side.sign
        # adding never realizes anything
        if before == 0 or (before > 0) == (side is Side.BUY):
            assert realized == 0
        # average entry and realized PnL are the average-cost ones, across partial closes and flips
        assert (book.avg_entry is None) == (ref.avg is None)
        if ref.avg is not None:
            assert book.avg_entry is not None
            assert abs(Fraction(book.avg_entry) - ref.avg) <= Fraction(TOLERANCE) * ref.avg
        assert abs(Fraction(book.realized_pnl) - ref.realized) <= Fraction(TOLERANCE) * 10**6
    assert book.size == ref.size
    assert book.fees == fees
    # realized + unrealized = what the cash flows say the trades are worth at the mark
    total = Fraction(book.realized_pnl) + Fraction(book.unrealized(mark))
    assert abs(total - (cash_flow + ref.size * Fraction(mark))) <= Fraction(TOLERANCE) * 10**7


ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("limit"),
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(1, 30),
            st.integers(-5, 8),
            st.booleans(),
        ),
        st.tuples(st.just("market"), st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 30), st.booleans()),
        st.tuples(st.just("cancel"), st.integers(0, 10)),
        st.tuples(st.just("wait"), st.integers(1, 2000)),
    ),
    min_size=1,
    max_size=30,
)
path_moves = st.lists(st.integers(min_value=-40, max_value=40), min_size=20, max_size=200)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops, path_moves, st.sampled_from(["0.0001", "-0.00005", "0"]), st.integers(1, 50))
def test_exchange_money_paths(
    operations: list[tuple[object, ...]], moves: list[int], funding: str, volume_factor: int
) -> None:
    asyncio.run(_exchange_money_paths(operations, moves, funding, volume_factor))


async def _exchange_money_paths(
    operations: list[tuple[object, ...]], moves: list[int], funding: str, volume_factor: int
) -> None:
    clock = VirtualClock()
    prices = [D(3000)]
    for move in moves:
        prices.append(max(D(100), prices[-1] + D(move) / 10))
    step = 30.0  # 30 s steps: funding boundaries get crossed
    ex = PaperExchange(
        "paper-prop",
        {
            "ticker": "ETH",
            "startPrice": "3000",
            "fundingRateHourly": funding,
            "volumePerStepUsd": str(volume_factor * 30),
            "startingBalanceUsd": "5000",
        },
        clock=clock,
        price_paths={"ETH": ScriptedPath(prices, step=step, epoch=clock.time())},
    )
    await ex.connect()
    market = await ex.market("ETH")
    requests: dict[str, OrderRequest] = {}
    n = 0
    try:
        for op in operations:
            n += 1
            kind = op[0]
            try:
                if kind == "limit":
                    _, side, size, offset, post_only = op
                    assert isinstance(side, Side) and isinstance(size, int) and isinstance(offset, int)
                    quote = await ex.best_bid_ask("ETH")
                    base = quote.bid if side is Side.BUY else quote.ask
                    price = base - offset * market.tick_size * side.sign
                    request = OrderRequest(
                        symbol="ETH",
                        side=side,
                        size=market.size_step * size,
                        price=price,
                        time_in_force=TimeInForce.POST_ONLY if post_only else TimeInForce.GTC,
                        client_order_id=f"p{n}",
                    )
                elif kind == "market":
                    _, side, size, reduce_only = op
                    assert isinstance(side, Side) and isinstance(size, int)
                    request = OrderRequest(
                        symbol="ETH",
                        side=side,
                        size=market.size_step * size,
                        order_type=OrderType.MARKET,
                        time_in_force=TimeInForce.IOC,
                        reduce_only=bool(reduce_only),
                        client_order_id=f"p{n}",
                    )
                elif kind == "cancel":
                    open_orders = await ex.open_orders("ETH")
                    index = op[1]
                    assert isinstance(index, int)
                    if open_orders:
                        await ex.cancel_order("ETH", open_orders[index % len(open_orders)].order_id)
                    continue
                else:
                    seconds = op[1]
                    assert isinstance(seconds, int)
                    await clock.advance(seconds)
                    continue
                requests[request.client_order_id] = request
                await ex.place_order(request)
            except ExchangeError:
                continue  # rejections (post-only cross, margin, reduce-only) are part of the game
        await clock.advance(step * 3)
        position = await ex.position("ETH")
        balance = await ex.balance()
    finally:
        await ex.close()

    # position = signed sum of fills
    assert position.size == sum((f.size * f.side.sign for f in ex.fills), D(0))
    # post-only never takes liquidity; reduce-only never increases |position|
    running = D(0)
    for fill in ex.fills:
        request = requests[fill.client_order_id or ""]
        after = running + fill.size * fill.side.sign
        if request.post_only:
            assert fill.liquidity is Liquidity.MAKER
            assert request.price is not None
            assert fill.price == request.price
        if request.reduce_only:
            assert abs(after) <= abs(running)
            assert (after == 0) or ((after > 0) == (running > 0))  # never flips
        running = after
    # balance = start + realized + funding - fees (+ unrealized in equity), fees summed from the fills themselves
    fees = sum((f.fee for f in ex.fills), D(0))
    funding_paid = sum((p for _, _, p in ex.funding_payments), D(0))
    assert position.funding_pnl == funding_paid
    assert balance.equity == D(5000) + position.realized_pnl + position.funding_pnl - fees + position.unrealized_pnl
    assert balance.unrealized_pnl == position.unrealized_pnl
    assert balance.margin_used == abs(position.size) * (position.mark_price or 0) / 10
    if funding == "0":
        assert funding_paid == 0
