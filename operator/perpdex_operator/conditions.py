"""Kubernetes-style conditions: ``lastTransitionTime`` moves only when ``status`` flips; every status or reason
change is reported as a :class:`Transition` (one Kubernetes Event each)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ConditionStatus = Literal["True", "False", "Unknown"]

READY = "Ready"
PROGRESSING = "Progressing"
DEGRADED = "Degraded"
RISK_LIMIT_BREACHED = "RiskLimitBreached"
PREFLIGHT = "Preflight"  # from the bot's status.preflight: its checks before the first order
ENTRIES_BLOCKED = "EntriesBlocked"  # from the bot's status.entriesBlocked: where it opens nothing new, and why

# for the Event type of a transition: which status of each condition is the healthy one
_HEALTHY: dict[str, ConditionStatus] = {
    READY: "True",
    PROGRESSING: "False",
    DEGRADED: "False",
    RISK_LIMIT_BREACHED: "False",
    PREFLIGHT: "True",
    ENTRIES_BLOCKED: "False",
}
_MESSAGE_LIMIT = 1024


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Condition(BaseModel):
    """What the operator wants a condition to say (the time is filled in by :func:`merge_conditions`)."""

    model_config = ConfigDict(frozen=True)

    type: str
    status: ConditionStatus
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    old_status: str | None
    new_status: ConditionStatus
    reason: str
    message: str

    @property
    def healthy(self) -> bool:
        return _HEALTHY.get(self.type, "True") == self.new_status

    @property
    def event_type(self) -> Literal["Normal", "Warning"]:
        return "Normal" if self.healthy else "Warning"

    def describe(self) -> str:
        before = self.old_status or "unset"
        text = f"{self.type} {before} -> {self.new_status}"
        return f"{text}: {self.message}" if self.message else text


def merge_conditions(
    current: Sequence[Mapping[str, Any]] | None,
    desired: Iterable[Condition],
    *,
    generation: int,
    now: datetime,
) -> tuple[list[dict[str, Any]], list[Transition]]:
    """The new ``status.conditions`` list (desired order; conditions of other types are kept after them) and the
    transitions (status or reason changes) relative to ``current``."""
    by_type = {str(c.get("type")): dict(c) for c in current or [] if c.get("type")}
    out: list[dict[str, Any]] = []
    transitions: list[Transition] = []
    seen: set[str] = set()
    for cond in desired:
        seen.add(cond.type)
        old = by_type.get(cond.type)
        message = cond.message[:_MESSAGE_LIMIT]
        flipped = old is None or old.get("status") != cond.status
        last = rfc3339(now) if flipped or not old or not old.get("lastTransitionTime") else old["lastTransitionTime"]
        out.append(
            {
                "type": cond.type,
                "status": cond.status,
                "reason": cond.reason,
                "message": message,
                "lastTransitionTime": last,
                "observedGeneration": generation,
            }
        )
        if flipped or (old is not None and old.get("reason") != cond.reason):
            transitions.append(
                Transition(
                    type=cond.type,
                    old_status=None if old is None else old.get("status"),
                    new_status=cond.status,
                    reason=cond.reason,
                    message=message,
                )
            )
    out += [c for t, c in by_type.items() if t not in seen]
    return out, transitions


def find(conditions: Sequence[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)
