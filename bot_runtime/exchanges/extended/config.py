"""Extended settings: connection options (the CR's ``options``, env fallbacks) and the account's credentials.

Credentials, as the SDK's ``StarkPerpetualAccount(vault, private_key, public_key, api_key)`` takes them (and under the
original perp-dex-tools names):

* ``EXTENDED_API_KEY`` - the API key of one Extended sub-account (header ``X-Api-Key`` on every private request and on
  the account stream).
* ``EXTENDED_STARK_KEY_PRIVATE`` / ``EXTENDED_STARK_KEY_PUBLIC`` - the sub-account's Stark key pair (hex); the
  private key signs every order's Starknet settlement (SNIP-12 hash, computed by the SDK with fast-stark-crypto).
* ``EXTENDED_VAULT`` - the sub-account's vault (collateral position id), an integer; it is signed into every order.

Network: the Starknet domain an order is signed for (``SN_MAIN`` or ``SN_SEPOLIA``) is an explicit option
(``network: mainnet|testnet``, env ``EXTENDED_NETWORK``), so a client pointed at a replay server or a proxy still
signs for the network it means.
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

NAME = "extended"
# x10.config.MAINNET_CONFIG / TESTNET_CONFIG endpoints (tests check they still agree with the SDK)
MAINNET_URL = "https://api.starknet.extended.exchange/api/v1"
MAINNET_WS_URL = "wss://api.starknet.extended.exchange/stream.extended.exchange/v1"
TESTNET_URL = "https://api.starknet.sepolia.extended.exchange/api/v1"
TESTNET_WS_URL = "wss://api.starknet.sepolia.extended.exchange/stream.extended.exchange/v1"
API_KEY_ENV = "EXTENDED_API_KEY"
PRIVATE_KEY_ENV = "EXTENDED_STARK_KEY_PRIVATE"
PUBLIC_KEY_ENV = "EXTENDED_STARK_KEY_PUBLIC"
VAULT_ENV = "EXTENDED_VAULT"

_HEX = re.compile(r"^(0x)?[0-9a-fA-F]{1,64}$")
_API_KEY = re.compile(r"^[0-9A-Za-z_\-]{16,128}$")
# the STARK curve's order: a private key must lie in [1, N)
STARK_ORDER = 0x800000000000010FFFFFFFFFFFFFFFFB781126DCAE7B2321E66A241ADC64D2F

Network = Literal["mainnet", "testnet"]


class ExtendedSettings(VenueSettings):
    network: Network = "mainnet"
    order_confirm_timeout: float = Field(
        default=5.0, ge=0, description="seconds to wait for the engine's verdict on a new order (post-only check)"
    )
    order_confirm_poll: float = Field(default=0.1, gt=0)
    order_expiry_days: float = Field(
        default=7.0, gt=0, le=28, description="GTT expiry of limit orders (the venue allows 90 days, testnet 28)"
    )
    market_slippage: Decimal = Field(
        default=Decimal("0.0075"), gt=0, lt=1, description="worst price of a market (IOC) order past the touch"
    )

    @property
    def is_mainnet(self) -> bool:
        return self.network == "mainnet"

    @classmethod
    def load(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Self:
        network = str(options.get("network") or env.get("EXTENDED_NETWORK") or "mainnet").strip().lower()
        if network not in {"mainnet", "testnet"}:
            raise ValueError(f"extended: EXTENDED_NETWORK must be mainnet or testnet, not {network!r}")
        testnet = network == "testnet"
        fields = settings_fields(
            {k: v for k, v in options.items() if k != "network"},
            env,
            venue=NAME,
            default_base_url=TESTNET_URL if testnet else MAINNET_URL,
            default_ws_url=TESTNET_WS_URL if testnet else MAINNET_WS_URL,
            extra={
                "orderConfirmTimeout": "order_confirm_timeout",
                "orderConfirmPoll": "order_confirm_poll",
                "orderExpiryDays": "order_expiry_days",
                "marketSlippage": "market_slippage",
            },
        )
        return cls(network=network, **fields)


def _hex_int(value: str) -> int:
    return int(value[2:] if value.lower().startswith("0x") else value, 16)


class ExtendedCredentials(BaseModel):
    """The API key and Stark private key are SecretStr (never in a repr, log or error); the public key and the vault
    are not secrets (the venue shows them in every order it answers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr
    private_key: SecretStr
    public_key: str
    vault: int

    @classmethod
    def from_env(cls, env: Mapping[str, str], name: str = NAME) -> Self:
        creds = require_credentials(name, env)
        bad: list[str] = []
        api_key = creds[API_KEY_ENV].strip()
        if not _API_KEY.match(api_key):
            bad.append(API_KEY_ENV)
        private_key = creds[PRIVATE_KEY_ENV].strip()
        if not _HEX.match(private_key) or not 0 < _hex_int(private_key) < STARK_ORDER:
            bad.append(PRIVATE_KEY_ENV)
        public_key = creds[PUBLIC_KEY_ENV].strip()
        if not _HEX.match(public_key) or _hex_int(public_key) == 0:
            bad.append(PUBLIC_KEY_ENV)
        vault = creds[VAULT_ENV].strip()
        if not vault.isdigit() or int(vault) <= 0:
            bad.append(VAULT_ENV)
        if bad:
            raise CredentialsError(name, bad, "malformed (API key: 16+ characters; Stark keys: hex; vault: a number)")
        return cls(
            api_key=SecretStr(api_key),
            private_key=SecretStr(hex(_hex_int(private_key))),
            public_key=hex(_hex_int(public_key)),
            vault=int(vault),
        )
