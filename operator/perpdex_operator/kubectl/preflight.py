"""``preflight BOT [--run]``: the bot's preflight checks (credentials by signed reads, market, tick size, quantity,
collateral; per venue), as the bot ran them before its first order (``status.preflight``, reflected in the
``Preflight`` condition by the operator).

``--run`` runs them again now inside the bot's pod (``kubectl exec <bot>-0 -- perpdex preflight ...``): the pod's
environment holds the venue credentials, so nothing secret leaves the cluster and the user needs ``pods/exec`` on
that pod, nothing else. Exit status: 0 when every check passed (warnings allowed), 1 when one failed, 2 when there
is no result yet.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from perpdex_operator.kubectl import display as d
from perpdex_operator.kubectl.kube import Kubectl, KubectlError, NotFound, classify
from perpdex_operator.kubectl.models import TradingBot

EXIT_PASSED, EXIT_FAILED, EXIT_NO_RESULT = 0, 1, 2
# "<venue> <TICKER>: check pass: detail; check fail: detail" -- the bot's status.preflight.message
_CHECK = re.compile(
    r"(?:^|;\s*)(?:(?P<venue>[a-z0-9-]+ [A-Z0-9]+):\s*)?(?P<check>\w+) (?P<result>pass|fail|warn\w*):\s*"
)


class Result(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    passed: bool
    message: str
    at: datetime | None = None


def recorded(raw: dict[str, object]) -> Result | None:
    status = raw.get("status")
    found = status.get("preflight") if isinstance(status, dict) else None
    return Result.model_validate(found) if isinstance(found, dict) else None


def checks(message: str) -> list[tuple[str, str, str, str]]:
    """(venue, check, result, detail) per check of the bot's message; one row with the whole text if unparsable."""
    matches = list(_CHECK.finditer(message))
    if not matches:
        return [("", "", "", message)]
    rows, venue = [], ""
    for i, m in enumerate(matches):
        venue = m.group("venue") or venue
        end = matches[i + 1].start() if i + 1 < len(matches) else len(message)
        rows.append((venue, m.group("check"), m.group("result"), message[m.end() : end].strip().rstrip(";")))
    return rows


def render(name: str, bot: TradingBot, result: Result | None, now: datetime) -> tuple[str, int]:
    if result is None:
        condition = bot.condition("Preflight")
        why = f" ({condition.reason}: {condition.message})" if condition is not None else ""
        return (
            f"{name}: no preflight result yet{why}. The bot runs its checks after connecting, before its first "
            f"order; `kubectl perpdex preflight {name} --run` runs them now in its pod.",
            EXIT_NO_RESULT,
        )
    verdict = "passed" if result.passed else "FAILED"
    head = f"{name}: preflight {verdict} {d.age(result.at, now)} ago" if result.at else f"{name}: preflight {verdict}"
    table = d.table(
        ["venue", "check", "result", "detail"],
        [[v or d.NONE, c or d.NONE, r or d.NONE, d.clip(detail, 100)] for v, c, r, detail in checks(result.message)],
    )
    return f"{head}\n\n{table}", EXIT_PASSED if result.passed else EXIT_FAILED


def run_in_pod(kubectl: Kubectl, namespace: str, bot: TradingBot) -> tuple[str, int]:
    """``perpdex preflight`` in the bot's pod with the bot's venue, ticker and size."""
    spec = bot.spec
    if spec.strategy != "grid" or not spec.exchange or not spec.ticker:
        raise KubectlError(
            "--run checks one venue and ticker: it covers grid bots (a funding-arb bot's checks run at start)"
        )
    raw = kubectl.json(["get", "tradingbots.perpdex.io", bot.metadata.name, "-n", namespace])
    grid = (raw.get("spec") or {}).get("grid") or {}
    args = ["--exchange", spec.exchange, "--ticker", spec.ticker]
    if grid.get("quantity"):
        args += ["--quantity", str(grid["quantity"])]
    if grid.get("maxOrders"):
        args += ["--max-orders", str(grid["maxOrders"])]
    pod = f"{bot.metadata.name}-0"
    try:
        kubectl.json(["get", "pod", pod, "-n", namespace])
    except NotFound as exc:
        raise NotFound(
            f"the bot has no pod ({pod}): paused or stopped; resume it, or run `perpdex preflight` locally"
        ) from exc
    proc = kubectl.completed(["exec", pod, "-n", namespace, "--", "perpdex", "preflight", *args], timeout=180)
    if proc.returncode in (EXIT_PASSED, EXIT_FAILED) and proc.stdout.strip():
        return proc.stdout.rstrip(), proc.returncode  # the checks ran: their own lines and verdict
    raise KubectlError(f"could not run the preflight in {pod}: {classify(proc.stderr or proc.stdout)}")
