"""The ingest contract between a collector and the funding service: one collector cycle per request.

``POST /api/v1/ingest/funding-rates`` takes an :class:`IngestBatch`; the collector builds it from the
:class:`~bot_runtime.exchanges.base.FundingRate` rows its venues returned (:meth:`IngestRate.from_funding_rate`).
The batch is validated whole: one bad row rejects the batch and nothing is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from bot_runtime.exchanges.base import FundingRate

# bounds that keep garbage out of ``numeric`` columns without limiting any real market
_MAX_AMOUNT = Decimal("1e15")
DEX_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
SYMBOL_PATTERN = r"^[A-Z0-9][A-Z0-9._]{0,39}$"
CYCLE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
MAX_ERROR_CHARS = 2000


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _no_number(value: object) -> object:
    """Timestamps travel as ISO 8601 strings: a bare number (Unix time? ms?) is refused, never guessed."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        raise ValueError("expected an ISO 8601 date-time string with an offset, not a number")
    return value


# funding data is recent: an instant outside these years is garbage (and year 1 or 9999 with an offset does not even
# convert to UTC, which every database write does)
_FIRST_YEAR, _LAST_YEAR = 2000, 2199


def _plausible_instant(value: datetime) -> datetime:
    message = f"date-time out of range: expected a UTC year within {_FIRST_YEAR}-{_LAST_YEAR}"
    try:
        year = value.astimezone(UTC).year
    except OverflowError:
        raise ValueError(message) from None
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise ValueError(message)
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_no_number), AfterValidator(_plausible_instant)]
DexName = Annotated[str, BeforeValidator(_lower), StringConstraints(pattern=DEX_NAME_PATTERN)]
CanonicalSymbol = Annotated[str, BeforeValidator(_upper), StringConstraints(pattern=SYMBOL_PATTERN)]
# at most 40 significant digits, 30 of them after the point: real data never needs more, and ``numeric`` stays sane
_DIGITS = {"max_digits": 40, "decimal_places": 30}
Amount = Annotated[Decimal, Field(ge=0, lt=_MAX_AMOUNT, **_DIGITS)]
Price = Annotated[Decimal, Field(gt=0, lt=_MAX_AMOUNT, **_DIGITS)]


class IngestRate(FundingRate):
    """One market's funding data at collection time (a validated :class:`FundingRate`).

    ``rate`` is the raw rate per funding interval (a fraction), stored as given with ``interval_hours``.
    """

    exchange: DexName = Field(description="venue name: one of the registered dexes, or a `paper-*` venue")
    symbol: CanonicalSymbol = Field(description="canonical base asset (bot_runtime.exchanges.symbols)")
    venue_symbol: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    multiplier: Decimal = Field(default=Decimal(1), gt=0, le=Decimal(10) ** 9, max_digits=40, decimal_places=30)
    rate: Decimal = Field(
        ge=-1, le=1, max_digits=40, decimal_places=30, description="raw rate per funding interval (0.0001 = 1 bp)"
    )
    interval_hours: Decimal = Field(
        gt=0, le=168, max_digits=20, decimal_places=10, description="funding interval of this market, hours"
    )
    mark_price: Price | None = None
    index_price: Price | None = None
    open_interest_usd: Amount | None = None
    volume_24h_usd: Amount | None = None
    best_bid: Price | None = None
    best_ask: Price | None = None
    min_order_size: Price | None = Field(
        default=None, description="the market's minimum order size in base units of `symbol` (null: not reported)"
    )
    next_funding_time: Timestamp | None = None
    collected_at: Timestamp

    @classmethod
    def from_funding_rate(cls, rate: FundingRate) -> Self:
        return cls.model_validate(rate.model_dump())


class ExchangeReport(BaseModel):
    """How one venue did in the cycle (feeds the dex health: last success, consecutive errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: DexName
    ok: StrictBool
    markets: StrictInt = Field(default=0, ge=0, le=1_000_000, description="markets fetched")
    error: str | None = Field(default=None, description="error summary when not ok (truncated to 2000 characters)")
    latency_ms: float | None = Field(default=None, ge=0, le=86_400_000)

    @field_validator("error")
    @classmethod
    def _truncate(cls, value: str | None) -> str | None:
        return value[:MAX_ERROR_CHARS] if value is not None else None


class IngestBatch(BaseModel):
    """One collector cycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycle_id: Annotated[str, StringConstraints(pattern=CYCLE_ID_PATTERN)] = Field(
        description="unique id of the cycle (a replay of the same cycle is a no-op)"
    )
    started_at: Timestamp
    finished_at: Timestamp
    rates: list[IngestRate] = Field(default_factory=list)
    exchanges: list[ExchangeReport] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.finished_at < self.started_at:
            raise ValueError("finished_at is before started_at")
        names = [e.name for e in self.exchanges]
        if len(names) != len(set(names)):
            raise ValueError("exchanges lists a venue twice")
        return self

    def dex_names(self) -> set[str]:
        return {r.exchange for r in self.rates} | {e.name for e in self.exchanges}


class IngestResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    cycle_id: str
    rates_received: int = Field(description="rows in the batch")
    rates_stored: int = Field(description="distinct (dex, symbol, funding period) rows inserted or refreshed")
    latest_updated: int = Field(description="(dex, symbol) pairs whose latest rate this batch set")
    exchanges_logged: int
    dexes_registered: list[str] = Field(description="paper venues registered by this batch")
    opportunities_recorded: int
    received_at: datetime
