"""Pure functions: a custom resource (plus the operator's settings) → the child manifests that run it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class BuildError(ValueError):
    """The custom resource cannot be turned into children (names the field; never holds a secret value)."""


@dataclass(frozen=True)
class Children:
    """Everything one custom resource owns, in apply order (config and identity before the workload)."""

    applied: list[dict[str, Any]]  # kept equal to the manifest (server-side apply)
    created: list[dict[str, Any]] = field(default_factory=list)  # created when missing, never updated (the Lease)
    config_hash: str = ""

    @property
    def workload(self) -> dict[str, Any]:
        return next(m for m in self.applied if m["kind"] in {"StatefulSet", "Deployment"})

    def by_kind(self, kind: str) -> dict[str, Any]:
        return next(m for m in [*self.applied, *self.created] if m["kind"] == kind)
