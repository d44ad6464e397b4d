"""Which paper venues a paper exchange simulates, and how (``PERPDEX_PX_VENUES_FILE``, a YAML list; default
:data:`DEFAULT_VENUES`).

Each entry::

    - name: paper-a                 # `paper` or `paper-<suffix>`
      options:                      # the TradingBot's `spec.paper` keys (PaperConfig): startPrice, volatility, seed,
        fundingRateHourly: "0.0001" #   makerFee, takerFee, fundingIntervalHours, leverage, startingBalanceUsd, step,
        symbols: [BTC, ETH, DOGE]   #   spreadTicks, tickSize, sizeStep, volumePerStepUsd; plus `symbols`
      mirror:                       # optional: paper trading on a live venue's public market (top of book, trades)
        venue: aster                #   instead of a random walk; see bot_runtime/paper_exchange/mirror.py
        symbols: [BTC, ETH]
        options: {wsUrl: ...}       #   the live venue's public-data options (no credentials)

A synthetic venue's prices are the seeded geometric Brownian motion of :mod:`bot_runtime.exchanges.paper.prices`
(venues with the same seed and start price move together), its funding the deterministic
:class:`~bot_runtime.exchanges.paper.funding.FundingModel` of its name: the same numbers the in-process simulator
produces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.symbols import venue_family

#: live venues whose public market a paper venue can mirror (bot_runtime/paper_exchange/mirror.py)
MIRROR_SOURCES = ("aster",)


class MirrorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    venue: str = Field(description=f"the live venue: {', '.join(MIRROR_SOURCES)}")
    symbols: list[str] = Field(min_length=1, description="the markets mirrored (canonical: BTC, ETH, ...)")
    options: dict[str, Any] = Field(default_factory=dict, description="its public-data options (wsUrl)")

    @field_validator("venue")
    @classmethod
    def _live(cls, v: str) -> str:
        if v not in MIRROR_SOURCES:
            raise ValueError(f"mirror: {v!r} is not supported; one of {', '.join(MIRROR_SOURCES)}")
        return v


class VenueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    mirror: MirrorConfig | None = None

    @field_validator("name")
    @classmethod
    def _paper(cls, v: str) -> str:
        if venue_family(v) != "paper":
            raise ValueError(f"a paper venue's name is 'paper' or 'paper-<suffix>', not {v!r}")
        return v

    def paper_options(self) -> PaperOptions:
        return PaperOptions.parse(self.name, self.options)


DEFAULT_VENUES: tuple[VenueConfig, ...] = tuple(VenueConfig(name=n) for n in ("paper", "paper-a", "paper-b", "paper-c"))


def load_venues(path: Path | None) -> list[VenueConfig]:
    """The venues of ``path`` (a YAML list), or the defaults; names must be unique."""
    if path is None:
        return list(DEFAULT_VENUES)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of venues")
    venues = [VenueConfig.model_validate(item) for item in data]
    names = [v.name for v in venues]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: venue names must be unique")
    for venue in venues:
        venue.paper_options()  # fail at start on a bad option
        if venue.mirror is not None:
            missing = set(venue.mirror.symbols) - set(venue.paper_options().start_prices())
            if missing:
                raise ValueError(f"{path}: venue {venue.name}: mirrored {sorted(missing)} not in options.symbols")
    return venues
