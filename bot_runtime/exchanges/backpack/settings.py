"""Backpack connection settings (options and env, see :mod:`bot_runtime.exchanges._shared.settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Self

from pydantic import Field

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields

DEFAULT_BASE_URL = "https://api.backpack.exchange"
DEFAULT_WS_URL = "wss://ws.backpack.exchange"


class BackpackSettings(VenueSettings):
    window: int = Field(default=5000, gt=0, le=60000, description="ms a signed request stays valid (X-Window)")
    default_funding_interval_hours: Decimal = Field(
        default=Decimal(1), gt=0, description="used when a market does not publish fundingInterval"
    )

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        return cls(
            **settings_fields(
                options,
                env,
                venue="backpack",
                default_base_url=DEFAULT_BASE_URL,
                default_ws_url=DEFAULT_WS_URL,
                extra={"window": "window", "defaultFundingIntervalHours": "default_funding_interval_hours"},
            )
        )
