"""The bot process's venues: connect every exchange client (retrying until the process stops), read the bot's market
back after onStop, close the clients at the end.

The clients themselves come from :mod:`bot_runtime.exchanges.registry` (credentials are validated before anything
else; a missing one is reported by its env var name, never its value). Connecting gives up at once on a credentials or
authentication error (retrying cannot fix it) and retries any other venue or network error with a doubling delay (at
most 30 s). What the venue reports after onStop (open orders, position, PnL) is the truth for the final status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges.base import AuthenticationError, CredentialsError, Exchange, ExchangeError, with_retries

log = logging.getLogger("perpdex.bot")


async def connect_all(
    exchanges: Mapping[str, Exchange], stopping: asyncio.Event, on_error: Callable[[BaseException], None]
) -> bool:
    """Connect every client, retrying transient failures until stopping; False when stopped first."""
    for name, exchange in exchanges.items():
        delay = 1.0
        while True:
            if stopping.is_set():
                return False
            try:
                await exchange.connect()
                log.info("connected", extra={"exchange": name})
                break
            except (CredentialsError, AuthenticationError):
                raise
            except (ExchangeError, OSError) as exc:
                on_error(exc)
                log.warning("connect failed, retrying", extra={"exchange": name, "retry_in_s": delay})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), delay)
                delay = min(delay * 2, 30.0)
    return True


async def observe(exchange: Exchange, symbol: str, *, within: float) -> dict[str, Any]:
    """The venue's open orders and position in ``symbol`` (as status fields), read within ``within`` seconds; ``{}``
    when the venue does not answer in time (the snapshot's values are reported instead)."""
    observed: dict[str, Any] = {}

    async def read() -> None:
        orders = await with_retries(lambda: exchange.open_orders(symbol), attempts=2)
        position = await with_retries(lambda: exchange.position(symbol), attempts=2)
        observed.update(
            open_orders=len(orders),
            position=position.size,
            avg_entry_price=position.avg_entry_price,
            # not realized_pnl: venues disagree on what theirs holds; the strategy's own (net of fees) stands
            unrealized_pnl=position.unrealized_pnl,
            funding_pnl=position.funding_pnl,
        )

    try:
        await asyncio.wait_for(read(), within)
    except Exception as exc:  # the snapshot's values are reported instead
        log.warning("could not read the final state from the venue", extra={"error": repr(exc)[:300]})
        return {}
    log.info(
        "venue state",
        extra={"symbol": symbol, **{k: (str(v) if isinstance(v, Decimal) else v) for k, v in observed.items()}},
    )
    return observed


async def close_all(exchanges: Mapping[str, Exchange]) -> None:
    for exchange in exchanges.values():
        with contextlib.suppress(Exception):
            await asyncio.wait_for(exchange.close(), 5)
