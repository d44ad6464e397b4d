"""Day-2 operations of a live grid (issue 17): restarts, pauses, kill -9 and a force-deleted pod never halt the bot,
never sell its position and never let two processes trade.

One paper venue object (:class:`SharedVenue`) outlives the bot processes: successive in-process
:class:`~bot_runtime.process.bot.BotProcess` instances (each one pod's process: its own lease identity, its own
strategy, its own client-id counter) trade the same orders and position, the way a new pod finds the venue's state.
The API server is :class:`~tests.support.fake_kube.FakeKube` (the TradingBot each process reads on SIGTERM, the Lease
they share). The strategies and the venue run on one virtual clock that a driver task keeps moving (a minute of
trading is a second of wall time); the process layer (lease, status writes, stop budget) runs in real time.

After the last process has traded a minute of virtual time, every scenario checks: |position - sum of resting close
sizes| <= one quantity, phase Running, no RiskHalted ever written, no market order sent by any process, no client id
sent twice, and the submissions of the processes never interleave (once a later process submitted, no earlier one
did again).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot_runtime.clock import VirtualClock
from bot_runtime.config import parse_config
from bot_runtime.exchanges.base import Order, OrderRequest, OrderType
from bot_runtime.exchanges.paper import PaperExchange, ScriptedPath
from bot_runtime.logs import SecretRedactor
from bot_runtime.process.bot import BotProcess, RunOptions
from bot_runtime.process.lifecycle import EXIT_OK
from bot_runtime.strategies.base import ClientIds
from tests.support.fake_kube import FakeKube

pytestmark = pytest.mark.integration

NS, NAME = "ns", "bot"
QUANTITY = Decimal("0.01")
PAPER = {"startPrice": "60000", "volatility": "0", "seed": 7, "startingBalanceUsd": "100000"}
GRID = {"quantity": "0.01", "takeProfit": "0.05", "direction": "buy", "maxOrders": 10, "waitTime": "8s"}
# which process a submission came from (each process runs in its own task, and its tasks inherit this)
PROCESS: ContextVar[str] = ContextVar("process", default="?")


class SharedVenue(PaperExchange):
    """A paper venue whose orders and positions outlive the processes trading it (a process's ``close`` leaves it
    running; the test ends it). Records every submission with the process that sent it."""

    def __init__(self, clock: VirtualClock) -> None:
        # a slow fall: entries fill, their take-profits (0.05 % above) stay resting
        prices = [Decimal(60000) - Decimal("0.5") * i for i in range(20000)]
        paths = {"BTC": ScriptedPath(prices, step=1.0, epoch=clock.time())}
        super().__init__("paper", {"ticker": "BTC", **PAPER}, clock=clock, price_paths=paths)
        self.submissions: list[tuple[str, OrderRequest]] = []
        self.submitted_at: list[float] = []  # wall (loop) time of each submission

    async def place_order(self, request: OrderRequest) -> Order:
        self.submissions.append((PROCESS.get(), request))
        self.submitted_at.append(asyncio.get_running_loop().time())
        return await super().place_order(request)

    async def close(self) -> None:
        pass  # the process's end is not the venue's

    async def shut(self) -> None:
        await super().close()

    async def resting(self) -> list[Order]:
        return await self.open_orders("BTC")

    async def take_profits(self) -> list[Order]:
        return [o for o in await self.resting() if o.reduce_only]


class InProcessBot(BotProcess):
    """One pod's process, in the test's event loop: the shared venue instead of a client built from the config, and
    no signal handlers (the test sends the signal)."""

    venue: SharedVenue

    def _install_signal_handlers(self) -> None:
        pass

    def build_exchanges(self) -> None:
        self.exchanges["paper"] = self.venue


class CutOffKube:
    """One process's connection to the shared API server, which the test can cut (connection refused)."""

    def __init__(self, kube: FakeKube) -> None:
        self.kube = kube
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise ConnectionRefusedError("the API server cannot be reached")

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        self._check()
        return await self.kube.get(path, **params)

    async def create(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self._check()
        return await self.kube.create(path, body, **params)

    async def replace(self, path: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self._check()
        return await self.kube.replace(path, body, **params)

    async def patch(self, path: str, body: dict[str, Any], patch_type: str = "merge", **params: Any) -> dict[str, Any]:
        self._check()
        return await self.kube.patch(path, body, patch_type, **params)

    async def close(self) -> None:
        pass


@dataclass
class Running:
    label: str
    bot: BotProcess
    task: asyncio.Task[int]
    api: CutOffKube


@dataclass
class Rig:
    tmp: Path
    clock: VirtualClock
    venue: SharedVenue
    kube: FakeKube
    runs: list[Running]

    def start(self, label: str, uid: str, *, on_stop: str = "cancelEntries", **spec: Any) -> Running:
        body: dict[str, Any] = {
            "name": NAME,
            "namespace": NS,
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": dict(GRID),
            "paper": PAPER,
            "onStop": on_stop,
            "paused": bool(self.kube.spec.get("paused")),
        }
        body.update(spec)
        config = parse_config(body)
        options = RunOptions(
            metrics_port=0,
            metrics_host="127.0.0.1",
            trade_log=self.tmp / f"{label}-trades.csv",
            status_interval=0.05,
            sample_interval=0.05,
        )
        env = {"PERPDEX_BOT_NAME": NAME, "PERPDEX_NAMESPACE": NS, "POD_NAME": f"{NAME}-0", "POD_UID": uid}
        bot = InProcessBot(config, options, redactor=SecretRedactor(), env=env, clock=self.clock)
        bot.venue = self.venue
        api = CutOffKube(self.kube)
        bot._kube = api
        token = PROCESS.set(label)
        try:
            task = asyncio.create_task(bot.run(), name=f"process-{label}")
        finally:
            PROCESS.reset(token)
        run = Running(label, bot, task, api)
        self.runs.append(run)
        return run

    async def until(self, check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        """Wait (wall time) until ``check()`` is truthy; virtual time keeps moving meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}")

    async def virtual(self, seconds: float) -> None:
        """Wait until the virtual clock has moved ``seconds`` further."""
        target = self.clock.time() + seconds
        await self.until(lambda: self.clock.time() >= target, f"{seconds}s of virtual time")

    async def trading(self, run: Running) -> None:
        await self.until(lambda: run.bot.strategy_task is not None, f"{run.label} trading")

    async def with_take_profits(self, count: int) -> list[Order]:
        async def enough() -> list[Order] | None:
            tps = await self.venue.take_profits()
            return tps if len(tps) >= count else None

        tps: list[Order] = await self.until(enough, f"{count} take-profits resting")
        return tps

    async def sigterm(self, run: Running) -> int:
        run.bot._on_signal(signal.SIGTERM)
        return await asyncio.wait_for(run.task, 60)

    async def kill9(self, run: Running) -> None:
        """The process dies without any cleanup: no onStop, no final status, the lease is not released."""
        strategy_task = run.bot.strategy_task
        if strategy_task is not None:
            strategy_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await strategy_task
        run.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await run.task
        if run.bot.strategy is not None:
            await run.bot.strategy.stop_updates()

    async def check_day2_invariants(self, last: Running, *, exits_by: frozenset[str] = frozenset()) -> None:
        """The checks of every scenario, after ``last`` traded a minute of virtual time. ``exits_by``: the processes
        whose onStop closePositions sent its reduce-only market exit (the only market orders allowed)."""
        await self.virtual(60)
        position = (await self.venue.position("BTC")).size
        covered = sum((o.remaining for o in await self.venue.take_profits()), Decimal(0))
        assert abs(position - covered) <= QUANTITY, (position, covered)
        assert self.kube.status.get("phase") == "Running"
        assert last.bot.strategy is not None and last.bot.strategy.risk.breach is None
        assert all(p["status"].get("phase") != "RiskHalted" for p in self.kube.status_patches)
        requests = [r for _, r in self.venue.submissions]
        markets = [(label, r) for label, r in self.venue.submissions if r.order_type is OrderType.MARKET]
        assert [r for label, r in markets if label not in exits_by or not r.reduce_only] == []
        ids = [r.client_order_id for r in requests]
        assert len(ids) == len(set(ids)), "a client id was sent twice"
        order = [label for label, _ in self.venue.submissions]
        seen: list[str] = []
        for label in order:  # A A A B B: never A after B
            if not seen or seen[-1] != label:
                assert label not in seen, f"{label} submitted again after {seen[-1]} had: {order}"
                seen.append(label)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    clock = VirtualClock()
    venue = SharedVenue(clock)
    await venue.connect()
    tradingbot = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": NAME, "namespace": NS, "generation": 1},
        "spec": {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "paused": False},
        "status": {},
    }
    rig = Rig(tmp_path, clock, venue, FakeKube(tradingbot, namespace=NS, name=NAME), [])

    async def drive() -> None:
        while True:
            await clock.advance(0.25)
            await asyncio.sleep(0.002)

    driver = asyncio.create_task(drive(), name="virtual-time")
    try:
        yield rig
    finally:
        for run in rig.runs:
            if not run.task.done():
                await rig.kill9(run)
        driver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await driver
        await venue.shut()


def roles(orders: list[Order]) -> Iterator[str | None]:
    ids = ClientIds(NAME, NS)
    return (ids.role_of(o.client_order_id) for o in orders)


async def holding_five_take_profits(
    rig: Rig, label: str = "a", uid: str = "uid-a", **spec: Any
) -> tuple[Running, set[str]]:
    run = rig.start(label, uid, **spec)
    await rig.trading(run)
    tps = await rig.with_take_profits(5)
    assert (await rig.venue.position("BTC")).size > 0
    return run, {o.order_id for o in tps}


async def test_sigterm_restart_keeps_take_profits_and_cancels_only_the_entry(rig: Rig) -> None:
    a, _ = await holding_five_take_profits(rig, on_stop="cancelOrders")  # onStop applies to stops only
    assert await rig.sigterm(a) == EXIT_OK
    kept = await rig.venue.take_profits()
    assert len(kept) >= 5
    assert set(roles(await rig.venue.resting())) == {"c"}  # the entry is gone, every take-profit rests
    assert a.bot.reporting.phase == "Stopped"
    b = rig.start("b", "uid-b", on_stop="cancelOrders")  # the replacement pod
    await rig.trading(b)
    await rig.virtual(5)
    assert {o.order_id for o in kept} <= {o.order_id for o in await rig.venue.take_profits()}
    assert b.bot.strategy is not None and b.bot.strategy.events is b.bot.events
    await rig.check_day2_invariants(b)


async def test_spec_edit_restart_continues_the_same_grid(rig: Rig) -> None:
    a, _ = await holding_five_take_profits(rig)
    rig.kube.objects[rig.kube.bot_path]["metadata"]["generation"] = 2
    assert await rig.sigterm(a) == EXIT_OK
    kept = {o.order_id for o in await rig.venue.take_profits()}
    edited = {**GRID, "waitTime": "12s", "maxOrders": 12}
    b = rig.start("b", "uid-b", grid=edited)
    await rig.trading(b)
    await rig.virtual(5)
    assert kept <= {o.order_id for o in await rig.venue.take_profits()}
    await rig.check_day2_invariants(b)


@pytest.mark.parametrize("on_stop", ["cancelEntries", "cancelOrders", "closePositions", "leave"])
async def test_pause_then_resume(rig: Rig, on_stop: str) -> None:
    a, _ = await holding_five_take_profits(rig, on_stop=on_stop)
    rig.kube.spec["paused"] = True  # the operator scales to 0: SIGTERM while paused is a stop
    assert await rig.sigterm(a) == EXIT_OK
    resting = list(roles(await rig.venue.resting()))
    position = (await rig.venue.position("BTC")).size
    if on_stop == "cancelEntries":
        assert resting and set(resting) == {"c"}
    elif on_stop in {"cancelOrders", "closePositions"}:
        assert resting == []
    if on_stop == "closePositions":
        assert position == 0
    else:
        assert position > 0
    # the paused pod (if one starts) applies onStop and trades nothing
    paused = rig.start("paused", "uid-p", on_stop=on_stop)
    await rig.until(lambda: paused.bot.reporting.phase == "Paused", "phase Paused")
    assert await rig.sigterm(paused) == EXIT_OK
    assert [label for label, r in rig.venue.submissions if label == "paused" and not r.reduce_only] == []
    rig.kube.spec["paused"] = False
    b = rig.start("b", "uid-b", on_stop=on_stop)
    await rig.trading(b)
    await rig.check_day2_invariants(b, exits_by=frozenset({"a"}) if on_stop == "closePositions" else frozenset())
    if on_stop == "cancelOrders":
        assert b.bot.strategy is not None
        assert b.bot.events.metrics.recovered_orders.labels("start")._value.get() >= 1


async def test_kill_9_then_the_restarted_container_recovers(rig: Rig) -> None:
    a, tps = await holding_five_take_profits(rig)
    await rig.kill9(a)  # no onStop, no final status, the lease stays with this pod
    assert tps <= {o.order_id for o in await rig.venue.take_profits()}
    b = rig.start("b", "uid-a")  # the same pod's restarted container: same UID, holds the lease again at once
    await rig.trading(b)
    await rig.virtual(5)
    assert tps <= {o.order_id for o in await rig.venue.take_profits()}
    assert set(roles(await rig.venue.resting())) <= {"c", "o"}
    await rig.check_day2_invariants(b)


async def test_force_deleted_pod_still_running_fences_its_replacement(rig: Rig) -> None:
    a, _ = await holding_five_take_profits(rig)
    # the pod object is force-deleted; its process keeps running on a lost node; the replacement (same name, new
    # UID) starts: it must wait for the lease, never trade next to the old process
    b = rig.start("b", "uid-b")
    await rig.virtual(30)
    assert rig.kube.lease_holder == "uid-a"
    assert b.bot.strategy_task is None
    assert [label for label, _ in rig.venue.submissions if label == "b"] == []
    await rig.kill9(a)  # the node comes back and the old process dies: its lease expires (15 s) unrenewed
    await rig.until(lambda: b.bot.strategy_task is not None, "the replacement trading", timeout=60)
    assert rig.kube.lease_holder == "uid-b"
    await rig.check_day2_invariants(b)


async def test_a_process_cut_off_from_the_api_stops_submitting_before_its_lease_can_be_taken(rig: Rig) -> None:
    a, _ = await holding_five_take_profits(rig)
    b = rig.start("b", "uid-b")  # a second instance (e.g. a replacement pod) waits for the lease
    a.api.down = True  # a's node is partitioned from the API server: it cannot renew
    cut = asyncio.get_running_loop().time()  # a's last renewal was before this
    # a refuses every submission once fewer than 5 s are left on its lease (10 s after its last renewal at the
    # latest) and gives up when it cannot renew within the deadline; b takes the lease only after 15 s unrenewed
    await rig.until(lambda: b.bot.strategy_task is not None, "b trading", timeout=60)
    assert asyncio.get_running_loop().time() >= cut + 15.0  # b trades only once a's lease has expired
    assert await asyncio.wait_for(a.task, 60) == 1  # the lost lease: exit 1, orders left to the new holder
    assert rig.kube.lease_holder == "uid-b"
    await rig.check_day2_invariants(b)
    a_times = [t for (label, _), t in zip(rig.venue.submissions, rig.venue.submitted_at, strict=True) if label == "a"]
    b_times = [t for (label, _), t in zip(rig.venue.submissions, rig.venue.submitted_at, strict=True) if label == "b"]
    assert max(a_times) < cut + 10.0  # never within the last 5 s of its lease
    assert not b_times or max(a_times) < min(b_times)  # (b may have nothing to do: a filled the grid)
