"""The funding-rate arbitrage strategy (SPEC §3 ``fundingArb``, §5): delta-neutral pairs across two venues.

Start: load every venue's markets, follow their order-update streams (:mod:`.updates`: restarted whenever one
ends), read their positions and rebuild the pairs the venues hold (:mod:`.recovery`): a long and a short of one symbol
on two of the bot's venues are a pair again (never reopened); a leg without a hedge is unwound (reduce-only) and
reported, whatever ``onStop`` says.

Each cycle (every ``Tuning.poll_interval`` seconds, at once after a risk breach or when the 5-s account reading finds
a new lone leg):

1. read positions and balances of every venue (a venue that fails is "down": no entry uses it, its legs keep their
   last reading, and the risk equity is *unknown* until it answers: its stale balance is never read as a loss);
2. ask the funding service for the current rates of each held pair (:mod:`.selection`);
3. reconcile the symbols the bot has touched and every symbol with a non-zero position on its venues: each leg
   follows the venue's size; a position no pair explains is an unmatched leg (unwound within ``singleLegTimeout``,
   reported); two opposite ones are adopted as a pair;
4. apply a risk breach (closeAll / closeWorst close pairs whose two venues can act, keep the others hedged and retry;
   pause stops entries and cancels resting orders);
5. exits (:mod:`.exits`; a leg near liquidation is closed alone when the other venue is down), then rebalancing of
   pairs whose legs differ by more than ``maxLegImbalancePct`` of their base size (the larger leg is trimmed,
   reduce-only; a residual below the larger leg's venue step is added on the other, finer venue, or reported);
6. entries: the service's opportunities for the bot's venues and symbols with net APR >= ``minNetApr``, best first,
   one per symbol, at most ``maxNewPositionsPerCycle`` per cycle and ``maxPositions`` held, skipping a (symbol, venue
   pair) backing off or stopped after failed entries (:mod:`.backoff`), a quote older than ``Tuning.max_quote_age``,
   venues whose prices differ by more than ``maxEntryPriceDivergencePct``, a pair that would pay funding at a funding
   time within ``preFundingWindow``; sized by :mod:`.sizing`, executed by :mod:`.execution` (both legs established
   within ``singleLegTimeout``, any lone part unwound at once; fills further apart than the divergence cap, against
   the pair, close it again).

``shutdown(closePositions)`` closes both legs of every pair whose venues can act (a pair with a venue unreachable is
retried for ``Tuning.shutdown_close_wait`` seconds, then left hedged and reported) and unwinds every lone leg;
``cancelOrders`` cancels the bot's resting orders and keeps the pairs (a restart recovers them); ``leave`` keeps the
pairs and resting orders. Neither keeps a lone leg.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, ExitOrders, FundingArbConfig, OnStop
from bot_runtime.exchanges.base import (
    AuthenticationError,
    Balance,
    CredentialsError,
    Exchange,
    ExchangeError,
    Market,
    Order,
    OrderRequest,
    OrderUpdate,
    Position,
    Side,
)
from bot_runtime.funding_api.client import FundingServiceError
from bot_runtime.funding_api.models import OpportunityRow
from bot_runtime.risk import RiskAction, RiskBreach, RiskManager
from bot_runtime.strategies.base import (
    LegSnapshot,
    OrderResult,
    Strategy,
    StrategyEvents,
    StrategyPhase,
    StrategySnapshot,
)
from bot_runtime.strategies.funding_arb.backoff import EntriesStopped, EntryBackoff, describe, entry_key
from bot_runtime.strategies.funding_arb.cycle import (
    Caps,
    Skip,
    cooldown_until,
    exit_decisions,
    free_slots,
    pre_quote_check,
    running_cooldowns,
    size_entry,
    venue_exposure,
)
from bot_runtime.strategies.funding_arb.deadline import Deadline
from bot_runtime.strategies.funding_arb.execution import (
    ROLE_REBALANCE,
    ROLE_UNWIND,
    EntryPlan,
    Executor,
    LoneLegError,
    OrderWatch,
)
from bot_runtime.strategies.funding_arb.exits import (
    endangered_leg,
    exit_deferral,
    imbalance_pct,
    leg_is_open,
    needs_rebalance,
    spread_bps,
)
from bot_runtime.strategies.funding_arb.ledger import Ledger
from bot_runtime.strategies.funding_arb.models import HOURS_PER_YEAR, ExitDecision, ExitReason, Leg, Pair, Tuning
from bot_runtime.strategies.funding_arb.recovery import Holding, Match, match_holdings
from bot_runtime.strategies.funding_arb.selection import (
    OpportunitySource,
    candidate_filters,
    eligible,
    held_filters,
    read_held,
)
from bot_runtime.strategies.funding_arb.sizing import contracts
from bot_runtime.strategies.funding_arb.updates import OrderStreams

log = logging.getLogger(__name__)

ZERO = Decimal(0)
HUNDRED = Decimal(100)
LEG_CLOSED_RECHECKS = 2  # venues report a transient 0 position (the original's issue #13): look again first
LEG_CLOSED_RECHECK_DELAY = 1.0


@dataclasses.dataclass(frozen=True)
class ClosedPair:
    """A pair the strategy closed (kept for the status reason, the logs and tests)."""

    symbol: str
    long_exchange: str
    short_exchange: str
    reason: ExitReason
    detail: str
    size: Decimal
    funding_pnl: Decimal
    price_pnl: Decimal
    held_hours: Decimal


class FundingArbStrategy(Strategy):
    def __init__(
        self,
        config: BotConfig,
        exchanges: Mapping[str, Exchange],
        risk: RiskManager,
        events: StrategyEvents | None = None,
        *,
        clock: Clock | None = None,
        source: OpportunitySource | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        super().__init__(config, risk, events, clock=clock)
        if config.funding_arb is None:
            raise ValueError("a fundingArb strategy needs spec.fundingArb")
        self.cfg: FundingArbConfig = config.funding_arb
        missing = [name for name in self.cfg.exchanges if name not in exchanges]
        if missing:
            raise ValueError(f"no exchange client for {', '.join(missing)}")
        self.exchanges: dict[str, Exchange] = {name: exchanges[name] for name in self.cfg.exchanges}
        self.tuning = tuning or Tuning()
        self._owns_source = source is None
        if source is None:
            if not config.funding_service_url:
                raise ValueError("fundingArb needs fundingServiceUrl (the funding service's base URL)")
            from bot_runtime.funding_api.client import FundingServiceClient

            source = FundingServiceClient(config.funding_service_url)
        self.source: OpportunitySource = source
        self.ledger = Ledger()
        self.watch = OrderWatch()
        # status.legs of the previous process, by (symbol, long venue, short venue): recovery restores each pair's
        # entry time and spread from it; reported as the legs until recovery has run
        self.remembered: dict[tuple[str, str, str], LegSnapshot] = {}
        self.executor = Executor(
            self, self.ledger, self.tuning, self.cfg.single_leg_timeout, self.watch, lone_leg=self.cfg.lone_leg
        )
        # state: rebuilt from the venues on start
        self.pairs: dict[str, Pair] = {}  # one pair per symbol
        self.touched: set[str] = set()  # symbols whose positions the reconciliation watches
        self._lone_seen: set[tuple[str, str]] = set()  # lone legs the reconciliation has had (not woken for again)
        self._waiting: dict[str, str] = {}  # pair key → the report of a close waiting for an unreachable venue
        self.cooldown: dict[str, float] = {}  # symbol → clock time until which no entry is tried (after an exit)
        self.backoff = EntryBackoff(
            self.tuning.entry_cooldown, self.tuning.max_entry_backoff, self.tuning.max_failed_entries
        )
        self.markets: dict[str, dict[str, Market]] = {}
        self.positions: dict[str, dict[str, Position]] = {}  # venue → symbol → last non-zero position
        self.balances: dict[str, Balance] = {}
        self.down: set[str] = set()
        self.closed: list[ClosedPair] = []
        self.skipped: dict[str, str] = {}  # symbol → why the last cycle did not open it
        self.phase = StrategyPhase.STARTING
        self.reason: str | None = None
        self.cycles = 0
        self.pairs_opened = 0
        self.entries_failed = 0
        self.started = False
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._applied_action: RiskAction | None = None
        self._errors_in_row = 0
        # the venues' order-update streams, restarted whenever one ends (:mod:`.updates`)
        self.streams = OrderStreams(
            self.exchanges, self.clock, name=config.name, on_update=self._on_update, on_error=self.report_error
        )

    # -----------------------------------------------------------------------------------------------------------------
    # contract

    def snapshot(self) -> StrategySnapshot:
        pairs = list(self.pairs.values())
        symbols = {p.symbol for p in pairs}
        single = next(iter(symbols)) if len(symbols) == 1 else None
        total = self.total_balance()
        equity = total.equity if total is not None else None
        return StrategySnapshot(
            phase=self.phase,
            reason=self.reason,
            symbol=single,
            position=self.net_exposure(),
            realized_pnl=self.ledger.realized,
            unrealized_pnl=sum((p.unrealized_pnl for p in pairs), ZERO),
            funding_pnl=self.ledger.closed_funding + sum((p.funding_pnl for p in pairs), ZERO),
            fees_paid=self.ledger.fees,
            failed_entry_cost=self.failed_entry_cost,
            equity=equity,
            legs=[p.snapshot() for p in sorted(pairs, key=lambda p: p.symbol)]
            if self.started
            else sorted(self.remembered.values(), key=lambda leg: leg.symbol),
            entries_blocked=self.backoff.blocks(self.clock.monotonic()),
            last_error=self.last_error,
            risk_breach=self.risk.breach,
            updated_at=self.clock.now(),
        )

    async def run(self, stopping: asyncio.Event) -> None:
        self.phase = StrategyPhase.STARTING
        if not await self._start_until_ready(stopping):
            self.phase = StrategyPhase.STOPPING
            return
        self.phase = StrategyPhase.RISK_HALTED if self.risk.halted else StrategyPhase.RUNNING
        risk_task = asyncio.create_task(self._risk_timer(stopping), name=f"{self.config.name}-risk")
        try:
            while not stopping.is_set():
                delay = self.tuning.poll_interval
                try:
                    async with self._lock:
                        await self.cycle(stopping)
                    self._errors_in_row = 0
                except (CredentialsError, AuthenticationError):
                    raise
                except Exception as exc:  # a venue client's bug must not end the management of the other pairs
                    if not isinstance(exc, ExchangeError):
                        log.exception("%s: cycle failed", self.config.name)
                    self.report_error(exc)
                    backoff = self.tuning.error_backoff
                    delay = backoff[min(self._errors_in_row, len(backoff) - 1)]
                    self._errors_in_row += 1
                self.cycles += 1
                self._wake.clear()
                await self.clock.wait_any((stopping, self._wake), delay)
            if self.phase is not StrategyPhase.RISK_HALTED:
                self.phase = StrategyPhase.STOPPING
        finally:
            risk_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await risk_task

    async def shutdown(self, on_stop: OnStop) -> None:
        halted = self.phase is StrategyPhase.RISK_HALTED
        self.phase = StrategyPhase.STOPPING
        try:
            async with self._lock:
                if on_stop is not OnStop.LEAVE:
                    await self._cancel_resting_orders()
                if on_stop is OnStop.CLOSE_POSITIONS:
                    await self._close_on_shutdown(ExitDecision(ExitReason.SHUTDOWN, "onStop closePositions"))
                elif self.started:
                    # pairs are kept (cancelOrders, leave), a lone leg never is: it is unwound before the process ends
                    await self.refresh_accounts()
                    await self._unwind_lone_legs()
        finally:
            await self.stop_updates()
            if self._owns_source:
                closer = getattr(self.source, "close", None)
                if closer is not None:
                    with contextlib.suppress(Exception):
                        await closer()
            self.phase = StrategyPhase.STOPPED
            if not halted:
                self.reason = f"stopped ({on_stop.value})"

    # -----------------------------------------------------------------------------------------------------------------
    # start-up and recovery

    async def _start_until_ready(self, stopping: asyncio.Event) -> bool:
        attempt = 0
        while not stopping.is_set():
            try:
                await self.start()
                return True
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.report_error(exc)
                backoff = self.tuning.error_backoff
                delay = backoff[min(attempt, len(backoff) - 1)]
                attempt += 1
                log.warning("%s: start-up failed (%s); retrying in %.0fs", self.config.name, exc, delay)
                await self.clock.wait_event(stopping, delay)
        return False

    async def start(self) -> None:
        """Markets, update streams, positions, recovery (idempotent: a second call does nothing)."""
        if self.started:
            return
        await self._load_markets()
        self._start_updates()
        await self.refresh_accounts()
        if self.down:
            raise ExchangeError(f"cannot read the account of {', '.join(sorted(self.down))}")
        total = self.total_balance()
        if total is not None:
            self.risk.observe_equity(total.equity)
        await self.recover()
        self.started = True

    async def _load_markets(self) -> None:
        for name, exchange in self.exchanges.items():
            if name not in self.markets:
                self.markets[name] = await self.retry(exchange.markets, what=f"{name} markets")

    def net_exposure(self) -> Decimal:
        """The bot's position as one figure (``status.position``, kubectl's POSITION): long minus short in base units
        over every venue's positions in the bot's symbols, unmatched legs included, so 0 while every pair is hedged
        (each pair's size is in ``legs``). Several symbols add up their own net exposures: non-zero still means
        something is not hedged."""
        holdings = [h for h in self._holdings() if self._allowed(h.symbol)]
        return sum((h.market.to_base_size(h.position.size) for h in holdings), ZERO)

    def _allowed(self, symbol: str) -> bool:
        return not self.cfg.symbols or symbol in self.cfg.symbols

    def _holdings(self, symbols: Iterable[str] | None = None) -> list[Holding]:
        wanted = set(symbols) if symbols is not None else None
        out: list[Holding] = []
        for name, by_symbol in self.positions.items():
            for symbol, position in by_symbol.items():
                if position.size == 0 or (wanted is not None and symbol not in wanted):
                    continue
                market = self.markets.get(name, {}).get(symbol)
                if market is not None:
                    out.append(Holding(name, market, position))
        return out

    async def recover(self) -> None:
        """Rebuild the pairs from the venues' positions; unwind (or report) unmatched legs."""
        holdings = [h for h in self._holdings() if self._allowed(h.symbol) and h.symbol not in self.pairs]
        ignored = sorted({s for by in self.positions.values() for s in by if not self._allowed(s)})
        if ignored:
            log.warning("positions on %s are outside fundingArb.symbols: not managed", ", ".join(ignored))
        matches, unmatched = match_holdings(holdings)
        for match in matches:
            self._adopt(match)
        for holding in unmatched:
            self.touched.add(holding.symbol)
            await self._unmatched(holding)
        log.info(
            "%s: recovered %d pair(s) from %s%s",
            self.config.name,
            len(matches),
            ", ".join(self.exchanges),
            f"; {len(unmatched)} unmatched leg(s)" if unmatched else "",
        )

    def remember_legs(self, legs: Sequence[LegSnapshot]) -> None:
        self.remembered = {(leg.symbol, leg.long_exchange, leg.short_exchange): leg for leg in legs}

    def _adopt(self, match: Match) -> Pair:
        now, wall = self.clock.monotonic(), self.clock.now()
        memory = self.remembered.pop((match.symbol, match.long.exchange, match.short.exchange), None)
        opened_at, opened_wall, entry_spread = now, wall, None  # unknown: the first rate reading stands in for it
        if memory is not None and memory.opened_at is not None:
            # the same pair the previous process reported: hold timers (minHoldHours, maxHoldHours) and the spread
            # erosion exit go on from the original entry, not from this restart
            opened_wall = min(memory.opened_at, wall)
            opened_at = now - (wall - opened_wall).total_seconds()
            if memory.entry_spread_apr is not None:
                entry_spread = memory.entry_spread_apr / HOURS_PER_YEAR
        pair = Pair(
            symbol=match.symbol,
            long=Leg(match.long.exchange, Side.BUY, match.long.market, abs(match.long.position.size), ZERO),
            short=Leg(match.short.exchange, Side.SELL, match.short.market, abs(match.short.position.size), ZERO),
            opened_at=opened_at,
            entry_spread_hourly=entry_spread,
            recovered=True,
            opened_wall=opened_wall,
        )
        pair.long.position, pair.short.position = match.long.position, match.short.position
        self.pairs[match.symbol] = pair
        self.touched.add(match.symbol)
        log.info(
            "pair recovered: %s long %s / short %s%s",
            match.symbol,
            match.long.describe(),
            match.short.describe(),
            f" (opened {opened_wall.isoformat()} per status.legs)" if memory is not None else "",
        )
        return pair

    async def _unmatched(self, holding: Holding) -> None:
        market = holding.market
        if market.round_size(abs(holding.position.size)) < market.min_size:
            log.info("dust below the minimum size left on %s", holding.describe())
            return
        # whatever onStop says: leave keeps pairs, never a lone leg (it is naked)
        self.report_error(LoneLegError(f"unmatched leg {holding.describe()}: unwinding it (reduce-only)"))
        exchange = self.exchanges[holding.exchange]
        final = await self.executor.flatten(exchange, market, pair=None, role=ROLE_UNWIND)
        self._store_position(holding.exchange, final)

    # -----------------------------------------------------------------------------------------------------------------
    # the cycle

    async def cycle(self, stopping: asyncio.Event | None = None) -> None:
        """One pass: accounts, rates, reconciliation, risk, exits, rebalancing, entries."""
        if not self.started:
            await self.start()
        await self.refresh_accounts()
        self._check_risk()
        await self._refresh_rates()
        await self._reconcile()
        if self.risk.halted:
            await self._apply_risk()
        await self._exits()
        await self._rebalance()
        if not self.risk.halted and (stopping is None or not stopping.is_set()):
            await self._entries(stopping)

    # accounts --------------------------------------------------------------------------------------------------------
    async def refresh_accounts(self) -> None:
        async def read(name: str, exchange: Exchange) -> None:
            try:
                positions = await self.retry(exchange.positions, what=f"{name} positions")
                balance = await self.retry(exchange.balance, what=f"{name} balance")
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                if name not in self.down:
                    self.report_error(exc)
                self.down.add(name)
                return
            self.positions[name] = {p.symbol: p for p in positions if p.size != 0}
            self.balances[name] = balance
            self.down.discard(name)

        await asyncio.gather(*(read(name, ex) for name, ex in self.exchanges.items()))

    def _store_position(self, exchange: str, position: Position | None) -> None:
        if position is None:
            return
        by_symbol = self.positions.setdefault(exchange, {})
        if position.size == 0:
            by_symbol.pop(position.symbol, None)
        else:
            by_symbol[position.symbol] = position

    def total_balance(self) -> Balance | None:
        """The bot's venues as one account; None when it cannot be valued (a venue unreachable or never read: its
        last balance is stale, and next to a fresh one a hedged move would read as a loss)."""
        if self.down or any(name not in self.balances for name in self.exchanges):
            return None
        values = list(self.balances.values())
        return Balance(
            asset="USD",
            equity=sum((b.equity for b in values), ZERO),
            available=sum((b.available for b in values), ZERO),
            margin_used=sum((b.margin_used for b in values), ZERO),
            unrealized_pnl=sum((b.unrealized_pnl for b in values), ZERO),
        )

    def all_positions(self) -> list[Position]:
        return [p for by in self.positions.values() for p in by.values()]

    def _position(self, exchange: str, symbol: str) -> Position:
        return self.positions.get(exchange, {}).get(symbol) or Position(symbol=symbol, size=ZERO)

    # rates -------------------------------------------------------------------------------------------------------------
    async def _refresh_rates(self) -> None:
        pairs = [p for p in self.pairs.values()]
        if not pairs:
            return
        results = await asyncio.gather(
            *(self.source.opportunities(**held_filters(self.cfg, p)) for p in pairs), return_exceptions=True
        )
        for pair, result in zip(pairs, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                self.report_error(result)
                if pair.rates is not None:
                    pair.rates = dataclasses.replace(pair.rates, stale=True)
                continue
            rates = read_held(result.opportunities, self.cfg, pair)
            if rates is None:
                if pair.rates is not None:
                    pair.rates = dataclasses.replace(pair.rates, stale=True)
                continue
            pair.rates = rates
            if pair.entry_spread_hourly is None and not rates.stale:
                pair.entry_spread_hourly = rates.spread_hourly
                pair.entry_net_apr = rates.net_apr

    # reconciliation ----------------------------------------------------------------------------------------------------
    def watched(self) -> set[str]:
        """The symbols the reconciliation looks at: those the bot touched or holds, and every symbol (of
        ``fundingArb.symbols``) with a non-zero position on one of its venues, whatever the opportunities say: an
        order that landed late or a fill behind a lost reply is found on the next reading."""
        held = {h.symbol for h in self._holdings() if self._allowed(h.symbol)}
        return self.touched | set(self.pairs) | held

    async def _reconcile(self) -> None:
        self._lone_seen = self._lone_legs()
        for symbol in sorted(self.watched()):
            pair = self.pairs.get(symbol)
            if pair is not None:
                for leg in pair.legs:
                    if leg.exchange in self.down:
                        continue
                    leg.position = self._position(leg.exchange, symbol)
                    if leg_is_open(leg):
                        leg.size = abs(leg.position.size)  # follow the venue (ADL, partial liquidation)
            pair_venues = {pair.long.exchange, pair.short.exchange} if pair is not None else set()
            extras = [h for h in self._holdings([symbol]) if h.exchange not in pair_venues]
            if pair is None and extras:
                matches, unmatched = match_holdings(extras)
                for match in matches:
                    self._adopt(match)
                extras = unmatched
            for holding in extras:
                await self._unmatched(holding)
            still = self._holdings([symbol])
            if symbol not in self.pairs and not still and not (self.down & set(self.exchanges)):
                self.touched.discard(symbol)

    # risk --------------------------------------------------------------------------------------------------------------
    def _check_risk(self) -> None:
        total = self.total_balance()
        if total is None:
            unreachable = ", ".join(sorted(self.down)) or "a venue"
            why = f"equity unknown: {unreachable} unreachable (its last balance is not taken for a loss)"
            if self.risk.equity_unknown != why:
                log.warning("%s: %s", self.config.name, why)
            self.risk.equity_unknown_because(why)
            return
        breach = self.risk.check_periodic(total, self.all_positions(), 0)
        if breach is not None:
            self._on_breach(breach)

    def _on_breach(self, breach: RiskBreach) -> None:
        if self.phase is not StrategyPhase.RISK_HALTED or breach.action is not self._applied_action:
            self.report_breach(breach)
        self.phase = StrategyPhase.RISK_HALTED
        self.reason = breach.message
        self._wake.set()

    async def _risk_timer(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await self.clock.wait_event(stopping, self.tuning.risk_interval)
            if stopping.is_set():
                return
            if self._lock.locked():
                continue  # the cycle is reading the accounts itself
            try:
                async with self._lock:  # never interleaved with a cycle's trading
                    await self.refresh_accounts()
                    self._check_risk()
                    if self._new_lone_legs():
                        self._wake.set()  # a lone leg that just appeared is handled now, not at the next poll
            except Exception as exc:  # the cycle retries and reports too; the timer only must not die
                self.report_error(exc)

    def _lone_legs(self) -> set[tuple[str, str]]:
        """(venue, symbol) of the positions no pair explains."""
        legs = {(leg.exchange, p.symbol) for p in self.pairs.values() for leg in p.legs}
        return {
            (h.exchange, h.symbol)
            for h in self._holdings()
            if self._allowed(h.symbol) and (h.exchange, h.symbol) not in legs
        }

    def _new_lone_legs(self) -> set[tuple[str, str]]:
        """Lone legs the last reconciliation did not have (a late landing, a fill behind a lost reply)."""
        return self._lone_legs() - self._lone_seen

    async def _apply_risk(self) -> None:
        breach = self.risk.breach
        assert breach is not None
        self.phase = StrategyPhase.RISK_HALTED
        self.reason = breach.message
        first = self._applied_action is None or breach.action.rank > self._applied_action.rank
        if first:
            log.warning("%s: applying risk action %s (%s)", self.config.name, breach.action, breach.limit)
            await self._cancel_resting_orders()
            self._applied_action = breach.action
        decision = ExitDecision(ExitReason.RISK, f"risk {breach.limit}: {breach.message}")
        if breach.action is RiskAction.CLOSE_ALL:
            await self._close_everything(decision)
        elif breach.action is RiskAction.CLOSE_WORST:
            for pair in [p for p in self.pairs.values() if not breach.symbols or p.symbol in breach.symbols]:
                await self._close_pair(pair, decision)

    async def _cancel_resting_orders(self) -> None:
        for name, exchange in self.exchanges.items():
            if name in self.down:
                continue
            try:
                await self.cancel_bot_orders(exchange, None)
            except (CredentialsError, AuthenticationError):
                raise
            except ExchangeError as exc:
                self.report_error(exc)

    # exits -------------------------------------------------------------------------------------------------------------
    async def _exits(self) -> None:
        now = self.clock.monotonic()
        reachable: list[Pair] = []
        for pair in list(self.pairs.values()):
            if pair.long.exchange in self.down or pair.short.exchange in self.down:
                await self._liquidation_while_down(pair)
                continue  # cannot act on both legs; the next cycle will
            reachable.append(pair)
        for pair, decision in exit_decisions(reachable, self.cfg, now):
            if decision.reason.voluntary and await self._exit_waits(pair, decision, now):
                continue
            if decision.reason is ExitReason.LEG_CLOSED and not await self._leg_really_closed(pair):
                continue
            await self._close_pair(pair, decision)

    async def _exit_waits(self, pair: Pair, decision: ExitDecision, now: float) -> bool:
        """A voluntary exit waits while a leg's book spread is wider than ``exitMaxSpreadBps`` (bounded by
        ``exitMaxDeferral``); a quote that cannot be read does not hold it back."""
        spreads: dict[str, Decimal] = {}
        for leg in pair.legs:
            try:
                quote = await self.exchanges[leg.exchange].best_bid_ask(pair.symbol)
            except (CredentialsError, AuthenticationError):
                raise
            except Exception as exc:
                self.report_error(exc)
                continue
            spreads[leg.exchange] = spread_bps(quote.bid, quote.ask)
        why = exit_deferral(spreads, self.cfg, pair.exit_deferred_since, now)
        if why is None:
            return False
        if pair.exit_deferred_since is None:
            pair.exit_deferred_since = now
            log.info("%s: %s exit waits: %s", pair.key, decision.reason, why)
        self.reason = f"{pair.key}: {decision.reason} exit waits ({why})"
        return True

    async def _liquidation_while_down(self, pair: Pair) -> None:
        """A leg near its liquidation price while the other venue is unreachable: the venue would close it soon
        anyway (with a penalty) and leave the other leg unhedged just the same, so the bot closes it itself now; the
        other leg becomes a lone leg, unwound as soon as its venue answers. A leg in danger on the unreachable venue
        cannot be helped: reported."""
        near = endangered_leg(pair, self.cfg)
        if near is None:
            return
        leg, distance = near
        other = pair.short if leg is pair.long else pair.long
        if leg.exchange in self.down:
            message = (
                f"{pair.key}: the {leg.exchange} leg is {distance:.2f}% from liquidation and {leg.exchange} is"
                " unreachable"
            )
            if self._waiting.get(pair.key) != message:
                self._waiting[pair.key] = message
                self.report_error(LoneLegError(message))
            return
        self.report_error(
            LoneLegError(
                f"{pair.key}: the {leg.exchange} leg is {distance:.2f}% from liquidation while {other.exchange} is"
                f" unreachable: closing it alone; the {other.exchange} leg is unwound once it answers"
            )
        )
        final = await self.executor.flatten(self.exchanges[leg.exchange], leg.market, pair=pair)
        self._store_position(leg.exchange, final)
        if final is None or leg.market.round_size(abs(final.size)) >= leg.market.min_size:
            return  # tried again next cycle
        funding = pair.funding_pnl
        self.ledger.close_pair(pair, funding)
        detail = f"{leg.exchange} leg {distance:.2f}% from liquidation, {other.exchange} unreachable"
        self.closed.append(self._closed_record(pair, ExitDecision(ExitReason.LIQUIDATION, detail), funding))
        self.pairs.pop(pair.symbol, None)
        self.touched.add(pair.symbol)
        self.cooldown[pair.symbol] = cooldown_until(self.clock.monotonic(), self.tuning)

    def _closed_record(self, pair: Pair, decision: ExitDecision, funding: Decimal) -> ClosedPair:
        return ClosedPair(
            symbol=pair.symbol,
            long_exchange=pair.long.exchange,
            short_exchange=pair.short.exchange,
            reason=decision.reason,
            detail=decision.detail,
            size=pair.base_size,
            funding_pnl=funding,
            price_pnl=pair.price_cash,
            held_hours=pair.held_hours(self.clock.monotonic()),
        )

    async def _leg_really_closed(self, pair: Pair) -> bool:
        """Re-read the legs a few times: a venue may report a transient 0 position."""
        for _ in range(LEG_CLOSED_RECHECKS):
            await self.clock.sleep(LEG_CLOSED_RECHECK_DELAY)
            for leg in pair.legs:
                try:
                    leg.position = await self._read_position(self.exchanges[leg.exchange], pair.symbol)
                except ExchangeError as exc:
                    self.report_error(exc)
                    return False
            if all(leg_is_open(leg) for leg in pair.legs):
                log.info("%s: a leg looked closed but is back (transient venue report)", pair.key)
                return False
        return True

    async def _read_position(self, exchange: Exchange, symbol: str) -> Position:
        return await self.retry(lambda: exchange.position(symbol), what=f"{exchange.name} position")

    async def _close_pair(self, pair: Pair, decision: ExitDecision) -> bool:
        """Close both legs at once (reduce-only, verified flat); True when the pair is gone.

        Only when both venues can act: with one unreachable (down at the last reading, or not answering now),
        closing the other leg would leave the unreachable one naked, so the pair is kept hedged, reported, and
        tried again on the next cycle (risk) or the next round (shutdown)."""
        unreachable = await self._unreachable(pair)
        if unreachable:
            message = (
                f"closing {pair.key} ({decision.reason}) waits: {', '.join(unreachable)} unreachable; the pair stays"
                " hedged and is closed once both venues answer"
            )
            if self._waiting.get(pair.key) != message:
                self._waiting[pair.key] = message
                self.report_error(LoneLegError(message))
            return False
        self._waiting.pop(pair.key, None)
        log.info("closing %s: %s (%s)", pair.key, decision.reason, decision.detail)
        if decision.reason.voluntary and self.cfg.exit_orders is ExitOrders.MAKER_FIRST:
            wait = min(self.cfg.exit_maker_timeout, self.cfg.single_leg_timeout / 2)
            await asyncio.gather(
                *(
                    self.executor.close_as_maker(self.exchanges[leg.exchange], leg.market, pair=pair, wait=wait)
                    for leg in pair.legs
                )
            )
        funding = pair.funding_pnl  # from the readings just taken (_unreachable), up to the close
        finals = await asyncio.gather(
            self.executor.flatten(self.exchanges[pair.long.exchange], pair.long.market, pair=pair),
            self.executor.flatten(self.exchanges[pair.short.exchange], pair.short.market, pair=pair),
            return_exceptions=True,
        )
        flat = True
        for leg, final in zip(pair.legs, finals, strict=True):
            if isinstance(final, BaseException):
                if not isinstance(final, Exception):
                    raise final
                self.report_error(final)
                flat = False
                continue
            self._store_position(leg.exchange, final)
            if final is None or leg.market.round_size(abs(final.size)) >= leg.market.min_size:
                flat = False
        if not flat:
            self.report_error(
                LoneLegError(f"closing {pair.key} ({decision.reason}) is incomplete; retrying next cycle")
            )
            return False
        self.ledger.close_pair(pair, funding)
        self.closed.append(self._closed_record(pair, decision, funding))
        self.pairs.pop(pair.symbol, None)
        # no churn: the same symbol is not reopened for a while (fees would be paid again for nothing)
        self.cooldown[pair.symbol] = cooldown_until(self.clock.monotonic(), self.tuning)
        if decision.reason is not ExitReason.SHUTDOWN and decision.reason is not ExitReason.RISK:
            self.reason = f"closed {pair.key}: {decision.reason} ({decision.detail})"
        return True

    async def _unreachable(self, pair: Pair) -> list[str]:
        """The pair's venues that cannot act now: down at the last reading, or not answering a position read within
        ``Tuning.final_read_reserve`` seconds (the reading is stored for the others, and becomes the leg's reading:
        the funding the venue paid up to now is what the close books)."""
        down = [leg.exchange for leg in pair.legs if leg.exchange in self.down]
        if down:
            return down
        deadline = Deadline.after(self.clock, self.tuning.final_read_reserve)
        readings = await asyncio.gather(
            *(
                deadline.run(self.exchanges[leg.exchange].position(pair.symbol), what=f"{leg.exchange} position")
                for leg in pair.legs
            ),
            return_exceptions=True,
        )
        out: list[str] = []
        for leg, reading in zip(pair.legs, readings, strict=True):
            if isinstance(reading, BaseException):
                if not isinstance(reading, Exception):
                    raise reading
                out.append(leg.exchange)
            else:
                self._store_position(leg.exchange, reading)
                if reading.symbol == pair.symbol:
                    # the venue's funding up to now: a funding time since the cycle's reading is booked at close
                    leg.position = reading
        return out

    async def _close_everything(self, decision: ExitDecision) -> None:
        """Every pair whose venues can both act, and every lone leg of a watched symbol, closed."""
        if not self.markets:
            with contextlib.suppress(ExchangeError):
                await self._load_markets()
        await self.refresh_accounts()
        for pair in list(self.pairs.values()):
            await self._close_pair(pair, decision)
        await self._unwind_lone_legs()

    async def _unwind_lone_legs(self) -> None:
        """Every position of a watched symbol that no pair explains is unwound (reduce-only)."""
        for holding in self._holdings():
            if holding.symbol in self.pairs or not (holding.symbol in self.touched or self._allowed(holding.symbol)):
                continue
            await self._unmatched(holding)

    async def _close_on_shutdown(self, decision: ExitDecision) -> None:
        """``onStop: closePositions``: close everything; a pair with a venue unreachable is retried every
        ``Tuning.shutdown_retry_interval`` seconds for ``Tuning.shutdown_close_wait`` seconds, then left hedged and
        reported (the next start recovers it)."""
        waited = 0.0
        await self._close_everything(decision)
        while self.pairs and waited < self.tuning.shutdown_close_wait:
            await self.clock.sleep(self.tuning.shutdown_retry_interval)
            waited += self.tuning.shutdown_retry_interval
            await self._close_everything(decision)
        if self.pairs:
            kept = ", ".join(sorted(p.key for p in self.pairs.values()))
            self.report_error(
                LoneLegError(
                    f"onStop closePositions: {kept} kept hedged (a venue did not answer for {waited:.0f}s); the next"
                    " start recovers the pair(s)"
                )
            )

    # rebalancing -------------------------------------------------------------------------------------------------------
    async def _rebalance(self) -> None:
        for pair in list(self.pairs.values()):
            if pair.long.exchange in self.down or pair.short.exchange in self.down:
                continue
            if await self._settle_rebalance(pair):
                continue  # an earlier trim or top-up landed since the cycle read the venues: the next cycle sizes
            if not (leg_is_open(pair.long) and leg_is_open(pair.short)) or not needs_rebalance(pair, self.cfg):
                continue
            diff = pair.long.base_size - pair.short.base_size
            leg = pair.long if diff > 0 else pair.short
            size = contracts(leg.market, abs(diff))
            if size <= 0 or size < leg.market.min_size:
                await self._top_up(pair, abs(diff))
                continue
            log.info(
                "rebalancing %s: legs differ by %.3f%% (> maxLegImbalancePct %s): trimming %s by %s",
                pair.key,
                imbalance_pct(pair),
                self.cfg.max_leg_imbalance_pct,
                leg.exchange,
                size,
            )
            reduced = await self.executor.reduce(
                self.exchanges[leg.exchange], leg.market, leg.side, size, role=ROLE_REBALANCE, pair=pair
            )
            leg.size -= reduced

    async def _settle_rebalance(self, pair: Pair) -> bool:
        """Look up the trim or top-up of each leg that may still land (``Executor.may_land``): one found has landed
        and is booked on the pair (True: the legs' sizes may predate it, nothing else is done to the pair now)."""
        landed = False
        for leg in pair.legs:
            exchange = self.exchanges[leg.exchange]
            landed |= await self.executor.settle(exchange, leg.market, ROLE_REBALANCE, pair)
        return landed

    async def _top_up(self, pair: Pair, diff: Decimal) -> None:
        """The legs differ by less than one size step of the larger leg's venue (a coarse venue: it cannot be
        trimmed): the smaller leg, on the finer venue, is topped up by the difference instead (an IOC at a bounded
        price, checked by the risk manager); when that venue cannot trade it either, the residual is reported."""
        small = pair.short if pair.long.base_size > pair.short.base_size else pair.long
        size = contracts(small.market, diff)
        if size <= 0 or size < small.market.min_size:
            message = (
                f"{pair.key}: legs differ by {diff} {pair.symbol} ({imbalance_pct(pair):.3f}%), below one size step"
                f" of both venues: cannot be corrected"
            )
            if self._waiting.get(pair.key) != message:
                self._waiting[pair.key] = message
                self.report_error(LoneLegError(message))
            return
        log.info(
            "rebalancing %s: legs differ by %.3f%%, below a step of the larger leg's venue: adding %s on %s",
            pair.key,
            imbalance_pct(pair),
            size,
            small.exchange,
        )
        exchange = self.exchanges[small.exchange]
        added = await self.executor.add(
            exchange,
            small.market,
            small.side,
            size,
            pair=pair,
            allow=lambda req: self._risk_allows_one(req, small.exchange),
        )
        small.size += added

    def _risk_allows_one(self, request: OrderRequest, venue: str) -> bool:
        assert request.price is not None
        position = self._position(venue, request.symbol)
        breach = self.risk.check_order(
            request,
            price=request.price,
            position=position,
            open_orders=0,
            balance=self.total_balance(),
            positions=self.all_positions(),
        )
        if breach is not None:
            self._on_breach(breach)
            return False
        return True

    # entries ----------------------------------------------------------------------------------------------------------
    async def _entries(self, stopping: asyncio.Event | None) -> None:
        slots = free_slots(self.cfg, len(self.pairs))
        if slots <= 0:
            return
        venues = [name for name in self.exchanges if name not in self.down]
        if len(venues) < 2:
            return
        rows = await self._candidates(venues)
        now = self.clock.monotonic()
        self.cooldown = running_cooldowns(self.cooldown, now)
        busy = set(self.pairs) | self.touched | set(self.cooldown)
        self.skipped = {}
        allowed: list[OpportunityRow] = []
        for row in rows:
            why = self.backoff.blocked(entry_key(row.symbol, row.long_dex, row.short_dex), now)
            if why is None:
                allowed.append(row)
            elif row.symbol not in self.skipped and row.symbol not in busy:
                self.skipped[row.symbol] = why
        opened = 0
        for row in eligible(allowed, self.cfg, venues=venues, busy_symbols=busy):
            if opened >= slots or len(self.pairs) >= self.cfg.max_positions:
                break
            if self.risk.halted or (stopping is not None and stopping.is_set()):
                break
            if await self._try_entry(row):
                opened += 1

    async def _candidates(self, venues: list[str]) -> list[OpportunityRow]:
        filters = candidate_filters(self.cfg, venues, self.tuning.candidate_limit)
        try:
            return list((await self.source.opportunities(**filters)).opportunities)
        except FundingServiceError as exc:
            if exc.parameter not in ("whitelist_dexes", "required_dex"):
                self.report_error(exc)
                return []
            # a venue the funding service does not know (no collector feeds it): ask for the others
            try:
                known = {d.name for d in (await self.source.dexes()).dexes}
            except Exception as inner:
                self.report_error(inner)
                return []
            unknown = sorted(set(venues) - known)
            self.report_error(
                FundingServiceError(f"the funding service has no data for {', '.join(unknown)}: not paired")
            )
            usable = [v for v in venues if v in known]
            if len(usable) < 2 or (self.cfg.required_exchange and self.cfg.required_exchange not in usable):
                return []
            try:
                page = await self.source.opportunities(
                    **candidate_filters(self.cfg, usable, self.tuning.candidate_limit)
                )
            except Exception as inner:
                self.report_error(inner)
                return []
            return list(page.opportunities)
        except Exception as exc:
            self.report_error(exc)
            return []

    def _skip(self, symbol: str, why: str, *, cooldown: bool = False) -> bool:
        self.skipped[symbol] = why
        log.info("not opening %s: %s", symbol, why)
        if cooldown:
            self.cooldown[symbol] = cooldown_until(self.clock.monotonic(), self.tuning)
        return False

    async def _try_entry(self, row: OpportunityRow) -> bool:
        symbol = row.symbol
        long_ex, short_ex = self.exchanges[row.long_dex], self.exchanges[row.short_dex]
        lm = self.markets.get(row.long_dex, {}).get(symbol)
        sm = self.markets.get(row.short_dex, {}).get(symbol)
        if lm is None or sm is None:
            where = row.long_dex if lm is None else row.short_dex
            return self._skip(symbol, f"no {symbol} market on {where}", cooldown=True)
        early = pre_quote_check(row, self.cfg, self.clock.now())
        if early is not None:
            return self._skip(symbol, early.why, cooldown=early.cooldown)
        try:
            long_quote, short_quote = await asyncio.gather(
                self.retry(lambda: long_ex.best_bid_ask(symbol)), self.retry(lambda: short_ex.best_bid_ask(symbol))
            )
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            self.report_error(exc)
            return self._skip(symbol, f"no quote: {exc}")
        now_wall = self.clock.now()
        for venue, quote in ((row.long_dex, long_quote), (row.short_dex, short_quote)):
            age = (now_wall - quote.timestamp).total_seconds()
            if age > self.tuning.max_quote_age:
                return self._skip(symbol, f"{venue} quote is {age:.0f}s old (> {self.tuning.max_quote_age:.0f}s)")
        caps = Caps(self.risk.position_cap, venue_exposure(self.pairs.values()))
        sizes = size_entry(self.cfg, lm, sm, long_quote, short_quote, venues=(row.long_dex, row.short_dex), caps=caps)
        if isinstance(sizes, Skip):
            return self._skip(symbol, sizes.why, cooldown=sizes.cooldown)
        try:
            long_before, short_before = await asyncio.gather(
                self._read_position(long_ex, symbol), self._read_position(short_ex, symbol)
            )
        except (CredentialsError, AuthenticationError):
            raise
        except Exception as exc:
            self.report_error(exc)
            return self._skip(symbol, f"position unreadable: {exc}")
        if long_before.size != 0 or short_before.size != 0:
            self.touched.add(symbol)  # not flat: the reconciliation looks at it first
            return self._skip(symbol, "a venue already holds a position in it")
        plan = EntryPlan(symbol, long_ex, short_ex, lm, sm, sizes, long_quote, short_quote, row)
        if not self._risk_allows(plan, long_before, short_before):
            return False
        self.touched.add(symbol)
        realized = self.ledger.realized
        result = await self.executor.open_pair(plan, long_before, short_before)
        key = entry_key(symbol, row.long_dex, row.short_dex)
        if result.pair is None:
            self.entries_failed += 1
            self.reason = result.message
            self._entry_failed(key, realized - self.ledger.realized, result.message)
            return False
        pair = result.pair
        pair.entry_price = sizes.reference_price
        self.pairs[symbol] = pair
        self.pairs_opened += 1
        apart = _fill_divergence_pct(pair, result.long.order, result.short.order)
        if apart is not None and apart > self.cfg.max_entry_price_divergence_pct:
            why = (
                f"the fills are {apart:.4f}% apart against the pair (> maxEntryPriceDivergencePct"
                f" {self.cfg.max_entry_price_divergence_pct}): unwound"
            )
            await self._close_pair(pair, ExitDecision(ExitReason.FILL_DIVERGENCE, why))
            self.entries_failed += 1
            self._entry_failed(key, realized - self.ledger.realized, f"entry of {symbol}: {why}")
            return False
        self.backoff.succeeded(key)
        if result.unhedged or result.long.filled < result.long.requested:
            self.reason = result.message
        log.info(
            "pair open: %s long %s / short %s, %s each, spread %s/h, net APR %s",
            symbol,
            pair.long.exchange,
            pair.short.exchange,
            pair.base_size,
            row.divergence_hourly,
            row.net_apr,
        )
        return True

    def _entry_failed(self, key: tuple[str, str, str], cost: Decimal, why: str) -> None:
        state = self.backoff.failed(key, self.clock.monotonic(), cost, why, wall=self.clock.now())
        log.info(
            "failed entry %d of %s cost %s (%s in all for it); next try in %.0fs",
            state.failures,
            describe(key),
            cost,
            state.cost,
            state.until - self.clock.monotonic(),
        )
        if state.stopped and state.failures == self.backoff.limit:
            message = (
                f"entries of {describe(key)} stopped after {state.failures} consecutive failed entries costing"
                f" {state.cost:.4f} USD (last: {why}); the bot keeps its pairs and tries no more entries there until"
                " it restarts (a spec change restarts it)"
            )
            self.reason = message
            self.report_error(EntriesStopped(message))

    @property
    def failed_entry_cost(self) -> Decimal:
        """Fees and price cash of every failed entry so far (a cost > 0)."""
        return self.backoff.total_cost

    def _risk_allows(self, plan: EntryPlan, long_before: Position, short_before: Position) -> bool:
        balance = self.total_balance()
        positions = self.all_positions()
        slip = self.tuning.entry_slippage_pct
        for request, before in (
            (plan.long_request("risk-check", slip), long_before),
            (plan.short_request("risk-check", slip), short_before),
        ):
            assert request.price is not None
            breach = self.risk.check_order(
                request, price=request.price, position=before, open_orders=0, balance=balance, positions=positions
            )
            if breach is not None:
                self._on_breach(breach)
                return False
        return True

    # -----------------------------------------------------------------------------------------------------------------
    # sending orders

    async def send_order(self, exchange: Exchange, request: OrderRequest, *, lookup_window: float = 0.0) -> Order:
        """:meth:`Strategy.send_order`, and a send cancelled before it ended (``singleLegTimeout``'s deadline, a
        stop) is an order event too, result ``error``: the order may have gone out (the executor looks it up), so
        the orders metric and the order log count it."""
        started, wall = self.clock.monotonic(), time.perf_counter()
        try:
            return await super().send_order(exchange, request, lookup_window=lookup_window)
        except asyncio.CancelledError:
            log.info("%s: send of %s cancelled, outcome unknown", exchange.name, request.client_order_id)
            self._order_event(request, OrderResult.ERROR, started, wall)
            raise

    # -----------------------------------------------------------------------------------------------------------------
    # order-update streams: fills → events and fees, order changes → confirmers

    def _start_updates(self) -> None:
        self.streams.start()

    def _on_update(self, venue: str, update: OrderUpdate) -> None:
        order = update.order
        if not self.client_ids.is_ours(order.client_order_id):
            return
        if update.fill is not None:
            self.ledger.on_fill(venue, update.fill)
            self.report_fill(update.fill)
        self.watch.notify(venue, order)

    async def stop_updates(self) -> None:
        await self.streams.stop()


def _fill_divergence_pct(pair: Pair, long_order: Order | None, short_order: Order | None) -> Decimal | None:
    """How much dearer the long was bought than the short was sold, in percent of the long's base-unit fill price
    (< 0: the entry was bought below where it sold, which costs nothing); None when a fill price is unknown."""
    if long_order is None or short_order is None or not long_order.avg_fill_price or not short_order.avg_fill_price:
        return None
    long_price = pair.long.market.to_base_price(long_order.avg_fill_price)
    short_price = pair.short.market.to_base_price(short_order.avg_fill_price)
    return (long_price - short_price) / long_price * HUNDRED


def create_strategy(
    config: BotConfig,
    exchanges: Mapping[str, Exchange],
    risk: RiskManager,
    events: StrategyEvents | None = None,
    clock: Clock | None = None,
) -> FundingArbStrategy:
    return FundingArbStrategy(config, exchanges, risk, events, clock=clock)
