"""The paper venue's rules, one by one, on scripted price paths and a virtual clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import (
    CancelReason,
    ExchangeError,
    InsufficientMargin,
    Liquidity,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PostOnlyWouldCross,
    Side,
    TimeInForce,
)
from bot_runtime.exchanges.paper import PaperExchange, PaperFundingSource, PaperOptions, create_funding_source
from bot_runtime.exchanges.paper.funding import default_interval_hours

D = Decimal
_ids = iter(range(1, 1_000_000))


def req(side: Side, size: str, price: str | Decimal | None = None, **kw: Any) -> OrderRequest:
    order_type = OrderType.LIMIT if price is not None else OrderType.MARKET
    tif = kw.pop("tif", TimeInForce.GTC if price is not None else TimeInForce.IOC)
    return OrderRequest(
        symbol=kw.pop("symbol", "BTC"),
        side=side,
        size=D(size),
        price=D(price) if price is not None else None,
        order_type=order_type,
        time_in_force=tif,
        client_order_id=kw.pop("cid", f"t{next(_ids)}"),
        **kw,
    )


async def test_quote_is_a_spread_of_ticks_around_the_mid(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"])
    q = await ex.best_bid_ask("BTC")
    market = await ex.market("BTC")
    assert market.tick_size == D("0.1") and market.size_step == D("0.0001")
    assert (q.bid, q.ask) == (D("59999.9"), D("60000.1"))  # 2 ticks
    assert q.ask - q.bid == 2 * market.tick_size


async def test_post_only_that_would_cross_is_rejected_and_nothing_rests(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"])
    with pytest.raises(PostOnlyWouldCross):
        await ex.place_order(req(Side.BUY, "0.01", "60000.1", tif=TimeInForce.POST_ONLY))
    with pytest.raises(PostOnlyWouldCross):
        await ex.place_order(req(Side.SELL, "0.01", "59999.9", tif=TimeInForce.POST_ONLY))
    assert await ex.open_orders() == []
    assert ex.fills == []
    ok = await ex.place_order(req(Side.BUY, "0.01", "60000.0", tif=TimeInForce.POST_ONLY))
    assert ok.status is OrderStatus.OPEN


async def test_resting_orders_fill_only_when_price_trades_through(
    make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    ex = await make_paper(["60000", "60000", "59999.95", "59999.5", "60003", "60010"])
    buy = await ex.place_order(req(Side.BUY, "0.01", "59999.9", tif=TimeInForce.POST_ONLY))
    sell = await ex.place_order(req(Side.SELL, "0.01", "60005.0", tif=TimeInForce.POST_ONLY))
    await clock.advance(2)  # 59999.95 is not below 59999.9
    assert (await ex.get_order("BTC", buy.order_id)).status is OrderStatus.OPEN  # type: ignore[union-attr]
    await clock.advance(1)  # 59999.5 < 59999.9: filled at its own price, as maker
    filled = await ex.get_order("BTC", buy.order_id)
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert ex.fills[-1].price == D("59999.9") and ex.fills[-1].liquidity is Liquidity.MAKER
    assert ex.fills[-1].fee == D("0.01") * D("59999.9") * D("0.0002")
    await clock.advance(1)  # 60003 does not reach 60005
    assert (await ex.get_order("BTC", sell.order_id)).status is OrderStatus.OPEN  # type: ignore[union-attr]
    await clock.advance(1)  # 60010 > 60005
    assert (await ex.get_order("BTC", sell.order_id)).status is OrderStatus.FILLED  # type: ignore[union-attr]
    position = await ex.position("BTC")
    assert position.size == 0
    assert position.realized_pnl == D("0.01") * (D("60005.0") - D("59999.9"))


async def test_big_orders_fill_in_parts_bounded_by_step_volume(
    make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    # 600 USD per step at ~60 000 → 0.01 BTC per step
    ex = await make_paper(["60000", *["59000"] * 10], volumePerStepUsd="590")
    order = await ex.place_order(req(Side.BUY, "0.035", "59990.0", tif=TimeInForce.POST_ONLY))
    await clock.advance(1)
    first = await ex.get_order("BTC", order.order_id)
    assert first is not None and first.status is OrderStatus.PARTIALLY_FILLED
    assert first.filled_size == D("0.01")
    await clock.advance(3)
    done = await ex.get_order("BTC", order.order_id)
    assert done is not None and done.status is OrderStatus.FILLED
    assert [f.size for f in ex.fills] == [D("0.01"), D("0.01"), D("0.01"), D("0.005")]
    assert done.avg_fill_price == D("59990.0")


async def test_crossing_limit_and_market_take_at_the_touch_with_taker_fee(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"])
    order = await ex.place_order(req(Side.BUY, "0.01", "60100.0"))  # GTC limit through the ask
    assert order.status is OrderStatus.FILLED and order.avg_fill_price == D("60000.1")
    assert ex.fills[-1].liquidity is Liquidity.TAKER
    assert ex.fills[-1].fee == D("0.01") * D("60000.1") * D("0.0005")
    market = await ex.place_order(req(Side.SELL, "0.01"))
    assert market.status is OrderStatus.FILLED and market.avg_fill_price == D("59999.9")
    ioc = await ex.place_order(req(Side.BUY, "0.01", "59000.0", tif=TimeInForce.IOC))
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_size == 0
    assert (await ex.position("BTC")).size == 0


async def test_reduce_only_can_only_reduce(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"])
    with pytest.raises(OrderRejected) as flat:
        await ex.place_order(req(Side.SELL, "0.01", reduce_only=True))
    assert flat.value.reason is CancelReason.REDUCE_ONLY_VIOLATION
    await ex.place_order(req(Side.BUY, "0.02"))
    with pytest.raises(OrderRejected):  # same side as the position
        await ex.place_order(req(Side.BUY, "0.01", reduce_only=True))
    # bigger than the position: trimmed to it, the rest cancelled
    big = await ex.place_order(req(Side.SELL, "0.05", reduce_only=True))
    assert big.filled_size == D("0.02")
    assert big.status is OrderStatus.CANCELED and big.cancel_reason is CancelReason.REDUCE_ONLY_VIOLATION
    assert (await ex.position("BTC")).size == 0


async def test_resting_reduce_only_is_cancelled_when_the_position_is_gone(
    make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    ex = await make_paper(["60000", "60000", "60100", "60100"])
    await ex.place_order(req(Side.BUY, "0.01"))
    close = await ex.place_order(req(Side.SELL, "0.01", "60050.0", reduce_only=True))
    await ex.place_order(req(Side.SELL, "0.01"))  # flat by hand
    await clock.advance(3)
    final = await ex.get_order("BTC", close.order_id)
    assert final is not None and final.status is OrderStatus.CANCELED and final.filled_size == 0
    assert (await ex.position("BTC")).size == 0


async def test_insufficient_margin(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"], startingBalanceUsd="1000", leverage="5")
    # 1000 USD x 5 = 5000 USD of exposure at most: 0.08 BTC = 4800 OK, then nothing more
    await ex.place_order(req(Side.BUY, "0.08", "59000.0"))
    with pytest.raises(InsufficientMargin):
        await ex.place_order(req(Side.BUY, "0.01", "59000.0"))  # the resting order reserves margin
    await ex.cancel_all("BTC")
    await ex.place_order(req(Side.BUY, "0.08"))
    with pytest.raises(InsufficientMargin):
        await ex.place_order(req(Side.BUY, "0.01"))
    # reducing needs no margin
    reduce = await ex.place_order(req(Side.SELL, "0.08", reduce_only=True))
    assert reduce.status is OrderStatus.FILLED


async def test_funding_is_paid_each_interval_on_notional_at_mark(
    make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    ex = await make_paper(["60000"], fundingRateHourly="0.0001")
    await ex.place_order(req(Side.BUY, "0.1"))
    await clock.advance(3600 * 2 + 5)
    mark = (D("59999.9") + D("60000.1")) / 2
    payments = [p for _, _, p in ex.funding_payments]
    assert payments == [-D("0.1") * mark * D("0.0001")] * 2  # the long pays
    short = await make_paper(["60000"], name="paper-s", fundingRateHourly="0.0001")
    await short.place_order(req(Side.SELL, "0.1"))
    await clock.advance(3600)
    assert [p for _, _, p in short.funding_payments] == [D("0.1") * mark * D("0.0001")]  # the short receives
    position = await ex.position("BTC")
    assert len(ex.funding_payments) == 3
    assert position.funding_pnl == sum(p for _, _, p in ex.funding_payments)
    balance = await ex.balance()
    fees = ex.account.fees
    assert balance.equity == D(10000) + position.realized_pnl + position.funding_pnl - fees + position.unrealized_pnl


async def test_orders_and_client_ids(make_paper: Callable[..., Any]) -> None:
    ex = await make_paper(["60000"])
    order = await ex.place_order(req(Side.BUY, "0.01", "59000.0", cid="mine-1"))
    with pytest.raises(OrderRejected, match="duplicate"):
        await ex.place_order(req(Side.BUY, "0.01", "59000.0", cid="mine-1"))
    assert await ex.find_order_by_client_id("BTC", "mine-1") == order
    assert await ex.find_order_by_client_id("BTC", "nope") is None
    with pytest.raises(OrderRejected, match="multiple"):
        await ex.place_order(req(Side.BUY, "0.00015", "59000.0"))
    with pytest.raises(OrderRejected, match="multiple"):
        await ex.place_order(req(Side.BUY, "0.01", "59000.05"))
    with pytest.raises(ExchangeError):
        await ex.place_order(req(Side.BUY, "0.01", "59000.0", symbol="DOGE"))
    await ex.cancel_order("BTC", order.order_id)
    with pytest.raises(OrderNotFound):
        await ex.cancel_order("BTC", order.order_id)
    final = await ex.get_order("BTC", order.order_id)
    assert final is not None and final.status is OrderStatus.CANCELED
    assert final.cancel_reason is CancelReason.USER_CANCELED
    for price in ("58000.0", "57000.0"):
        await ex.place_order(req(Side.BUY, "0.01", price))
    await ex.place_order(req(Side.BUY, "0.1", "2900.00", symbol="ETH"))
    assert len(await ex.open_orders()) == 3
    assert await ex.cancel_all("BTC") == 2
    assert [o.symbol for o in await ex.open_orders()] == ["ETH"]


async def test_order_update_stream_reports_every_change_in_order(
    make_paper: Callable[..., Any], clock: VirtualClock
) -> None:
    ex = await make_paper(["60000", "59000"])
    stream = ex.order_updates()
    seen: list[OrderUpdate] = []

    async def consume() -> None:
        async for update in stream:
            seen.append(update)

    task = asyncio.create_task(consume())
    rest = await ex.place_order(req(Side.BUY, "0.01", "59990.0"))
    other = await ex.place_order(req(Side.BUY, "0.01", "50000.0"))
    await ex.cancel_order("BTC", other.order_id)
    await clock.advance(1)
    await ex.close()
    await task
    states = [(u.order.order_id, u.order.status, u.fill is not None) for u in seen]
    assert states == [
        (rest.order_id, OrderStatus.OPEN, False),
        (other.order_id, OrderStatus.OPEN, False),
        (other.order_id, OrderStatus.CANCELED, False),
        (rest.order_id, OrderStatus.FILLED, True),
    ]


async def test_price_stream_and_lifecycle(make_paper: Callable[..., Any], clock: VirtualClock) -> None:
    ex = await make_paper(["60000", "60001", "60002", "60003"])
    stream = ex.price_stream("BTC")
    await clock.advance(1)
    first = await anext(stream)
    assert first.bid == D("60000.9")
    await clock.advance(2)  # a slow consumer only gets the newest quote
    latest = await anext(stream)
    assert latest.bid == D("60002.9")
    await ex.close()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    with pytest.raises(ExchangeError, match="not connected"):
        await ex.best_bid_ask("BTC")


async def test_named_venues_share_the_path_but_not_funding(clock: VirtualClock) -> None:
    a = PaperExchange("paper-a", {"seed": 3}, clock=clock)
    b = PaperExchange("paper-b", {"seed": 3}, clock=clock)
    other = PaperExchange("paper-c", {"seed": 4}, clock=clock)
    for ex in (a, b, other):
        await ex.connect()
    try:
        for _ in range(5):
            await clock.advance(37)
            qa, qb, qc = [await x.best_bid_ask("ETH") for x in (a, b, other)]
            assert (qa.bid, qa.ask) == (qb.bid, qb.ask)
            assert qa.bid != qc.bid
        assert a.funding.interval_hours == 1 and b.funding.interval_hours == 8
        assert a.funding.rate("BTC", 10) != b.funding.rate("BTC", 10)
    finally:
        for ex in (a, b, other):
            await ex.close()


def test_gbm_path_is_deterministic_by_seed() -> None:
    from bot_runtime.exchanges.paper.prices import GbmPath

    one = GbmPath(D(60000), D("0.6"), 1.0, 42, "BTC", epoch=0.0)
    two = GbmPath(D(60000), D("0.6"), 1.0, 42, "BTC", epoch=0.0)
    three = GbmPath(D(60000), D("0.6"), 1.0, 43, "BTC", epoch=0.0)
    assert [one.price(k) for k in range(0, 500, 50)] == [two.price(k) for k in range(0, 500, 50)]
    assert one.price(400) != three.price(400)
    assert one.price(3) == two.price(3)  # going back recomputes the same path
    moves = [one.price(k + 1) / one.price(k) - 1 for k in range(2000)]
    assert all(abs(m) < D("0.002") for m in moves)  # 60 % a year is ~0.01 % per second
    assert any(m > 0 for m in moves) and any(m < 0 for m in moves)


async def test_replay_of_a_price_file(tmp_path: Path, clock: VirtualClock) -> None:
    prices = tmp_path / "prices.csv"
    prices.write_text("timestamp,price\n1700000000,100\n1700000002,101.5\n2023-11-14T22:13:25Z,99\n")
    ex = PaperExchange("paper", {"ticker": "BTC", "priceFile": str(prices), "startPrice": "100"}, clock=clock)
    await ex.connect()
    try:
        mids = []
        for _ in range(6):
            q = await ex.best_bid_ask("BTC")
            mids.append(q.mid)
            await clock.advance(1)
        assert mids == [D(100), D(100), D("101.5"), D("101.5"), D("101.5"), D(99)]
    finally:
        await ex.close()


async def test_funding_source_is_deterministic_and_matches_the_exchange(clock: VirtualClock) -> None:
    source = PaperFundingSource("paper-b", PaperOptions.parse("paper-b", {"seed": 9}), clock=clock)
    again = PaperFundingSource("paper-b", PaperOptions.parse("paper-b", {"seed": 9}), clock=clock)
    rates = await source.funding_rates()
    assert [r.symbol for r in rates] == ["BTC", "ETH", "SOL"]
    assert rates == await again.funding_rates()
    btc = next(r for r in rates if r.symbol == "BTC")
    assert btc.interval_hours == 8 and btc.exchange == "paper-b"
    assert btc.next_funding_time is not None and btc.next_funding_time > clock.now()
    assert btc.mark_price is not None and btc.open_interest_usd is not None and btc.volume_24h_usd is not None
    exchange = PaperExchange("paper-b", {"seed": 9}, clock=clock)
    assert btc.rate == exchange.funding.rate("BTC", exchange.funding.period(clock.time()))
    only = await source.funding_rates(["eth"])
    assert [r.symbol for r in only] == ["ETH"]
    assert (await create_funding_source("paper", {}).funding_rates())[0].rate == D("0.00001")


async def test_funding_source_reports_the_exchanges_minimum_order_size(clock: VirtualClock) -> None:
    source = PaperFundingSource("paper-a", PaperOptions.parse("paper-a", {"sizeStep": "0.002"}), clock=clock)
    exchange = PaperExchange("paper-a", {"sizeStep": "0.002"}, clock=clock)
    async with exchange:
        markets = await exchange.markets()
    sizes = {r.symbol: r.min_order_size for r in await source.funding_rates()}
    assert sizes == {symbol: market.min_size for symbol, market in markets.items()}
    assert sizes["BTC"] == D("0.002")  # the configured step of the primary market is its minimum


def test_interval_by_name() -> None:
    assert [default_interval_hours(n) for n in ("paper", "paper-a", "paper-b", "paper-c", "paper-d")] == [1, 1, 8, 1, 8]


async def test_registry_builds_paper_without_credentials(clock: VirtualClock) -> None:
    ex = registry.create_exchange("paper-a", {"ticker": "ETH", "startPrice": "2500", "clock": clock}, env={})
    assert isinstance(ex, PaperExchange)
    async with ex:
        q = await ex.best_bid_ask("ETH")
        assert D(2490) < q.mid < D(2510)
    source = registry.create_funding_source("paper-a", {})
    assert isinstance(source, PaperFundingSource)
    with pytest.raises(ValueError, match="paper"):
        PaperExchange("lighter")


async def test_fills_carry_the_step_time(make_paper: Callable[..., Any], clock: VirtualClock) -> None:
    ex = await make_paper(["60000", "60000", "60000", "59000"])
    await ex.place_order(req(Side.BUY, "0.01", "59990.0"))
    start = clock.time()
    await clock.advance(10)  # processed lazily in one go: the fill is stamped with its step
    assert ex.fills[0].timestamp == datetime.fromtimestamp(start + 3, UTC)
