"""The cover invariant and its recovery (SPEC §3 ``grid``): every part of the position has its take-profit.

- **The invariant** (:meth:`Cover.covered`, once per loop): the resting close size (plus take-profits whose outcome is
  still unknown) covers the position in the grid's direction within the venue's minimum size. A gap of at least the
  minimum size seen on two loops in a row (one loop of grace for a read lagging the other) is re-covered at once by
  :meth:`Cover.recover_position`, retried with backoff (Retry-After honoured) while it fails; until it is covered
  nothing new opens and ``uncovered``/``reason`` say why (status.uncoveredFill → the operator's Degraded condition).
  Close orders exceeding the position (or a position on the wrong side) are re-checked a few times and only then
  reported as a ``positionMismatch`` risk breach (:meth:`Cover.mismatch_confirmed`).
- **Covering a fill** (:meth:`Cover.cover_fill`): a close order at fill x (1 ± takeProfit/100) (at the best maker
  price when that would cross), reduce-only, opposite side, for the fill plus any remainder below the minimum size
  left by earlier fills (boostMode: reduce-only market close at once; a part it leaves is re-closed by the
  invariant). When it cannot be placed, the invariant retries it.
- **Re-covering** (:meth:`Cover.recover_position`, also on start and after entries are cancelled): the part of the
  position (in the grid's direction) that no resting close order covers, when at least the minimum size, gets close
  orders at average entry x (1 ± takeProfit/100), or at the best maker price on the close side (bid for a buy close,
  ask for a sell close) when that would cross, split into ``quantity``-sized orders within ``maxOrders`` (the last one
  takes the rest). A restart therefore continues the same grid without doubling close orders and without leaving a
  fill uncovered.
- **Unknown outcomes and entries found later** (:meth:`Cover.resolve_unknown`, :meth:`Cover.adopt_entries`): a
  placement without an answer is looked up by its client id with backoff (:mod:`.orders`); an entry found later is
  adopted (handed to the open path's monitor, its fill covered), a take-profit found rests or filled (the invariant
  sees it). Resting entries of the bot that nobody watches (landed late, cancel not yet effective) are adopted too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal
from typing import Protocol

from bot_runtime.exchanges.base import (
    AuthenticationError,
    CredentialsError,
    DuplicateClientOrderId,
    ExchangeError,
    Order,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    OrderType,
    Quote,
    Side,
    TimeInForce,
    retry_delay,
)
from bot_runtime.strategies.base import ClientIds
from bot_runtime.strategies.grid import rules
from bot_runtime.strategies.grid.core import ZERO, GridCore

log = logging.getLogger(__name__)


class Monitor(Protocol):
    """Watches an entry until it is final and covers its fill (:meth:`~.opening.Opener.monitor_open`)."""

    async def __call__(self, order: Order, stopping: asyncio.Event, *, adopted: bool = ...) -> None: ...


class Cover:
    """The cover invariant's state (how long a gap has lasted, the retry's backoff) and the take-profits it places."""

    def __init__(self, core: GridCore) -> None:
        self.core = core
        self.recovered_size = ZERO  # re-covered by this process (close orders placed for an uncovered position)
        # the cover invariant: a position part without take-profit (no new opens until it is covered, retried)
        self.uncovered_since: float | None = None
        self.uncovered_size = ZERO
        self._gap_loops = 0  # loops in a row that saw a gap (the first is the grace)
        self._cover_attempts = 0
        self._cover_retry_at = 0.0
        self._cover_error: ExchangeError | None = None

    async def covered(self, stopping: asyncio.Event) -> bool:
        """The cover invariant (see the module docstring): True when the position is covered within the minimum
        size (opening may go on); else it re-covers (after one loop of grace), waits a loop and returns False."""
        assert self.core.market is not None
        # resting closes only (a pending one may have filled)
        over = -self.core.market.round_size(self.core.uncovered())
        wrong_side = (
            self.core.held() < 0 and self.core.market.round_size(-self.core.held()) >= self.core.market.min_size
        )
        if (over >= self.core.market.min_size or wrong_side) and await self.mismatch_confirmed(stopping):
            return False
        gap = self.core.market.round_size(self.core.gap())
        if gap < self.core.market.min_size:
            if self.uncovered_since is not None:
                log.info(
                    "position covered again",
                    extra={"after_s": round(self.core.clock.monotonic() - self.uncovered_since, 1)},
                )
            self.uncovered_since = None
            self.uncovered_size = ZERO
            self._gap_loops = 0
            return True
        now = self.core.clock.monotonic()
        self._gap_loops += 1
        if self.uncovered_since is None and self._gap_loops < 2:
            self.core.reason = f"{gap} of the position has no take-profit: reading again before re-covering"
            await self.core.clock.wait_event(stopping, self.core.loop_interval)
            return False
        if self.uncovered_since is None:
            self.uncovered_since = now
            self._cover_attempts = 0
            self._cover_retry_at = now
        self.uncovered_size = gap
        if now >= self._cover_retry_at:
            self._cover_error = None
            try:
                await self.recover_position("uncovered")
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self._cover_error = exc
                self.core.report_error(exc)
            covered = self.core.market.round_size(self.core.gap()) < self.core.market.min_size
            if covered:
                log.info("position covered again", extra={"after_s": round(now - self.uncovered_since, 1)})
                self.uncovered_since = None
                self.uncovered_size = ZERO
                self._gap_loops = 0
                self.core.reason = None
                self.core.blocked.clear()
                return True
            self._cover_attempts += 1
            delay = self.core.cover_backoff[min(self._cover_attempts, len(self.core.cover_backoff) - 1)]
            if self._cover_error is not None:
                delay = retry_delay(self._cover_error, delay)
            self._cover_retry_at = self.core.clock.monotonic() + delay  # from the end of this try (it may have waited)
        self.core.not_opening(
            "UncoveredFill",
            f"a fill of {self.uncovered_size} has no take-profit since {now - self.uncovered_since:.0f}s:"
            " no new opens until it is placed (retrying)",
        )
        await self.core.clock.wait_event(stopping, self.core.loop_interval)
        return False

    async def mismatch_confirmed(self, stopping: asyncio.Event) -> bool:
        """Close orders exceeding the position (or a position on the wrong side), re-checked before it trips a
        ``positionMismatch`` breach (venues report a transient 0 position). True when it tripped."""
        assert self.core.market is not None
        tolerance = self.core.market.min_size - self.core.market.size_step
        position, total = ZERO, ZERO
        for attempt in range(self.core.mismatch_rechecks + 1):
            if attempt:
                if await self.core.clock.wait_event(stopping, self.core.mismatch_recheck_delay):
                    return True
                await self.core.refresh_orders()
                await self.core.refresh_position()
            position = self.core.position_state.size if self.core.position_state else ZERO
            total = sum((o.remaining for o in self.core.close_orders), ZERO)
            over = -self.core.market.round_size(self.core.uncovered())
            wrong_side = (
                self.core.held() < 0 and self.core.market.round_size(-self.core.held()) >= self.core.market.min_size
            )
            if over < self.core.market.min_size and not wrong_side:
                return False
            log.warning(
                "position %s vs close orders %s (check %d/%d)",
                position,
                total,
                attempt + 1,
                self.core.mismatch_rechecks + 1,
            )
        breach = self.core.risk.position_mismatch(position, total, tolerance)
        if breach is not None:
            self.core.on_breach(breach)
        return True

    async def recover_position(self, why: str) -> Decimal:
        """Re-cover the position: close orders for the uncovered size (at least the minimum size) at avg entry x
        (1 ± tp/100), or at the best maker price on the close side when that would cross, in ``quantity``-sized
        orders within ``maxOrders`` (boostMode: one reduce-only market close). Returns the size placed (0 when
        covered)."""
        assert self.core.market is not None
        await self.core.refresh_orders()  # orders before the position: a fill between the reads shows as over-covered
        await self.core.refresh_position()
        uncovered = self.core.market.round_size(self.core.gap())
        if uncovered < self.core.market.min_size or uncovered <= 0:
            return ZERO
        position = self.core.position_state
        assert position is not None
        quote = await self.core.refresh_quote()
        if self.core.grid.boost_mode:
            placed_order = await self._place_close(uncovered, None)
            placed = uncovered if placed_order is not None else ZERO
            price = quote.mid
            sizes = [uncovered]
        else:
            price = self._maker_close_price(self.close_price(position.avg_entry_price or quote.mid), quote)
            sizes = self._split(uncovered, room=self.core.grid.max_orders - len(self.core.close_orders))
            placed = ZERO
            for size in sizes:
                order = await self._send_close(size, price)
                if order is None:
                    break
                placed += size
        log.warning(
            "re-covered an uncovered position",
            extra={
                "why": why,
                "symbol": self.core.symbol,
                "position": str(position.size),
                "uncovered": str(uncovered),
                "placed": str(placed),
                "orders": len(sizes),
                "price": str(price),
            },
        )
        if placed > 0:
            self.recovered_size += placed
            self.core.report_recovery(self.core.symbol, placed, len(sizes), price, why)
        return placed

    def _split(self, size: Decimal, *, room: int) -> list[Decimal]:
        assert self.core.market is not None
        return rules.split(size, self.core.quantity, room=room, min_size=self.core.market.min_size)

    async def cover_fill(self, size: Decimal, price: Decimal | None, *, adopted: bool = False) -> None:
        """The take-profit of a fill, for the fill plus any remainder below the minimum size that earlier fills left
        uncovered (read from the venue); an entry ``adopted`` late gets no more than the venue shows uncovered (the
        invariant may have covered its fill already). When it cannot be placed, the cover invariant retries it with
        backoff (and nothing new opens meanwhile)."""
        assert self.core.market is not None
        with contextlib.suppress(ExchangeError):
            await self.core.refresh_orders()
            await self.core.refresh_position()
        gap = max(self.core.market.round_size(self.core.gap()), ZERO)
        if gap < size:
            # adopted: part of it may be covered already; ours: the position read lags the fill (the fill is known)
            total = gap if adopted else size
        elif gap - size < self.core.market.min_size:
            total = gap  # the fill and the remainders below the minimum size that earlier fills left
        else:
            total = size  # more is uncovered: the invariant re-covers the rest
        try:
            placed = await self._place_close(total, price)
        except (CredentialsError, AuthenticationError):
            raise
        except ExchangeError as exc:
            self.core.report_error(exc)
            self._cover_error = exc
            placed = None
        if placed is None and self.core.market.round_size(total) >= self.core.market.min_size:
            now = self.core.clock.monotonic()
            if self.uncovered_since is None:
                self.uncovered_since = now
                self._cover_attempts = 0
            self.uncovered_size = self.core.market.round_size(total)
            delay = self.core.cover_backoff[0]
            if self._cover_error is not None:
                delay = retry_delay(self._cover_error, delay)
            self._cover_retry_at = now + delay
            log.warning("take-profit not placed: fill uncovered, no new opens until it is", extra={"size": str(total)})

    def close_price(self, fill_price: Decimal) -> Decimal:
        assert self.core.market is not None
        return rules.close_price(self.core.market, self.core.grid.take_profit, self.core.close_side, fill_price)

    def _maker_close_price(self, price: Decimal, quote: Quote | None) -> Decimal:
        return rules.maker_close_price(self.core.close_side, price, quote)

    async def _place_close(self, size: Decimal, fill_price: Decimal | None) -> Order | None:
        assert self.core.market is not None
        size = self.core.market.round_size(size)
        if size < self.core.market.min_size or size <= 0:
            log.info("uncovered %s is below the minimum size: carried into the next take-profit", size)
            return None
        if self.core.grid.boost_mode:
            request = OrderRequest(
                symbol=self.core.symbol,
                side=self.core.close_side,
                size=size,
                order_type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                reduce_only=True,
                client_order_id=self.core.client_ids.new(ClientIds.CLOSE),
            )
            price = (
                (self.core.quote.bid if self.core.close_side is Side.SELL else self.core.quote.ask)
                if self.core.quote
                else ZERO
            )
            return await self._submit_close(request, price)
        if fill_price is None:
            raise ExchangeError("filled order without a price", exchange=self.core.exchange.name)
        return await self._send_close(size, self._maker_close_price(self.close_price(fill_price), self.core.quote))

    async def _send_close(self, size: Decimal, price: Decimal) -> Order | None:
        """A reduce-only limit close (take-profit) of ``size`` at ``price``."""
        request = OrderRequest(
            symbol=self.core.symbol,
            side=self.core.close_side,
            size=size,
            price=price,
            reduce_only=True,
            client_order_id=self.core.client_ids.new(ClientIds.CLOSE),
        )
        return await self._submit_close(request, price)

    async def _submit_close(self, request: OrderRequest, price: Decimal) -> Order | None:
        """Send a close; None when it was not placed (refused, or its outcome unknown: then it is looked up, and
        counts as covering its size until resolved)."""
        await self.core.risk_allows(request, price)  # reduce-only: always allowed, checked for the record
        try:
            order = await self.core.send(request)
        except (OrderOutcomeUnknown, DuplicateClientOrderId) as exc:
            self.core.track_unknown(request, exc)
            return None
        except OrderRejected as exc:
            self.core.report_error(exc)
            self._cover_error = exc
            return None
        self.core.closes_placed += 1
        if not order.status.is_final:
            self.core.close_orders.append(order)
        return order

    async def resolve_unknown(self, stopping: asyncio.Event, monitor: Monitor) -> None:
        """Look up (by client id, with backoff) the orders whose outcome is unknown: an entry found is adopted
        (monitored until final, its fill covered); a take-profit found rests or filled (the invariant sees it)."""
        now = self.core.clock.monotonic()
        for client_id, pending in list(self.core.unresolved.items()):
            if now < pending.next_lookup:
                continue
            try:
                found = await self._lookup(client_id)
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.core.report_error(exc)
                found = None
            if found is None:
                if pending.expired(now):
                    log.warning(
                        "order never found by its client id: taken as not placed", extra={"client_order_id": client_id}
                    )
                    del self.core.unresolved[client_id]
                else:
                    pending.backoff(now)
                continue
            del self.core.unresolved[client_id]
            log.info(
                "order of unknown outcome found", extra={"client_order_id": client_id, "status": found.status.value}
            )
            if not pending.request.reduce_only:
                self.core.opens += 1
                await monitor(found, stopping, adopted=True)

    async def _lookup(self, client_id: str) -> Order | None:
        return await self.core.retry(lambda: self.core.exchange.find_order_by_client_id(self.core.symbol, client_id))

    async def adopt_entries(self, stopping: asyncio.Event, monitor: Monitor) -> bool:
        """A resting entry of the bot that nobody monitors (it landed late, or its cancel is not effective yet) is
        monitored here until final and its fill covered. True when one was."""
        strays = [o for o in self.core.entry_orders if o.order_id not in self.core.watched and self.core.is_ours(o)]
        for order in strays:
            log.info("adopting a resting entry nobody watched", extra={"order_id": order.order_id})
            await monitor(order, stopping, adopted=True)
        return bool(strays)
