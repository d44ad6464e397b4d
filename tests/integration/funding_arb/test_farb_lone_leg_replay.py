"""``loneLeg: complete`` (issue 22 item 2) against the venues' REPLAY servers: a funding-arb pair long on Aster (the
real Aster client, HMAC-signed REST and the listen-key stream) and short on Hyperliquid (the real Hyperliquid client,
every action's signer recovered with the SDK's own function), each on its stateful replay of the venue's wire format
(tests/unit/exchanges: :class:`AsterVenue`, :class:`HyperliquidVenue`), on real time.

- Hyperliquid answers the first short with its "could not immediately match" IOC error (the book moved away): the
  short is sent again for the missing size within the first half of ``singleLegTimeout`` and fills; the pair opens
  in full, nothing is unwound.
- Hyperliquid answers every short so: after the completion attempts the Aster long is unwound (a reduce-only IOC
  sell on Aster), within ``singleLegTimeout`` of its fill.
- Hyperliquid refuses the short for margin: a refusal repeats, so no completion is tried and the long is unwound at
  once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("hyperliquid")

from bot_runtime.clock import SystemClock
from bot_runtime.config import BotConfig, OnStop, parse_config
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import Exchange
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import RecordingEvents
from bot_runtime.strategies.funding_arb import FundingArbStrategy, Tuning
from tests.integration.funding_arb.farb_sources import QuotedOpportunities
from tests.support.replay import RecordedRequest, ReplayServer
from tests.unit.exchanges import test_aster_grid_session as aster
from tests.unit.exchanges import test_hyperliquid_client as hyperliquid

pytestmark = pytest.mark.integration

TIMEOUT = 10.0  # singleLegTimeout
TUNING = Tuning(
    poll_interval=1.0,
    risk_interval=1.0,
    confirm_poll=0.2,
    final_read_reserve=2.0,
    unwind_backoff=0.2,
    entry_cooldown=60.0,  # one entry per test
    max_quote_age=3600.0,  # the replays' book tickers carry their recording time
    error_backoff=(0.5, 1.0, 2.0),
)
LEG = Decimal("0.010")  # 1000 USD at about 97000 on Aster's 0.001 step


class AsterBook(aster.AsterVenue):
    """The replay Aster, taking liquidity too: an IOC (or market) order that reaches the book fills at once at the
    touch, in full (the answer says FILLED, the listen-key stream tells of the trade), else it expires unfilled.
    :attr:`fills` keeps (wall time, signed size, reduce only) of every fill."""

    def __init__(self, server: ReplayServer) -> None:
        super().__init__(server)
        self.fills: list[tuple[float, Decimal, bool]] = []

    def create(self, body: dict[str, str]) -> Any:
        order: dict[str, Any] = super().create(body)
        if order["type"] != "MARKET" and order["timeInForce"] != "IOC":
            return order
        buy = order["side"] == "BUY"
        touch = self.best_ask if buy else self.best_bid
        limit = Decimal(order["price"]) if order["type"] == "LIMIT" else touch
        if (buy and limit < touch) or (not buy and limit > touch):
            order.update(status="EXPIRED")
            return order
        size = Decimal(order["origQty"])
        order.update(status="FILLED", executedQty=order["origQty"], cumQuote=str(size * touch), avgPrice=str(touch))
        signed = size if buy else -size
        self.entry = touch if self.position == 0 else self.entry
        self.position += signed
        self.fills.append((time.time(), signed, bool(order["reduceOnly"])))
        asyncio.get_running_loop().create_task(self._tell(order, size, touch))
        return order

    async def _tell(self, order: dict[str, Any], size: Decimal, price: Decimal) -> None:
        now = int(time.time() * 1000)
        event = aster.fx("ws_order_trade_update_fill")
        event.update(E=now + 1, T=now)
        event["o"].update(
            s=order["symbol"], c=order["clientOrderId"], S=order["side"], o=order["type"], f=order["timeInForce"],
            q=order["origQty"], p=order["price"], ap=str(price), x="TRADE", X="FILLED", i=order["orderId"],
            l=order["origQty"], z=order["origQty"], L=str(price), T=now, t=next(self._trade_ids), m=False,
            R=order["reduceOnly"], n=str((size * price * Decimal("0.0005")).quantize(Decimal("0.00000001"))),
        )  # fmt: skip
        await self.stream.broadcast(event)


class HyperliquidBook(hyperliquid.HyperliquidVenue):
    """The replay Hyperliquid, answering the next ``misses`` opening (not reduce-only) orders with ``answer`` (an
    error fixture's name; -1: every one)."""

    def __init__(self, server: ReplayServer) -> None:
        super().__init__(server)
        self.live_positions = True
        self.misses = 0
        self.answer = "exchange_order_error_ioc"

    def _order(self, wire: dict[str, Any]) -> Any:
        if not wire["r"] and self.misses != 0:
            self.misses -= 1
            return hyperliquid.fx(self.answer)
        return super()._order(wire)

    def info(self, request: RecordedRequest) -> Any:
        """``clearinghouseState`` with each position's value at the mark (97381) and its liquidation price on its own
        side (the fixture's template is a 0.0123 long's, liquidation 35 % below: a short would read as past it)."""
        answer = super().info(request)
        if request.json()["type"] == "clearinghouseState":
            for item in answer["assetPositions"]:
                size = Decimal(item["position"]["szi"])
                item["position"]["positionValue"] = str(abs(size) * Decimal(97381))
                item["position"]["liquidationPx"] = "131463.5" if size < 0 else "63120.4"
        return answer

    def orders_sent(self) -> list[dict[str, Any]]:
        return [action["orders"][0] for action in self.actions if action["type"] == "order"]


def config() -> BotConfig:
    return parse_config(
        {
            "name": "farb-replay",
            "namespace": "trading",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingArb": {
                "exchanges": ["aster", "hyperliquid"],
                "symbols": ["BTC"],
                "positionSizeUsd": "1000",
                "minNetApr": "0.15",
                "exitNetApr": "0.03",
                "holdHours": 72,
                "singleLegTimeout": f"{TIMEOUT:.0f}s",
                "preFundingWindow": "0s",
                "exitOrders": "ioc",
                "loneLeg": "complete",
            },
        },
        require_credentials=False,
    )


@dataclass
class Replays:
    aster: AsterBook
    hl: HyperliquidBook
    strategy: FundingArbStrategy
    events: RecordingEvents
    task: asyncio.Task[None]

    async def until(self, what: str, check: Any, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.task.done():
                self.task.result()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    def aster_entries(self) -> list[tuple[float, Decimal, bool]]:
        return [f for f in self.aster.fills if not f[2]]

    def aster_unwinds(self) -> list[tuple[float, Decimal, bool]]:
        return [f for f in self.aster.fills if f[2]]


@contextlib.asynccontextmanager
async def replays(hl_misses: int, hl_answer: str = "exchange_order_error_ioc") -> AsyncIterator[Replays]:
    async with ReplayServer() as aster_server, ReplayServer() as hl_server:
        aster_venue = AsterBook(aster_server)
        hl_venue = HyperliquidBook(hl_server)
        hl_venue.misses, hl_venue.answer = hl_misses, hl_answer
        venues: dict[str, Exchange] = {
            "aster": registry.create_exchange(
                "aster",
                {"baseUrl": aster_server.url, "wsUrl": aster_server.ws_url, "reconnectInitialDelay": 0.01},
                aster.ENV,
            ),
            "hyperliquid": registry.create_exchange("hyperliquid", hyperliquid.options(hl_server), hyperliquid.ENV),
        }
        for venue in venues.values():
            await venue.connect()
        cfg = config()
        clock = SystemClock()
        events = RecordingEvents()
        # Aster's longs pay less than Hyperliquid's: long Aster, short Hyperliquid
        source = QuotedOpportunities(venues, {"aster": Decimal("0.00001"), "hyperliquid": Decimal("0.0001")})
        strategy = FundingArbStrategy(
            cfg, venues, RiskManager(cfg.risk, clock), events, clock=clock, source=source, tuning=TUNING
        )
        stopping = asyncio.Event()
        task = asyncio.create_task(strategy.run(stopping))
        try:
            yield Replays(aster_venue, hl_venue, strategy, events, task)
        finally:
            stopping.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 30)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(strategy.shutdown(OnStop.CANCEL_ORDERS), 30)
            await strategy.stop_updates()
            for venue in venues.values():
                await venue.close()
            assert aster_venue.forged == [] and aster_server.unmatched == [] and hl_server.unmatched == []


async def test_a_short_that_missed_is_sent_again_and_the_pair_opens_in_full() -> None:
    async with replays(hl_misses=1) as r:
        await r.until("the pair open", lambda: len(r.strategy.pairs) == 1)
        [pair] = r.strategy.pairs.values()
        assert (pair.long.exchange, pair.short.exchange) == ("aster", "hyperliquid")
        missed, completion = r.hl.orders_sent()  # the short, then its completion: both IOC sells, not reduce-only
        assert [(o["b"], o["r"], o["t"]) for o in (missed, completion)] == [
            (False, False, {"limit": {"tif": "Ioc"}})
        ] * 2
        assert Decimal(missed["s"]) == Decimal(completion["s"]) == LEG
        assert r.aster.position == LEG and r.hl.positions["BTC"] == -LEG  # hedged, one leg each: nothing doubled
        assert r.aster_unwinds() == []  # nothing unwound
        assert pair.long.size == LEG and pair.short.size == LEG
        await asyncio.sleep(3 * TUNING.poll_interval)
        assert r.strategy.closed == [] and r.events.errors == [], (r.strategy.closed, r.events.errors)
        assert len(r.hl.orders_sent()) == 2 and len(r.aster.fills) == 1  # and it stays so


async def test_a_short_that_keeps_missing_ends_in_an_unwind_of_the_long_within_the_timeout() -> None:
    async with replays(hl_misses=-1) as r:
        await r.until("the long unwound", lambda: r.aster_unwinds() != [], timeout=TIMEOUT + 20)
        [(entry_at, entry, _)] = r.aster_entries()
        [(unwind_at, unwind, _)] = r.aster_unwinds()
        assert entry == LEG and unwind == -LEG and r.aster.position == 0
        assert unwind_at - entry_at <= TIMEOUT  # the long was naked for less than singleLegTimeout
        sent = r.hl.orders_sent()
        # the short and up to Tuning.unwind_attempts completions, all within the first half of the timeout
        assert 2 <= len(sent) <= 1 + TUNING.unwind_attempts and all(not o["r"] for o in sent)
        assert r.hl.positions.get("BTC", Decimal(0)) == 0
        assert r.strategy.pairs == {}
        await asyncio.sleep(3 * TUNING.poll_interval)
        assert len(r.aster.fills) == 2  # backing off: no new entry meanwhile


async def test_a_short_refused_for_margin_is_not_repeated_the_long_is_unwound_at_once() -> None:
    async with replays(hl_misses=1, hl_answer="exchange_order_error_margin") as r:
        await r.until("the long unwound", lambda: r.aster_unwinds() != [], timeout=TIMEOUT + 20)
        [(entry_at, _, _)] = r.aster_entries()
        [(unwind_at, _, _)] = r.aster_unwinds()
        assert len(r.hl.orders_sent()) == 1  # a refusal would only repeat: no completion
        assert unwind_at - entry_at <= TIMEOUT / 2
        assert r.aster.position == 0 and r.strategy.pairs == {}
