"""Risk manager: SPEC §3 ``risk`` limits plus the original perp-dex-tools rules.

- :meth:`RiskManager.check_order` runs before every order (opening orders only: a reduce-only order never adds
  risk and is always allowed, so a ``closeAll`` exit can proceed while halted).
- :meth:`RiskManager.check_periodic` runs on a timer with the account's balance and positions.
- The original's rules are always on: emergency close-all once equity has lost >= 15 % of its starting value;
  after >= 15 consecutive insufficient-margin failures spanning >= 600 s with a loss >= 10 %, close the worst 20 %
  of the losing positions; a successful order resets the failure counters (:meth:`record_order_result`). The
  counters are kept per venue: a multi-venue bot's success on one venue says nothing about another that keeps
  refusing for margin (funding-arb's other leg used to reset them).

A breach is a typed :class:`RiskBreach` (limit, value, threshold, action). The first breach halts the manager
(``halted``); a later breach is returned again only when its action is stronger (pause < closeWorst < closeAll), so
an emergency still escalates a paused bot to a full exit. The strategy reports a returned breach through its events
hook and acts on it: ``pause`` → no new orders, cancel the bot's resting orders; ``closeAll`` → cancel, then
reduce-only exit to flat; ``closeWorst`` → reduce-only exit of ``symbols``. The process layer sets phase RiskHalted.

Equity the caller cannot value (a multi-venue bot with a venue unreachable: its last balance is stale, and read next
to a fresh one a hedged move looks like a loss) is *unknown*, not a loss: the caller reports it with
:meth:`RiskManager.equity_unknown_because` instead of calling :meth:`check_periodic`, the equity-based limits are not
checked until a full reading comes back, and :attr:`RiskManager.equity_unknown` says why.

Baselines (starting equity, peak equity, the UTC day's opening equity) are taken from the first balance observed;
they survive restarts: the process writes :meth:`RiskManager.baselines` to ``status.riskBaselines`` and a new process
hands them to :meth:`RiskManager.restore` before its first balance, so 11000 → 10850, restart, → 10700 still trips a
200 daily limit and a drawdown is measured from the true peak (a crash-looping bot cannot reset its limits). The
day's baseline rolls at 00:00 UTC as before. The halt itself is not forgotten in Kubernetes: the process records it
in ``status.riskHalt`` and a restarted bot stays halted until the spec changes (bot_runtime.process.risk_halt,
docs/status-ownership.md); this class only holds it in memory.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from bot_runtime.clock import Clock, SystemClock
from bot_runtime.config import OnBreach, RiskConfig
from bot_runtime.exchanges.base import Balance, OrderRequest, Position

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class RiskLimit(StrEnum):
    MAX_POSITION_USD = "maxPositionUsd"
    MAX_ORDER_USD = "maxOrderUsd"  # built in: the notional of one opening order (a fat-finger guard)
    MAX_OPEN_ORDERS = "maxOpenOrders"
    MAX_DAILY_LOSS_USD = "maxDailyLossUsd"
    MAX_DRAWDOWN_PCT = "maxDrawdownPct"
    MIN_MARGIN_RATIO = "minMarginRatio"
    EMERGENCY_LOSS = "emergencyLoss"  # original: equity loss >= 15 % of the starting value
    MARGIN_FAILURES = "marginFailures"  # original: repeated insufficient-margin failures with a loss
    POSITION_MISMATCH = "positionMismatch"  # grid: position and resting close orders disagree (re-checked)


class RiskAction(StrEnum):
    PAUSE = "pause"
    CLOSE_WORST = "closeWorst"
    CLOSE_ALL = "closeAll"

    @property
    def rank(self) -> int:
        return {RiskAction.PAUSE: 0, RiskAction.CLOSE_WORST: 1, RiskAction.CLOSE_ALL: 2}[self]


class RiskBreach(BaseModel):
    model_config = ConfigDict(frozen=True)

    limit: RiskLimit
    value: Decimal = Field(description="the observed value")
    threshold: Decimal = Field(description="the configured (or built-in) limit")
    action: RiskAction
    message: str
    symbols: list[str] = Field(default_factory=list, description="markets to exit (closeWorst), else empty = all")
    at: datetime


class RiskBaselines(BaseModel):
    """``status.riskBaselines``: the equity the limits are measured from (quote currency), kept across restarts."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True)

    starting_equity: Decimal | None = Field(None, description="the first equity observed (emergency loss)")
    peak_equity: Decimal | None = Field(None, description="the highest equity observed (maxDrawdownPct)")
    day: date | None = Field(None, description="the UTC day of day_start_equity")
    day_start_equity: Decimal | None = Field(None, description="the first equity of that UTC day (maxDailyLossUsd)")

    def to_status(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)

    @classmethod
    def from_status(cls, raw: Any) -> RiskBaselines | None:
        """The baselines as the CRD stores them; None when absent or unreadable (the limits then start afresh)."""
        if not isinstance(raw, dict) or not raw:
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError:
            return None


class RiskManager:
    EMERGENCY_LOSS_PCT = Decimal(15)
    MARGIN_FAILURE_COUNT = 15
    MARGIN_FAILURE_SECONDS = 600.0
    MARGIN_FAILURE_LOSS_PCT = Decimal(10)
    WORST_FRACTION = 0.2

    def __init__(self, config: RiskConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or RiskConfig()
        self.clock = clock or SystemClock()
        self.breach: RiskBreach | None = None
        self.starting_equity: Decimal | None = None
        self.peak_equity: Decimal | None = None
        self.day: date | None = None
        self.day_start_equity: Decimal | None = None
        self.last_equity: Decimal | None = None
        self.equity_unknown: str | None = None  # why the last check could not value the account (None: it could)
        # money guards on by default: the strategy derives these when the spec leaves them unset (grid: quantity x
        # (maxOrders + 1) at the start price; one order at most ORDER_CAP_QUANTITIES quantities at the start price)
        # valued at ``cap_price`` (the start price), so they bound sizes: a price move alone never trips them
        self.derived_position_cap: Decimal | None = None
        self.order_cap: Decimal | None = None
        self.cap_price: Decimal | None = None
        # venue ("" when the caller names none) → (consecutive insufficient-margin failures, clock time of the first)
        self.venue_margin_failures: dict[str, tuple[int, float]] = {}

    # state --------------------------------------------------------------------------------------------------------
    @property
    def halted(self) -> bool:
        return self.breach is not None

    def derive_caps(self, *, position_usd: Decimal, order_usd: Decimal, at_price: Decimal) -> None:
        """The built-in guards of a bot whose spec sets no maxPositionUsd: notionals valued at ``at_price``."""
        if self.config.max_position_usd is None:
            self.derived_position_cap = position_usd
        self.order_cap = order_usd
        self.cap_price = at_price

    def _capped_notional(self, size: Decimal, price: Decimal, *, derived: bool) -> Decimal:
        """The notional a cap is compared with: a derived cap values sizes at the start price."""
        return abs(size) * (self.cap_price if derived and self.cap_price is not None else price)

    @property
    def position_cap(self) -> Decimal | None:
        """The maxPositionUsd in force: the spec's, else the one the strategy derived."""
        return self.config.max_position_usd if self.config.max_position_usd is not None else self.derived_position_cap

    @property
    def configured_action(self) -> RiskAction:
        return RiskAction.CLOSE_ALL if self.config.on_breach is OnBreach.CLOSE_ALL else RiskAction.PAUSE

    def set_starting_equity(self, equity: Decimal) -> None:
        self.starting_equity = equity
        self.observe_equity(equity)

    def observe_equity(self, equity: Decimal) -> None:
        """Track starting, peak and UTC-day opening equity."""
        if self.starting_equity is None:
            self.starting_equity = equity
        if self.peak_equity is None or equity > self.peak_equity:
            self.peak_equity = equity
        today = self.clock.now().date()
        if self.day != today:
            self.day = today
            self.day_start_equity = equity
        self.last_equity = equity

    def baselines(self) -> RiskBaselines | None:
        """What :meth:`restore` takes back after a restart (None before the first equity was observed)."""
        if self.starting_equity is None:
            return None
        return RiskBaselines(
            starting_equity=self.starting_equity,
            peak_equity=self.peak_equity,
            day=self.day,
            day_start_equity=self.day_start_equity,
        )

    def restore(self, baselines: RiskBaselines) -> None:
        """Take the baselines of a previous process (before the first equity of this one is observed)."""
        self.starting_equity = baselines.starting_equity
        self.peak_equity = baselines.peak_equity
        self.day = baselines.day
        self.day_start_equity = baselines.day_start_equity if baselines.day is not None else None

    def equity_unknown_because(self, why: str) -> None:
        """The account cannot be valued now (e.g. a venue is unreachable): no equity-based limit is checked and no
        baseline moves until :meth:`check_periodic` gets a full balance again."""
        self.equity_unknown = why

    def loss_pct(self) -> Decimal:
        """Percent of the starting equity lost so far (0 when up)."""
        if not self.starting_equity or self.last_equity is None or self.starting_equity <= 0:
            return ZERO
        return max(ZERO, (self.starting_equity - self.last_equity) / self.starting_equity * HUNDRED)

    def _breach(  # noqa: PLR0917
        self,
        limit: RiskLimit,
        value: Decimal,
        threshold: Decimal,
        message: str,
        action: RiskAction | None = None,
        symbols: Sequence[str] = (),
    ) -> RiskBreach:
        return RiskBreach(
            limit=limit,
            value=value,
            threshold=threshold,
            action=action or self.configured_action,
            message=message,
            symbols=list(symbols),
            at=self.clock.now(),
        )

    def trip(self, breach: RiskBreach) -> RiskBreach | None:
        """Record a breach; returns it when it is new or escalates the current one, else None."""
        if self.breach is None or breach.action.rank > self.breach.action.rank:
            self.breach = breach
            return breach
        return None

    def reset(self) -> None:
        """Clear the halt (an operator decision, e.g. after a restart)."""
        self.breach = None

    # checks -------------------------------------------------------------------------------------------------------
    def check_order(
        self,
        request: OrderRequest,
        *,
        price: Decimal,
        position: Position | None = None,
        open_orders: int = 0,
        balance: Balance | None = None,
        positions: Sequence[Position] = (),
        pending: Decimal = ZERO,
    ) -> RiskBreach | None:
        """Check one order before it is sent. ``price`` is the order's (expected) price, ``position`` the current
        position in its market, ``open_orders`` the bot's resting orders, ``positions`` every position (for the
        margin ratio), ``pending`` the unfilled size of the bot's resting opening orders on the same market and side
        (they count toward ``maxPositionUsd``: each may fill). Returns a breach (and halts) or None. Reduce-only
        orders always pass."""
        if request.reduce_only:
            return None
        if self.breach is not None:
            return self.breach
        if balance is not None:
            self.observe_equity(balance.equity)
        current = position.size if position is not None else ZERO
        projected = current + request.side.sign * request.size
        found: RiskBreach | None = None
        order_notional = self._capped_notional(request.size, price, derived=True)
        if self.order_cap is not None and order_notional > self.order_cap:
            found = self._breach(
                RiskLimit.MAX_ORDER_USD,
                order_notional,
                self.order_cap,
                f"{request.symbol}: one order of {request.size} ({order_notional:.2f} at the start price) exceeds the"
                f" per-order cap {self.order_cap:.2f}",
            )
        limit = self.position_cap
        derived = self.config.max_position_usd is None
        if found is None and limit is not None and abs(projected) > abs(current):
            notional = self._capped_notional(projected + request.side.sign * pending, price, derived=derived)
            if notional > limit:
                with_pending = f" and {pending} resting" if pending else ""
                found = self._breach(
                    RiskLimit.MAX_POSITION_USD,
                    notional,
                    limit,
                    f"{request.symbol}: position notional after this order{with_pending} {notional:.2f}"
                    f" > maxPositionUsd {limit}",
                )
        if found is None and self.config.max_open_orders is not None and open_orders + 1 > self.config.max_open_orders:
            found = self._breach(
                RiskLimit.MAX_OPEN_ORDERS,
                Decimal(open_orders + 1),
                Decimal(self.config.max_open_orders),
                f"{open_orders + 1} resting orders would exceed maxOpenOrders {self.config.max_open_orders}",
            )
        if found is None and balance is not None and self.config.min_margin_ratio is not None:
            others = sum((p.notional for p in positions if p.symbol != request.symbol), ZERO)
            total = others + abs(projected) * price
            if total > 0 and abs(projected) > abs(current):
                ratio = balance.equity / total
                if ratio < self.config.min_margin_ratio:
                    found = self._breach(
                        RiskLimit.MIN_MARGIN_RATIO,
                        ratio,
                        self.config.min_margin_ratio,
                        f"equity/notional after this order {ratio:.4f} < minMarginRatio {self.config.min_margin_ratio}",
                    )
        if found is None and balance is not None:
            found = self._equity_breach(positions)
        return self.trip(found) if found is not None else None

    def check_periodic(
        self, balance: Balance, positions: Sequence[Position], open_orders: int = 0
    ) -> RiskBreach | None:
        """The timer check: equity limits, position size, resting orders, margin ratio, the original's rules."""
        self.equity_unknown = None
        self.observe_equity(balance.equity)
        found = self._equity_breach(positions)
        cap = self.position_cap
        derived = self.config.max_position_usd is None
        if found is None and cap is not None:
            for p in positions:
                notional = self._capped_notional(p.size, p.mark_price or p.avg_entry_price or ZERO, derived=derived)
                if derived and self.cap_price is None:
                    notional = p.notional
                if notional > cap:
                    found = self._breach(
                        RiskLimit.MAX_POSITION_USD,
                        notional,
                        cap,
                        f"{p.symbol}: position notional {notional:.2f} > maxPositionUsd {cap}",
                    )
                    break
        if found is None and self.config.max_open_orders is not None and open_orders > self.config.max_open_orders:
            found = self._breach(
                RiskLimit.MAX_OPEN_ORDERS,
                Decimal(open_orders),
                Decimal(self.config.max_open_orders),
                f"{open_orders} resting orders > maxOpenOrders {self.config.max_open_orders}",
            )
        if found is None and self.config.min_margin_ratio is not None:
            total = sum((p.notional for p in positions), ZERO)
            if total > 0:
                ratio = balance.equity / total
                if ratio < self.config.min_margin_ratio:
                    found = self._breach(
                        RiskLimit.MIN_MARGIN_RATIO,
                        ratio,
                        self.config.min_margin_ratio,
                        f"equity/notional {ratio:.4f} < minMarginRatio {self.config.min_margin_ratio}",
                    )
        if found is None:
            found = self._margin_failure_breach(positions)
        return self.trip(found) if found is not None else None

    def _equity_breach(self, positions: Sequence[Position]) -> RiskBreach | None:
        equity = self.last_equity
        if equity is None:
            return None
        loss = self.loss_pct()
        if loss >= self.EMERGENCY_LOSS_PCT:
            return self._breach(
                RiskLimit.EMERGENCY_LOSS,
                loss,
                self.EMERGENCY_LOSS_PCT,
                f"equity {equity:.2f} is {loss:.2f}% below the starting {self.starting_equity:.2f}: emergency close-all",
                action=RiskAction.CLOSE_ALL,
            )
        if self.config.max_daily_loss_usd is not None and self.day_start_equity is not None:
            daily = self.day_start_equity - equity
            if daily >= self.config.max_daily_loss_usd:
                return self._breach(
                    RiskLimit.MAX_DAILY_LOSS_USD,
                    daily,
                    self.config.max_daily_loss_usd,
                    f"lost {daily:.2f} USD today (UTC) >= maxDailyLossUsd {self.config.max_daily_loss_usd}",
                )
        if self.config.max_drawdown_pct is not None and self.peak_equity is not None and self.peak_equity > 0:
            drawdown = (self.peak_equity - equity) / self.peak_equity * HUNDRED
            if drawdown >= self.config.max_drawdown_pct:
                return self._breach(
                    RiskLimit.MAX_DRAWDOWN_PCT,
                    drawdown,
                    self.config.max_drawdown_pct,
                    f"equity {equity:.2f} is {drawdown:.2f}% below its peak {self.peak_equity:.2f}"
                    f" >= maxDrawdownPct {self.config.max_drawdown_pct}",
                )
        return None

    # the original's repeated-margin-failure rule -------------------------------------------------------------------
    def record_order_result(self, *, ok: bool, insufficient_margin: bool = False, venue: str | None = None) -> None:
        """Feed every order outcome of ``venue``: a success resets that venue's counters; an insufficient-margin
        rejection counts."""
        key = venue or ""
        if ok:
            self.venue_margin_failures.pop(key, None)
        elif insufficient_margin:
            count, first = self.venue_margin_failures.get(key, (0, self.clock.monotonic()))
            self.venue_margin_failures[key] = (count + 1, first)

    @property
    def margin_failures(self) -> int:
        """The most consecutive insufficient-margin failures of one venue."""
        return max((count for count, _ in self.venue_margin_failures.values()), default=0)

    def _margin_failure_breach(self, positions: Sequence[Position]) -> RiskBreach | None:
        now = self.clock.monotonic()
        firing = [
            (count, first)
            for count, first in self.venue_margin_failures.values()
            if count >= self.MARGIN_FAILURE_COUNT and now - first >= self.MARGIN_FAILURE_SECONDS
        ]
        if not firing:
            return None
        count, first = max(firing)
        loss = self.loss_pct()
        if loss < self.MARGIN_FAILURE_LOSS_PCT:
            return None
        losing = sorted((p for p in positions if p.size != 0 and p.unrealized_pnl < 0), key=lambda p: p.unrealized_pnl)
        if not losing:
            return None
        worst = losing[: max(1, math.ceil(len(losing) * self.WORST_FRACTION))]
        return self._breach(
            RiskLimit.MARGIN_FAILURES,
            Decimal(count),
            Decimal(self.MARGIN_FAILURE_COUNT),
            f"{count} consecutive insufficient-margin failures over "
            f"{now - first:.0f}s with a {loss:.2f}% loss:"
            f" closing the worst {len(worst)} losing position(s)",
            action=RiskAction.CLOSE_WORST,
            symbols=[p.symbol for p in worst],
        )

    # grid: position vs resting close orders -------------------------------------------------------------------------
    def position_mismatch(self, position_size: Decimal, close_total: Decimal, tolerance: Decimal) -> RiskBreach | None:
        """The grid's consistency rule, after the caller re-checked it several times: trips when
        ``|abs(position) - close_total| > tolerance``."""
        diff = abs(abs(position_size) - close_total)
        if diff <= tolerance:
            return None
        return self.trip(
            self._breach(
                RiskLimit.POSITION_MISMATCH,
                diff,
                tolerance,
                f"position {position_size} vs resting close orders {close_total}: mismatch {diff} > {tolerance}",
            )
        )
