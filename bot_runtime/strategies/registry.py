"""Which strategy a config names, and how it is built: the one place that knows every strategy.

``build_strategy(config, exchange(s), risk, events, clock=...)`` imports the strategy module ``config.strategy`` names
only when it is used (a grid pod never imports the funding-arb package) and calls its
``create_strategy(config, exchange(s), risk, events, clock) -> Strategy``. Strategies import :mod:`.base`, this module
imports the strategies; :mod:`.base` imports none of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from bot_runtime.clock import Clock
from bot_runtime.config import BotConfig, StrategyKind
from bot_runtime.exchanges.base import Exchange
from bot_runtime.risk import RiskManager
from bot_runtime.strategies.base import Strategy, StrategyEvents


def build_strategy(
    config: BotConfig,
    exchange: Exchange | Mapping[str, Exchange],
    risk: RiskManager,
    events: StrategyEvents | None = None,
    *,
    clock: Clock | None = None,
) -> Strategy:
    """The strategy ``config.strategy`` names. Grid takes one exchange; fundingArb a mapping name → exchange.

    Each strategy module exports ``create_strategy(config, exchange(s), risk, events, clock) -> Strategy``.
    """
    if config.strategy is StrategyKind.GRID:
        from bot_runtime.strategies import grid

        if isinstance(exchange, Mapping):
            if config.exchange is None or config.exchange not in exchange:
                raise ValueError(f"no exchange client for {config.exchange!r}")
            exchange = exchange[config.exchange]
        return grid.create_strategy(config, exchange, risk, events, clock)
    module = importlib.import_module("bot_runtime.strategies.funding_arb")
    exchanges = exchange if isinstance(exchange, Mapping) else {exchange.name: exchange}
    strategy: Strategy = module.create_strategy(config, exchanges, risk, events, clock)
    return strategy
