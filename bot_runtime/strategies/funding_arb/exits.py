"""Holding rules of a pair: when to close it, when to rebalance it (pure functions of the pair's last readings).

Exit rules, checked in the original's order (the first that holds is the reason reported):

1. spread flip: the current spread (short hourly - long hourly) is below 0;
2. erosion: the current spread is below ``erosionExitRatio`` x the entry spread;
3. net APR: the current net APR is below ``exitNetApr``. A held pair's net APR charges only the exit fees still to
   pay, amortised over ``holdHours``: ``(spread_hourly x holdHours - (long fee + short fee)) / holdHours x 8760``;
   the entry fees are sunk (:func:`.selection.pair_rates`);
4. profit target: the pair's funding PnL reached ``takeProfitUsd``, or ``takeProfitPct`` percent of its notional
   (base size x entry price);
5. ``maxHoldHours`` reached;
6. liquidation distance: a leg's mark is within ``minLiquidationDistancePct`` percent of its liquidation price
   (venues that report one), measured on the leg's side: a long is liquidated below its mark, a short above it, so a
   liquidation price on the wrong side of the mark (already passed) is a distance below 0;
7. a leg closed by the venue (liquidation, ADL, manual close): the other leg is closed at once.

1-3 are rate-based: they need a fresh rate reading and wait until the pair has been held ``minHoldHours``. 4-7 apply at
once. A risk breach (closeAll, closeWorst) closes pairs outside these rules.

Hold while best (``holdWhileBest``): erosion (2) and ``maxHoldHours`` (5) do not close a pair that is still among the best opportunities
of its symbol: fresh rates whose net APR is at least the symbol's best net APR (a new pair's, round-trip fees) minus
``holdWhileBestMargin``. Closing it would only pay the fees of re-opening the same trade after the cooldown. A flipped
spread, a net APR below ``exitNetApr``, the profit target and the safety exits (6, 7) are never deferred.

Leaving: a voluntary exit (1-5) waits while a leg's book spread is wider than ``exitMaxSpreadBps``, at most
``exitMaxDeferral`` (:func:`exit_deferral`), and leaves maker-first (``exitOrders``, :mod:`.execution`). Safety exits
(6, 7, risk, shutdown) never wait and leave by IOC.

Imbalance is measured on base-asset sizes (both legs valued at one price): a pair is delta-neutral when its legs hold
the same number of base units, whatever the two venues' prices do. Valuing each leg at its own venue's mark would
call for "rebalancing" a perfectly hedged pair whenever the venues' prices drift apart, and create the very exposure
the pair exists to avoid.
"""

from __future__ import annotations

from decimal import Decimal

from bot_runtime.config import FundingArbConfig
from bot_runtime.exchanges.base import Position
from bot_runtime.strategies.funding_arb.models import ExitDecision, ExitReason, Leg, Pair

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def liquidation_distance_pct(position: Position | None) -> Decimal | None:
    """Percent the mark may still move against the position before its liquidation price (long: down to it, short:
    up to it); < 0 when the mark is already past it; None when the venue reports no such price."""
    if position is None or position.liquidation_price is None or not position.mark_price or position.size == 0:
        return None
    toward = position.mark_price - position.liquidation_price
    if position.size < 0:
        toward = -toward
    return toward / position.mark_price * HUNDRED


def endangered_leg(pair: Pair, cfg: FundingArbConfig) -> tuple[Leg, Decimal] | None:
    """The leg nearest its liquidation price when it is within ``minLiquidationDistancePct``, with its distance."""
    near: tuple[Leg, Decimal] | None = None
    for leg in pair.legs:
        distance = liquidation_distance_pct(leg.position)
        if (
            distance is not None
            and distance < cfg.min_liquidation_distance_pct
            and (near is None or distance < near[1])
        ):
            near = (leg, distance)
    return near


def leg_is_open(leg: Leg) -> bool:
    """Does the venue still hold this leg (same side, non-zero)? True before the first reading."""
    if leg.position is None:
        return True
    size = leg.position.size
    return size != 0 and (size > 0) == (leg.side.sign > 0)


def imbalance_pct(pair: Pair) -> Decimal:
    """Difference of the legs' base sizes as a percent of the larger one."""
    long_base, short_base = pair.long.base_size, pair.short.base_size
    larger = max(long_base, short_base)
    if larger <= 0:
        return ZERO
    return abs(long_base - short_base) / larger * HUNDRED


def among_best(pair: Pair, cfg: FundingArbConfig) -> bool:
    """Is the pair still among the best opportunities of its symbol (within ``holdWhileBestMargin``)?"""
    rates = pair.rates
    if not cfg.hold_while_best or rates is None or rates.stale or rates.best_net_apr is None:
        return False
    return rates.spread_hourly > 0 and rates.net_apr >= rates.best_net_apr - cfg.hold_while_best_margin


def profit_target(pair: Pair, cfg: FundingArbConfig, funding: Decimal) -> ExitDecision | None:
    """``takeProfitUsd`` / ``takeProfitPct`` reached by the pair's funding PnL ``funding``."""
    if cfg.take_profit_usd is not None and funding >= cfg.take_profit_usd:
        return ExitDecision(
            ExitReason.PROFIT_TARGET, f"funding PnL {funding:.4f} USD >= takeProfitUsd {cfg.take_profit_usd}"
        )
    notional = pair.notional
    if cfg.take_profit_pct is not None and notional is not None and notional > 0:
        pct = funding / notional * HUNDRED
        if pct >= cfg.take_profit_pct:
            return ExitDecision(
                ExitReason.PROFIT_TARGET,
                f"funding PnL {pct:.4f}% of the notional >= takeProfitPct {cfg.take_profit_pct}",
            )
    return None


def evaluate_exit(pair: Pair, cfg: FundingArbConfig, now: float, funding: Decimal | None = None) -> ExitDecision | None:
    """The first exit rule that holds for ``pair`` at clock time ``now``, or None to keep holding. ``funding``: the
    pair's funding PnL (default: what the venues report, ``pair.funding_pnl``)."""
    held = pair.held_hours(now)
    rates = pair.rates
    best = among_best(pair, cfg)
    if rates is not None and not rates.stale and held >= cfg.min_hold_hours:
        if rates.spread_hourly < 0:
            return ExitDecision(
                ExitReason.SPREAD_FLIP,
                f"spread flipped: {rates.gross_apr:.4f} APR (short {pair.short.exchange} now pays less than long"
                f" {pair.long.exchange})",
            )
        entry = pair.entry_spread_hourly
        if entry is not None and entry > 0 and rates.spread_hourly < cfg.erosion_exit_ratio * entry and not best:
            return ExitDecision(
                ExitReason.EROSION,
                f"spread eroded to {rates.spread_hourly / entry:.3f} x entry (< erosionExitRatio"
                f" {cfg.erosion_exit_ratio})",
            )
        if rates.net_apr < cfg.exit_net_apr:
            return ExitDecision(ExitReason.NET_APR, f"net APR {rates.net_apr:.4f} < exitNetApr {cfg.exit_net_apr}")
    target = profit_target(pair, cfg, pair.funding_pnl if funding is None else funding)
    if target is not None:
        return target
    if held >= cfg.max_hold_hours and not best:
        return ExitDecision(ExitReason.MAX_HOLD, f"held {held:.2f} h >= maxHoldHours {cfg.max_hold_hours}")
    near = endangered_leg(pair, cfg)
    if near is not None:
        leg, distance = near
        return ExitDecision(
            ExitReason.LIQUIDATION,
            f"{leg.exchange} leg {distance:.2f}% from liquidation (< minLiquidationDistancePct"
            f" {cfg.min_liquidation_distance_pct})",
        )
    for leg in pair.legs:
        if not leg_is_open(leg):
            size = leg.position.size if leg.position is not None else ZERO
            return ExitDecision(
                ExitReason.LEG_CLOSED, f"{leg.exchange} {'long' if leg.side.sign > 0 else 'short'} leg is {size}"
            )
    return None


def spread_bps(bid: Decimal, ask: Decimal) -> Decimal:
    """A book's spread in basis points of its mid."""
    mid = (bid + ask) / 2
    return (ask - bid) / mid * 10_000 if mid > 0 else Decimal("Infinity")


def exit_deferral(spreads: dict[str, Decimal], cfg: FundingArbConfig, since: float | None, now: float) -> str | None:
    """Why a voluntary exit waits now (a leg's spread in bps wider than ``exitMaxSpreadBps``), or None to close. The
    wait is bounded: ``exitMaxDeferral`` after the first deferral (``since``) the exit goes ahead whatever the
    spreads (0: never waits)."""
    wide = {venue: bps for venue, bps in spreads.items() if bps > cfg.exit_max_spread_bps}
    if not wide or cfg.exit_max_deferral <= 0:
        return None
    if since is not None and now - since >= cfg.exit_max_deferral:
        return None
    venues = ", ".join(f"{venue} {bps:.2f} bp" for venue, bps in sorted(wide.items()))
    return f"spread wider than exitMaxSpreadBps {cfg.exit_max_spread_bps} on {venues}"


def needs_rebalance(pair: Pair, cfg: FundingArbConfig) -> bool:
    return imbalance_pct(pair) > cfg.max_leg_imbalance_pct
