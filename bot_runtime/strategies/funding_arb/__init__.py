"""Funding-rate arbitrage (SPEC §3 ``fundingArb``): delta-neutral pairs across two venues, driven by the funding service.

Modules: :mod:`.strategy` (the loop, recovery, risk, status), :mod:`.selection` (the funding service's opportunities),
:mod:`.sizing` (equal-base leg sizes), :mod:`.execution` (entry with confirmation, unwinds, closes), :mod:`.exits`
(holding rules), :mod:`.recovery` (pairs from the venues' positions), :mod:`.ledger` (fees and realized PnL),
:mod:`.models` (state), :mod:`.deadline` (``singleLegTimeout`` on the clock), :mod:`.backoff` (what failed entries
may cost). A multi-day paper run on virtual time: ``python -m perpdex_dev.funding_arb_simulation``. See
docs/funding-arb.md.
"""

from __future__ import annotations

from bot_runtime.strategies.funding_arb.models import ExitReason, Pair, Tuning
from bot_runtime.strategies.funding_arb.strategy import ClosedPair, FundingArbStrategy, create_strategy

__all__ = ["ClosedPair", "ExitReason", "FundingArbStrategy", "Pair", "Tuning", "create_strategy"]
