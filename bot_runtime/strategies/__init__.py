"""Trading strategies: :mod:`.base` (the contract and shared helpers), :mod:`.grid`, :mod:`.funding_arb`, and
:mod:`.registry` (which config names which strategy)."""

from bot_runtime.strategies.base import (
    NullEvents,
    OrderResult,
    Strategy,
    StrategyEvents,
    StrategyPhase,
    StrategySnapshot,
)
from bot_runtime.strategies.registry import build_strategy

__all__ = [
    "NullEvents",
    "OrderResult",
    "Strategy",
    "StrategyEvents",
    "StrategyPhase",
    "StrategySnapshot",
    "build_strategy",
]
