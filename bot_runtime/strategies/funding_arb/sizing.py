"""Leg sizes of a pair: equal base-asset size on both venues, a multiple of both venues' size steps.

The notional of each leg (:func:`leg_notional`): ``sizing.mode: fixedUsd`` (the default) takes ``positionSizeUsd``;
``sizing.mode: margin`` takes ``sizing.marginUsd x leverage``, the leverage being ``sizing.leverage`` capped by each
venue's maximum (``Market.max_leverage``, where the venue says it), then by the risk manager's ``maxPositionUsd``.
Either is capped by what ``maxExposurePerVenueUsd`` leaves on each leg's venue (:mod:`.cycle`). The base size is ``positionSizeUsd / reference price`` (the average
of the two venues' base-unit mid prices), rounded DOWN to the common step: the least common multiple of the two
venues' steps expressed in base units (``size_step x multiplier``). With the usual power-of-ten steps that is simply
the coarser step; with steps such as 0.002 and 0.003 it is 0.006, so both legs land exactly on their venue's grid
and match to the last unit. Each leg's contract size is then ``base / multiplier`` (``1000PEPE``: 1 contract = 1000
PEPE).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from bot_runtime.config import FundingArbConfig, SizingMode
from bot_runtime.exchanges.base import Market, Quote

ZERO = Decimal(0)


def base_step(market: Market) -> Decimal:
    """One size step of ``market`` in base units."""
    return market.size_step * market.multiplier


def common_step(a: Decimal, b: Decimal) -> Decimal:
    """Least common multiple of two positive decimal steps (0.01 and 0.001 → 0.01; 0.002 and 0.003 → 0.006)."""
    if a <= 0 or b <= 0:
        raise ValueError("steps must be > 0")
    exponent = min(a.normalize().as_tuple().exponent, b.normalize().as_tuple().exponent, 0)
    assert isinstance(exponent, int)
    scale = Decimal(10) ** -exponent
    ia, ib = int(a * scale), int(b * scale)
    return Decimal(math.lcm(ia, ib)) / scale


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded down to a multiple of ``step``, written without an exponent (``82987000``, not
    ``8.2987E+7``: sizes travel to venues as text)."""
    if value <= 0:
        return ZERO
    steps = (value / step).to_integral_value(rounding=ROUND_DOWN)
    return (steps * step).quantize(_unit(step))


def _unit(step: Decimal) -> Decimal:
    exponent = step.as_tuple().exponent
    assert isinstance(exponent, int)
    return Decimal(1).scaleb(min(exponent, 0))


def contracts(market: Market, base: Decimal) -> Decimal:
    """``base`` units as ``market``'s contracts, rounded down to its step."""
    return round_down(base / market.multiplier, market.size_step)


def pair_step(long_market: Market, short_market: Market) -> Decimal:
    """The base-unit step both legs of a pair can trade exactly."""
    return common_step(base_step(long_market), base_step(short_market))


def min_base(market: Market, base_price: Decimal) -> Decimal:
    """The smallest base size ``market`` accepts (its min size, and its min notional at ``base_price``)."""
    smallest = market.to_base_size(market.min_size)
    if market.min_notional is not None and base_price > 0:
        smallest = max(smallest, market.min_notional / base_price)
    return smallest


@dataclass(frozen=True)
class LegSizes:
    base: Decimal  # base units, the same on both legs
    long_contracts: Decimal
    short_contracts: Decimal
    reference_price: Decimal  # base-unit price used for sizing
    step: Decimal  # the pair's common base step


class SizingError(ValueError):
    """The pair cannot be sized (too small for a venue's minimum, no price)."""


def leg_notional(cfg: FundingArbConfig, long_market: Market, short_market: Market) -> Decimal:
    """The notional of each leg of a new pair by ``sizing.mode``, before the risk and exposure caps."""
    sizing = cfg.sizing
    if sizing.mode is SizingMode.FIXED_USD or sizing.margin_usd is None:
        return cfg.position_size_usd
    leverage = sizing.leverage
    for market in (long_market, short_market):
        if market.max_leverage is not None and market.max_leverage > 0:
            leverage = min(leverage, market.max_leverage)
    return sizing.margin_usd * leverage


def base_mid(market: Market, quote: Quote) -> Decimal:
    return market.to_base_price(quote.mid)


def plan_sizes(
    notional_usd: Decimal, long_market: Market, short_market: Market, long_quote: Quote, short_quote: Quote
) -> LegSizes:
    """Equal-base sizes of ``notional_usd`` per leg; raises :class:`SizingError` when it cannot be traded."""
    long_price, short_price = base_mid(long_market, long_quote), base_mid(short_market, short_quote)
    if long_price <= 0 or short_price <= 0:
        raise SizingError("no usable price")
    reference = (long_price + short_price) / 2
    step = pair_step(long_market, short_market)
    base = round_down(notional_usd / reference, step)
    smallest = max(min_base(long_market, long_price), min_base(short_market, short_price))
    if base <= 0 or base < smallest:
        raise SizingError(
            f"{notional_usd} USD per leg is {notional_usd / reference:.8g} {long_market.symbol}: below the tradable"
            f" minimum {smallest} (pair step {step})"
        )
    return LegSizes(
        base=base,
        long_contracts=contracts(long_market, base),
        short_contracts=contracts(short_market, base),
        reference_price=reference,
        step=step,
    )


def tradable_base(base: Decimal, long_market: Market, short_market: Market, base_price: Decimal) -> Decimal:
    """``base`` rounded down to the pair step, or 0 when that is below either venue's minimum."""
    rounded = round_down(base, pair_step(long_market, short_market))
    smallest = max(min_base(long_market, base_price), min_base(short_market, base_price))
    return rounded if rounded >= smallest and rounded > 0 else ZERO
