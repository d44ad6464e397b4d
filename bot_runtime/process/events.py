"""What the bot process does with its strategy's events, and the texts it sends about itself.

:class:`ProcessEvents` is the :class:`~bot_runtime.strategies.base.StrategyEvents` the process hands its strategy:

- a fill → the fill metrics, the trade log (one CSV row per fill, ``PARTIALLY_FILLED`` when its order is not
  completely filled after it) and a ``fill`` notification; the summary counters;
- an order → the order metrics (by result, round-trip latency) and an ``order`` log line;
- an error → the error metrics, ``lastError`` (redacted), a log line, and an ``error`` notification at most once per
  10 minutes per kind of error;
- a recovery (close orders placed for a position found uncovered) → the recovery metric, a log line and a ``risk``
  notification (a restart that re-covers is worth a look, not an alarm);
- a risk breach → the risk metric, a log line, a ``risk`` notification, and ``on_halt`` (the process records the halt
  in ``status.riskHalt``, :mod:`.risk_halt`); a failure to record never breaks the strategy's reaction.

Callbacks are synchronous and never block (notifications are queued by the dispatcher). :meth:`ProcessEvents.summary`
is the daily summary's text; :func:`describe` the ``started`` notification's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from bot_runtime.config import BotConfig, StrategyKind
from bot_runtime.exchanges.base import Fill, OrderRequest
from bot_runtime.logs import SecretRedactor
from bot_runtime.metrics import BotMetrics
from bot_runtime.notify import NotificationDispatcher, NotifyEvent
from bot_runtime.risk import RiskBreach
from bot_runtime.strategies.base import OrderResult, Recovery, StrategySnapshot
from bot_runtime.trade_log import TradeLog

log = logging.getLogger("perpdex.bot")


@dataclass
class ProcessEvents:
    """What the process does with the strategy's events: metrics, trade log, notifications, lastError."""

    metrics: BotMetrics
    trade_log: TradeLog
    notifier: NotificationDispatcher
    redactor: SecretRedactor
    last_error: str | None = None
    breach: RiskBreach | None = None
    on_halt: Callable[[RiskBreach], None] | None = None  # the process records the halt (status.riskHalt)
    fills_since_summary: int = 0
    volume_since_summary: Decimal = Decimal(0)
    fees_since_summary: Decimal = Decimal(0)
    _last_error_notified: dict[str, float] = field(default_factory=dict)

    def on_fill(self, fill: Fill, partial: bool = False) -> None:
        self.metrics.observe_fill(fill)
        self.trade_log.record(fill, status="PARTIALLY_FILLED" if partial else "FILLED")
        self.fills_since_summary += 1
        self.volume_since_summary += fill.price * fill.size
        self.fees_since_summary += fill.fee
        self.notifier.notify(
            NotifyEvent.FILL,
            f"fill {fill.side.value.upper()} {fill.size} {fill.symbol} @ {fill.price}",
            f"order {fill.order_id}, fee {fill.fee} ({fill.liquidity.value})",
        )

    def on_order(self, order: OrderRequest, result: OrderResult, latency_s: float) -> None:
        self.metrics.observe_order(str(result), latency_s)
        log.info(
            "order",
            extra={
                "client_order_id": order.client_order_id,
                "symbol": order.symbol,
                "side": order.side.value,
                "size": str(order.size),
                "price": str(order.price) if order.price is not None else None,
                "type": order.order_type.value,
                "reduce_only": order.reduce_only,
                "result": str(result),
                "latency_ms": round(latency_s * 1000, 1),
            },
        )

    def on_error(self, exc: BaseException) -> None:
        self.metrics.observe_error(exc)
        text = self.redactor.redact(f"{type(exc).__name__}: {exc}")[:1000]
        self.last_error = text
        log.warning("exchange error", extra={"error": text})
        now = time.monotonic()
        key = type(exc).__name__
        # the same kind of error at most once per 10 minutes in the chat (the log has every one)
        if now - self._last_error_notified.get(key, float("-inf")) >= 600:
            self._last_error_notified[key] = now
            self.notifier.notify(NotifyEvent.ERROR, f"error: {key}", text)

    def on_risk(self, breach: RiskBreach) -> None:
        self.breach = breach
        self.metrics.risk_events.labels(str(breach.limit)).inc()
        log.error(
            "risk limit breached",
            extra={"limit": str(breach.limit), "action": str(breach.action), "detail": breach.message},
        )
        self.notifier.notify(
            NotifyEvent.RISK, f"risk halt: {breach.limit} ({breach.action})", self.redactor.redact(breach.message)
        )
        if self.on_halt is not None:
            try:
                self.on_halt(breach)
            except Exception:  # recording the halt must never break the strategy's own reaction to it
                log.exception("recording the risk halt failed")

    def on_recovery(self, recovery: Recovery) -> None:
        self.metrics.recovered_orders.labels(recovery.why).inc(recovery.orders)
        log.warning(
            "uncovered position re-covered",
            extra={
                "symbol": recovery.symbol,
                "size": str(recovery.size),
                "orders": recovery.orders,
                "price": str(recovery.price),
                "why": recovery.why,
            },
        )
        self.notifier.notify(
            NotifyEvent.RISK,
            f"re-covered {recovery.size} {recovery.symbol} ({recovery.why})",
            f"{recovery.orders} close order(s) at {recovery.price}",
        )

    def summary(self, snapshot: StrategySnapshot | None) -> str:
        lines = []
        if snapshot is not None:
            lines.append(f"position {snapshot.position} {snapshot.symbol or ''}".rstrip())
            lines.append(
                f"realized PnL {snapshot.realized_pnl}, unrealized {snapshot.unrealized_pnl},"
                f" funding {snapshot.funding_pnl}"
            )
            lines.append(f"open orders {snapshot.open_orders}")
        lines.append(
            f"fills {self.fills_since_summary}, volume {self.volume_since_summary:.2f}, fees {self.fees_since_summary}"
        )
        self.fills_since_summary = 0
        self.volume_since_summary = Decimal(0)
        self.fees_since_summary = Decimal(0)
        return "\n".join(lines)


def describe(config: BotConfig) -> str:
    """One line on what the bot trades (the ``started`` notification)."""
    c = config
    if c.strategy is StrategyKind.GRID and c.grid is not None:
        g = c.grid
        return (
            f"grid {c.ticker} on {c.exchange}: {g.direction.value} {g.quantity}, takeProfit {g.take_profit}%,"
            f" maxOrders {g.max_orders}, waitTime {g.wait_time:g}s"
        )
    return f"{c.strategy} on {', '.join(c.exchanges_used)}"
