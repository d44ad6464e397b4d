"""Lighter settings from the pod's env (credential names of the original) and the CR's exchange options."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import require_credentials

NAME = "lighter"
MAINNET_URL = "https://mainnet.zklighter.elliot.ai"
TESTNET_URL = "https://testnet.zklighter.elliot.ai"
MAINNET_CHAIN_ID = 304
TESTNET_CHAIN_ID = 300


def default_chain_id(base_url: str) -> int:
    return TESTNET_CHAIN_ID if "testnet" in base_url else MAINNET_CHAIN_ID


def ws_url_for(base_url: str) -> str:
    """``https://host`` → ``wss://host/stream`` (``http`` → ``ws`` for a local server)."""
    if base_url.startswith("https://"):
        return "wss://" + base_url[len("https://") :].rstrip("/") + "/stream"
    if base_url.startswith("http://"):
        return "ws://" + base_url[len("http://") :].rstrip("/") + "/stream"
    return base_url.rstrip("/") + "/stream"


class LighterPublicConfig(BaseModel):
    """What the funding adapter needs (public endpoints only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = MAINNET_URL
    request_timeout: float = Field(default=10.0, gt=0)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str] | None = None) -> LighterPublicConfig:
        env = env or {}
        base_url = str(options.get("baseUrl") or env.get("LIGHTER_BASE_URL") or MAINNET_URL).rstrip("/")
        timeout = float(options.get("requestTimeout", 10.0))
        return cls(base_url=base_url, request_timeout=timeout)


class LighterConfig(BaseModel):
    """Trading settings. ``private_key`` is a SecretStr: it never appears in a repr, log or error."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = MAINNET_URL
    ws_url: str
    chain_id: int
    account_index: int = Field(ge=0)
    api_key_index: int = Field(ge=0, le=254)
    private_key: SecretStr
    request_timeout: float = Field(default=10.0, gt=0)
    confirm_timeout: float = Field(default=3.0, ge=0, description="how long place_order waits for the venue's verdict")
    market_slippage: Decimal = Field(default=Decimal("0.01"), gt=0, lt=1)
    stream: bool = True

    @classmethod
    def from_env(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> LighterConfig:
        creds = require_credentials(NAME, env)
        base_url = str(options.get("baseUrl") or creds.get("LIGHTER_BASE_URL") or MAINNET_URL).rstrip("/")
        ws_url = str(options.get("wsUrl") or creds.get("LIGHTER_WS_URL") or ws_url_for(base_url))
        chain_raw = options.get("chainId") or creds.get("LIGHTER_CHAIN_ID")
        try:
            account_index = int(creds["LIGHTER_ACCOUNT_INDEX"])
        except ValueError:
            raise CredentialsError(NAME, ["LIGHTER_ACCOUNT_INDEX"], "is not an integer") from None
        try:
            api_key_index = int(creds["LIGHTER_API_KEY_INDEX"])
        except ValueError:
            raise CredentialsError(NAME, ["LIGHTER_API_KEY_INDEX"], "is not an integer") from None
        if not 0 <= api_key_index <= 254:
            raise CredentialsError(NAME, ["LIGHTER_API_KEY_INDEX"], "must be within 0..254")
        key = creds["API_KEY_PRIVATE_KEY"].strip()
        hex_part = key[2:] if key.startswith("0x") else key
        try:
            bytes.fromhex(hex_part)
        except ValueError:
            raise CredentialsError(NAME, ["API_KEY_PRIVATE_KEY"], "is not a hex string") from None
        return cls(
            base_url=base_url,
            ws_url=ws_url,
            chain_id=int(chain_raw) if chain_raw else default_chain_id(base_url),
            account_index=account_index,
            api_key_index=api_key_index,
            private_key=SecretStr(key),
            request_timeout=float(options.get("requestTimeout", 10.0)),
            confirm_timeout=float(options.get("confirmTimeout", 3.0)),
            market_slippage=Decimal(str(options.get("marketSlippage", "0.01"))),
            stream=bool(options.get("stream", True)),
        )
