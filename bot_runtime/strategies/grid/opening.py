"""The grid's open-and-monitor path (SPEC §3 ``grid``, step 6 of :mod:`.strategy`'s loop).

Open post-only at ask - tick (buy) / bid + tick (sell), re-priced on post-only rejection up to
:attr:`~.core.GridCore.post_only_retries` times with a growing pause; wait up to
:attr:`~.core.GridCore.fill_wait` s for the fill (woken by the update stream). Filled → its take-profit
(:meth:`~.cover.Cover.cover_fill`). Not filled → while it rests and the market has not moved away, poll every
:attr:`~.core.GridCore.poll_interval` s; then cancel, wait until the venue says the cancel is final, and cover whatever
part filled. A placement without an answer is tracked by client id (nothing new opens meanwhile); a refusal (margin,
rejection, 15 post-only crossings) waits a cooldown. Entries found later (:mod:`.cover`) are monitored here too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from decimal import Decimal

from bot_runtime.exchanges.base import (
    DuplicateClientOrderId,
    InsufficientMargin,
    Order,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    OrderRequest,
    PostOnlyWouldCross,
    Quote,
    Side,
    TimeInForce,
)
from bot_runtime.strategies.base import ClientIds
from bot_runtime.strategies.grid import rules
from bot_runtime.strategies.grid.core import GridCore
from bot_runtime.strategies.grid.cover import Cover

log = logging.getLogger(__name__)


class Opener:
    """Opens one entry and watches it until final; its fill goes to :class:`~.cover.Cover`."""

    def __init__(self, core: GridCore, cover: Cover) -> None:
        self.core = core
        self.cover = cover

    def _open_price(self, quote: Quote) -> Decimal:
        assert self.core.market is not None
        return rules.open_price(self.core.market, self.core.open_side, quote)

    async def open_and_monitor(self, stopping: asyncio.Event) -> None:
        await self.core.refresh_account()  # the risk check needs the current position and equity
        order: Order | None = None
        for attempt in range(1, self.core.post_only_retries + 1):
            if attempt > 1:
                pause = self.core.post_only_backoff[min(attempt - 2, len(self.core.post_only_backoff) - 1)]
                if await self.core.clock.wait_event(stopping, pause):
                    return
                quote = await self.core.read_quote()
                if quote is None:
                    return  # a bad quote: the loop waits for a good one
            else:
                quote = self.core.quote
            assert quote is not None
            price = self._open_price(quote)
            request = OrderRequest(
                symbol=self.core.symbol,
                side=self.core.open_side,
                size=self.core.quantity,
                price=price,
                time_in_force=TimeInForce.POST_ONLY,
                client_order_id=self.core.client_ids.new(ClientIds.OPEN),
            )
            if not await self.core.risk_allows(request, price):
                return
            try:
                order = await self.core.send(request)
                break
            except PostOnlyWouldCross:
                log.debug(
                    "post-only open at %s would cross; re-pricing (%d/%d)", price, attempt, self.core.post_only_retries
                )
                continue
            except (OrderOutcomeUnknown, DuplicateClientOrderId) as exc:
                self.core.track_unknown(request, exc)
                self.core.last_open_time = self.core.clock.monotonic()
                return
            except InsufficientMargin as exc:
                self.core.report_error(exc)
                self.core.last_open_time = self.core.clock.monotonic()  # wait a cooldown before trying again
                return
            except OrderRejected as exc:
                self.core.report_error(exc)
                self.core.last_open_time = self.core.clock.monotonic()
                return
        if order is None:
            log.warning("open order rejected as post-only %d times in a row; next cycle", self.core.post_only_retries)
            self.core.last_open_time = self.core.clock.monotonic()
            return
        self.core.opens += 1
        await self.monitor_open(order, stopping)

    async def monitor_open(self, order: Order, stopping: asyncio.Event, *, adopted: bool = False) -> None:
        """Wait for an entry to fill; cancel it when the market moved away (final only when the venue says so);
        cover what filled."""
        symbol, order_id = order.symbol, order.order_id
        self.core.watched.add(order_id)
        try:
            order = await self.core.await_order(order, self.core.fill_wait, stopping)
            cancelled = False
            while not order.status.is_final:
                if stopping.is_set() or self.core.risk.halted:
                    return  # leave it: shutdown / the risk action cancels it, the invariant covers any filled part
                if not cancelled:
                    quote = await self.core.read_quote()
                    assert order.price is not None
                    if quote is not None:
                        new_price = self._open_price(quote)
                        better = (
                            new_price <= order.price if self.core.open_side is Side.BUY else new_price >= order.price
                        )
                        if not better:
                            order = await self.core.cancel_and_read(order)
                            cancelled = True
                            continue
                order = await self.core.await_order(order, self.core.poll_interval, stopping)
                if cancelled and not order.status.is_final:
                    with contextlib.suppress(OrderNotFound):
                        await self.core.retry(lambda: self.core.exchange.cancel_order(symbol, order_id))
        finally:
            self.core.watched.discard(order_id)
        if order.filled_size > 0:
            # the cooldown counts from the last fill (an entry cancelled unfilled is followed by the next at once);
            # boost mode: the next entry follows the market close at once
            self.core.last_open_time = None if self.core.grid.boost_mode else self.core.clock.monotonic()
            await self.cover.cover_fill(order.filled_size, order.avg_fill_price or order.price, adopted=adopted)
