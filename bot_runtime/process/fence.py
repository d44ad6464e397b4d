"""The check before every order submission: one instance trades, and a stopping one opens nothing (SPEC §5).

:class:`SubmissionFence` is the strategy's :attr:`~bot_runtime.strategies.base.Strategy.fence`. It refuses an order
(the strategy raises :class:`~bot_runtime.strategies.base.SubmissionFenced`, nothing reaches the venue) when:

- the lease was lost (another instance may hold it now): every order, reduce-only ones too;
- in Kubernetes, the lease is not held with a safety margin: fewer than :data:`LEASE_MARGIN_S` seconds are left
  before another instance could take it over (counted from our last successful renewal; the renewals run every 5 s
  of a 15 s lease, so a healthy holder always has 10 s or more);
- the process is stopping and the order would open (not reduce-only): a stop or a restart only cancels and covers.

Outside Kubernetes there is no lease: only the stopping rule applies.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from bot_runtime.exchanges.base import OrderRequest

LEASE_MARGIN_S = 5.0


class LeaseView(Protocol):
    def remaining(self) -> float: ...


class SubmissionFence:
    def __init__(
        self,
        *,
        stopping: asyncio.Event,
        lease_lost: asyncio.Event,
        lease: LeaseView | None,
        needs_lease: bool,
    ) -> None:
        self.stopping = stopping
        self.lease_lost = lease_lost
        self.lease = lease
        self.needs_lease = needs_lease

    def __call__(self, request: OrderRequest) -> str | None:
        if self.lease_lost.is_set():
            return "the lease was lost"
        if self.needs_lease:
            left = self.lease.remaining() if self.lease is not None else 0.0
            if left < LEASE_MARGIN_S:
                return f"the lease is not held with a {LEASE_MARGIN_S:g} s margin ({left:.1f} s left)"
        if self.stopping.is_set() and not request.reduce_only:
            return "stopping: no new entries"
        return None
