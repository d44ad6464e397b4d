"""The market set of a paper venue and the price path of each market, from its :class:`~.options.PaperOptions`.

The paper exchange (which trades on them) and the paper funding source (which reports marks and tops of book from
them) build the same markets and the same paths from the same options, so both always agree. Paths are shared per
clock and parameters: two venues on one clock with the same start price, volatility, step, seed and symbol see the
same prices (:func:`.prices.shared_gbm`).
"""

from __future__ import annotations

from bot_runtime.clock import Clock
from bot_runtime.exchanges.base import Market
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import PricePath, shared_gbm, shared_replay


def build_markets(options: PaperOptions) -> dict[str, Market]:
    markets: dict[str, Market] = {}
    for symbol, start in options.start_prices().items():
        step = options.size_step(start, symbol)
        markets[symbol] = Market(
            symbol=symbol,
            venue_symbol=f"{symbol}-PERP",
            contract_id=symbol,
            tick_size=options.tick_size(start, symbol),
            size_step=step,
            min_size=step,
            maker_fee=options.config.maker_fee,
            taker_fee=options.config.taker_fee,
            max_leverage=options.config.leverage,
        )
    return markets


def build_paths(options: PaperOptions, clock: Clock) -> dict[str, PricePath]:
    paths: dict[str, PricePath] = {}
    cfg = options.config
    for symbol, start in options.start_prices().items():
        if symbol == options.primary and cfg.price_file:
            paths[symbol] = shared_replay(clock, path=cfg.price_file, step=cfg.step)
        else:
            paths[symbol] = shared_gbm(
                clock, start_price=start, volatility=cfg.volatility, step=cfg.step, seed=cfg.seed, symbol=symbol
            )
    return paths
