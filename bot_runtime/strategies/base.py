"""What every strategy offers the bot process, and the helpers strategies share.

The process layer (:mod:`bot_runtime.process`) builds a strategy with
:func:`bot_runtime.strategies.registry.build_strategy`, then::

    stopping = asyncio.Event()
    await strategy.run(stopping)          # trades until ``stopping`` is set (or a stopPrice ends it)
    await strategy.shutdown(config.on_stop)
    strategy.snapshot()                   # any time, cheap, never does I/O (status reporter, /metrics)

and learns about fills, orders, errors and risk breaches through a :class:`StrategyEvents` implementation it passes
in (metrics, trade log, notifications). Event callbacks are synchronous and must not block: schedule async work
(e.g. a notification) with ``asyncio.create_task`` / a queue.

Phase hints in :class:`StrategySnapshot`: ``Starting`` → ``Running`` → (``RiskHalted``) → ``Stopping`` → ``Stopped``.
``run`` returning with phase ``Stopped`` before ``stopping`` was set means the strategy ended itself (stopPrice);
``reason`` says why. ``run`` keeps waiting in ``RiskHalted`` (it never resumes by itself) until ``stopping`` is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.config import BotConfig, OnStop
from bot_runtime.exchanges._shared.id_text import base36
from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    Exchange,
    ExchangeError,
    Fill,
    InsufficientMargin,
    Order,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    OrderStatus,
    OrderType,
    Position,
    PostOnlyWouldCross,
    Side,
    TimeInForce,
    with_retries,
)
from bot_runtime.risk import RiskAction, RiskBreach, RiskManager
from bot_runtime.status import EntryBlock

log = logging.getLogger(__name__)

T = TypeVar("T")

ZERO = Decimal(0)
CANCEL_CONCURRENCY = 8  # cancels in flight at once on a stop or a risk action (bounded: venues rate-limit)


# ---------------------------------------------------------------------------------------------------------------------
# snapshot


class StrategyPhase(StrEnum):
    """The strategy's hint for ``status.phase`` (the process layer owns Pending, Paused and Failed)."""

    STARTING = "Starting"
    RUNNING = "Running"
    RISK_HALTED = "RiskHalted"
    STOPPING = "Stopping"
    STOPPED = "Stopped"


class LegSnapshot(BaseModel):
    """One funding-arb pair (``status.legs[]``)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    long_exchange: str
    short_exchange: str
    size: Decimal
    entry_spread_apr: Decimal | None = None
    current_net_apr: Decimal | None = None
    funding_pnl: Decimal = ZERO
    opened_at: datetime | None = Field(None, description="when the pair was opened (wall clock)")


class StrategySnapshot(BaseModel):
    """Cheap, I/O-free view of the strategy for the status reporter and /metrics."""

    model_config = ConfigDict(frozen=True)

    phase: StrategyPhase
    reason: str | None = Field(None, description="why the phase (e.g. 'pausePrice 65000 reached', a risk message)")
    symbol: str | None = None
    position: Decimal = ZERO
    avg_entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    realized_pnl: Decimal = Field(ZERO, description="this process's realized PnL, net of every fee paid")
    unrealized_pnl: Decimal = ZERO
    funding_pnl: Decimal = ZERO
    fees_paid: Decimal | None = Field(None, description="fees of the fills seen by this process (since its start)")
    failed_entry_cost: Decimal | None = Field(
        None, description="fees and price loss of entries that did not become positions (fundingArb), since start"
    )
    equity: Decimal | None = None
    open_orders: int = 0
    close_orders: int = 0
    uncovered: Decimal | None = Field(
        None, description="grid: size of a fill whose take-profit could not be placed yet (no new opens meanwhile)"
    )
    legs: list[LegSnapshot] = Field(default_factory=list)
    entries_blocked: tuple[EntryBlock, ...] | None = Field(
        None, description="where no entry is tried and why (status.entriesBlocked); None: not reported by the strategy"
    )
    last_error: str | None = None
    risk_breach: RiskBreach | None = None
    updated_at: datetime | None = None


# ---------------------------------------------------------------------------------------------------------------------
# events


class OrderResult(StrEnum):
    """Outcome of one order placement (a label of the orders metric)."""

    ACCEPTED = "accepted"
    FILLED = "filled"
    POST_ONLY_REJECTED = "post_only_rejected"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    REJECTED = "rejected"
    ERROR = "error"
    FENCED = "fenced"  # never sent: the process may not submit (lease not held, or stopping and not reduce-only)


class SubmissionFenced(OrderRejected):
    """The process refused to send the order (it never reached the venue): see :attr:`Strategy.fence`."""


# the process's check before every submission: a reason to refuse it, or None
Fence = Callable[[OrderRequest], str | None]


@runtime_checkable
class StrategyEvents(Protocol):
    """Implemented by the process layer. Synchronous, must not block, must not raise."""

    def on_fill(self, fill: Fill, partial: bool = False) -> None: ...

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None: ...

    def on_error(self, exc: BaseException) -> None: ...

    def on_risk(self, breach: RiskBreach) -> None: ...

    def on_recovery(self, recovery: Recovery) -> None: ...


class Recovery(BaseModel):
    """Close orders a strategy placed for a position it found uncovered (on start, resume, or the grid's cover
    invariant)."""

    model_config = ConfigDict(frozen=True)

    symbol: str
    size: Decimal = Field(description="the size covered by the new close orders")
    orders: int
    price: Decimal
    why: str = Field(description="start | entry cancelled | uncovered (the grid's cover invariant)")


class NullEvents:
    """Events sink that ignores everything (tests, tools)."""

    def on_fill(self, fill: Fill, partial: bool = False) -> None:
        pass

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        pass

    def on_error(self, exc: BaseException) -> None:
        pass

    def on_risk(self, breach: RiskBreach) -> None:
        pass

    def on_recovery(self, recovery: Recovery) -> None:
        pass


class RecordingEvents(NullEvents):
    """Events sink that keeps everything (tests, the paper demo)."""

    def __init__(self) -> None:
        self.fills: list[Fill] = []
        self.partial_fills: list[Fill] = []  # fills that left their order partly filled
        self.orders: list[tuple[OrderRequest, OrderResult, float]] = []
        self.errors: list[BaseException] = []
        self.breaches: list[RiskBreach] = []
        self.recoveries: list[Recovery] = []

    def on_fill(self, fill: Fill, partial: bool = False) -> None:
        self.fills.append(fill)
        if partial:
            self.partial_fills.append(fill)

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        self.orders.append((order, result, latency_s))

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)

    def on_risk(self, breach: RiskBreach) -> None:
        self.breaches.append(breach)

    def on_recovery(self, recovery: Recovery) -> None:
        self.recoveries.append(recovery)


def _safe(call: str, events: StrategyEvents, *args: object) -> None:
    try:
        getattr(events, call)(*args)
    except Exception:  # an observer must never break trading
        log.exception("events.%s failed", call)


# ---------------------------------------------------------------------------------------------------------------------
# client order ids


class ClientIds:
    """Client order ids that say which bot placed an order and in which role, so a restarted bot recognises its
    own orders on the venue: ``pd<tag>-<role>-<unique>``, ``tag`` = 6 hex digits of sha256(namespace/name).

    Roles: ``o`` open (grid entry), ``c`` close (take-profit), ``x`` exit (shutdown / risk close); other strategies
    may use their own short lowercase roles. Unique within and across processes (time + counter + random).

    Venues whose client ids are integers carry the first 5 (Backpack) or all 6 (Lighter, GRVT) hex digits of the tag
    and report ``pd<tag digits>-<role>-#<sequence>`` (``bot_runtime/exchanges/_shared/tagged_ids.py``) or
    ``pd<tag digits>-<role>-<seconds>.<counter>`` (GRVT, ``client_ids.py``) back: a tag of at least
    :attr:`MIN_TAG_HEX` digits that starts our own tag counts as ours. The 2 and 4 digits of the previous Backpack
    and Lighter encodings still count (orders an older version left resting); the current encodings never report
    fewer than 5.
    """

    MIN_TAG_HEX = 2

    OPEN = "o"
    CLOSE = "c"
    EXIT = "x"

    def __init__(self, name: str, namespace: str | None = None) -> None:
        digest = hashlib.sha256(f"{namespace or ''}/{name}".encode()).hexdigest()
        while digest.startswith("0000"):  # tags starting with 16 zero bits are kept for small (manual) integer ids
            digest = hashlib.sha256(digest.encode()).hexdigest()
        self.tag = f"pd{digest[:6]}"
        self._counter = itertools.count(secrets.randbelow(1296))

    def new(self, role: str) -> str:
        if not role.isalpha() or not role.islower():
            raise ValueError("role must be lowercase letters")
        stamp = base36(time.time_ns() // 1_000_000)
        return f"{self.tag}-{role}-{stamp}{base36(next(self._counter) % 46656).rjust(3, '0')}"

    def role_of(self, client_order_id: str | None) -> str | None:
        """The role of one of *our* ids, else None (foreign or missing id)."""
        if not client_order_id or not client_order_id.startswith("pd"):
            return None
        parts = client_order_id.split("-")
        if len(parts) != 3:
            return None
        tag = parts[0]
        if tag != self.tag and not (len(tag) >= 2 + self.MIN_TAG_HEX and self.tag.startswith(tag)):
            return None
        return parts[1]

    def is_ours(self, client_order_id: str | None) -> bool:
        return self.role_of(client_order_id) is not None


# ---------------------------------------------------------------------------------------------------------------------
# the strategy


class Strategy(ABC):
    """Base of grid and funding-arb. Subclasses implement :meth:`run`, :meth:`shutdown`, :meth:`snapshot`."""

    def __init__(
        self,
        config: BotConfig,
        risk: RiskManager,
        events: StrategyEvents | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.risk = risk
        self.events: StrategyEvents = events or NullEvents()
        self.clock = clock or SystemClock()
        self.client_ids = ClientIds(config.name, config.namespace)
        self.last_error: str | None = None
        # set by the process: asked before every submission (:meth:`send_order`); a reason refuses the order
        self.fence: Fence | None = None

    @abstractmethod
    async def run(self, stopping: asyncio.Event) -> None:
        """Trade until ``stopping`` is set; return promptly after it is set, placing no new orders."""

    @abstractmethod
    async def shutdown(self, on_stop: OnStop) -> None:
        """cancelEntries: cancel the bot's entry orders, keep its take-profits (a strategy without take-profits
        cancels every order). cancelOrders: cancel every open order of the bot. closePositions: cancel, then
        reduce-only close to flat (verified). leave: nothing."""

    @abstractmethod
    def snapshot(self) -> StrategySnapshot: ...

    def remember_legs(self, legs: Sequence[LegSnapshot]) -> None:
        """What the previous process reported in ``status.legs`` (read at start, before :meth:`run`). Strategies
        without pairs ignore it; fundingArb restores the entry time and spread of the pairs it recovers."""
        del legs

    # helpers for subclasses ---------------------------------------------------------------------------------------
    def report_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        _safe("on_error", self.events, exc)

    def report_fill(self, fill: Fill, *, partial: bool = False) -> None:
        """A fill of one of the bot's orders; ``partial``: the order is not completely filled after it."""
        _safe("on_fill", self.events, fill, partial)

    def report_recovery(self, symbol: str, size: Decimal, orders: int, price: Decimal, why: str) -> None:
        _safe("on_recovery", self.events, Recovery(symbol=symbol, size=size, orders=orders, price=price, why=why))

    def report_breach(self, breach: RiskBreach) -> None:
        log.warning("risk breach %s: %s (action %s)", breach.limit, breach.message, breach.action)
        _safe("on_risk", self.events, breach)

    async def retry(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        what: str = "request",
        attempts: int = 4,
        base_delay: float = 0.25,
        max_delay: float = 5.0,
    ) -> T:
        """:func:`~bot_runtime.exchanges.base.with_retries` on the strategy's clock: retry a *safe* call (a read,
        a cancel) on retryable errors with exponential backoff. Never for placing orders (see :meth:`send_order`)."""
        return await with_retries(
            call, attempts=attempts, base_delay=base_delay, max_delay=max_delay, what=what, sleep=self.clock.sleep
        )

    async def send_order(self, exchange: Exchange, request: OrderRequest, *, lookup_window: float = 0.0) -> Order:
        """Place one order (client-id-safe retries: :meth:`Exchange.submit_order`, waiting on the strategy's clock, a lost
        reply looked up for ``lookup_window`` seconds before a resend), time it, report it, feed the risk manager's
        failure counters. Raises what the venue raised (after reporting it), or :class:`SubmissionFenced` when
        :attr:`fence` refuses it (nothing sent)."""
        started = self.clock.monotonic()
        wall = time.perf_counter()
        refused = self.fence(request) if self.fence is not None else None
        if refused is not None:
            self._order_event(request, OrderResult.FENCED, started, wall)
            raise SubmissionFenced(f"not sent: {refused}", exchange=exchange.name)
        try:
            order = await exchange.submit_order(request, sleep=self.clock.sleep, lookup_window=lookup_window)
        except PostOnlyWouldCross:
            self._order_event(request, OrderResult.POST_ONLY_REJECTED, started, wall)
            raise
        except InsufficientMargin:
            self.risk.record_order_result(ok=False, insufficient_margin=True, venue=exchange.name)
            self._order_event(request, OrderResult.INSUFFICIENT_MARGIN, started, wall)
            raise
        except OrderRejected:
            self._order_event(request, OrderResult.REJECTED, started, wall)
            raise
        except ExchangeError:
            self._order_event(request, OrderResult.ERROR, started, wall)
            raise
        self.risk.record_order_result(ok=True, venue=exchange.name)
        result = OrderResult.FILLED if order.status is OrderStatus.FILLED else OrderResult.ACCEPTED
        self._order_event(request, result, started, wall)
        return order

    def _order_event(self, request: OrderRequest, result: OrderResult, started: float, wall: float) -> None:
        # latency: the clock's when it moved (virtual time), else the wall clock's
        latency = self.clock.monotonic() - started
        if latency <= 0:
            latency = time.perf_counter() - wall
        _safe("on_order", self.events, request, result, latency)

    def is_ours(self, order: Order) -> bool:
        """Our order by its client id only: an order without the bot's tag (a manual one, another bot's, one the
        venue lists without any client id) is never the bot's, so no onStop or risk action ever cancels it."""
        return self.client_ids.is_ours(order.client_order_id)

    async def cancel_bot_orders(self, exchange: Exchange, symbol: str | None, *, attempts: int = 5) -> int:
        """Cancel every open order of this bot (on ``symbol`` or all markets) and verify none is left."""
        cancelled = 0
        for attempt in range(attempts):
            orders = [o for o in await self.retry(lambda: exchange.open_orders(symbol)) if self.is_ours(o)]
            if not orders:
                return cancelled
            cancelled += await self.cancel_orders(exchange, orders)
            if attempt:
                await self.clock.sleep(0.5 * attempt)
        remaining = [o for o in await exchange.open_orders(symbol) if self.is_ours(o)]
        if remaining:
            raise ExchangeError(f"{exchange.name}: {len(remaining)} order(s) still open after {attempts} cancel rounds")
        return cancelled

    async def cancel_orders(self, exchange: Exchange, orders: Iterable[Order]) -> int:
        """Cancel orders, :data:`CANCEL_CONCURRENCY` at a time (a stop with 40 take-profits fits its grace period);
        already-final ones are skipped. Returns how many cancels were accepted."""
        gate = asyncio.Semaphore(CANCEL_CONCURRENCY)

        async def cancel_one(order: Order) -> bool:
            symbol, order_id = order.symbol, order.order_id

            async def cancel() -> None:
                await exchange.cancel_order(symbol, order_id)

            async with gate:
                try:
                    await self.retry(cancel, what=f"{exchange.name} cancel {order_id}")
                except OrderNotFound:
                    return False
            return True

        results = await asyncio.gather(*(cancel_one(o) for o in orders))
        return sum(results)

    async def close_position(self, exchange: Exchange, symbol: str, *, attempts: int = 6) -> Position:
        """Reduce-only market orders until the position is flat (verified by re-reading it). Returns the final
        position (size below the venue's minimum order size may remain when it cannot be traded)."""
        market = await exchange.market(symbol)
        position = await self.retry(lambda: exchange.position(symbol))
        for attempt in range(attempts):
            size = market.round_size(abs(position.size))
            if position.size == 0 or size < market.min_size or size <= 0:
                return position
            side = position_close_side(position)
            request = OrderRequest(
                symbol=symbol,
                side=side,
                size=size,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                client_order_id=self.client_ids.new(ClientIds.EXIT),
            )
            try:
                await self.send_order(exchange, request)
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.report_error(exc)
            await self.clock.sleep(min(0.25 * (attempt + 1), 2.0))
            position = await self.retry(lambda: exchange.position(symbol))
        if position.size != 0 and market.round_size(abs(position.size)) >= market.min_size:
            raise ExchangeError(f"{exchange.name}: {symbol} position {position.size} not flat after {attempts} tries")
        return position


def halt_cancel(action: str, on_stop: OnStop) -> OnStop:
    """What a risk halt cancels, on the breach and again on a restart under the recorded halt: a ``pause`` keeps the
    take-profits when ``onStop`` keeps them (``cancelEntries``, the default, or ``leave``); any other case cancels
    every order of the bot (``closeAll`` then exits). A strategy without take-profits cancels every order either way.
    ``action``: a :class:`~bot_runtime.risk.RiskAction`, or the string recorded in ``status.riskHalt.action``."""
    if action == RiskAction.PAUSE and on_stop in (OnStop.CANCEL_ENTRIES, OnStop.LEAVE):
        return OnStop.CANCEL_ENTRIES
    return OnStop.CANCEL_ORDERS


def position_close_side(position: Position) -> Side:
    """The side that reduces ``position`` (sell a long, buy a short)."""
    return Side.SELL if position.size > 0 else Side.BUY
