"""Nado settings: connection options (the CR's ``options``, env fallbacks) and the account's credentials.

Credentials, as the SDK uses them (``create_nado_client(mode, signer)``, ``linked_signer``, ``subaccount_owner`` /
``subaccount_name``):

* ``NADO_PRIVATE_KEY`` - the key that signs orders, cancels and the stream authentication: the wallet's own key, or
  a *linked signer* linked to the subaccount (it trades, it cannot withdraw).
* ``NADO_ACCOUNT_ADDRESS`` (optional) - the wallet that owns the subaccount, when the key is a linked signer;
  without it the key's own address is the owner.
* ``NADO_SUBACCOUNT_NAME`` (optional, default ``default``, the SDK's) - the subaccount's name (at most 12 bytes).

Endpoints (``nado_protocol/utils/backend.py`` ``NadoBackendURL``): the gateway ``https://gateway.prod.nado.xyz/v1``
(``POST /execute``, ``POST /query``, WebSocket ``/subscribe``) and the archive indexer
``https://archive.prod.nado.xyz/v1`` (``POST`` queries; ``/v2/contracts``); ``gateway.test`` / ``archive.test`` on
testnet (Ink Sepolia). Options: ``network``, ``baseUrl`` (gateway), ``wsUrl`` (subscriptions), ``indexerUrl``,
``marketSlippage``, ``settleTimeout`` and the common ones.
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

NAME = "nado"
URLS = {  # nado_protocol/utils/backend.py NadoBackendURL (gateway, indexer)
    "mainnet": ("https://gateway.prod.nado.xyz/v1", "https://archive.prod.nado.xyz/v1"),
    "testnet": ("https://gateway.test.nado.xyz/v1", "https://archive.test.nado.xyz/v1"),
}
KEY_ENV = "NADO_PRIVATE_KEY"
ACCOUNT_ENV = "NADO_ACCOUNT_ADDRESS"
SUBACCOUNT_ENV = "NADO_SUBACCOUNT_NAME"
DEFAULT_SUBACCOUNT = "default"

_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

Network = Literal["mainnet", "testnet"]


def subscribe_url(gateway: str) -> str:
    """``https://gateway.../v1`` → ``wss://gateway.../v1/subscribe`` (the streaming endpoint)."""
    return "ws" + gateway[len("http") :] + "/subscribe" if gateway.startswith("http") else gateway + "/subscribe"


def v2_url(indexer: str) -> str:
    """The SDK's rule (``IndexerQueryClient.url_v2``): ``.../v1`` → ``.../v2``."""
    return indexer.replace("/v1", "") + "/v2"


class NadoSettings(VenueSettings):
    network: Network = "mainnet"
    indexer_url: str
    market_slippage: Decimal = Field(default=Decimal("0.05"), gt=0, lt=1, description="IOC limit for market orders")
    settle_timeout: float = Field(default=3.0, gt=0, description="seconds to wait for the venue's verdict on an order")
    settle_interval: float = Field(default=0.5, gt=0, description="REST poll interval while waiting for it")

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        network = str(options.get("network") or env.get("NADO_NETWORK") or "mainnet").lower()
        gateway, indexer = URLS.get(network, URLS["mainnet"])
        base = str(options.get("baseUrl") or env.get("NADO_BASE_URL") or gateway).rstrip("/")
        fields = settings_fields(
            options,
            env,
            venue=NAME,
            default_base_url=gateway,
            default_ws_url=subscribe_url(base),
            extra={
                "network": "network",
                "indexerUrl": "indexer_url",
                "marketSlippage": "market_slippage",
                "settleTimeout": "settle_timeout",
                "settleInterval": "settle_interval",
            },
        )
        fields["network"] = network
        fields["indexer_url"] = str(
            options.get("indexerUrl") or env.get("NADO_INDEXER_URL") or (base if base != gateway else indexer)
        ).rstrip("/")
        return cls(**fields)


class NadoCredentials(BaseModel):
    """The signing key (a SecretStr: never in a repr, log or error), the subaccount owner and its name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    private_key: SecretStr
    owner: str | None = None  # None: the key's own address
    subaccount: str = DEFAULT_SUBACCOUNT

    @classmethod
    def from_env(cls, env: Mapping[str, str], name: str = NAME) -> Self:
        creds = require_credentials(name, env)
        key = creds[KEY_ENV].strip()
        if not _KEY.match(key):
            raise CredentialsError(name, [KEY_ENV], "is not a 32-byte hex private key")
        owner = creds.get(ACCOUNT_ENV, "").strip() or None
        if owner is not None and not _ADDRESS.match(owner):
            raise CredentialsError(name, [ACCOUNT_ENV], "is not an address (0x + 40 hex digits)")
        subaccount = creds.get(SUBACCOUNT_ENV, "").strip() or DEFAULT_SUBACCOUNT
        if len(subaccount.encode()) > 12:
            raise CredentialsError(name, [SUBACCOUNT_ENV], "is longer than 12 bytes")
        return cls(
            private_key=SecretStr(key if key.startswith("0x") else "0x" + key), owner=owner, subaccount=subaccount
        )
