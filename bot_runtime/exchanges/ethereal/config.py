"""Ethereal settings: connection options (the CR's ``options``, env fallbacks) and the account's credentials.

Credentials, as the SDK uses them (``AsyncRESTClient.create({"chain_config": {"private_key": ...}})``):

* ``ETHEREAL_PRIVATE_KEY`` - the key that signs orders and cancels (EIP-712 ``TradeOrder`` / ``CancelOrder``): the
  account's own wallet key, or a *linked signer* linked to the subaccount (it trades, it cannot withdraw).
* ``ETHEREAL_ACCOUNT_ADDRESS`` - the account (wallet) that owns the subaccount; orders name it as ``sender`` and the
  subaccount is looked up by it (``GET /v1/subaccount?sender=...``).

Options: ``network`` (mainnet|testnet, env ``ETHEREAL_NETWORK``), ``subaccount`` (the subaccount's name, default
``primary``, env ``ETHEREAL_SUBACCOUNT``), ``marketSlippage``, ``settleTimeout`` and the common ones. The REST base
URL is the SDK's ``NETWORK_URLS``; the stream is the native WebSocket gateway (``wss://ws2.<host>/v1/stream``).
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

NAME = "ethereal"
URLS = {  # ethereal.constants.NETWORK_URLS; the WebSocket gateway from docs.ethereal.trade (trading-api/websockets)
    "mainnet": ("https://api.ethereal.trade", "wss://ws2.ethereal.trade/v1/stream"),
    "testnet": ("https://api.etherealtest.net", "wss://ws2.etherealtest.net/v1/stream"),
}
KEY_ENV = "ETHEREAL_PRIVATE_KEY"
ACCOUNT_ENV = "ETHEREAL_ACCOUNT_ADDRESS"
DEFAULT_SUBACCOUNT = "primary"

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

Network = Literal["mainnet", "testnet"]


class EtherealSettings(VenueSettings):
    network: Network = "mainnet"
    subaccount: str = Field(default=DEFAULT_SUBACCOUNT, min_length=1, max_length=32)
    market_slippage: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1, description="IOC limit for market orders")
    settle_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for the venue's verdict on an order")
    settle_interval: float = Field(default=0.5, gt=0, description="REST poll interval while waiting for it")

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        network = str(options.get("network") or env.get("ETHEREAL_NETWORK") or "mainnet").lower()
        base, ws = URLS.get(network, URLS["mainnet"])
        fields = settings_fields(
            options,
            env,
            venue=NAME,
            default_base_url=base,
            default_ws_url=ws,
            extra={
                "marketSlippage": "market_slippage",
                "settleTimeout": "settle_timeout",
                "settleInterval": "settle_interval",
            },
        )
        fields["network"] = network
        fields["subaccount"] = str(options.get("subaccount") or env.get("ETHEREAL_SUBACCOUNT") or DEFAULT_SUBACCOUNT)
        return cls(**fields)


class EtherealCredentials(BaseModel):
    """The signing key (a SecretStr: never in a repr, log or error) and the account that owns the subaccount."""

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
