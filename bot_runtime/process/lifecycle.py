"""How the bot process ends: its exit codes, the signals that stop it, and the stop budget.

- Exit codes: 0 after a clean stop (and when stopped while waiting for the lease), 1 on a failure or a lost lease (the
  pod restarts and waits for the lease again), 2 for a bad command line or config.
- SIGTERM/SIGINT set ``stopping`` (stop opening) and start the stop budget; a second signal only logs. A lost lease
  sets ``lease_lost`` and ``stopping``.
- The stop budget: everything after the signal (the strategy returning, onStop, reading the venue back, the final
  status, releasing the lease, the last notifications) must fit in the pod's ``terminationGracePeriodSeconds``. The
  operator sets that period (by onStop and strategy: ``perpdex_operator.builders.tradingbot.grace_seconds``) and passes
  the same value as ``PERPDEX_GRACE_SECONDS``; :data:`GRACE_BY_ON_STOP` is only the fallback without it (outside
  Kubernetes). Each step gets at most its cap and never eats the reserve of the steps after it (:meth:`Budget.left`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bot_runtime.config import OnStop

log = logging.getLogger("perpdex.bot")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

GRACE_BY_ON_STOP = {
    OnStop.LEAVE: 20.0,
    OnStop.CANCEL_ENTRIES: 30.0,
    OnStop.CANCEL_ORDERS: 30.0,
    OnStop.CLOSE_POSITIONS: 90.0,
}
GRACE_MARGIN_S = 5.0  # kept free for the interpreter to exit
STOP_RUN_S = 10.0  # strategy.run returns after ``stopping`` is set
HALT_GENERATION_WAIT_S = 2.0  # the final status waits this long at most for the halt's generation read
OBSERVE_S = 5.0  # read open orders and position back from the venue
FLUSH_S = 5.0  # final status
NOTIFY_DRAIN_S = 3.0
RELEASE_S = 2.0
PAUSE_ON_STOP_S = 120.0  # onStop of a paused bot (no grace period running)
AFTER_SHUTDOWN_RESERVE_S = 9.0  # observe + flush + release + notifications, at their usual speed

# starts a background task (coroutine, name) that the process cancels when it ends
Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class Budget:
    """A deadline for the stop sequence."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self.end = time.monotonic() + total_s

    def left(self, *, cap: float, reserve: float = 0.0) -> float:
        """Seconds for the next step: at most ``cap``, leaving ``reserve`` for later steps (at least 0.1)."""
        return max(0.1, min(cap, self.end - time.monotonic() - reserve))


def grace_seconds(on_stop: OnStop, env: Mapping[str, str]) -> float:
    raw = env.get("PERPDEX_GRACE_SECONDS", "").strip()
    try:
        grace = float(raw) if raw else GRACE_BY_ON_STOP[on_stop]
    except ValueError:
        grace = GRACE_BY_ON_STOP[on_stop]
    return max(5.0, grace - GRACE_MARGIN_S)


class StopControl:
    """Whether the process is stopping, why, and by when: the events every part waits on, the signal handlers, and
    the stop budget (started by the first signal, or by the stop sequence itself)."""

    def __init__(self, on_stop: OnStop, env: Mapping[str, str]) -> None:
        self.on_stop = on_stop
        self.env = env
        self.stopping = asyncio.Event()  # set by SIGTERM/SIGINT or a lost lease: stop opening
        self.lease_lost = asyncio.Event()
        self.budget: Budget | None = None  # starts with the stop sequence

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.on_signal, sig)

    def on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.info("already stopping", extra={"signal": sig.name})
            return
        log.info("signal received: stopping", extra={"signal": sig.name})
        self.start_budget()
        self.stopping.set()

    def start_budget(self) -> Budget:
        if self.budget is None:
            self.budget = Budget(grace_seconds(self.on_stop, self.env))
            log.info("stop budget", extra={"seconds": self.budget.total_s})
        return self.budget
