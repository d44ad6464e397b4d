"""``logs BOT [-f]``: the bot pod's log through the API server (``kubectl logs``; the user's RBAC on ``pods/log``).

The bot runs as the single pod ``<bot>-0`` of its StatefulSet. Pods of the local pod runner (``make demo``, tests)
have no kubelet to serve ``pods/log``; for those the runner records the log file in the pod annotation
``pod-runner.perpdex.io/log``, and when that file is readable on this machine the plugin reads it instead.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from perpdex_operator.kubectl.kube import Forbidden, Kubectl, KubectlError, NotFound

LOCAL_RUNNER_LOG_ANNOTATION = "pod-runner.perpdex.io/log"
FOLLOW_POLL_S = 0.5


def pod_name(bot: str) -> str:
    return f"{bot}-0"


def lines(kubectl: Kubectl, namespace: str, bot: str, *, follow: bool, tail: int | None) -> Iterator[str]:
    pod = pod_name(bot)
    try:
        found = kubectl.json(["get", "pod", pod, "-n", namespace])
    except NotFound as exc:
        raise NotFound(
            f"the bot {bot!r} has no pod ({pod} not found in {namespace!r}): paused, stopped, or not started yet"
        ) from exc
    local = ((found.get("metadata") or {}).get("annotations") or {}).get(LOCAL_RUNNER_LOG_ANNOTATION)
    if local and Path(local).is_file():
        yield from _file_lines(Path(local), follow=follow, tail=tail)
        return
    if not (found.get("spec") or {}).get("nodeName"):
        phase = (found.get("status") or {}).get("phase", "Pending")
        raise KubectlError(f"{pod} is not on a node yet (phase {phase}): it has no log to read")
    args = [
        "logs",
        pod,
        "-n",
        namespace,
        *(["-f"] if follow else []),
        *([f"--tail={tail}"] if tail is not None else []),
    ]
    try:
        yield from kubectl.stream(args)
    except Forbidden:
        raise
    except KubectlError as exc:
        raise KubectlError(f"the API server could not read {pod}'s log: {exc}") from exc


def _file_lines(path: Path, *, follow: bool, tail: int | None) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as fh:
        existing = fh.readlines()
        yield from existing[-tail:] if tail is not None else existing
        while follow:
            line = fh.readline()
            if line:
                yield line
            else:
                time.sleep(FOLLOW_POLL_S)


def print_lines(source: Iterator[str], out: TextIO = sys.stdout) -> None:
    for line in source:
        out.write(line)
        out.flush()
