"""Where the bot lives in Kubernetes, and the Lease that lets exactly one process trade it.

In Kubernetes (``PERPDEX_BOT_NAME`` and ``PERPDEX_NAMESPACE`` set) the process waits for the
``coordination.k8s.io`` Lease named after the bot (holder identity = the pod UID, ``POD_UID`` from the downward API)
before it writes any status or
places any order, then renews it in the background (:class:`~bot_runtime.status.LeaseElector`). A second instance
waits, never trades. Every order submission is fenced by it (:mod:`.fence`: held with a 5 s margin before another
instance could take it over). Losing the lease is reported once: the metric drops to 0 and the process is told, so it stops
opening at once and exits 1 (the pod restarts and waits for the lease again); its orders are left to the new holder.

A process that cannot even start (credentials, SDK) reports why only while the lease is free
(:func:`write_while_free`), so it never writes over the status of an instance that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot_runtime.metrics import BotMetrics
from bot_runtime.process.lifecycle import Spawn
from bot_runtime.status import LeaseElector

log = logging.getLogger("perpdex.bot")


@dataclass
class KubeTarget:
    """Where the bot lives in Kubernetes (from the env the operator sets)."""

    name: str
    namespace: str
    identity: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KubeTarget | None:
        name, namespace = env.get("PERPDEX_BOT_NAME", "").strip(), env.get("PERPDEX_NAMESPACE", "").strip()
        if not name or not namespace:
            return None
        # the pod UID (downward API): stable across container restarts of one pod, new for its replacement, so a
        # force-deleted pod whose process still runs never shares the lease with the pod that replaces it (the pod
        # *name* of a StatefulSet is reused: both would "hold" it). Outside a pod, pid-qualified for the same reason.
        identity = env.get("POD_UID", "").strip() or f"{socket.gethostname()}-{os.getpid()}"
        return cls(name=name, namespace=namespace, identity=identity)


class LeaseHolder:
    """The bot's Lease for one process: acquire (waiting while another instance holds it), keep it renewed, report
    its loss, release it at the end."""

    def __init__(self, client: Any, target: KubeTarget, metrics: BotMetrics) -> None:
        self.target = target
        self.metrics = metrics
        self.elector = LeaseElector(client, target.namespace, target.name, target.identity)

    @property
    def held(self) -> bool:
        return self.elector.held

    @property
    def holder(self) -> str | None:
        return self.elector.holder

    def remaining(self) -> float:
        """Seconds before another instance could take the lease over (0 when not held)."""
        return self.elector.remaining()

    async def acquire(self, stopping: asyncio.Event, *, on_lost: Callable[[], None], spawn: Spawn) -> bool:
        """Wait for the lease (False when ``stopping`` is set first), then renew it in a background task; a loss is
        logged and handed to ``on_lost`` once."""
        log.info("acquiring the lease", extra={"lease": self.target.name, "identity": self.target.identity})
        acquired = await self.elector.acquire(stopping)
        if not acquired:
            return False
        self.metrics.lease_held.set(1)

        def lost(reason: str) -> None:
            log.error(
                "lease lost: no new orders; exiting so the pod waits for the lease again", extra={"reason": reason}
            )
            self.metrics.lease_held.set(0)
            on_lost()

        spawn(self.elector.keep(lost), "lease")
        return True

    async def release(self, within: float) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.elector.release(), within)
        self.metrics.lease_held.set(0)


async def write_while_free(client: Any, target: KubeTarget, write: Callable[[], Awaitable[object]]) -> None:
    """Take the lease once (10 s at most), run ``write`` and release it; do nothing when another instance holds it or
    the API cannot be reached."""
    lease = LeaseElector(client, target.namespace, target.name, target.identity)
    with contextlib.suppress(Exception):
        if await asyncio.wait_for(lease.try_acquire_or_renew(), 10):
            await write()
            await lease.release()
