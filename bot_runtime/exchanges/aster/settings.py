"""Aster connection settings (options and env, see :mod:`bot_runtime.exchanges._shared.settings`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields

DEFAULT_BASE_URL = "https://fapi.asterdex.com"
DEFAULT_WS_URL = "wss://fstream.asterdex.com"


class AsterSettings(VenueSettings):
    recv_window: int = Field(default=5000, gt=0, le=60000, description="ms a signed request stays valid")
    quote: str = Field(default="USDT", description="preferred quote when a base trades against several")
    listen_key_keepalive: float = Field(default=30 * 60, gt=0, description="seconds between listenKey keepalives")
    default_funding_interval_hours: int = Field(default=8, gt=0)
    open_interest_concurrency: int = Field(default=8, ge=0, description="0 disables per-symbol open interest")

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        return cls(
            **settings_fields(
                options,
                env,
                venue="aster",
                default_base_url=DEFAULT_BASE_URL,
                default_ws_url=DEFAULT_WS_URL,
                extra={
                    "recvWindow": "recv_window",
                    "quote": "quote",
                    "listenKeyKeepalive": "listen_key_keepalive",
                    "defaultFundingIntervalHours": "default_funding_interval_hours",
                    "openInterestConcurrency": "open_interest_concurrency",
                },
            )
        )
