"""Operator-level activities: login, liveness probe, cleanup."""

from __future__ import annotations

from typing import Any

import kopf

from perpdex_operator.login import connection_info
from perpdex_operator.runtime import OperatorRuntime


def register_activities(registry: Any, rt: OperatorRuntime) -> None:
    @kopf.on.login(registry=registry, id="perpdex-login")
    def login(**_: Any) -> Any:
        return connection_info(rt.kube_config)

    @kopf.on.probe(registry=registry, id="objects")
    def objects(**_: Any) -> int:
        """Reported on /healthz: how many custom resources this instance tracks."""
        return sum(sum(rt.metrics.phase_counts(kind).values()) for kind in ("TradingBot", "FundingCollector"))

    @kopf.on.cleanup(registry=registry, id="perpdex-cleanup")
    async def cleanup(**_: Any) -> None:
        await rt.close()
