"""Paradex connection settings (options and env, see :mod:`bot_runtime.exchanges._shared.settings`).

The environment is ``prod`` unless asked otherwise (option ``environment``, else ``PARADEX_ENVIRONMENT``): the
original perp-dex-tools client defaults to prod too (``os.getenv('PARADEX_ENVIRONMENT', 'prod')``; only its first
versions defaulted to testnet). ``testnet`` and ``nightly`` are used only when named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields

Environment = Literal["prod", "testnet", "nightly"]


class ParadexSettings(VenueSettings):
    environment: Environment = "prod"
    system_config: dict[str, Any] | None = Field(
        default=None, description="GET /system/config as JSON; fetched from baseUrl when not given"
    )
    order_confirm_timeout: float = Field(
        default=5.0, ge=0, description="seconds to wait for NEW → OPEN/CLOSED after placing (post-only check)"
    )
    order_confirm_poll: float = Field(default=0.1, gt=0)
    default_funding_period_hours: float = Field(default=8.0, gt=0)

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        environment = str(options.get("environment") or env.get("PARADEX_ENVIRONMENT") or "prod").strip().lower()
        if environment not in {"prod", "testnet", "nightly"}:
            raise ValueError(f"paradex: PARADEX_ENVIRONMENT must be prod, testnet or nightly, not {environment!r}")
        fields = settings_fields(
            {k: v for k, v in options.items() if k != "environment"},
            env,
            venue="paradex",
            default_base_url=f"https://api.{environment}.paradex.trade/v1",
            default_ws_url=f"wss://ws.api.{environment}.paradex.trade/v1",
            extra={
                "systemConfig": "system_config",
                "orderConfirmTimeout": "order_confirm_timeout",
                "orderConfirmPoll": "order_confirm_poll",
                "defaultFundingPeriodHours": "default_funding_period_hours",
            },
        )
        return cls(environment=environment, **fields)
