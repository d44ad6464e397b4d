"""What the grid strategy's parts share: its state, rebuilt from the exchange, and the reads, sends and checks every
part uses (SPEC §3 ``grid``; the loop is :mod:`.strategy`).

- **State** (:class:`GridCore`): the market, the last good quote, the bot's resting close orders (take-profits,
  recognised by their client ids, see :class:`~bot_runtime.strategies.base.ClientIds`) and entries, the position and
  balance, the placements whose outcome is unknown (:class:`~.orders.Unresolved`, by client id), the entries being
  monitored, the counters, the fill book, and why nothing opens (:class:`~.blocks.OpeningBlock`). Never from a local
  file.
- **Reads**: the top of book, checked before use (:class:`~.quotes.QuoteGuard`: a bad one raises :class:`BadQuote`),
  the open orders before the position (a take-profit filling between the two reads shows as too much cover, never as
  too little); an order the update stream (:mod:`.feed`) reported final is not resting, whatever a lagging REST list
  says, and a final state from the stream is never overridden by a staler REST read (:func:`~.orders.freshest`).
- **Sends**: every order goes through :meth:`RiskManager.check_order` first (a breach halts: phase RiskHalted, reported
  once); a placement without an answer is looked up by its client id (``submit_order`` with a lookup window) and, still
  unknown, tracked in ``unresolved``. A cancel is final only when the venue says so.
- **The cover arithmetic**: how much of the position (in the grid's direction) no resting close order covers, less the
  take-profits still being looked up (:mod:`.cover` acts on it).

Every wait uses the strategy's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, GridConfig
from bot_runtime.exchanges.base import (
    Balance,
    Exchange,
    ExchangeError,
    Fill,
    MalformedResponse,
    Market,
    Order,
    OrderNotFound,
    OrderRequest,
    Position,
    Quote,
    Side,
)
from bot_runtime.risk import RiskBreach, RiskManager
from bot_runtime.strategies.base import ClientIds, Strategy, StrategyEvents, StrategyPhase
from bot_runtime.strategies.grid.blocks import OpeningBlock
from bot_runtime.strategies.grid.feed import OrderFeed
from bot_runtime.strategies.grid.orders import Unresolved, freshest
from bot_runtime.strategies.grid.quotes import BadQuote, QuoteGuard
from bot_runtime.strategies.pnl import FillBook

log = logging.getLogger(__name__)

ZERO = Decimal(0)

LOOKUP_WINDOW_S = 10.0  # how long submit_order keeps looking a lost order up before sending it again
FIRST_QUOTE_MAX_WAIT_S = 5.0  # the longest wait between reads while the first good quote is awaited
CANCEL_CONFIRM = (0.5, 1.0, 2.0, 4.0, 8.0)  # reads until a cancel is final; the monitor then keeps polling


class GridCore(Strategy):
    """The grid's shared state and the reads, sends and checks its parts (:mod:`.cover`, :mod:`.opening`,
    :mod:`.stops`) use; :class:`~.strategy.GridStrategy` composes them."""

    # the original's timings
    mismatch_rechecks = 3
    mismatch_recheck_delay = 2.0
    post_only_retries = 15
    fill_wait = 10.0
    poll_interval = 5.0
    pause_sleep = 5.0
    # ours
    loop_interval = 1.0
    risk_interval = 5.0
    error_backoff = (1.0, 2.0, 5.0, 10.0, 30.0)
    cover_backoff = (1.0, 2.0, 5.0, 10.0, 30.0)  # retrying a take-profit that failed to place
    post_only_backoff = (0.25, 0.5, 1.0, 2.0)  # between post-only re-prices of one entry

    def __init__(
        self,
        config: BotConfig,
        exchange: Exchange,
        risk: RiskManager,
        events: StrategyEvents | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, risk, events, clock=clock)
        if config.grid is None or not config.ticker:
            raise ValueError("a grid strategy needs spec.grid and spec.ticker")
        self.grid: GridConfig = config.grid
        self.exchange = exchange
        self.symbol = config.ticker
        self.open_side = self.grid.direction
        self.close_side = self.open_side.opposite
        self.market: Market | None = None
        self.quantity = self.grid.quantity
        # state, all rebuilt from the exchange on start
        self.close_orders: list[Order] = []
        self.entry_orders: list[Order] = []  # the bot's resting opening orders (maxPositionUsd counts them)
        self.open_order_count = 0
        self.position_state: Position | None = None
        self.balance_state: Balance | None = None
        self.quote: Quote | None = None
        self.last_close_count: int | None = None
        self.last_open_time: float | None = None
        self.quotes = QuoteGuard()
        self.phase = StrategyPhase.STARTING
        self.reason: str | None = None
        self.opens = 0
        self.closes_placed = 0
        self.fills_seen = 0
        self.book = FillBook()  # realized PnL net of fees of this process's fills (seeded with the venue's position)
        # placements whose outcome is unknown, by client id (looked up until found or given up)
        self.unresolved: dict[str, Unresolved] = {}
        self.watched: set[str] = set()  # entries being monitored (by order id): others resting are adopted
        self.quote_problem: str | None = None  # why the last quote read was refused (None: it was good)
        self.blocked = OpeningBlock(self.clock, self.symbol, exchange.name)  # why nothing opens (entriesBlocked)
        self.feed = OrderFeed(
            exchange,
            self.clock,
            name=config.name,
            relevant=lambda o: o.symbol == self.symbol and self.client_ids.is_ours(o.client_order_id),
            on_fill=self._on_fill,
            on_error=self.report_error,
        )
        self._reported_breach: RiskBreach | None = None

    async def risk_allows(self, request: OrderRequest, price: Decimal) -> bool:
        breach = self.risk.check_order(
            request,
            price=price,
            position=self.position_state,
            open_orders=self.open_order_count,
            balance=self.balance_state,
            positions=[self.position_state] if self.position_state else [],
            pending=sum((o.remaining for o in self.entry_orders if o.side is request.side), ZERO),
        )
        if breach is None:
            return True
        self.on_breach(breach)
        return False

    def on_breach(self, breach: RiskBreach) -> None:
        if breach is not self._reported_breach:  # each breach is reported once, however often it is hit
            self._reported_breach = breach
            self.report_breach(breach)
        self.phase = StrategyPhase.RISK_HALTED
        self.reason = breach.message

    def track_unknown(self, request: OrderRequest, exc: ExchangeError) -> None:
        now = self.clock.monotonic()
        self.report_error(exc)
        self.unresolved[request.client_order_id] = Unresolved(request, since=now, next_lookup=now)
        log.warning(
            "order outcome unknown: looking it up by client id",
            extra={"client_order_id": request.client_order_id, "size": str(request.size), "error": str(exc)},
        )

    def uncovered(self) -> Decimal:
        """The size of the position (in the grid's direction) that no resting close order covers (from the last
        refresh; negative when the close orders exceed it)."""
        size = self.position_state.size if self.position_state else ZERO
        held = size if self.open_side is Side.BUY else -size
        return held - sum((o.remaining for o in self.close_orders), ZERO)

    def pending_cover(self) -> Decimal:
        """The size of take-profits sent whose outcome is still unknown (they may rest already)."""
        return sum(
            (u.request.size for u in self.unresolved.values() if u.request.reduce_only),
            ZERO,
        )

    def gap(self) -> Decimal:
        """What the cover invariant looks at: uncovered size less the take-profits still being looked up."""
        return self.uncovered() - self.pending_cover()

    def held(self) -> Decimal:
        size = self.position_state.size if self.position_state else ZERO
        return size if self.open_side is Side.BUY else -size

    def not_opening(self, reason: str, message: str) -> None:
        """Opening pauses: ``reason`` (CamelCase, status.entriesBlocked) and ``message`` (the snapshot's reason)."""
        self.reason = message
        self.blocked.set(reason, message)

    async def send(self, request: OrderRequest) -> Order:
        """Place one order (waits on the strategy's clock): a lost reply is looked up by client id for
        :data:`LOOKUP_WINDOW_S` before a resend."""
        return await self.send_order(self.exchange, request, lookup_window=LOOKUP_WINDOW_S)

    async def cancel_and_read(self, order: Order) -> Order:
        """Cancel one order and return its state once the venue says it is final (it may have filled meanwhile);
        after :data:`CANCEL_CONFIRM` reads without that, its latest non-final state (the caller keeps watching)."""
        with contextlib.suppress(OrderNotFound):
            await self.retry(lambda: self.exchange.cancel_order(order.symbol, order.order_id))
        latest: Order | None = order
        for wait in CANCEL_CONFIRM:
            read = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
            latest = freshest(freshest(latest, self.feed.final(order.order_id)), read)
            if latest is not None and latest.status.is_final:
                return latest
            await self.clock.sleep(wait)
        if latest is None:
            raise ExchangeError(f"{self.exchange.name}: order {order.order_id} vanished", exchange=self.exchange.name)
        log.warning("cancel not final yet: still watching", extra={"order_id": order.order_id})
        return latest

    async def await_order(self, order: Order, seconds: float, stopping: asyncio.Event) -> Order:
        """Wait up to ``seconds`` until the order is final (woken by the update stream), then read it over REST; a
        final state the stream reported is never replaced by a staler read."""
        if order.status.is_final:
            return order
        known = freshest(order, await self.feed.wait(order, seconds, stopping))
        if known is not None and known.status.is_final:
            return known
        fresh = await self.retry(lambda: self.exchange.get_order(order.symbol, order.order_id))
        return freshest(known, fresh) or order

    async def refresh_quote(self) -> Quote:
        """The top of book, checked before use (:class:`~.quotes.QuoteGuard`): a bad one raises :class:`BadQuote`,
        which makes the caller wait: never an order on it, never a crash. A quote the venue client could not read
        (:class:`MalformedResponse`, after the read's retries) is a bad quote too."""
        try:
            quote = await self.retry(lambda: self.exchange.best_bid_ask(self.symbol), what=f"{self.symbol} quote")
            self.quote = self.quotes.check(quote, self.clock.now())
        except (BadQuote, MalformedResponse) as exc:
            self.quote_problem = str(exc)
            raise BadQuote(f"{self.exchange.name} {exc}", exchange=self.exchange.name) from None
        self.quote_problem = None
        return self.quote

    async def read_quote(self) -> Quote | None:
        """:meth:`refresh_quote`, None on a bad quote (reported; ``quote_problem`` says why)."""
        try:
            return await self.refresh_quote()
        except BadQuote as exc:
            self.report_error(exc)
            return None

    async def first_quote(self, stopping: asyncio.Event) -> Quote:
        """A good quote before anything else (the start price of the derived caps), waiting out bad ones."""
        delay = self.error_backoff[0]
        while True:
            try:
                return await self.refresh_quote()
            except BadQuote as exc:
                self.report_error(exc)
                if await self.clock.wait_event(stopping, delay):
                    raise
                delay = min(delay * 2, FIRST_QUOTE_MAX_WAIT_S)

    def is_close_order(self, order: Order) -> bool:
        if order.side is not self.close_side:
            return False
        return self.client_ids.role_of(order.client_order_id) == ClientIds.CLOSE

    async def refresh_orders(self) -> None:
        orders = [o for o in await self.retry(lambda: self.exchange.open_orders(self.symbol)) if self.is_ours(o)]
        # an order the stream already reported final is not resting, whatever a lagging REST list says
        orders = [o for o in orders if self.feed.final(o.order_id) is None]
        self.open_order_count = len(orders)
        self.close_orders = [o for o in orders if self.is_close_order(o)]
        self.entry_orders = [o for o in orders if o.side is self.open_side and not o.reduce_only]
        for order in orders:  # a take-profit of unknown outcome found resting: resolved
            self.unresolved.pop(order.client_order_id or "", None)

    async def refresh_position(self) -> None:
        self.position_state = await self.retry(lambda: self.exchange.position(self.symbol))

    async def refresh_account(self) -> None:
        await self.refresh_position()
        self.balance_state = await self.retry(self.exchange.balance)

    def _on_fill(self, fill: Fill, partial: bool) -> None:
        self.fills_seen += 1
        self.book.apply(fill)
        self.report_fill(fill, partial=partial)
        if not partial and self.client_ids.role_of(fill.client_order_id) == ClientIds.CLOSE:
            log.info("take-profit filled: %s @ %s", fill.side, fill.price)

    @property
    def stream_restarts(self) -> int:
        return self.feed.restarts

    async def stop_updates(self) -> None:
        """Stop consuming the order-update stream (``shutdown`` does it; also for a caller abandoning the strategy)."""
        await self.feed.stop()
