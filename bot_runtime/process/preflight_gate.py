"""Preflight at bot start (:mod:`bot_runtime.preflight`): after the venues connected, before the first order.

What is checked: a grid bot's venue with its ticker, ``grid.quantity`` and ``grid.maxOrders``; a funding-arb bot's
every venue: the credentials (signed reads) on each, each configured symbol's market on each (no quantity: its
size is in USD, chosen per pair), and once per venue the collateral for ``maxPositions × positionSizeUsd``. A
funding-arb symbol needs a market on two of its venues, not on all of them: a missing market fails the preflight
only when fewer than two venues list the symbol.

The outcome is ``status.preflight`` (``passed``, every check's outcome in ``message``), which the operator turns
into the ``Preflight`` condition, with an Event on every change. A failing check stops the bot before any order in
phase ``Failed`` with the failed checks as the reason, and the process stays up: an exit would restart the pod into
the same failure (a crash loop). It runs the checks again every ``retry_s`` (a venue-side fix: funds, a key's
permissions, a market listed) and trades once they pass; a spec change rolls the pod, which checks afresh. A
Secret's new values reach a process only through a container restart: meanwhile it polls the versions of the
Secrets the pod references (:mod:`.secret_watch`, every ``secret_poll_s``) and, when one changed since the start,
ends with a note and exit code 0, so the kubelet restarts the container with the new values (one restart per
change, not a crash loop).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime

from bot_runtime.config import BotConfig, StrategyKind
from bot_runtime.exchanges.base import Exchange
from bot_runtime.logs import SecretRedactor
from bot_runtime.preflight.checks import PreflightRequest, run_checks
from bot_runtime.preflight.report import Outcome, PreflightReport
from bot_runtime.process.reporting import Reporting
from bot_runtime.process.secret_watch import SECRET_POLL_S, SecretWatch
from bot_runtime.status import PreflightRecord

PREFLIGHT_RETRY_S = 300.0


def requests_for(config: BotConfig, venues: list[str]) -> list[PreflightRequest]:
    if config.strategy is StrategyKind.GRID and config.grid is not None:
        return [
            PreflightRequest(
                exchange=config.exchange or "",
                ticker=(config.ticker or "").upper(),
                quantity=config.grid.quantity,
                max_orders=config.grid.max_orders,
            )
        ]
    arb = config.funding_arb
    symbols = list(arb.symbols) if arb is not None else []
    requests: list[PreflightRequest] = []
    for venue in venues:
        for n, symbol in enumerate(symbols or [""]):
            requests.append(
                PreflightRequest(
                    exchange=venue,
                    ticker=symbol.upper(),
                    # collateral once per venue: every position may have a leg there
                    notional=arb.position_size_usd if arb is not None and n == 0 else None,
                    max_orders=arb.max_positions if arb is not None else 1,
                )
            )
    return requests


async def run_preflight(
    exchanges: Mapping[str, Exchange], config: BotConfig, redactor: SecretRedactor
) -> tuple[PreflightRecord, list[PreflightReport]]:
    """Every request of :func:`requests_for` on the already connected clients; one record for the status."""
    reports = [
        await run_checks(exchanges[request.exchange], request, connect=False)
        for request in requests_for(config, list(exchanges))
        if request.exchange in exchanges
    ]
    message = " | ".join(redactor.redact(report.summary()) for report in reports)
    passed = all(r.ok for r in reports) if config.strategy is StrategyKind.GRID else _pairs_ok(reports)
    return PreflightRecord(passed=passed, message=message, at=datetime.now(UTC)), reports


def _pairs_ok(reports: list[PreflightReport]) -> bool:
    """Funding arb: every check but ``market`` must pass; a symbol must trade on at least two venues."""
    for report in reports:
        if any(check.name != "market" for check in report.failed()):
            return False
    listed: dict[str, int] = {}
    for report in reports:
        if report.ticker:
            listed[report.ticker] = listed.get(report.ticker, 0) + (report.check("market").outcome is Outcome.PASS)
    return all(count >= 2 for count in listed.values())


def failure_reason(reports: list[PreflightReport], redactor: SecretRedactor) -> str:
    failed = [
        f"{report.exchange} {report.ticker}".strip() + f" {check.name}: {check.message}"
        for report in reports
        for check in report.failed()
    ]
    return redactor.redact("preflight failed: " + "; ".join(failed))


class PreflightGate:
    def __init__(
        self,
        exchanges: Mapping[str, Exchange],
        config: BotConfig,
        reporting: Reporting,
        redactor: SecretRedactor,
        stopping: asyncio.Event,
        *,
        retry_s: float = PREFLIGHT_RETRY_S,
        secrets: SecretWatch | None = None,
        secret_poll_s: float = SECRET_POLL_S,
    ) -> None:
        self.exchanges = exchanges
        self.config = config
        self.reporting = reporting
        self.redactor = redactor
        self.stopping = stopping
        self.retry_s = retry_s
        self.secrets = secrets
        self.secret_poll_s = secret_poll_s
        self.reason: str | None = None  # why the last run failed, or why the process ends
        self.changed_secret: str | None = None  # a referenced Secret changed: the process ends to read it

    async def wait_until_passed(self) -> bool:
        """True once every check passes; False when the process is stopped first (phase ``Failed`` meanwhile) or a
        referenced Secret changed (``changed_secret``, ``reason`` the note: the caller exits 0)."""
        if self.secrets is not None:
            await self.secrets.remember()
        while True:
            record, reports = await run_preflight(self.exchanges, self.config, self.redactor)
            self.reporting.preflight = record
            if record.passed:
                self.reason = None
                self.reporting.publish()
                return True
            self.reason = failure_reason(reports, self.redactor)
            self.reporting.events.last_error = self.reason
            self.reporting.set_phase("Failed", self.reason)
            if await self._wait_for_retry():
                return False

    async def _wait_for_retry(self) -> bool:
        """Sleep ``retry_s``, polling the Secrets' versions meanwhile. True: stop now (stopped, or a Secret changed)."""
        loop = asyncio.get_running_loop()
        retry_at = loop.time() + self.retry_s
        while (left := retry_at - loop.time()) > 0:
            step = min(left, self.secret_poll_s) if self.secrets is not None else left
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), step)
            if self.stopping.is_set():
                return True
            if self.secrets is not None and (name := await self.secrets.changed()) is not None:
                self.changed_secret = name
                self.reason = f"credentials Secret {name} changed: restarting to read it"
                self.reporting.events.last_error = self.reason  # status.lastError: why the container restarts
                self.reporting.set_phase("Failed", self.reason)
                return True
        return False
