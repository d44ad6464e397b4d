"""Venue payloads read strictly: what a client cannot use raises :class:`~bot_runtime.exchanges.base.MalformedResponse`
instead of becoming a default (issue 18: a silent OPEN, a FILLED order with 0 filled, a quote of 0, a crash).

* :func:`reading`: a block that parses one payload; a missing key, a field pydantic refuses, a number that is no
  number become a :class:`MalformedResponse` naming the payload and the field (never the values: no payload text
  reaches a log line or an error message).
* :func:`unknown_status` / :func:`unknown_value`: the error for an order status (another field) the client has no
  mapping for.
* :func:`filled_size`: the filled size of an order, or an error when the venue left it out and the status does not
  say what it is.
* :func:`checked_quote`: a :class:`~bot_runtime.exchanges.base.Quote` only when ``0 < bid < ask``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal

from pydantic import ValidationError

from bot_runtime.exchanges.base import ZERO, ExchangeError, MalformedResponse, OrderStatus, Quote

_UNREADABLE = (KeyError, IndexError, TypeError, ValueError, ArithmeticError, AttributeError)  # ValidationError too
_DETAIL_LIMIT = 200


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return "; ".join(problems)[:_DETAIL_LIMIT]
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    if isinstance(exc, IndexError):
        return "an expected list is empty or too short"
    return type(exc).__name__  # the message of a ValueError/TypeError may quote the payload: left out


@contextmanager
def reading(exchange: str, what: str) -> Iterator[None]:
    """Parse ``what`` (e.g. ``"order"``, ``"GET /fapi/v1/order"``) inside this block: an exchange error raised in it
    passes unchanged, anything else a parser raises on a bad payload becomes a :class:`MalformedResponse`."""
    try:
        yield
    except ExchangeError:
        raise
    except _UNREADABLE as exc:
        # not chained: the parser's own message quotes the payload (an auth answer carries a token)
        raise MalformedResponse(f"{exchange}: unreadable {what}: {_describe(exc)}", exchange=exchange) from None


def unknown_status(exchange: str, status: object, order_id: object = None) -> MalformedResponse:
    which = f" of order {order_id}" if order_id not in (None, "") else ""
    return MalformedResponse(
        f"{exchange}: unknown order status {str(status)[:40]!r}{which}: not read as open or filled", exchange=exchange
    )


def unknown_value(exchange: str, what: str, value: object) -> MalformedResponse:
    """The error for a field whose value the client has no mapping for (an order side, say): never a default."""
    return MalformedResponse(f"{exchange}: unknown {what} {str(value)[:40]!r}", exchange=exchange)


def filled_size(
    exchange: str,
    status: OrderStatus,
    filled: Decimal | None,
    size: Decimal,
    order_id: object = None,
    *,
    none_filled: bool = False,
) -> Decimal:
    """The filled size to report for an order in ``status`` whose payload said ``filled`` (``None``: left out).

    FILLED means filled completely on every venue we speak (each client names its source), so a FILLED order
    without a filled size (or with 0) has filled ``size``. Without one, a pending or refused order has filled
    nothing, and so has an order whose venue status says so (``none_filled``: Binance's ``NEW``); an open order of a
    venue whose open status covers partial fills, a cancelled or an expired one may have filled anything:
    :class:`MalformedResponse`.
    """
    if status is OrderStatus.FILLED:
        if filled is not None and filled > 0:
            return filled
        if size > 0:
            return size
        raise MalformedResponse(
            f"{exchange}: order {order_id} is FILLED with neither size nor filled size", exchange=exchange
        )
    if filled is not None:
        return filled
    if none_filled or status in (OrderStatus.PENDING, OrderStatus.REJECTED):
        return ZERO
    raise MalformedResponse(f"{exchange}: order {order_id} is {status.value} without a filled size", exchange=exchange)


def checked_quote(
    exchange: str,
    symbol: str,
    bid: Decimal | None,
    ask: Decimal | None,
    *,
    bid_size: Decimal | None = None,
    ask_size: Decimal | None = None,
    timestamp: datetime | None = None,
) -> Quote:
    """The top of book, only when ``0 < bid < ask`` (a zero, negative, missing, locked or crossed book raises
    :class:`MalformedResponse`: a client never hands out a quote nobody may price an order on)."""
    if bid is None or ask is None or not ZERO < bid < ask:
        raise MalformedResponse(
            f"{exchange}: {symbol} top of book is not 0 < bid < ask (bid {bid}, ask {ask})", exchange=exchange
        )
    extra = {"timestamp": timestamp} if timestamp is not None else {}
    return Quote(symbol=symbol, bid=bid, ask=ask, bid_size=bid_size, ask_size=ask_size, **extra)
