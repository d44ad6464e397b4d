"""Venue faults (issue 18) on the grid: one test per way a venue misbehaves. Each asserts at the end, and the rig's
:class:`~tests.unit.engine.grid_fault_rig.CoverWatch` at every loop boundary after one loop of grace: |position -
resting close size| < the venue's minimum size (or nothing opens and the snapshot says why), no order doubled, no
crash. The venue is the in-process paper venue with :class:`GridFaultVenue`'s faults; prices fall slowly, so entries
fill and their take-profits rest above."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.exchanges.base import (
    InsufficientMargin,
    MalformedResponse,
    OrderRejected,
    OrderStatus,
    OrderType,
    PostOnlyWouldCross,
    Quote,
)
from bot_runtime.exchanges.paper import ScriptedPath
from bot_runtime.risk import RiskManager
from bot_runtime.status import BotStatus
from bot_runtime.strategies.base import StrategyPhase
from perpdex_operator.conditions import merge_conditions
from perpdex_operator.observe import Observation
from perpdex_operator.settings import OperatorSettings
from perpdex_operator.status import bot_status
from tests.unit.engine.conftest import GridRig, TimedEvents, grid_config, linear
from tests.unit.engine.grid_fault_rig import CoverWatch, GridFaultVenue, WatchedGrid

D = Decimal
FALLING = linear("60000", "-0.3", 20000)


class FaultRig(GridRig):
    venue: GridFaultVenue
    watch: CoverWatch

    async def settle(self) -> None:
        """The end: covered within the minimum size, nothing doubled, every boundary held."""
        assert self.strategy.market is not None
        position, closes = self.venue.truth("BTC", self.strategy.close_side)
        assert abs(position - closes) < self.strategy.market.min_size, (position, closes)
        assert self.venue.doubled() == []
        self.watch.assert_held()
        assert self.task is not None and not self.task.done(), "the strategy ended"


@pytest.fixture
async def make_rig(clock: VirtualClock) -> AsyncIterator[Callable[..., Any]]:
    """``await make_rig(prices=FALLING, grid={...}, paper={...}, before_start=None)`` → :class:`FaultRig`."""
    rigs: list[FaultRig] = []

    async def factory(
        prices: Sequence[Decimal | str | int] = FALLING,
        *,
        grid: dict[str, Any] | None = None,
        paper: dict[str, Any] | None = None,
        before_start: Callable[[GridFaultVenue], None] | None = None,
    ) -> FaultRig:
        config = grid_config({"waitTime": "8s", **(grid or {})}, paper=paper or {})
        path = ScriptedPath(prices, step=1.0, epoch=clock.time())
        venue = GridFaultVenue(
            "paper", {"ticker": "BTC", **config.venue_options("paper")}, clock=clock, price_paths={"BTC": path}
        )
        if before_start is not None:
            before_start(venue)
        await venue.connect()
        risk = RiskManager(config.risk, clock)
        events = TimedEvents(clock)
        strategy = WatchedGrid(config, venue, risk, events, clock=clock)
        watch = CoverWatch(venue)
        strategy.watch = watch
        rig = FaultRig(clock, venue, config, risk, events, strategy)
        rig.venue, rig.watch = venue, watch
        rigs.append(rig)
        return rig

    yield factory
    for rig in rigs:
        if rig.task is not None and not rig.task.done():
            rig.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await rig.task
        await rig.strategy.stop_updates()
        for task in rig.venue.late:
            task.cancel()
        await rig.venue.close()


def entries(rig: FaultRig) -> list[Any]:
    return [
        o for o in rig.venue._orders.values() if not o.reduce_only and o.client_order_id and "-o-" in o.client_order_id
    ]


# ---------------------------------------------------------------------------------------------------------------------
# lost replies, lagging lookups, duplicates


@pytest.mark.parametrize("accept_duplicates", [False, True], ids=["refuses-duplicates", "accepts-duplicates"])
async def test_an_entry_whose_reply_is_lost_is_found_by_a_lagging_lookup(
    make_rig: Callable[..., Any], accept_duplicates: bool
) -> None:
    """The entry lands but its reply is lost; the venue's lookup lags 3 s. The lookup window outlasts the lag, so the
    entry is found, never resent: a venue refusing the duplicate does not make it "never placed" (it filled
    uncovered), one accepting it does not double it."""
    rig = await make_rig()
    rig.venue.lose_replies = 1
    rig.venue.lookup_lag = 3.0
    rig.venue.accept_duplicates = accept_duplicates
    await rig.run_for(120)
    assert rig.venue.entry_attempts >= 2  # the lost one, and the next entries
    first = entries(rig)[0]
    assert first.status is OrderStatus.FILLED
    assert any(r.size >= first.filled_size for _, r in rig.events.accepted("c"))
    assert rig.strategy.unresolved == {}
    await rig.settle()


async def test_the_last_attempt_landing_with_its_reply_lost_is_tracked_and_adopted(
    make_rig: Callable[..., Any],
) -> None:
    """Two sends time out before landing, the third lands (about 21 s: each send is looked up for 10 s before the
    next) and its reply is lost; it fills at once and the venue's lookup lags 40 s (more than the send's lookup
    window): the client id is tracked and nothing new opens meanwhile (the reason says so); the invariant covers the
    fill, and when the lookup finds the entry nothing is covered twice (it was 0.01 uncovered for 4 h)."""
    rig = await make_rig(["60000"] * 22 + ["59990"] * 40 + linear("59990", "-0.3", 3000))
    rig.venue.fail_entry_sends = 2
    rig.venue.lose_replies = 1
    rig.venue.lookup_lag = 40.0
    await rig.run_for(45)
    assert len(rig.strategy.unresolved) == 1
    assert "outcome unknown" in (rig.strategy.snapshot().reason or "")
    assert [b.reason for b in rig.strategy.snapshot().entries_blocked or ()] == ["OrderOutcomeUnknown"]
    [first] = entries(rig)  # nothing new opened
    assert first.status is OrderStatus.FILLED
    assert [r.size for _, r in rig.events.accepted("c")] == [D("0.01")]  # covered by the invariant
    await rig.run_for(100)
    assert rig.strategy.unresolved == {}
    assert len(entries(rig)) > 1  # trading went on once it was resolved
    await rig.settle()


async def test_a_take_profit_whose_reply_is_lost_is_not_placed_twice(make_rig: Callable[..., Any]) -> None:
    """The take-profit lands, its reply is lost, the lookup by client id lags a minute: it is found among the open
    orders, never sent twice, and the fill is covered once."""
    rig = await make_rig()
    rig.venue.lose_reduce_replies = 1
    rig.venue.lookup_lag = 60.0
    await rig.run_for(120)
    assert rig.strategy.unresolved == {}
    assert len(entries(rig)) > 2  # trading went on
    await rig.settle()


async def test_a_take_profit_of_unknown_outcome_that_filled_is_no_mismatch(make_rig: Callable[..., Any]) -> None:
    """The take-profit lands (its reply lost), fills while the send is still looking it up (the lookup lags a
    minute), and the resend is refused as a duplicate: it counts as cover while unresolved, but a position now flat
    with that pending cover is no positionMismatch (that needs resting close orders beyond the position)."""
    rig = await make_rig(["60000", "59999", "59998", *linear("59998", "2", 40), *linear("60078", "-0.3", 3000)])
    rig.venue.lose_reduce_replies = 1
    rig.venue.lookup_lag = 60.0
    await rig.run_for(40)
    assert rig.risk.breach is None
    assert (await rig.venue.position("BTC")).size == 0 or rig.strategy.unresolved == {}
    await rig.run_for(120)
    assert rig.risk.breach is None and rig.strategy.phase is StrategyPhase.RUNNING
    await rig.settle()


async def test_a_cancel_that_takes_effect_later_is_final_only_when_the_venue_says_so(
    make_rig: Callable[..., Any],
) -> None:
    """The entry rests, the market moves up (the grid cancels it), the cancel takes effect 4 s later, and the market
    trades through the entry in that gap (after the 2.5 s the cancel was once waited for): the fill is covered (it
    was never covered)."""
    # the entry rests at 60000.0; at 10 s the market is up (cancel, effective at 14 s); at 13 s it trades through
    prices = ["60000"] * 8 + ["60010"] + ["60020"] * 4 + ["59990"] + ["60030"] * 400
    rig = await make_rig(prices, grid={"waitTime": "4000s"})
    rig.venue.cancel_delay = 4.0
    await rig.run_for(60)
    first = entries(rig)[0]
    assert first.filled_size > 0
    closes = [r for _, r in rig.events.accepted("c")]
    assert sum((c.size for c in closes), D(0)) >= first.filled_size
    await rig.settle()


async def test_a_rest_read_behind_a_filled_stream_update_does_not_win(make_rig: Callable[..., Any]) -> None:
    """get_order answers 30 s behind the stream: the stream's FILLED stands, the take-profit is placed at once and the
    monitor does not spin on REST reads (it made ~50 calls/s and drew 429s)."""
    rig = await make_rig()
    rig.venue.order_read_lag = 30.0
    await rig.run_for(120)
    assert len(rig.events.accepted("c")) >= 3
    per_second = max((len(list(g)) for _, g in itertools.groupby(int(t) for t in rig.venue.get_order_calls)), default=0)
    assert per_second <= 4
    await rig.settle()


async def test_unreadable_answers_are_looked_up_and_read_again(make_rig: Callable[..., Any]) -> None:
    """The venue answers an entry with something its client cannot read (it landed), and then six order reads in a
    row (an unknown status: MalformedResponse): the entry is looked up by client id (found, never resent), the reads
    are retried and then skipped for a loop, nothing crashes and every fill is covered."""
    rig = await make_rig()
    rig.venue.malformed_entry_replies = 1
    await rig.run_for(30)
    rig.venue.malformed_reads = 6
    await rig.run_for(90)
    assert rig.venue.malformed_entry_replies == 0 and rig.venue.malformed_reads == 0
    assert entries(rig)[0].filled_size > 0
    assert len(entries(rig)) > 3
    assert any(type(e).__name__ == "MalformedResponse" for e in rig.events.errors)
    await rig.settle()


# ---------------------------------------------------------------------------------------------------------------------
# take-profits


@pytest.mark.parametrize(
    "rejection",
    [PostOnlyWouldCross(exchange="paper"), InsufficientMargin(exchange="paper")],
    ids=["post-only", "margin"],
)
async def test_a_rejected_take_profit_is_retried_and_nothing_opens_meanwhile(
    make_rig: Callable[..., Any], rejection: OrderRejected
) -> None:
    rig = await make_rig()
    rig.venue.reject_closes = 6
    rig.venue.close_rejection = rejection
    await rig.run_for(5)
    assert rig.strategy.uncovered_since is not None
    snap = rig.strategy.snapshot()
    assert snap.uncovered == D("0.01") and "no take-profit" in (snap.reason or "")
    opened = len(entries(rig))
    await rig.run_for(15)
    assert len(entries(rig)) == opened  # none while uncovered
    [block] = rig.strategy.snapshot().entries_blocked or ()
    assert (block.reason, block.venues, block.symbol) == ("UncoveredFill", ("paper",), "BTC")
    await rig.run_for(120)
    assert rig.venue.reject_closes == 0 and rig.strategy.uncovered_since is None
    assert rig.strategy.snapshot().uncovered is None
    assert rig.strategy.snapshot().entries_blocked == ()
    assert len(entries(rig)) > opened
    assert rig.watch.explained  # the boundaries past the grace were explained
    await rig.settle()


async def test_stop_price_ends_the_grid_while_a_fill_is_uncovered(make_rig: Callable[..., Any]) -> None:
    """Every take-profit refused, then the market reaches stopPrice: the grid stops (its onStop decides), it does
    not wait for a take-profit that never comes."""
    rig = await make_rig([*linear("60000", "-0.3", 60), *linear("59982", "5", 400)], grid={"stopPrice": "60100"})
    rig.venue.reject_closes = 10**6
    await rig.run_for(20)
    assert rig.strategy.uncovered_since is not None
    await rig.run_for(200)
    assert rig.task is not None and rig.task.done()
    assert rig.strategy.phase is StrategyPhase.STOPPED and "stopPrice 60100" in (rig.strategy.reason or "")
    assert len(entries(rig)) == 1


async def test_a_rate_limited_take_profit_honours_retry_after(make_rig: Callable[..., Any]) -> None:
    """Eight 429s (Retry-After 7 s) on take-profits, more than one send's three attempts: never retried sooner than
    the venue asked, placed in the end, nothing opened meanwhile."""
    rig = await make_rig()
    rig.venue.rate_limited_closes = 8
    rig.venue.retry_after = 7.0
    await rig.run_for(200)
    limited = rig.venue.limited_at
    assert len(limited) == 8
    assert all(b - a >= 7.0 for a, b in itertools.pairwise(limited)), limited
    assert rig.strategy.uncovered_since is None
    await rig.settle()


async def test_the_run_loop_backs_off_by_retry_after(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig()
    await rig.run_for(10)
    rig.venue.rate_limited_reads = 12
    rig.venue.retry_after = 6.0
    await rig.run_for(200)
    limited = rig.venue.limited_at
    assert all(b - a >= 6.0 for a, b in itertools.pairwise(limited)), limited
    await rig.settle()


async def test_a_partial_fill_below_the_minimum_size_is_carried_into_the_next_take_profit(
    make_rig: Callable[..., Any],
) -> None:
    """Minimum size 0.007: the first entry fills 0.0059 and is cancelled (the market moved up); no take-profit can
    carry 0.0059 alone. The next entry's take-profit carries it (0.0159)."""
    prices = ["60000", "59999.9", *["60008"] * 30, *linear("60008", "-0.3", 3000)]
    rig = await make_rig(
        prices,
        grid={"waitTime": "40s"},
        paper={"volumePerStepUsd": "180"},
        before_start=lambda v: v.set_min_size("BTC", "0.007"),
    )
    await rig.run_for(15)
    first = entries(rig)[0]
    assert first.status is OrderStatus.CANCELED and first.filled_size == D("0.0059")
    assert rig.events.accepted("c") == []
    await rig.run_for(400)
    closes = [r.size for _, r in rig.events.accepted("c")]
    assert closes and closes[0] == first.filled_size + D("0.01")
    await rig.settle()


async def test_a_half_filled_boost_mode_close_is_closed_again(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig(grid={"boostMode": True, "waitTime": "20s"})
    rig.venue.close_fill_fraction = D("0.5")
    await rig.run_for(30)
    rig.venue.close_fill_fraction = None
    await rig.run_for(30)
    closes = [r for _, r in rig.events.accepted("c")]
    assert len(closes) >= 2 and all(r.order_type is OrderType.MARKET for r in closes)
    assert (await rig.venue.position("BTC")).size < D("0.01")
    await rig.settle()


# ---------------------------------------------------------------------------------------------------------------------
# quotes


def zero(quote: Quote) -> Quote:
    return quote.model_copy(update={"bid": D(0), "ask": D(0)})


async def test_a_zero_quote_waits_never_prices_never_crashes(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig()
    await rig.run_for(20)
    sent = len(rig.events.order_times)
    rig.venue.quote_fault = zero
    await rig.run_for(30)
    assert len(rig.events.order_times) == sent
    assert "good quote" in (rig.strategy.snapshot().reason or "")
    assert [b.reason for b in rig.strategy.snapshot().entries_blocked or ()] == ["BadQuote"]
    rig.venue.quote_fault = None
    await rig.run_for(60)
    assert len(rig.events.order_times) > sent
    await rig.settle()


async def test_an_unreadable_quote_waits_like_a_bad_one(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig()
    await rig.run_for(20)
    sent = len(rig.events.order_times)

    def unreadable(_quote: Quote) -> Quote:
        raise MalformedResponse("paper: quote not 0 < bid < ask (bid 0)", exchange="paper")

    rig.venue.quote_fault = unreadable
    await rig.run_for(30)
    assert len(rig.events.order_times) == sent
    assert [b.reason for b in rig.strategy.snapshot().entries_blocked or ()] == ["BadQuote"]
    rig.venue.quote_fault = None
    await rig.run_for(60)
    assert len(rig.events.order_times) > sent
    await rig.settle()


async def test_one_outlier_quote_does_not_trigger_stop_price(make_rig: Callable[..., Any]) -> None:
    """stopPrice 70000 on a buy grid at 60000: one quote at 90000 neither stops the grid nor cancels its
    take-profits; the market really reaching it (two good quotes in a row) does."""
    prices = [*linear("60000", "-0.3", 200), *linear("71000", "1", 300)]
    rig = await make_rig(prices, grid={"stopPrice": "70000"})
    await rig.run_for(40)
    resting = len(rig.venue.engine.open_orders("BTC"))
    assert resting >= 2
    shots = iter([True])

    def outlier(quote: Quote) -> Quote:
        if next(shots, False):
            return quote.model_copy(update={"bid": D(90000), "ask": D("90000.2")})
        return quote

    rig.venue.quote_fault = outlier
    await rig.run_for(10)
    assert rig.strategy.phase is StrategyPhase.RUNNING
    assert len(rig.venue.engine.open_orders("BTC")) >= resting
    await rig.settle()
    await rig.run_for(200)  # the market moves to 71000: outliers first, then confirmed
    assert rig.strategy.phase is StrategyPhase.STOPPED
    assert "stopPrice 70000 reached" in (rig.strategy.reason or "")


async def test_a_frozen_quote_ages_out(make_rig: Callable[..., Any]) -> None:
    """The feed repeats one quote for 300 s: after 30 s it is no longer used (no post-only storm on it), and trading
    resumes when the feed does."""
    rig = await make_rig()
    await rig.run_for(20)
    frozen = await rig.venue.best_bid_ask("BTC")
    rig.venue.quote_fault = lambda _q: frozen
    await rig.run_for(40)
    sent = len(rig.events.order_times)
    await rig.run_for(260)
    assert len(rig.events.order_times) == sent
    assert "old" in (rig.strategy.snapshot().reason or "")
    rig.venue.quote_fault = None
    await rig.run_for(60)
    assert len(rig.events.order_times) > sent
    await rig.settle()


# ---------------------------------------------------------------------------------------------------------------------
# streams


async def test_the_order_update_stream_is_restarted_when_it_ends(make_rig: Callable[..., Any]) -> None:
    rig = await make_rig()
    await rig.run_for(30)
    seen = rig.strategy.fills_seen
    rig.venue.end_stream()
    await rig.run_for(60)
    assert rig.strategy.stream_restarts == 1
    assert rig.strategy.fills_seen > seen  # fills reach the strategy again
    await rig.settle()


# ---------------------------------------------------------------------------------------------------------------------
# what the operator shows


async def test_a_pause_in_opening_is_the_entries_blocked_condition(make_rig: Callable[..., Any]) -> None:
    """Take-profits refused for a while: the bot's status.entriesBlocked says UncoveredFill (and uncoveredFill the
    size), the operator's EntriesBlocked condition is True with that reason (Degraded says UncoveredFill); once
    covered, EntriesBlocked is False again. A one-loop gap never reaches the status (blocks under 10 s are not
    written)."""
    rig = await make_rig()
    rig.venue.reject_closes = 8
    await rig.run_for(20)
    snap = rig.strategy.snapshot()
    doc = BotStatus(
        phase="Running", last_heartbeat=rig.clock.now(), uncovered=snap.uncovered, entries_blocked=snap.entries_blocked
    ).to_status()
    assert doc["uncoveredFill"] == "0.01"
    conds = operator_conditions(rig, doc)
    assert (conds["EntriesBlocked"]["status"], conds["EntriesBlocked"]["reason"]) == ("True", "UncoveredFill")
    assert "no take-profit" in conds["EntriesBlocked"]["message"]
    assert (conds["Degraded"]["status"], conds["Degraded"]["reason"]) == ("True", "UncoveredFill")
    await rig.run_for(200)
    snap = rig.strategy.snapshot()
    doc = BotStatus(
        phase="Running", last_heartbeat=rig.clock.now(), uncovered=snap.uncovered, entries_blocked=snap.entries_blocked
    ).to_status()
    conds = operator_conditions(rig, doc)
    assert conds["EntriesBlocked"]["status"] == "False" and conds["Degraded"]["status"] == "False"
    await rig.settle()


def operator_conditions(rig: FaultRig, status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    owner = {"metadata": {"name": "test-grid", "namespace": "t", "generation": 1}, "spec": {}, "status": status}
    derived = bot_status(
        owner,
        Observation(),
        now=rig.clock.now(),
        settings=OperatorSettings(namespaces=["t"], heartbeat_stale_seconds=60),
        config_hash=None,
    )
    merged, _ = merge_conditions([], derived.conditions, generation=1, now=rig.clock.now())
    return {c["type"]: c for c in merged}
