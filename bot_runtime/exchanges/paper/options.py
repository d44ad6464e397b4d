"""Options of a paper venue, from the mapping ``create_exchange(name, options, env)`` receives.

Keys are :class:`~bot_runtime.config.PaperConfig`'s (camelCase or snake_case), plus:

- ``ticker``: the bot's market; its start price is ``startPrice`` (default BTC);
- ``symbols``: more markets, a list of symbols or a mapping symbol → start price (BTC, ETH and SOL always exist);
- ``clock``: a :class:`~bot_runtime.clock.Clock` instance (tests pass a virtual clock; default: real time).

Unknown keys (e.g. ``baseUrl``) are ignored: a paper venue has no URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from bot_runtime.clock import Clock
from bot_runtime.config import PaperConfig

DEFAULT_SEED = 42
DEFAULT_MARKETS: dict[str, Decimal] = {"BTC": Decimal(60000), "ETH": Decimal(3000), "SOL": Decimal(150)}

_KNOWN: set[str] = set()
for _name, _field in PaperConfig.model_fields.items():
    _KNOWN.add(_name)
    if _field.alias:
        _KNOWN.add(_field.alias)


@dataclass(frozen=True)
class PaperOptions:
    config: PaperConfig
    ticker: str | None = None
    extra_symbols: dict[str, Decimal] = field(default_factory=dict)
    clock: Clock | None = None

    @classmethod
    def parse(cls, name: str, options: Mapping[str, Any]) -> PaperOptions:
        data = {k: v for k, v in options.items() if k in _KNOWN}
        try:
            config = PaperConfig.model_validate(data)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {str(err['msg']).removeprefix('Value error, ')}"
                for err in exc.errors(include_url=False)
            )
            raise ValueError(f"{name}: invalid paper options: {details}") from None
        ticker = options.get("ticker")
        symbols = options.get("symbols") or {}
        extra: dict[str, Decimal] = {}
        if isinstance(symbols, Mapping):
            extra = {str(k).upper(): Decimal(str(v)) for k, v in symbols.items()}
        else:
            for symbol in symbols:
                extra[str(symbol).upper()] = DEFAULT_MARKETS.get(str(symbol).upper(), Decimal(100))
        clock = options.get("clock")
        if clock is not None and not isinstance(clock, Clock):
            raise ValueError(f"{name}: option 'clock' must be a Clock")
        return cls(config, str(ticker).upper() if ticker else None, extra, clock)

    # market set --------------------------------------------------------------------------------------------------------
    @property
    def primary(self) -> str:
        return self.ticker or "BTC"

    def start_prices(self) -> dict[str, Decimal]:
        prices = dict(DEFAULT_MARKETS)
        prices.update(self.extra_symbols)
        prices[self.primary] = self.config.start_price
        return prices

    def tick_size(self, start_price: Decimal, symbol: str) -> Decimal:
        if self.config.tick_size is not None and symbol == self.primary:
            return self.config.tick_size
        return _power_of_ten(start_price / Decimal(100_000))

    def size_step(self, start_price: Decimal, symbol: str) -> Decimal:
        if self.config.size_step is not None and symbol == self.primary:
            return self.config.size_step
        return _power_of_ten(Decimal(10) / start_price)

    # shortcuts -------------------------------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def step(self) -> float:
        return self.config.step

    @property
    def spread_ticks(self) -> int:
        return self.config.spread_ticks


def _power_of_ten(value: Decimal) -> Decimal:
    """The largest power of ten <= value (0.6 → 0.1, 12 → 10)."""
    if value <= 0:
        raise ValueError("must be > 0")
    return Decimal(1).scaleb(value.adjusted())
