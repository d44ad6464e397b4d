"""The grid's arithmetic (the original's rules, SPEC §3 ``grid``), without I/O:

- cooldown by how full the close-order book is (count / maxOrders): >= 2/3 → 2 x waitTime, >= 1/3 → waitTime,
  >= 1/6 → waitTime/2, else waitTime/4; None (never) while count >= maxOrders;
- ``gridStep`` spacing (buy): lowest close / (ask x (1 + tp)) > 1 + gridStep/100 (sell mirrored with the highest close
  and bid x (1 - tp)); always true without a close order;
- the entry price: ask - tick (buy) / bid + tick (sell); the take-profit: fill x (1 ± takeProfit/100), or the best
  maker price on the close side (ask for a sell close, bid for a buy close) when that would cross the book;
- a price level (stopPrice, pausePrice) is reached when ask >= level (buy grid) / bid <= level (sell grid);
- a size to cover in ``quantity``-sized pieces within the room left, the last piece taking the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction

from bot_runtime.config import GridConfig
from bot_runtime.exchanges.base import Market, Quote, Side

HUNDRED = Decimal(100)


def cooldown_seconds(count: int, max_orders: int, wait_time: float) -> float | None:
    """The cooldown after an entry with ``count`` resting close orders; None = never (grid full)."""
    if count >= max_orders:
        return None
    ratio = Fraction(count, max_orders)
    if ratio >= Fraction(2, 3):
        return 2 * wait_time
    if ratio >= Fraction(1, 3):
        return wait_time
    if ratio >= Fraction(1, 6):
        return wait_time / 2
    return wait_time / 4


def grid_step_ok(grid: GridConfig, close_prices: Sequence[Decimal], quote: Quote) -> bool:
    if not grid.grid_step_enabled or not close_prices:
        return True
    tp = grid.take_profit / HUNDRED
    step = 1 + grid.grid_step / HUNDRED
    if grid.direction is Side.BUY:
        return min(close_prices) / (quote.ask * (1 + tp)) > step
    return quote.bid * (1 - tp) / max(close_prices) > step


def level_reached(level: Decimal | None, open_side: Side, quote: Quote) -> bool:
    if level is None:
        return False
    return quote.ask >= level if open_side is Side.BUY else quote.bid <= level


def open_price(market: Market, open_side: Side, quote: Quote) -> Decimal:
    if open_side is Side.BUY:
        return market.round_price(quote.ask - market.tick_size, Side.BUY)
    return market.round_price(quote.bid + market.tick_size, Side.SELL)


def close_price(market: Market, take_profit: Decimal, close_side: Side, fill_price: Decimal) -> Decimal:
    tp = take_profit / HUNDRED
    if close_side is Side.SELL:
        return market.round_price(fill_price * (1 + tp), Side.SELL)
    return market.round_price(fill_price * (1 - tp), Side.BUY)


def maker_close_price(close_side: Side, price: Decimal, quote: Quote | None) -> Decimal:
    """``price``, or the best maker price on the close side when ``price`` would cross the book."""
    if quote is None:
        return price
    if close_side is Side.SELL and price <= quote.bid:
        return quote.ask
    if close_side is Side.BUY and price >= quote.ask:
        return quote.bid
    return price


def split(size: Decimal, quantity: Decimal, *, room: int, min_size: Decimal) -> list[Decimal]:
    """``size`` in ``quantity``-sized pieces, at most ``max(room, 1)`` of them (the last takes the rest; a rest below
    ``min_size`` rides on the piece before)."""
    pieces: list[Decimal] = []
    left = size
    while left > 0:
        if len(pieces) >= max(room, 1) - 1 or left <= quantity:
            pieces.append(left)
            break
        pieces.append(quantity)
        left -= quantity
    if len(pieces) > 1 and pieces[-1] < min_size:
        pieces[-2:] = [pieces[-2] + pieces[-1]]
    return pieces
