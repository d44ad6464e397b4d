"""The bot's runtime configuration: the TradingBot ``spec`` (SPEC §3) as pydantic v2 models.

One model for everyone: the operator validates a TradingBot against it and renders it (plus the runtime-only fields
``name``, ``namespace``, ``fundingServiceUrl``, ``exchangeOptions``) into the bot's ConfigMap; the runner loads that
file with :func:`load_config`. Field names are the CRD's camelCase (``takeProfit``, ``waitTime``); the Python
attribute names are snake_case and both spellings are accepted on input. ``model_dump(by_alias=True, mode="json")``
gives back a mapping that :func:`load_config` / :meth:`BotConfig.model_validate` accept again (round trip).

Money and rates are :class:`~decimal.Decimal` (strings, ints and YAML floats accepted: floats go through ``str`` so
``0.02`` stays ``Decimal("0.02")``). Durations accept ``"450s"``, ``"1m30s"``, ``"1h"``, ``"250ms"`` or a number of
seconds, and are held as seconds (``float``).

Cross-field rules are the CRD's CEL rules; every error names the field (``spec.grid.quantity: ...``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bot_runtime.exchanges.base import Side
from bot_runtime.exchanges.symbols import venue_family

API_VERSION = "perpdex.io/v1alpha1"
KIND = "TradingBot"

GRID_EXCHANGES = (
    "lighter",
    "grvt",
    "edgex",
    "paradex",
    "backpack",
    "aster",
    "hyperliquid",
    "extended",
    "ethereal",
    "nado",
    "apex",
    "paper",
)
KNOWN_VENUE_FAMILIES = frozenset(GRID_EXCHANGES)
NOTIFICATION_EVENTS = ("start", "stop", "fill", "risk", "error", "daily")


class ConfigError(ValueError):
    """An invalid bot configuration; the message names every offending field (``spec.grid.quantity: ...``)."""


# ---------------------------------------------------------------------------------------------------------------------
# scalar types

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> float:
    """``"450s"`` → 450.0; ``"1m30s"`` → 90.0; ``"1h"`` → 3600.0; ``"250ms"`` → 0.25; ``30`` → 30.0 (seconds)."""
    if isinstance(value, bool):
        raise ValueError("a duration such as '450s', '1m30s' or a number of seconds")
    if isinstance(value, int | float | Decimal):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        try:
            seconds = float(text)
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not text or "".join(n + u for n, u in parts) != text:
                raise ValueError(f"{value!r} is not a duration such as '450s', '1m30s', '1h' or '250ms'") from None
            seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    else:
        raise ValueError("a duration such as '450s', '1m30s' or a number of seconds")
    if seconds < 0:
        raise ValueError("a duration cannot be negative")
    return seconds


def format_duration(seconds: float) -> str:
    """Inverse of :func:`parse_duration` for round trips: 450.0 → ``"450s"``, 0.25 → ``"0.25s"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{seconds:g}s"


def _to_decimal(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a decimal number (string such as '0.01')")
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a decimal number") from None
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite number")
    return value


Dec = Annotated[Decimal, BeforeValidator(_to_decimal), PlainSerializer(lambda d: str(_finite(d)), return_type=str)]
Seconds = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _positive(value: Decimal | None, what: str = "must be > 0") -> Decimal | None:
    if value is not None and (not value.is_finite() or value <= 0):
        raise ValueError(what)
    return value


def _non_negative(value: Decimal | None) -> Decimal | None:
    if value is not None and (not value.is_finite() or value < 0):
        raise ValueError("must be >= 0")
    return value


def _off_when_negative(value: Any) -> Any:
    """The original used -1 for "off" (``--stop-price -1``); accept it as null."""
    value = _to_decimal(value)
    if isinstance(value, Decimal | int) and value < 0:
        return None
    return value


# ---------------------------------------------------------------------------------------------------------------------
# enums


class StrategyKind(StrEnum):
    GRID = "grid"
    FUNDING_ARB = "fundingArb"


class OnStop(StrEnum):
    """What a *stopping* bot does (pause, deletion, stopPrice, a risk action; SIGTERM outside Kubernetes).

    A *restart* in Kubernetes (SIGTERM while the TradingBot is neither paused nor being deleted: a spec edit, a
    rollout, a drain, an eviction, a liveness kill) never applies it: it cancels only the pending entry order
    (:attr:`CANCEL_ENTRIES`) and leaves take-profits and the position to the next process.
    """

    CANCEL_ENTRIES = "cancelEntries"  # entry orders only; take-profits keep resting (the original on Ctrl-C)
    CANCEL_ORDERS = "cancelOrders"
    CLOSE_POSITIONS = "closePositions"
    LEAVE = "leave"


class OnBreach(StrEnum):
    """What the risk manager does after a limit breach (the bot's phase becomes RiskHalted either way)."""

    PAUSE = "pause"  # no new orders, cancel the bot's resting orders, keep the position
    CLOSE_ALL = "closeAll"  # cancel, then reduce-only exit to flat


# ---------------------------------------------------------------------------------------------------------------------
# sections


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, validate_default=True
    )


class SecretRef(_Section):
    secret_name: str = Field(min_length=1, description="name of a Secret in the bot's namespace")


class GridConfig(_Section):
    quantity: Dec = Field(description="base-asset size per order (contract units of the venue)")
    take_profit: Dec = Field(Decimal("0.02"), description="percent distance of the close order from the fill price")
    direction: Side = Field(Side.BUY, description="buy: open longs, close above; sell: open shorts, close below")
    max_orders: int = Field(40, ge=1, description="cap on resting close orders")
    wait_time: Seconds = Field(
        450.0, description="cooldown after an entry fill before the next open (scaled by how full the grid is)"
    )
    grid_step: Dec = Field(Decimal(-100), description="min percent distance between close orders; -100 disables")
    stop_price: Annotated[Dec | None, BeforeValidator(_off_when_negative)] = Field(
        None, description="buy: stop once ask >= stopPrice (sell: bid <=); null/-1 = off"
    )
    pause_price: Annotated[Dec | None, BeforeValidator(_off_when_negative)] = Field(
        None, description="buy: no new opens while ask >= pausePrice (sell: bid <=); null/-1 = off"
    )
    boost_mode: bool = Field(False, description="close at market right after each fill (volume farming)")

    @field_validator("quantity")
    @classmethod
    def _pos(cls, v: Decimal) -> Decimal:
        _positive(v)
        return v

    @field_validator("take_profit")
    @classmethod
    def _take_profit(cls, v: Decimal) -> Decimal:
        _non_negative(v)  # 0: close at the fill price (the original accepts it)
        return v

    @field_validator("stop_price", "pause_price")
    @classmethod
    def _pos_or_none(cls, v: Decimal | None) -> Decimal | None:
        return _positive(v)

    @field_validator("grid_step")
    @classmethod
    def _grid_step(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < -100:
            raise ValueError("must be >= -100 (-100 disables the spacing check)")
        return v

    @field_validator("wait_time")
    @classmethod
    def _wait(cls, v: float) -> float:
        if v < 0:
            raise ValueError("must be >= 0 (0: no cooldown, as the original allows)")
        return v

    @property
    def grid_step_enabled(self) -> bool:
        return self.grid_step > -100


class LoneLeg(StrEnum):
    """What an entry does when one leg filled and the other did not (fundingArb.loneLeg)."""

    COMPLETE = "complete"  # send the missing leg again within singleLegTimeout; unwind only if that fails
    UNWIND = "unwind"  # unwind the filled excess at once


class ExitOrders(StrEnum):
    """How a pair leaves on a rate-based exit (fundingArb.exitOrders); safety exits are always IOC."""

    MAKER_FIRST = "makerFirst"  # post-only at the touch first, IOC for what is left after exitMakerTimeout
    IOC = "ioc"  # reduce-only IOC at once


class SizingMode(StrEnum):
    FIXED_USD = "fixedUsd"  # positionSizeUsd per leg
    MARGIN = "margin"  # marginUsd x leverage per leg, capped by each venue's max leverage


class FundingArbSizing(_Section):
    """How large a new pair's legs are (fundingArb.sizing): mode margin is capped by risk.maxPositionUsd, both modes by
    maxExposurePerVenueUsd."""

    mode: SizingMode = Field(SizingMode.FIXED_USD)
    margin_usd: Dec | None = Field(None, description="margin per leg (mode margin)")
    leverage: Dec = Field(Decimal(1), description="target leverage (mode margin), capped by each venue's maximum")

    @field_validator("margin_usd", "leverage")
    @classmethod
    def _pos(cls, v: Decimal | None) -> Decimal | None:
        return _positive(v)

    @model_validator(mode="after")
    def _margin(self) -> FundingArbSizing:
        if self.mode is SizingMode.MARGIN and self.margin_usd is None:
            raise ValueError("sizing.mode margin needs sizing.marginUsd")
        return self


class FundingArbConfig(_Section):
    exchanges: list[str] = Field(default_factory=list, description="venues to pair (>= 2)")
    symbols: list[str] = Field(default_factory=list, description="canonical symbols; empty = all on >= 2 venues")
    position_size_usd: Dec = Field(Decimal(1000), description="notional per leg")
    max_positions: int = Field(3, ge=1)
    min_net_apr: Dec = Field(Decimal("0.15"), description="open when fee-adjusted APR over holdHours >= this")
    exit_net_apr: Dec = Field(Decimal("0.03"), description="close when the current net APR falls below this")
    hold_hours: Dec = Field(Decimal(72), description="horizon used to amortise entry+exit fees")
    min_hold_hours: Dec = Field(Decimal(0))
    max_hold_hours: Dec = Field(Decimal(168))
    erosion_exit_ratio: Dec = Field(Decimal("0.5"), description="exit when spread < ratio x entry spread")
    max_new_positions_per_cycle: int = Field(2, ge=1)
    required_exchange: str | None = None
    min_oi_usd: Dec | None = None
    max_oi_usd: Dec | None = Field(None, description="the original's low-OI farming cap (the service's max_oi)")
    sizing: FundingArbSizing = Field(default_factory=FundingArbSizing)
    max_exposure_per_venue_usd: Dec | None = Field(
        None, description="the bot's legs on one venue together (notional) stay within this"
    )
    min_volume24h_usd: Dec | None = Field(None, alias="minVolume24hUsd")
    max_entry_price_divergence_pct: Dec = Field(Decimal("0.5"))
    single_leg_timeout: Seconds = Field(30.0)
    exit_orders: ExitOrders = Field(ExitOrders.MAKER_FIRST)
    exit_maker_timeout: Seconds = Field(
        20.0, description="how long the maker exit orders rest (at most half of singleLegTimeout)"
    )
    exit_max_spread_bps: Dec = Field(
        Decimal(20), description="a rate-based exit waits while a leg's book spread is wider than this"
    )
    exit_max_deferral: Seconds = Field(600.0, description="the longest a rate-based exit waits for spreads (0 = never)")
    lone_leg: LoneLeg = Field(LoneLeg.COMPLETE, description="complete the missing leg first, or unwind at once")
    min_liquidation_distance_pct: Dec = Field(Decimal(10))
    max_leg_imbalance_pct: Dec = Field(Decimal(2))
    pre_funding_window: Seconds = Field(
        600.0,
        description="no entry this long before a funding time at which the new pair would pay funding (0 = off)",
    )
    hold_while_best: bool = Field(
        True, description="keep a pair past erosion and maxHoldHours while it is among its symbol's best"
    )
    hold_while_best_margin: Dec = Field(
        Decimal("0.05"), description="among the best: net APR >= the symbol's best net APR - this"
    )
    take_profit_usd: Dec | None = Field(None, description="close a pair once its funding PnL reaches this (USD)")
    take_profit_pct: Dec | None = Field(
        None, description="close a pair once its funding PnL reaches this percent of its notional"
    )

    @field_validator("exchanges")
    @classmethod
    def _exchanges(cls, v: list[str]) -> list[str]:
        for name in v:
            if venue_family(name) not in KNOWN_VENUE_FAMILIES:
                raise ValueError(f"unknown exchange {name!r}")
        if len(set(v)) != len(v):
            raise ValueError("exchanges must be unique")
        return v

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        return [s.strip().upper() for s in v]

    @field_validator("position_size_usd", "hold_hours", "max_hold_hours", "erosion_exit_ratio")
    @classmethod
    def _pos(cls, v: Decimal) -> Decimal:
        _positive(v)
        return v

    @field_validator(
        "min_net_apr",
        "exit_net_apr",
        "min_hold_hours",
        "min_oi_usd",
        "min_volume24h_usd",
        "max_entry_price_divergence_pct",
        "min_liquidation_distance_pct",
        "max_leg_imbalance_pct",
        "hold_while_best_margin",
        "exit_max_spread_bps",
    )
    @classmethod
    def _non_neg(cls, v: Decimal | None) -> Decimal | None:
        return _non_negative(v)

    @field_validator("take_profit_usd", "take_profit_pct", "max_oi_usd", "max_exposure_per_venue_usd")
    @classmethod
    def _pos_opt(cls, v: Decimal | None) -> Decimal | None:
        return _positive(v)

    @model_validator(mode="after")
    def _cross(self) -> FundingArbConfig:
        if self.exit_net_apr >= self.min_net_apr:
            raise ValueError("exitNetApr must be < minNetApr")
        if self.min_hold_hours > self.max_hold_hours:
            raise ValueError("minHoldHours must be <= maxHoldHours")
        if self.required_exchange is not None and self.required_exchange not in self.exchanges:
            raise ValueError("requiredExchange must be one of exchanges")
        return self


class PaperConfig(_Section):
    """The simulated venue (``exchange: paper``; funding-arb may use ``paper-a``, ``paper-b``, ...).

    The first five fields are SPEC §3's; the rest tune the simulation and have defaults that behave like a liquid
    perpetual (override per named venue through ``exchangeOptions``).
    """

    start_price: Dec = Field(Decimal(60000), description="price of the traded ticker at start")
    volatility: Dec = Field(Decimal("0.6"), description="annualised volatility of the geometric Brownian motion")
    funding_rate_hourly: Dec | None = Field(
        None,
        description="funding rate per hour (longs pay when > 0); null: 0.00001 on `paper`, a rate derived from the"
        " seed and the name on `paper-a`, `paper-b`, ... (so named venues differ)",
    )
    seed: int = Field(42, description="same seed -> same price path")
    starting_balance_usd: Dec = Field(Decimal(10000))
    price_file: str | None = Field(None, description="CSV 'timestamp,price' replayed instead of the simulation")
    step: Seconds = Field(1.0, description="simulation step (the price moves once per step)")
    spread_ticks: int = Field(2, ge=1, description="top-of-book spread in ticks")
    tick_size: Dec | None = Field(None, description="default: about 0.1 bp of the start price, a power of ten")
    size_step: Dec | None = Field(None, description="default: a power of ten worth about 1 USD")
    maker_fee: Dec = Field(Decimal("0.0002"))
    taker_fee: Dec = Field(Decimal("0.0005"))
    leverage: Dec = Field(Decimal(10))
    funding_interval_hours: Dec | None = Field(
        None, description="null: 1 h on `paper`, `paper-a`, `paper-c`, ...; 8 h on `paper-b`, `paper-d`, ..."
    )
    volume_per_step_usd: Dec = Field(Decimal(50000), description="traded notional per step available to resting orders")

    @field_validator("start_price", "starting_balance_usd", "leverage", "volume_per_step_usd")
    @classmethod
    def _pos(cls, v: Decimal) -> Decimal:
        _positive(v)
        return v

    @field_validator("tick_size", "size_step", "funding_interval_hours")
    @classmethod
    def _pos_opt(cls, v: Decimal | None) -> Decimal | None:
        return _positive(v)

    @field_validator("volatility")
    @classmethod
    def _vol(cls, v: Decimal) -> Decimal:
        _non_negative(v)
        return v

    @field_validator("step")
    @classmethod
    def _step(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("must be > 0")
        return v


class RiskConfig(_Section):
    """Limits checked before every order and on a timer. ``null`` disables a limit. The original's rules
    (emergency close-all at 15 % equity loss, repeated margin failures) are always on."""

    max_position_usd: Dec | None = Field(None, description="max absolute position notional per market")
    max_open_orders: int | None = Field(None, ge=1, description="max resting orders of the bot")
    max_daily_loss_usd: Dec | None = Field(None, description="max equity loss since 00:00 UTC")
    max_drawdown_pct: Dec | None = Field(None, description="max percent equity drop from its peak")
    min_margin_ratio: Dec | None = Field(None, description="min equity / total position notional")
    on_breach: OnBreach = Field(OnBreach.PAUSE)

    @field_validator("max_position_usd", "max_daily_loss_usd", "max_drawdown_pct", "min_margin_ratio")
    @classmethod
    def _pos(cls, v: Decimal | None) -> Decimal | None:
        return _positive(v)


class NotificationsConfig(_Section):
    telegram: SecretRef | None = Field(None, description="keys TELEGRAM_BOT_TOKEN, TELEGRAM_CHAT_ID")
    lark: SecretRef | None = Field(None, description="key LARK_TOKEN (or LARK_WEBHOOK_URL)")
    events: list[str] = Field(default_factory=lambda: list(NOTIFICATION_EVENTS))

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e not in NOTIFICATION_EVENTS]
        if bad:
            raise ValueError(f"unknown event(s) {', '.join(bad)}; known: {', '.join(NOTIFICATION_EVENTS)}")
        return v


class ExchangeOptions(_Section):
    """Per-exchange runtime options the operator renders (base URL overrides for tests, venue-specific knobs).

    Extra keys are kept as given and passed to the venue's ``create_exchange(name, options, env)``; for paper venues
    they override :class:`PaperConfig` fields (e.g. ``{"fundingRateHourly": "0.0001"}`` for ``paper-b``).
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow", frozen=True)

    base_url: str | None = None
    ws_url: str | None = None


# ---------------------------------------------------------------------------------------------------------------------
# the bot


class BotConfig(_Section):
    # runtime-only (rendered by the operator; defaults for local runs)
    name: str = Field("bot", min_length=1, description="the TradingBot's metadata.name")
    namespace: str | None = Field(None, description="the TradingBot's namespace (None outside Kubernetes)")
    funding_service_url: str | None = Field(None, description="base URL of the funding service (fundingArb)")
    exchange_options: dict[str, ExchangeOptions] = Field(default_factory=dict)

    # spec
    strategy: StrategyKind
    exchange: str | None = Field(None, description="grid: the venue; fundingArb: optional label (e.g. 'multi')")
    ticker: str | None = Field(None, description="grid: canonical base asset, e.g. BTC")
    credentials: dict[str, SecretRef] = Field(default_factory=dict)
    grid: GridConfig | None = None
    funding_arb: FundingArbConfig | None = None
    paper: PaperConfig = Field(default_factory=PaperConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    notifications: NotificationsConfig = Field(default_factory=NotificationsConfig)
    paused: bool = False
    on_stop: OnStop = OnStop.CANCEL_ENTRIES
    image: str | None = None
    resources: dict[str, Any] = Field(default_factory=dict)

    @field_validator("ticker")
    @classmethod
    def _ticker(cls, v: str | None) -> str | None:
        if v is None:
            return None
        v = v.strip().upper()
        if not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _cross(self, info: ValidationInfo) -> BotConfig:
        if self.strategy is StrategyKind.GRID:
            if self.grid is None:
                raise ValueError("spec.grid is required when strategy is grid")
            if not self.ticker:
                raise ValueError("spec.ticker is required when strategy is grid")
            if not self.exchange:
                raise ValueError("spec.exchange is required when strategy is grid")
            if venue_family(self.exchange) not in KNOWN_VENUE_FAMILIES:
                raise ValueError(
                    f"spec.exchange: unknown exchange {self.exchange!r}; one of {', '.join(GRID_EXCHANGES)}"
                )
        else:
            if self.funding_arb is None:
                raise ValueError("spec.fundingArb is required when strategy is fundingArb")
            if len(self.funding_arb.exchanges) < 2:
                raise ValueError("spec.fundingArb.exchanges needs at least 2 exchanges")
        context = info.context if isinstance(info.context, Mapping) else {}
        if context.get("require_credentials", True):
            missing = [ex for ex in self.exchanges_used if venue_family(ex) != "paper" and ex not in self.credentials]
            if missing:
                raise ValueError(f"spec.credentials: no entry for exchange(s) {', '.join(missing)}")
        return self

    # helpers ----------------------------------------------------------------------------------------------------------
    @property
    def exchanges_used(self) -> list[str]:
        """The venues this bot trades on (grid: one; fundingArb: its list)."""
        if self.strategy is StrategyKind.GRID:
            return [self.exchange] if self.exchange else []
        return list(self.funding_arb.exchanges) if self.funding_arb else []

    def venue_options(self, exchange: str) -> dict[str, Any]:
        """Options for ``create_exchange(exchange, options, env)``: for paper venues the ``paper`` section (plus the
        ticker) overridden by ``exchangeOptions[exchange]``; for real venues ``exchangeOptions[exchange]``."""
        options: dict[str, Any] = {}
        if venue_family(exchange) == "paper":
            options.update(self.paper.model_dump(by_alias=True, mode="json", exclude_none=True))
            if self.ticker:
                options["ticker"] = self.ticker
        override = self.exchange_options.get(exchange)
        if override is not None:
            options.update(override.model_dump(by_alias=True, mode="json", exclude_none=True))
        return options


# ---------------------------------------------------------------------------------------------------------------------
# loading


def _format_errors(exc: ValidationError, prefix: str) -> str:
    lines = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(part) for part in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if message.startswith("spec.") or not loc:
            lines.append(message if message.startswith("spec.") else f"{prefix}: {message}")
        else:
            lines.append(f"{prefix}.{loc}: {message}")
    return "; ".join(lines)


def parse_config(data: Mapping[str, Any], *, require_credentials: bool = True) -> BotConfig:
    """Validate a TradingBot manifest (``apiVersion/kind/metadata/spec``) or a bare spec mapping.

    From a manifest, ``metadata.name`` / ``metadata.namespace`` fill ``name`` / ``namespace`` unless the mapping
    sets them. ``require_credentials=False`` skips the "every non-paper exchange has a credentials entry" rule
    (local runs take credentials straight from the environment). Raises :class:`ConfigError`.
    """
    if not isinstance(data, Mapping):
        raise ConfigError("config: expected a mapping (a TradingBot manifest or its spec)")
    if "spec" in data and ("kind" in data or "apiVersion" in data or "metadata" in data):
        kind = data.get("kind")
        if kind not in (None, KIND):
            raise ConfigError(f"kind: expected {KIND}, got {kind!r}")
        spec = data.get("spec")
        if not isinstance(spec, Mapping):
            raise ConfigError("spec: expected a mapping")
        body = dict(spec)
        metadata = data.get("metadata") or {}
        if isinstance(metadata, Mapping):
            if metadata.get("name") and "name" not in body:
                body["name"] = metadata["name"]
            if metadata.get("namespace") and "namespace" not in body:
                body["namespace"] = metadata["namespace"]
    else:
        body = dict(data)
    try:
        return BotConfig.model_validate(body, context={"require_credentials": require_credentials})
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, "spec")) from None


def load_config(path: str | Path, *, require_credentials: bool = True) -> BotConfig:
    """Read a YAML or JSON file (TradingBot manifest or bare spec) into a :class:`BotConfig`."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON: {exc}") from None
    if data is None:
        raise ConfigError(f"{path}: empty config")
    return parse_config(data, require_credentials=require_credentials)


def dump_config(config: BotConfig) -> dict[str, Any]:
    """The JSON-ready camelCase mapping the operator writes into the ConfigMap (round-trips through parse_config)."""
    return config.model_dump(by_alias=True, mode="json", exclude_none=True)
