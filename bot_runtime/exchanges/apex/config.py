"""ApeX Omni connection settings: the CR's ``options`` with env fallbacks.

Endpoints are the SDK's (``apexomni/constants.py``): REST ``https://omni.apex.exchange`` + ``/api`` (``URL_SUFFIX``),
testnet ``https://qa.omni.apex.exchange/api``; the quote WebSocket ``wss://quote.omni.apex.exchange`` (testnet
``wss://qa-quote.omni.apex.exchange``). Options: ``network`` (mainnet|testnet), ``baseUrl``, ``wsUrl``,
``tickerConcurrency`` (the funding adapter's parallel ``/v3/ticker`` reads) and the common ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import Field

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields

NAME = "apex"
URLS = {  # apexomni/constants.py APEX_OMNI_HTTP_* + URL_SUFFIX, APEX_OMNI_WS_*
    "mainnet": ("https://omni.apex.exchange/api", "wss://quote.omni.apex.exchange"),
    "testnet": ("https://qa.omni.apex.exchange/api", "wss://qa-quote.omni.apex.exchange"),
}

Network = Literal["mainnet", "testnet"]


class ApexSettings(VenueSettings):
    network: Network = "mainnet"
    ticker_concurrency: int = Field(default=8, ge=1, le=64, description="parallel /v3/ticker reads per cycle")

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        network = str(options.get("network") or env.get("APEX_NETWORK") or "mainnet").lower()
        rest, ws = URLS.get(network, URLS["mainnet"])
        fields = settings_fields(
            options,
            env,
            venue=NAME,
            default_base_url=rest,
            default_ws_url=ws,
            extra={"network": "network", "tickerConcurrency": "ticker_concurrency"},
        )
        fields["network"] = network if network in URLS else "mainnet"
        return cls(**fields)
