"""The two reconciled kinds, described once: builder, status derivation, labels, workload kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from perpdex_operator.builders import Children
from perpdex_operator.builders.fundingcollector import build_collector_children
from perpdex_operator.builders.tradingbot import build_tradingbot_children
from perpdex_operator.constants import (
    API_VERSION,
    BOT_APP,
    COLLECTOR_APP,
    COLLECTOR_KIND,
    COLLECTOR_PLURAL,
    LABEL_INSTANCE,
    LABEL_NAME,
    TRADINGBOT_KIND,
    TRADINGBOT_PLURAL,
)
from perpdex_operator.settings import OperatorSettings
from perpdex_operator.status import OperatorStatus, bot_status, collector_status


@dataclass(frozen=True)
class KindSpec:
    kind: str
    plural: str
    app: str
    workload_kind: str
    workload_api: str
    workload_plural: str
    build: Callable[[Mapping[str, Any], OperatorSettings], Children]
    derive: Callable[..., OperatorStatus]

    @property
    def api_version(self) -> str:
        return API_VERSION

    def pod_selector(self, name: str) -> str:
        return f"{LABEL_NAME}={self.app},{LABEL_INSTANCE}={name}"


TRADINGBOT = KindSpec(
    kind=TRADINGBOT_KIND,
    plural=TRADINGBOT_PLURAL,
    app=BOT_APP,
    workload_kind="StatefulSet",
    workload_api="apps/v1",
    workload_plural="statefulsets",
    build=build_tradingbot_children,
    derive=bot_status,
)
FUNDINGCOLLECTOR = KindSpec(
    kind=COLLECTOR_KIND,
    plural=COLLECTOR_PLURAL,
    app=COLLECTOR_APP,
    workload_kind="Deployment",
    workload_api="apps/v1",
    workload_plural="deployments",
    build=build_collector_children,
    derive=collector_status,
)
KINDS: tuple[KindSpec, ...] = (TRADINGBOT, FUNDINGCOLLECTOR)
KINDS_BY_APP: dict[str, KindSpec] = {k.app: k for k in KINDS}
