"""kopf handlers, registered on an explicit registry (one per operator instance, so tests can run several)."""

from __future__ import annotations

from typing import Any

import kopf

from perpdex_operator.handlers.activities import register_activities
from perpdex_operator.handlers.children import register_children
from perpdex_operator.handlers.resources import register_kind
from perpdex_operator.kinds import KINDS
from perpdex_operator.runtime import OperatorRuntime


def build_registry(rt: OperatorRuntime) -> Any:
    registry = kopf.OperatorRegistry()
    register_activities(registry, rt)
    for spec in KINDS:
        register_kind(registry, rt, spec)
    register_children(registry, rt)
    return registry
