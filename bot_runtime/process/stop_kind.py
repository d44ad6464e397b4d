"""A *stop* or a *restart*: what a SIGTERM means, read from the bot's own TradingBot when it arrives (SPEC §5).

- **stop**: the TradingBot is paused (``spec.paused: true``) or being deleted (``metadata.deletionTimestamp`` set, or
  already gone): the bot applies ``spec.onStop``. Outside Kubernetes (no TradingBot: ``perpdex bot --config``) a
  SIGTERM/SIGINT is the user's Ctrl-C, a stop too. A stopPrice reached or a risk action are stops of their own and
  never ask this module.
- **restart**: SIGTERM while the TradingBot is neither paused nor being deleted: a spec edit (the config hash rolls the
  pod), ``kubectl rollout restart``, a node drain, an eviction, a liveness kill. The bot cancels only its pending
  entry order (``cancelEntries``), leaves its take-profits and the position alone, and the next process re-covers
  whatever is uncovered. ``onStop`` does not apply.

When the TradingBot cannot be read in time (the API server is down, RBAC), the answer is *restart*: the choice that
destroys nothing (a pause or a deletion seen later applies onStop when the next pod starts paused, or the operator's
finalizer scales to 0 again and that pod reads the deletion).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Protocol

from bot_runtime.kube import NotFound, resource_path
from bot_runtime.status import GROUP_VERSION

log = logging.getLogger("perpdex.bot")

READ_S = 3.0  # at most this long for the read (it comes out of the stop budget)


class StopKind(StrEnum):
    STOP = "stop"
    RESTART = "restart"


class TradingBotReader(Protocol):
    async def get(self, path: str, **params: Any) -> dict[str, Any]: ...


def kind_of(tradingbot: Mapping[str, Any]) -> StopKind:
    """A stop when the TradingBot is paused or being deleted, else a restart."""
    metadata = tradingbot.get("metadata") or {}
    spec = tradingbot.get("spec") or {}
    if metadata.get("deletionTimestamp") or spec.get("paused") is True:
        return StopKind.STOP
    return StopKind.RESTART


async def read_stop_kind(kube: TradingBotReader, namespace: str, name: str, *, within: float = READ_S) -> StopKind:
    """Read the TradingBot now and say whether the signal is a stop or a restart (restart when unreadable)."""
    path = resource_path(GROUP_VERSION, "tradingbots", namespace, name)
    try:
        obj = await asyncio.wait_for(kube.get(path), within)
    except NotFound:
        log.info("the TradingBot is gone: a stop")
        return StopKind.STOP
    except Exception as exc:  # the API server is down or slow: the non-destructive answer
        log.warning(
            "cannot read the TradingBot on SIGTERM: treating it as a restart (orders kept)",
            extra={"error": f"{type(exc).__name__}"},
        )
        return StopKind.RESTART
    kind = kind_of(obj)
    log.info("signal read as a %s", kind.value, extra={"stop_kind": kind.value})
    return kind
