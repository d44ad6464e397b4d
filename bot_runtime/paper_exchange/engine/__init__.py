"""The pure matching and accounting core of a paper venue (no I/O, no clock, no asyncio): see :mod:`.matching`."""

from __future__ import annotations

from bot_runtime.paper_exchange.engine.accounting import Account, PositionBook
from bot_runtime.paper_exchange.engine.matching import AccountEngine, FundingPayment, Sequencer, TopOfBook

__all__ = ["Account", "AccountEngine", "FundingPayment", "PositionBook", "Sequencer", "TopOfBook"]
