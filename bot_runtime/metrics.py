"""Prometheus metrics of one bot process (served at ``/metrics`` by :mod:`bot_runtime.http`).

One private :class:`~prometheus_client.CollectorRegistry` per :class:`BotMetrics` (no global state, so tests and
several bots in one process do not collide). Money stays :class:`~decimal.Decimal` everywhere else; it becomes a
float only here, at the exposition boundary, because the Prometheus text format is floating point.
"""

from __future__ import annotations

import time
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from bot_runtime.exchanges.base import Fill

PHASES = ("Pending", "Starting", "Running", "Paused", "Stopping", "Stopped", "RiskHalted", "Failed")

# order round trip: submit → venue acknowledgement; DEX latencies span a few ms (paper) to several seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

CONTENT_TYPE = CONTENT_TYPE_LATEST


class BotMetrics:
    """Every metric of the bot, with the few update helpers the runner and the strategy observer call."""

    def __init__(self, *, bot: str, strategy: str, exchange: str, ticker: str | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge(
            "perpdex_bot_info",
            "Static facts of this bot (value 1)",
            ["bot", "strategy", "exchange", "ticker"],
            registry=r,
        )
        self.info.labels(bot, strategy, exchange, ticker or "").set(1)
        self.phase = Gauge(
            "perpdex_bot_phase", "1 for the bot's current phase, 0 for the others", ["phase"], registry=r
        )
        self.position = Gauge(
            "perpdex_bot_position", "Signed position in base-asset contract units (>0 long)", ["symbol"], registry=r
        )
        self.avg_entry_price = Gauge(
            "perpdex_bot_avg_entry_price", "Average entry price of the position", ["symbol"], registry=r
        )
        self.realized_pnl = Gauge("perpdex_bot_realized_pnl", "Realized PnL in quote currency", registry=r)
        self.unrealized_pnl = Gauge("perpdex_bot_unrealized_pnl", "Unrealized PnL in quote currency", registry=r)
        self.funding_pnl = Gauge("perpdex_bot_funding_pnl", "Cumulative funding received (+) / paid (-)", registry=r)
        self.open_orders = Gauge("perpdex_bot_open_orders", "Orders resting on the exchange", registry=r)
        self.orders = Counter(
            "perpdex_bot_orders",
            "Orders sent, by result (filled, open, rejected, post_only_rejected, ...)",
            ["result"],
            registry=r,
        )
        self.fills = Counter("perpdex_bot_fills", "Fills received", ["side", "liquidity"], registry=r)
        self.filled_volume = Counter(
            "perpdex_bot_filled_volume_quote", "Traded notional in quote currency", ["side"], registry=r
        )
        self.fees = Counter("perpdex_bot_fees_quote", "Fees paid in quote currency (rebates: fee_rebates)", registry=r)
        self.fee_rebates = Counter(
            "perpdex_bot_fee_rebates_quote",
            "Maker rebates received in quote currency (net fees = fees - fee_rebates)",
            registry=r,
        )
        self.failed_entry_cost = Gauge(
            "perpdex_bot_failed_entry_cost_quote",
            "Fees and price loss of entries that did not become positions (fundingArb), since the process started",
            registry=r,
        )
        self.order_latency = Histogram(
            "perpdex_bot_order_latency_seconds",
            "Order round trip (submit to venue acknowledgement)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.exchange_errors = Counter(
            "perpdex_bot_exchange_errors", "Errors raised by the exchange client, by type", ["type"], registry=r
        )
        self.risk_events = Counter("perpdex_bot_risk_events", "Risk limit breaches, by rule", ["rule"], registry=r)
        self.recovered_orders = Counter(
            "perpdex_bot_recovered_close_orders",
            "Close orders placed for a position found uncovered (on start/resume, after a cancelled entry, or by the"
            " grid's cover invariant: why=uncovered), by why",
            ["why"],
            registry=r,
        )
        self.heartbeat = Gauge(
            "perpdex_bot_heartbeat_timestamp_seconds", "Unix time of the last strategy heartbeat", registry=r
        )
        self.lease_held = Gauge("perpdex_bot_lease_held", "1 while this instance holds the bot's Lease", registry=r)
        self.status_patches = Counter(
            "perpdex_bot_status_patches", "TradingBot status patches, by result", ["result"], registry=r
        )
        self.notifications = Counter(
            "perpdex_bot_notifications",
            "Notifications, by channel and result (sent, failed, dropped)",
            ["channel", "result"],
            registry=r,
        )
        self.set_phase("Pending")

    # helpers -------------------------------------------------------------------------------------------------------
    def set_phase(self, phase: str) -> None:
        for name in PHASES:
            self.phase.labels(name).set(1 if name == phase else 0)

    def observe_fill(self, fill: Fill) -> None:
        self.fills.labels(fill.side.value, fill.liquidity.value).inc()
        self.filled_volume.labels(fill.side.value).inc(float(fill.price * fill.size))
        # a Counter only grows: fees paid here, rebates (negative fees) received in their own counter
        if fill.fee > 0:
            self.fees.inc(float(fill.fee))
        elif fill.fee < 0:
            self.fee_rebates.inc(float(-fill.fee))

    def observe_order(self, result: str, latency_s: float | None) -> None:
        self.orders.labels(result).inc()
        if latency_s is not None and latency_s >= 0:
            self.order_latency.observe(latency_s)

    def observe_error(self, error: BaseException) -> None:
        self.exchange_errors.labels(type(error).__name__).inc()

    def set_state(
        self,
        *,
        symbol: str,
        position: Decimal | None,
        avg_entry_price: Decimal | None,
        realized_pnl: Decimal | None,
        unrealized_pnl: Decimal | None,
        funding_pnl: Decimal | None,
        open_orders: int | None,
        failed_entry_cost: Decimal | None = None,
    ) -> None:
        if failed_entry_cost is not None:
            self.failed_entry_cost.set(float(failed_entry_cost))
        if position is not None:
            self.position.labels(symbol).set(float(position))
        if avg_entry_price is not None:
            self.avg_entry_price.labels(symbol).set(float(avg_entry_price))
        if realized_pnl is not None:
            self.realized_pnl.set(float(realized_pnl))
        if unrealized_pnl is not None:
            self.unrealized_pnl.set(float(unrealized_pnl))
        if funding_pnl is not None:
            self.funding_pnl.set(float(funding_pnl))
        if open_orders is not None:
            self.open_orders.set(open_orders)

    def beat(self, at: float | None = None) -> None:
        self.heartbeat.set(time.time() if at is None else at)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
