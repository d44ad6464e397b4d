"""ApeX Omni connection settings (the CR's ``options`` with env fallbacks) and the account's credentials.

Credentials, as the SDK's clients take them (``api_key_credentials={'key', 'secret', 'passphrase'}``, ``zk_seeds``;
the names are the original perp-dex-tools' ApeX ones):

* ``APEX_API_KEY``, ``APEX_API_KEY_SECRET``, ``APEX_API_KEY_PASSPHRASE`` - the API key triple (omni.apex.exchange
  "Key Management" → Generate API): every private request carries ``APEX-API-KEY`` / ``APEX-PASSPHRASE`` and an
  ``APEX-SIGNATURE`` keyed by the secret; the private stream's login too.
* ``APEX_OMNI_KEY_SEED`` - the Omni key's seeds (hex; "Key Management" → Omni Key): sign every order (zkLink).

Endpoints are the SDK's (``apexomni/constants.py``): REST ``https://omni.apex.exchange`` + ``/api`` (``URL_SUFFIX``),
testnet ``https://qa.omni.apex.exchange/api``; the quote WebSocket ``wss://quote.omni.apex.exchange`` (testnet
``wss://qa-quote.omni.apex.exchange``). Options: ``network`` (mainnet|testnet), ``baseUrl``, ``wsUrl``,
``tickerConcurrency`` (the funding adapter's parallel ``/v3/ticker`` reads) and the common ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields
from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import require_credentials

NAME = "apex"
URLS = {  # apexomni/constants.py APEX_OMNI_HTTP_* + URL_SUFFIX, APEX_OMNI_WS_*
    "mainnet": ("https://omni.apex.exchange/api", "wss://quote.omni.apex.exchange"),
    "testnet": ("https://qa.omni.apex.exchange/api", "wss://qa-quote.omni.apex.exchange"),
}

KEY_ENV = "APEX_API_KEY"
SECRET_ENV = "APEX_API_KEY_SECRET"  # noqa: S105 - the env var's name, not a secret
PASSPHRASE_ENV = "APEX_API_KEY_PASSPHRASE"  # noqa: S105 - the env var's name
SEEDS_ENV = "APEX_OMNI_KEY_SEED"
PRIVATE_WS_PATH = "/realtime_private?v=2"  # apexomni/_websocket_stream.py PRIVATE_WSS
_SEEDS = re.compile(r"^(0x)?[0-9a-fA-F]{64,}$")

Network = Literal["mainnet", "testnet"]


class ApexSettings(VenueSettings):
    network: Network = "mainnet"
    ticker_concurrency: int = Field(default=8, ge=1, le=64, description="parallel /v3/ticker reads per cycle")
    settle_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for the venue's verdict on an order")
    settle_interval: float = Field(default=0.5, gt=0, description="REST poll interval while waiting for it")
    market_slippage: float = Field(default=0.05, gt=0, lt=1, description="IOC limit for market orders")

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
            extra={
                "network": "network",
                "tickerConcurrency": "ticker_concurrency",
                "settleTimeout": "settle_timeout",
                "settleInterval": "settle_interval",
                "marketSlippage": "market_slippage",
            },
        )
        fields["network"] = network if network in URLS else "mainnet"
        return cls(**fields)


class ApexCredentials(BaseModel):
    """The API key triple and the zk seeds (SecretStr: never in a repr, log or error)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    secret: SecretStr
    passphrase: SecretStr
    zk_seeds: SecretStr

    @classmethod
    def from_env(cls, env: Mapping[str, str], name: str = NAME) -> Self:
        creds = require_credentials(name, env)
        seeds = creds[SEEDS_ENV].strip()
        if not _SEEDS.match(seeds) or len(seeds.removeprefix("0x")) % 2:
            raise CredentialsError(name, [SEEDS_ENV], "is not the Omni key's hex seeds")
        return cls(
            api_key=SecretStr(creds[KEY_ENV].strip()),
            secret=SecretStr(creds[SECRET_ENV].strip()),
            passphrase=SecretStr(creds[PASSPHRASE_ENV].strip()),
            zk_seeds=SecretStr(seeds.removeprefix("0x")),
        )
