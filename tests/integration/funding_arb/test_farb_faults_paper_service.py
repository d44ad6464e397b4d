"""Venue faults (issue 21) against the REAL paper exchange service: the core scenarios of the rig's fault suite
(tests/unit/funding_arb/test_farb_faults.py), with both venues served by ``perpdex paper-exchange serve`` on the REAL
PostgreSQL, reached by the bot's own ``paper`` client (REST + order-update stream), on real time.

The faults are real where the service has them (a leg refused for insufficient margin: its account is too small) and
injected on the wire otherwise (:class:`FaultTransport` between the client and the service: a reply lost after the
order landed, a venue that hangs from the entry on, a venue that cannot be reached). The venues' own positions are
sampled all along (:class:`Exposure`), and every scenario keeps what the rig's suite asserts: the longest naked
exposure at most singleLegTimeout + one poll, no order doubled, no false risk breach, flat or hedged at the end.

Timings are the live ones scaled down (:data:`TUNING`, singleLegTimeout 10 s) so each scenario takes seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from bot_runtime.clock import SystemClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges.base import Exchange
from bot_runtime.exchanges.paper import PaperServiceExchange
from bot_runtime.risk import RiskAction, RiskBreach, RiskLimit, RiskManager
from bot_runtime.strategies.base import RecordingEvents, StrategyPhase
from bot_runtime.strategies.funding_arb import FundingArbStrategy, Tuning
from perpdex_dev.postgres import PostgresCluster
from tests.integration.funding_arb.farb_sources import QuotedOpportunities
from tests.integration.paper_exchange.px_helpers import ServiceProcess, free_port, fresh_database, write_venues

pytestmark = pytest.mark.integration

LOW, HIGH = Decimal("0.00001"), Decimal("0.00008")  # hourly: paper-b's short earns 0.00007/h over paper-a's long
LEG = Decimal("0.0166")  # 1000 USD at 60000 on the 0.0001 step
TIMEOUT = 10.0  # singleLegTimeout
TUNING = Tuning(
    poll_interval=1.0,
    risk_interval=1.0,
    confirm_poll=0.2,
    final_read_reserve=2.0,
    unwind_backoff=0.2,
    entry_cooldown=1.0,
    max_entry_backoff=8.0,
    max_quote_age=5.0,
    error_backoff=(0.5, 1.0, 2.0),
    shutdown_close_wait=10.0,
    shutdown_retry_interval=0.5,
)
VENUES = [
    {
        "name": name,
        "options": {
            "volatility": "0",
            "startPrice": "60000",
            "fundingRateHourly": str(rate),
            "fundingIntervalHours": 1,
        },
    }
    for name, rate in (("paper-a", LOW), ("paper-b", HIGH))
]


@pytest.fixture(scope="module")
async def paper_service(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceProcess]:
    tmp = tmp_path_factory.mktemp("px-farb")
    dsn = await fresh_database(postgres, "px_farb_faults")
    svc = ServiceProcess(dsn, write_venues(tmp / "venues.yaml", VENUES), free_port(), tmp / "px.log")
    svc.start()
    yield svc
    svc.kill()


# ---------------------------------------------------------------------------------------------------------------------
# faults on the wire


@dataclass
class FaultTransport(httpx.AsyncBaseTransport):
    """Between a venue client and the service. "Entry" orders are the non-reduce-only ones."""

    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)
    lose_entry_replies: int = 0  # the next n entry orders reach the service; their replies are lost (a timeout)
    hang_from_entry: bool = False  # from the first entry order on, no request gets through until ``release``
    down: bool = False  # every request fails to connect
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hanging: bool = False
    entries: int = 0  # entry orders that reached the service
    reduce_orders: int = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("venue unreachable (test)", request=request)
        order = request.method == "POST" and request.url.path.endswith("/orders")
        entry = order and not json.loads(request.content).get("reduce_only")
        if entry and self.hang_from_entry:
            self.hanging = True
        if self.hanging:
            await self.release.wait()
        response = await self.inner.handle_async_request(request)
        if order:
            self.entries += entry
            self.reduce_orders += not entry
        if entry and self.lose_entry_replies > 0:
            self.lose_entry_replies -= 1
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("reply lost (test)", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


# ---------------------------------------------------------------------------------------------------------------------
# the venues' books, sampled


@dataclass
class Exposure:
    """The two accounts' BTC positions as the service holds them, read every 0.1 s by a client of its own."""

    url: str
    accounts: Mapping[str, str]  # venue -> account
    samples: list[tuple[float, dict[str, Decimal]]] = field(default_factory=list)

    async def read(self, http: httpx.AsyncClient) -> dict[str, Decimal]:
        sizes = {}
        for venue, account in self.accounts.items():
            r = await http.get(f"{self.url}/api/v1/venues/{venue}/accounts/{account}/positions/BTC")
            r.raise_for_status()
            sizes[venue] = Decimal(str(r.json()["size"]))
        return sizes

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            while True:
                self.samples.append((time.monotonic(), await self.read(http)))
                await asyncio.sleep(0.1)

    def naked_spans(self) -> list[float]:
        spans: list[float] = []
        start: float | None = None
        for at, sizes in self.samples:
            naked = sum(sizes.values()) != 0
            if naked and start is None:
                start = at
            elif not naked and start is not None:
                spans.append(at - start)
                start = None
        if start is not None:
            spans.append(self.samples[-1][0] - start)
        return spans

    def largest(self) -> dict[str, Decimal]:
        return {v: max((abs(s[v]) for _, s in self.samples), default=Decimal(0)) for v in self.accounts}

    def now(self) -> dict[str, Decimal]:
        return self.samples[-1][1]


@dataclass
class Bot:
    strategy: FundingArbStrategy
    risk: RiskManager
    events: RecordingEvents
    faults: dict[str, FaultTransport]
    exposure: Exposure
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    async def until(self, what: str, check: Callable[[], Awaitable[bool] | bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            got = check()
            if not isinstance(got, bool):
                got = await got
            if got:
                return
            if self.task is not None and self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.1)

    def check_invariants(self, *, breach_expected: bool = False) -> None:
        spans = self.exposure.naked_spans()
        assert max(spans, default=0.0) <= TIMEOUT + TUNING.poll_interval, spans
        for venue, largest in self.exposure.largest().items():
            assert largest <= LEG, f"{venue} held {largest} > one leg {LEG}: an order was doubled"
        if not breach_expected:
            assert self.risk.breach is None, self.risk.breach
        assert sum(self.exposure.now().values()) == 0, f"neither flat nor hedged: {self.exposure.now()}"


def config() -> BotConfig:
    return parse_config(
        {
            "name": "farb-px",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingArb": {
                "exchanges": ["paper-a", "paper-b"],
                "symbols": ["BTC"],
                "positionSizeUsd": "1000",
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "singleLegTimeout": f"{TIMEOUT:.0f}s",
                "preFundingWindow": "0s",
                "exitOrders": "ioc",
            },
        }
    )


@contextlib.asynccontextmanager
async def running_bot(svc: ServiceProcess, account: str, balances: Mapping[str, str]) -> AsyncIterator[Bot]:
    cfg = config()
    faults = {name: FaultTransport() for name in ("paper-a", "paper-b")}
    venues: dict[str, Exchange] = {}
    for name, transport in faults.items():
        options = {"baseUrl": svc.url, "account": account, "startingBalanceUsd": balances[name], "ticker": "BTC"}
        venues[name] = PaperServiceExchange(name, options, {}, transport=transport)
        await venues[name].connect()
    clock = SystemClock()
    risk = RiskManager(cfg.risk, clock)
    events = RecordingEvents()
    source = QuotedOpportunities(venues, {"paper-a": LOW, "paper-b": HIGH})
    strategy = FundingArbStrategy(cfg, venues, risk, events, clock=clock, source=source, tuning=TUNING)
    exposure = Exposure(svc.url, dict.fromkeys(venues, account))
    sampler = asyncio.create_task(exposure.run())
    bot = Bot(strategy, risk, events, faults, exposure)
    bot.task = asyncio.create_task(strategy.run(bot.stopping))
    try:
        yield bot
    finally:
        for transport in faults.values():
            transport.down = False
            transport.release.set()
        bot.stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.task, 30)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(strategy.shutdown(OnStop.CLOSE_POSITIONS), 60)
        await strategy.stop_updates()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        for venue in venues.values():
            await venue.close()


def paired(bot: Bot) -> bool:
    return len(bot.strategy.pairs) == 1 and bot.exposure.now() == {"paper-a": LEG, "paper-b": -LEG}


# ---------------------------------------------------------------------------------------------------------------------
# the scenarios


async def test_a_leg_refused_for_margin_again_and_again_backs_off_and_stops(paper_service: ServiceProcess) -> None:
    """paper-b's account is too small for the short (the service refuses it: insufficient margin). Each failure
    unwinds paper-a's long; the entries of BTC on paper-a/paper-b back off and stop after the 5th failure, which the
    status reports as a stopped block; paper-a's fees are the cost; the bot stays Running."""
    async with running_bot(paper_service, "refused", {"paper-a": "10000", "paper-b": "50"}) as bot:
        key = ("BTC", "paper-a", "paper-b")
        await bot.until("entries stopped", lambda: key in bot.strategy.backoff.stopped(), timeout=90)
        assert bot.strategy.backoff.keys[key].failures == TUNING.max_failed_entries == 5
        [block] = bot.strategy.snapshot().entries_blocked or ()
        assert (block.reason, block.until) == ("FailedEntriesStopped", None)
        assert "InsufficientMargin: paper-b: order needs 100.10 margin, 50.00 available" in block.message
        await bot.until("paper-a flat", lambda: bot.exposure.now()["paper-a"] == 0)
        entries = bot.faults["paper-a"].entries
        await asyncio.sleep(3 * TUNING.poll_interval)
        assert bot.faults["paper-a"].entries == entries == 5  # stopped: no sixth entry
        assert bot.strategy.failed_entry_cost > 0
        assert bot.strategy.pairs == {} and bot.strategy.phase is StrategyPhase.RUNNING
        bot.check_invariants()


async def test_a_lost_reply_is_looked_up_not_repeated(paper_service: ServiceProcess) -> None:
    """paper-b fills the short but its reply is lost: the client looks the order up by its client id (the service
    has it) instead of sending it again; the pair opens, nothing is unwound or doubled."""
    async with running_bot(paper_service, "lost-reply", {"paper-a": "10000", "paper-b": "10000"}) as bot:
        bot.faults["paper-b"].lose_entry_replies = 1
        await bot.until("the pair open", lambda: paired(bot))
        await asyncio.sleep(3 * TUNING.poll_interval)
        assert paired(bot)
        assert bot.faults["paper-b"].lose_entry_replies == 0  # the reply was lost
        assert bot.faults["paper-b"].reduce_orders == bot.faults["paper-a"].reduce_orders == 0  # nothing unwound
        bot.check_invariants()


async def test_a_hanging_venue_does_not_stretch_the_deadline(paper_service: ServiceProcess) -> None:
    """paper-b stops answering from the entry on: paper-a's long is unwound within singleLegTimeout; once paper-b
    answers again nothing of the abandoned entry lands, and the account is flat or hedged."""
    async with running_bot(paper_service, "hanging", {"paper-a": "10000", "paper-b": "10000"}) as bot:
        b = bot.faults["paper-b"]
        b.hang_from_entry = True
        await bot.until("paper-b hangs", lambda: b.hanging)
        await bot.until("paper-a's long unwound", lambda: bot.faults["paper-a"].reduce_orders > 0, timeout=30)
        await bot.until("paper-a flat", lambda: bot.exposure.now()["paper-a"] == 0, timeout=30)
        assert bot.exposure.now()["paper-b"] == 0 and b.entries == 0  # the short never reached the service
        b.hanging = b.hang_from_entry = False
        b.release.set()
        await asyncio.sleep(3 * TUNING.poll_interval)
        bot.check_invariants()


async def test_close_all_with_a_venue_down_keeps_the_hedge_until_both_can_act(paper_service: ServiceProcess) -> None:
    """The pair is open; paper-b becomes unreachable: no false breach from its stale balance; a closeAll then
    closes nothing alone (paper-a's leg stays, hedged), and once paper-b answers again both legs close."""
    async with running_bot(paper_service, "down", {"paper-a": "10000", "paper-b": "10000"}) as bot:
        await bot.until("the pair open", lambda: paired(bot))
        bot.faults["paper-b"].down = True
        await bot.until("paper-b seen down", lambda: "paper-b" in bot.strategy.down)
        await asyncio.sleep(3 * TUNING.poll_interval)
        assert bot.risk.breach is None  # paper-b's balance is unknown, not a loss
        breach = RiskBreach(
            limit=RiskLimit.MAX_DAILY_LOSS_USD,
            value=Decimal(100),
            threshold=Decimal(50),
            action=RiskAction.CLOSE_ALL,
            message="test: close everything",
            at=datetime.now(UTC),
        )
        assert bot.risk.trip(breach) is breach
        bot.strategy._on_breach(breach)
        await asyncio.sleep(5 * TUNING.poll_interval)
        assert bot.exposure.now() == {"paper-a": LEG, "paper-b": -LEG}  # paper-a was not closed alone
        bot.faults["paper-b"].down = False
        await bot.until("both legs closed", lambda: bot.exposure.now() == {"paper-a": 0, "paper-b": 0}, timeout=30)
        bot.check_invariants(breach_expected=True)
