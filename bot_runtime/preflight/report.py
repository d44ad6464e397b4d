"""A preflight's result: one :class:`CheckResult` per check, in the order they ran.

``fail`` stops a bot before its first order; ``warn`` is said and does not stop it (collateral that may not cover
every order); ``skip`` is a check that could not run because an earlier one failed (no market, no quantity).
Messages name keys, markets and numbers, never a credential value.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    outcome: Outcome
    message: str


class PreflightReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    exchange: str
    ticker: str
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(c.outcome is not Outcome.FAIL for c in self.checks)

    def check(self, name: str) -> CheckResult:
        return next(c for c in self.checks if c.name == name)

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome is Outcome.FAIL]

    def summary(self) -> str:
        """One line for a condition message or an Event: every check's outcome."""
        parts = "; ".join(f"{c.name} {c.outcome.value}: {c.message}" for c in self.checks)
        return f"{self.exchange} {self.ticker}: {parts}"

    def lines(self) -> list[str]:
        """The human report of ``perpdex preflight``."""
        out = [f"preflight {self.exchange} {self.ticker}"]
        out += [f"  {c.outcome.value.upper():4} {c.name}: {c.message}" for c in self.checks]
        failed = self.failed()
        warned = sum(1 for c in self.checks if c.outcome is Outcome.WARN)
        if failed:
            out.append(f"result: FAILED ({len(failed)} of {len(self.checks)} checks failed)")
        else:
            out.append("result: OK" + (f" ({warned} warning{'s' if warned != 1 else ''})" if warned else ""))
        return out
