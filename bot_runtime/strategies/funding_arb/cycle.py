"""The glue of one funding-arbitrage cycle, as pure functions: the bot (:mod:`.strategy`) and the backtest
(``funding_service.backtest.replay``) both call these, so the cycle's decisions exist once.

No I/O and no clock: each function is given the state (pairs held, cooldowns, the clock reading ``now``) and the
funding service's rows, and returns what to do. The order of one cycle is:

1. held pairs' rates (``selection.held_filters`` / ``pair_rates``), then exits (:func:`exit_decisions`); a closed
   pair's symbol waits ``Tuning.entry_cooldown`` (:func:`cooldown_until`);
2. entries while :func:`free_slots` > 0: the cooldowns still running (:func:`running_cooldowns`) and the held symbols
   are busy; the candidates are ``selection.eligible`` rows, best first; each is checked before its quotes are read
   (:func:`pre_quote_check`: the ``preFundingWindow``) and after (:func:`size_entry`: the venues' price divergence,
   then the sizing by ``sizing.mode`` under ``maxPositionUsd`` and ``maxExposurePerVenueUsd``); an unsizable pair's
   symbol also waits a cooldown. A pair opened this cycle counts in the venues' exposure for the next candidate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from bot_runtime.config import FundingArbConfig, SizingMode
from bot_runtime.exchanges.base import Market, Quote
from bot_runtime.funding_api.models import OpportunityRow
from bot_runtime.strategies.funding_arb.exits import evaluate_exit
from bot_runtime.strategies.funding_arb.models import ExitDecision, Pair, Tuning
from bot_runtime.strategies.funding_arb.selection import funding_due
from bot_runtime.strategies.funding_arb.sizing import LegSizes, SizingError, base_mid, leg_notional, plan_sizes

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Skip:
    """Why a candidate is not opened this cycle; ``cooldown``: its symbol then waits ``Tuning.entry_cooldown``."""

    why: str
    cooldown: bool = False


def free_slots(cfg: FundingArbConfig, held: int) -> int:
    """How many pairs this cycle may open: ``maxNewPositionsPerCycle``, and no more than ``maxPositions`` held."""
    return max(min(cfg.max_new_positions_per_cycle, cfg.max_positions - held), 0)


def cooldown_until(now: float, tuning: Tuning) -> float:
    """The clock time until which a symbol just closed (or found unsizable) is not entered again."""
    return now + tuning.entry_cooldown


def running_cooldowns(cooldown: Mapping[str, float], now: float) -> dict[str, float]:
    """The cooldowns not over at ``now``."""
    return {symbol: until for symbol, until in cooldown.items() if until > now}


def exit_decisions(
    pairs: Iterable[Pair],
    cfg: FundingArbConfig,
    now: float,
    funding: Callable[[Pair], Decimal] | None = None,
) -> list[tuple[Pair, ExitDecision]]:
    """The pairs to close at ``now``, each with the first exit rule that holds (:func:`.exits.evaluate_exit`);
    ``funding``: each pair's funding PnL (default: what the venues report)."""
    out: list[tuple[Pair, ExitDecision]] = []
    for pair in pairs:
        decision = evaluate_exit(pair, cfg, now, funding(pair) if funding is not None else None)
        if decision is not None:
            out.append((pair, decision))
    return out


def divergence_pct(long_market: Market, short_market: Market, long_quote: Quote, short_quote: Quote) -> Decimal:
    """Percent difference of the two venues' base-unit mid prices."""
    long_price, short_price = base_mid(long_market, long_quote), base_mid(short_market, short_quote)
    if long_price <= 0:
        return Decimal("Infinity")
    return abs(short_price - long_price) / long_price * HUNDRED


def pre_quote_check(row: OpportunityRow, cfg: FundingArbConfig, now: datetime) -> Skip | None:
    """A candidate that would pay funding at a funding time within ``preFundingWindow`` waits until after it."""
    due = funding_due(row, now, cfg.pre_funding_window)
    if due is not None and due < 0:
        return Skip(f"a funding time within preFundingWindow would cost {-due} of the notional: waiting until after it")
    return None


def venue_exposure(pairs: Iterable[Pair]) -> dict[str, Decimal]:
    """Notional of the held legs on each venue: base size x the entry price (a recovered pair: the long's mark)."""
    out: dict[str, Decimal] = {}
    for pair in pairs:
        notional = pair.notional
        if notional is None:
            continue
        for leg in pair.legs:
            out[leg.exchange] = out.get(leg.exchange, ZERO) + notional
    return out


@dataclass(frozen=True)
class Caps:
    """What bounds a new pair's legs besides its sizing mode."""

    max_position_usd: Decimal | None = None  # the risk manager's position cap in force (risk.maxPositionUsd)
    exposure: Mapping[str, Decimal] = field(default_factory=dict)  # held notional per venue (:func:`venue_exposure`)


def size_entry(
    cfg: FundingArbConfig,
    long_market: Market,
    short_market: Market,
    long_quote: Quote,
    short_quote: Quote,
    *,
    venues: tuple[str, str],
    caps: Caps | None = None,
) -> LegSizes | Skip:
    """The legs' sizes of a candidate (long on ``venues[0]``, short on ``venues[1]``) whose quotes are read, or why
    it is not opened (prices too far apart, no room left under ``maxExposurePerVenueUsd``, not sizable).

    Each leg's notional: :func:`.sizing.leg_notional`, capped (mode ``margin``) by ``caps.max_position_usd`` and by
    ``maxExposurePerVenueUsd`` minus what the bot holds on each of the two venues. A ``fixedUsd`` size above the
    risk's position cap is not shrunk: the risk check refuses it and reports the breach (the spec asks for more
    than its limits allow)."""
    caps = caps or Caps()
    divergence = divergence_pct(long_market, short_market, long_quote, short_quote)
    if divergence > cfg.max_entry_price_divergence_pct:
        return Skip(
            f"venue prices differ by {divergence:.4f}% > maxEntryPriceDivergencePct"
            f" {cfg.max_entry_price_divergence_pct}"
        )
    notional = leg_notional(cfg, long_market, short_market)
    if cfg.sizing.mode is SizingMode.MARGIN and caps.max_position_usd is not None:
        notional = min(notional, caps.max_position_usd)
    if cfg.max_exposure_per_venue_usd is not None:
        for venue in venues:
            room = cfg.max_exposure_per_venue_usd - caps.exposure.get(venue, ZERO)
            if room <= 0:
                return Skip(f"maxExposurePerVenueUsd {cfg.max_exposure_per_venue_usd} reached on {venue}")
            notional = min(notional, room)
    try:
        return plan_sizes(notional, long_market, short_market, long_quote, short_quote)
    except SizingError as exc:
        return Skip(str(exc), cooldown=True)
