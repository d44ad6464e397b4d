"""``/healthz`` ``/readyz`` ``/metrics`` of the bot process: what each probe checks, and the server that answers.

- Liveness (``/healthz``; failing it restarts the container): the event loop is not stalled for more than
  :data:`LIVENESS_LAG_S` (:class:`~bot_runtime.http.LoopMonitor`) and the sampler beat within
  :data:`LIVENESS_SAMPLER_S`. A halted or paused bot is alive: it is only not trading.
- Readiness (``/readyz``): connected to the exchange, holding the lease (in Kubernetes), not stopping.
- ``/metrics``: :class:`~bot_runtime.metrics.BotMetrics` in the Prometheus text format.

Both checks are plain functions of the state the process passes in; :class:`Endpoints` owns the loop monitor and the
:class:`~bot_runtime.http.HealthServer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from bot_runtime.http import Check, HealthServer, LoopMonitor
from bot_runtime.metrics import CONTENT_TYPE, BotMetrics
from bot_runtime.status import Phase

LIVENESS_LAG_S = 30.0  # event-loop stall that fails /healthz
LIVENESS_SAMPLER_S = 60.0  # the sampler must have run this recently


class LeaseState(Protocol):
    @property
    def held(self) -> bool: ...

    @property
    def holder(self) -> str | None: ...


def liveness(monitor: LoopMonitor, *, last_sample: float, phase: Phase) -> Check:
    reasons = []
    stalled = monitor.stalled_for()
    if stalled > LIVENESS_LAG_S:
        reasons.append(f"event loop stalled for {stalled:.0f}s")
    since = time.monotonic() - last_sample
    if since > LIVENESS_SAMPLER_S:
        reasons.append(f"no heartbeat for {since:.0f}s")
    return Check(not reasons, tuple(reasons), {"phase": phase})


def readiness(*, connected: bool, needs_lease: bool, lease: LeaseState | None, stopping: bool, phase: Phase) -> Check:
    reasons = []
    if not connected:
        reasons.append("not connected to the exchange")
    if needs_lease and (lease is None or not lease.held):
        holder = lease.holder if lease is not None else None
        reasons.append(f"not holding the lease (holder: {holder})" if holder else "not holding the lease")
    if stopping:
        reasons.append("stopping")
    return Check(not reasons, tuple(reasons), {"phase": phase})


class Endpoints:
    """The loop monitor and the HTTP server of the three endpoints, started first and stopped last."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        liveness: Callable[[], Check],
        readiness: Callable[[], Check],
        metrics: BotMetrics,
    ) -> None:
        self.loop_monitor = LoopMonitor()
        self.server = HealthServer(
            host=host,
            port=port,
            liveness=liveness,
            readiness=readiness,
            metrics=metrics.render,
            metrics_content_type=CONTENT_TYPE,
        )

    async def start(self) -> None:
        """Start the loop monitor and serve; raises OSError (monitor stopped again) when the port cannot be bound."""
        self.loop_monitor.start()
        try:
            await self.server.start()
        except OSError:
            await self.loop_monitor.stop()
            raise

    async def stop(self) -> None:
        await self.server.stop()
        await self.loop_monitor.stop()
