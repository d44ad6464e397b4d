"""Counting API requests from the kube-apiserver's audit log (JSON lines, level Metadata).

Each request appears once: a long-running ``watch`` at its ``ResponseStarted`` stage (the stream opened), anything
else at ``ResponseComplete``. Requests are attributed by user and user agent: the operator's own client says
``perpdex-operator``, kopf says ``kopf/<version>``, the benchmark's client says ``perpdex-bench``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
"""

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
BENCH_AGENT = "perpdex-bench"


def audit_flags(policy: Path, log: Path) -> list[str]:
    return [f"--audit-policy-file={policy}", f"--audit-log-path={log}", "--audit-log-format=json"]


@dataclass(frozen=True, slots=True)
class Request:
    verb: str
    resource: str  # plural, with "/subresource" when there is one
    user: str
    agent: str

    @property
    def write(self) -> bool:
        return self.verb in WRITE_VERBS


def parse(lines: Iterable[str]) -> Iterator[Request]:
    for raw in lines:
        text = raw.strip()
        if not text:
            continue
        try:
            event = json.loads(text)
        except ValueError:
            continue  # a line being written while we read
        verb = str(event.get("verb", ""))
        stage = event.get("stage")
        if stage != ("ResponseStarted" if verb == "watch" else "ResponseComplete"):
            continue
        ref = event.get("objectRef") or {}
        resource = str(ref.get("resource") or event.get("requestURI", "").split("?")[0])
        if ref.get("subresource"):
            resource += "/" + str(ref["subresource"])
        yield Request(
            verb=verb,
            resource=resource,
            user=str((event.get("user") or {}).get("username", "")),
            agent=str(event.get("userAgent", "")),
        )


@dataclass
class AuditLog:
    """An audit log file read in windows: ``mark()`` remembers the end, ``since_mark()`` returns what came after."""

    path: Path
    _offset: int = 0

    def mark(self) -> None:
        self._offset = self.path.stat().st_size if self.path.exists() else 0

    def since_mark(self) -> list[Request]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self._offset)
            data = f.read()
        # keep only complete lines: a partial last line is read again next time
        end = data.rfind(b"\n") + 1
        return list(parse(data[:end].decode(errors="replace").splitlines()))


@dataclass
class Tally:
    """Requests of one party, by verb and by (verb, resource)."""

    verbs: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)  # "verb resource" -> n

    @classmethod
    def of(cls, requests: Iterable[Request], *, user: str, exclude_agent: str = BENCH_AGENT) -> Tally:
        tally = cls()
        for r in requests:
            if r.user != user or r.agent.startswith(exclude_agent):
                continue
            tally.verbs[r.verb] += 1
            if r.write:
                tally.writes[f"{r.verb} {r.resource}"] += 1
        return tally

    @property
    def total(self) -> int:
        return sum(self.verbs.values())

    @property
    def write_total(self) -> int:
        return sum(self.writes.values())

    @property
    def reads(self) -> int:
        return self.verbs["get"] + self.verbs["list"]

    def describe_writes(self) -> str:
        return ", ".join(f"{n} x {k}" for k, n in self.writes.most_common()) or "none"

    def describe_verbs(self) -> str:
        return ", ".join(f"{n} {v}" for v, n in self.verbs.most_common()) or "none"
