"""The collector's runtime config: the FundingCollector spec as the operator renders it into ``config.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from bot_runtime.config import ConfigError, parse_duration
from bot_runtime.exchanges.registry import venue_spec

Seconds = Annotated[float, BeforeValidator(parse_duration)]


class CollectorConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    name: str = "collector"
    namespace: str | None = None
    exchanges: list[str] = Field(min_length=1, description="venues to collect, e.g. lighter, paper-a")
    interval: Seconds = Field(default=60.0, gt=0)
    timeout: Seconds = Field(default=20.0, gt=0, description="per exchange per cycle")
    symbols: list[str] = Field(default_factory=list, description="canonical symbols; empty = every market")
    funding_service_url: str | None = Field(default=None, alias="fundingServiceUrl")
    exchange_options: dict[str, dict[str, Any]] = Field(default_factory=dict, alias="exchangeOptions")
    buffer_cycles: int = Field(
        default=120, ge=1, alias="bufferCycles", description="cycles kept while the service is down"
    )

    @field_validator("exchanges")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            venue_spec(name)  # raises ValueError naming the unknown exchange
        if len(set(value)) != len(value):
            raise ValueError("an exchange is listed twice")
        return value

    @field_validator("symbols")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [s.strip().upper() for s in value if s.strip()]


def load_collector_config(path: str | Path) -> CollectorConfig:
    """A FundingCollector manifest (uses metadata + spec) or the bare rendered spec."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping")
    if "spec" in doc and "kind" in doc:
        meta = doc.get("metadata") or {}
        data = {**doc["spec"], "name": meta.get("name", "collector"), "namespace": meta.get("namespace")}
        url = (doc["spec"].get("fundingService") or {}).get("url")
        if url:
            data["fundingServiceUrl"] = url
    else:
        data = doc
    try:
        return CollectorConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{path}: {problems}") from None
