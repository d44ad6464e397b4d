"""Price paths of the paper venue: seeded geometric Brownian motion, replay of a price file, or a scripted list.

A path is a pure function of its parameters: ``price(k)`` is the mid price after ``k`` steps. Paths are shared
between paper venues of one process (same clock, same seed, same symbol → the very same object), so ``paper-a`` and
``paper-b`` move together and a funding-arb pair on them is delta-neutral. The path's ``epoch`` (the time of step 0)
is fixed when it is first created, so every venue sharing it sees the same price at the same time.

Prices are :class:`~decimal.Decimal` throughout; only the standard-normal draws come from :mod:`random` and are
turned into decimals before use.
"""

from __future__ import annotations

import bisect
import csv
import random
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from pathlib import Path
from weakref import WeakKeyDictionary

from bot_runtime.clock import Clock

SECONDS_PER_YEAR = Decimal(365 * 24 * 3600)
_WINDOW = 200_000  # generated prices kept in memory; older ones are recomputed on demand (deterministic)


def stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (``hash()`` is salted per process)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode())


class PricePath(ABC):
    def __init__(self, epoch: float, step: float) -> None:
        self.epoch = epoch
        self.step = step

    def index_at(self, t: float) -> int:
        """The step index in force at time ``t`` (0 before the epoch)."""
        if t <= self.epoch:
            return 0
        return int((t - self.epoch) // self.step)

    def time_of(self, k: int) -> float:
        return self.epoch + k * self.step

    @abstractmethod
    def price(self, k: int) -> Decimal:
        """Mid price after ``k`` steps (``k`` >= 0)."""


class GbmPath(PricePath):
    """Geometric Brownian motion without drift (a martingale): p_k = p_{k-1} x exp(-s²/2 + s·z), s = vol·√(dt/yr)."""

    def __init__(
        self, start_price: Decimal, volatility: Decimal, step: float, seed: int, symbol: str, *, epoch: float
    ) -> None:
        super().__init__(epoch, step)
        self.start_price = start_price
        self.seed = stable_seed(seed, symbol)
        with localcontext() as ctx:
            ctx.prec = 28
            self._sigma = volatility * (Decimal(repr(step)) / SECONDS_PER_YEAR).sqrt()
            self._drift = -(self._sigma * self._sigma) / 2
        self._reset()

    def _reset(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a simulation, not cryptography
        self._offset = 0
        self._prices: list[Decimal] = [self.start_price]

    def _next(self, last: Decimal) -> Decimal:
        z = Decimal(repr(round(self._rng.gauss(0.0, 1.0), 12)))
        with localcontext() as ctx:
            ctx.prec = 28
            return last * (self._drift + self._sigma * z).exp()

    def price(self, k: int) -> Decimal:
        if k < 0:
            raise ValueError("negative step index")
        if k < self._offset:
            self._reset()  # recompute from the start: same seed, same path
        while self._offset + len(self._prices) <= k:
            self._prices.append(self._next(self._prices[-1]))
            if len(self._prices) > _WINDOW:
                drop = len(self._prices) - _WINDOW // 2
                del self._prices[:drop]
                self._offset += drop
        return self._prices[k - self._offset]


class ScriptedPath(PricePath):
    """A given list of prices, one per step (tests); holds the last one afterwards."""

    def __init__(self, prices: Sequence[Decimal | str | int], step: float = 1.0, epoch: float = 0.0) -> None:
        super().__init__(epoch, step)
        if not prices:
            raise ValueError("a scripted path needs at least one price")
        self.prices = [Decimal(str(p)) for p in prices]

    def price(self, k: int) -> Decimal:
        return self.prices[min(max(k, 0), len(self.prices) - 1)]


class ReplayPath(PricePath):
    """Replay of a CSV ``timestamp,price`` file (epoch seconds or ISO 8601; an optional header line is skipped).

    Step ``k`` shows the last price at or before ``first timestamp + k x step``; after the end the last price holds.
    """

    def __init__(self, path: str | Path, step: float, epoch: float) -> None:
        super().__init__(epoch, step)
        self.source = str(path)
        times: list[float] = []
        prices: list[Decimal] = []
        with Path(path).open(newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}: expected 'timestamp,price' rows, got {row!r}")
                try:
                    ts = _parse_timestamp(row[0])
                    price = Decimal(row[1].strip())
                except (ValueError, ArithmeticError):
                    if not times:  # a header
                        continue
                    raise ValueError(f"{path}: bad row {row!r}") from None
                if price <= 0:
                    raise ValueError(f"{path}: price must be > 0 in row {row!r}")
                if times and ts < times[-1]:
                    raise ValueError(f"{path}: timestamps must not go back ({row[0]})")
                times.append(ts)
                prices.append(price)
        if not prices:
            raise ValueError(f"{path}: no prices")
        self._times = times
        self._prices = prices

    def price(self, k: int) -> Decimal:
        t = self._times[0] + max(k, 0) * self.step
        i = bisect.bisect_right(self._times, t) - 1
        return self._prices[max(i, 0)]


def _parse_timestamp(text: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------------------------------------------------
# sharing between venues of one process

_SHARED: WeakKeyDictionary[Clock, dict[tuple[object, ...], PricePath]] = WeakKeyDictionary()


def shared_gbm(
    clock: Clock, *, start_price: Decimal, volatility: Decimal, step: float, seed: int, symbol: str
) -> PricePath:
    paths = _SHARED.setdefault(clock, {})
    key: tuple[object, ...] = ("gbm", start_price, volatility, step, seed, symbol)
    if key not in paths:
        paths[key] = GbmPath(start_price, volatility, step, seed, symbol, epoch=clock.time())
    return paths[key]


def shared_replay(clock: Clock, *, path: str, step: float) -> PricePath:
    paths = _SHARED.setdefault(clock, {})
    key: tuple[object, ...] = ("replay", str(Path(path).resolve()), step)
    if key not in paths:
        paths[key] = ReplayPath(path, step, epoch=clock.time())
    return paths[key]
