"""Hyperliquid settings: connection options (the CR's ``options``, env fallbacks) and the account's credentials.

Credentials, as the SDK uses them (``Exchange(wallet, base_url, account_address=...)``):

* ``HYPERLIQUID_API_PRIVATE_KEY`` - the *API wallet* (agent) private key, 32 bytes hex. It signs every L1 action;
  it cannot withdraw. (The account's own key works too, the SDK does not tell them apart.)
* ``HYPERLIQUID_ACCOUNT_ADDRESS`` - the account the agent trades for (the main wallet, or a sub-account). Every
  ``/info`` read (orders, fills, positions, balance) and the account streams are keyed by it, not by the agent.

Network: the SDK signs for mainnet exactly when its base URL is ``https://api.hyperliquid.xyz`` (``source`` "a",
else "b"). Here the network is an explicit option (``network: mainnet|testnet``, env ``HYPERLIQUID_NETWORK``), so
a client pointed at a replay server or a proxy still signs for the network it means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot_runtime.exchanges._shared.settings import VenueSettings, settings_fields
from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import require_credentials

NAME = "hyperliquid"
MAINNET_URL = "https://api.hyperliquid.xyz"  # hyperliquid.utils.constants.MAINNET_API_URL
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"  # hyperliquid.utils.constants.TESTNET_API_URL
KEY_ENV = "HYPERLIQUID_API_PRIVATE_KEY"
ACCOUNT_ENV = "HYPERLIQUID_ACCOUNT_ADDRESS"

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

Network = Literal["mainnet", "testnet"]


def ws_url_for(base_url: str) -> str:
    """The SDK's rule (``WebsocketManager``): ``http(s)://host`` → ``ws(s)://host/ws``."""
    return "ws" + base_url[len("http") :] + "/ws" if base_url.startswith("http") else base_url + "/ws"


class HyperliquidSettings(VenueSettings):
    network: Network = "mainnet"
    market_slippage: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1, description="IOC limit for market orders")
    heartbeat_interval: float = Field(default=50.0, gt=0, description="seconds between {'method': 'ping'} messages")

    @property
    def is_mainnet(self) -> bool:
        return self.network == "mainnet"

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        network = str(options.get("network") or env.get("HYPERLIQUID_NETWORK") or "mainnet").lower()
        default_base = TESTNET_URL if network == "testnet" else MAINNET_URL
        base = str(options.get("baseUrl") or env.get("HYPERLIQUID_BASE_URL") or default_base).rstrip("/")
        fields = settings_fields(
            options,
            env,
            venue=NAME,
            default_base_url=default_base,
            default_ws_url=ws_url_for(base),
            extra={
                "network": "network",
                "marketSlippage": "market_slippage",
                "heartbeatInterval": "heartbeat_interval",
            },
        )
        fields["network"] = network
        return cls(**fields)


class HyperliquidCredentials(BaseModel):
    """The agent key (a SecretStr: never in a repr, log or error) and the account address it trades for."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    private_key: SecretStr
    account_address: str

    @classmethod
    def from_env(cls, env: Mapping[str, str], name: str = NAME) -> Self:
        creds = require_credentials(name, env)
        address = creds[ACCOUNT_ENV].strip()
        if not _ADDRESS.match(address):
            raise CredentialsError(name, [ACCOUNT_ENV], "is not an address (0x + 40 hex digits)")
        key = creds[KEY_ENV].strip()
        if not _KEY.match(key):
            raise CredentialsError(name, [KEY_ENV], "is not a 32-byte hex private key")
        return cls(private_key=SecretStr(key if key.startswith("0x") else "0x" + key), account_address=address)
