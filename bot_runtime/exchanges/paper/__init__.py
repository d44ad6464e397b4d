"""The paper venue (``paper``, ``paper-a``, ``paper-b``, ...): a simulated perpetual market with the same interface,
lifecycle, fees and funding as a real venue. See :mod:`.exchange` for the in-process simulator (its rules are
the engine's, :mod:`bot_runtime.paper_exchange.engine`), :mod:`.funding` for the
funding model shared with the collector side, :mod:`.prices` for the price paths, :mod:`.markets` for the market set
and paths both sides build from the :mod:`.options`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.paper.exchange import PaperExchange
from bot_runtime.exchanges.paper.funding import FundingModel, PaperFundingSource
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import GbmPath, PricePath, ReplayPath, ScriptedPath

__all__ = [
    "FundingModel",
    "GbmPath",
    "PaperExchange",
    "PaperFundingSource",
    "PaperOptions",
    "PricePath",
    "ReplayPath",
    "ScriptedPath",
    "create_exchange",
    "create_funding_source",
]


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> PaperExchange:
    """Registry entry point; ``env`` is unused (a paper venue needs no credentials)."""
    return PaperExchange(name, options)


def create_funding_source(name: str, options: Mapping[str, Any]) -> PaperFundingSource:
    return PaperFundingSource(name, PaperOptions.parse(name, options))
