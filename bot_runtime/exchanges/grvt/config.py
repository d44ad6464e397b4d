"""GRVT settings: the original's env names (GRVT_TRADING_ACCOUNT_ID, GRVT_PRIVATE_KEY, GRVT_API_KEY,
GRVT_ENVIRONMENT) plus GRVT_BASE_URL / GRVT_WS_URL to point every GRVT host at one other server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import require_credentials

NAME = "grvt"
ENVIRONMENTS = ("prod", "testnet", "staging", "dev")
ENV_ALIASES = {"production": "prod", "mainnet": "prod", "test": "testnet"}


def ws_from_http(url: str, path: str = "/ws/full") -> str:
    if url.startswith("https://"):
        return "wss://" + url[len("https://") :].rstrip("/") + path
    if url.startswith("http://"):
        return "ws://" + url[len("http://") :].rstrip("/") + path
    return url.rstrip("/") + path


def default_ws_urls(environment: str) -> tuple[str, str]:
    """(trade data, market data) full-format WebSocket endpoints of a GRVT environment."""
    if environment == "prod":
        return "wss://trades.grvt.io/ws/full", "wss://market-data.grvt.io/ws/full"
    domain = "grvt.io" if environment == "testnet" else "gravitymarkets.io"
    return f"wss://trades.{environment}.{domain}/ws/full", f"wss://market-data.{environment}.{domain}/ws/full"


def parse_environment(raw: str | None) -> str:
    value = (raw or "prod").strip().lower()
    value = ENV_ALIASES.get(value, value)
    if value not in ENVIRONMENTS:
        raise CredentialsError(NAME, ["GRVT_ENVIRONMENT"], f"must be one of {', '.join(ENVIRONMENTS)}")
    return value


class GrvtPublicConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str = "prod"
    base_url: str | None = None  # one server standing in for edge, trades and market-data hosts
    request_timeout: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=8, ge=1)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> GrvtPublicConfig:
        base = options.get("baseUrl") or env.get("GRVT_BASE_URL") or None
        return cls(
            environment=parse_environment(str(options.get("environment") or env.get("GRVT_ENVIRONMENT") or "prod")),
            base_url=str(base).rstrip("/") if base else None,
            request_timeout=float(options.get("requestTimeout", 10.0)),
            concurrency=int(options.get("concurrency", 8)),
        )


class GrvtConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    environment: str = "prod"
    base_url: str | None = None
    trade_ws_url: str
    market_ws_url: str
    trading_account_id: str
    private_key: SecretStr
    api_key: SecretStr
    request_timeout: float = Field(default=10.0, gt=0)
    confirm_timeout: float = Field(default=3.0, ge=0)
    order_duration_secs: int = Field(default=24 * 3600, gt=0)
    stream: bool = True

    @classmethod
    def from_env(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> GrvtConfig:
        creds = require_credentials(NAME, env)
        environment = parse_environment(str(options.get("environment") or creds.get("GRVT_ENVIRONMENT") or "prod"))
        base = options.get("baseUrl") or creds.get("GRVT_BASE_URL") or None
        base_url = str(base).rstrip("/") if base else None
        trade_ws, market_ws = default_ws_urls(environment)
        if base_url:
            trade_ws = market_ws = ws_from_http(base_url)
        trade_ws = str(options.get("wsUrl") or creds.get("GRVT_WS_URL") or trade_ws)
        market_ws = str(options.get("marketWsUrl") or (trade_ws if base_url or options.get("wsUrl") else market_ws))
        account = creds["GRVT_TRADING_ACCOUNT_ID"].strip()
        if not account.isdigit():
            raise CredentialsError(NAME, ["GRVT_TRADING_ACCOUNT_ID"], "is not a numeric sub-account id")
        key = creds["GRVT_PRIVATE_KEY"].strip()
        try:
            if len(bytes.fromhex(key[2:] if key.startswith("0x") else key)) != 32:
                raise ValueError
        except ValueError:
            raise CredentialsError(NAME, ["GRVT_PRIVATE_KEY"], "is not a 32-byte hex private key") from None
        return cls(
            environment=environment,
            base_url=base_url,
            trade_ws_url=trade_ws,
            market_ws_url=market_ws,
            trading_account_id=account,
            private_key=SecretStr(key),
            api_key=SecretStr(creds["GRVT_API_KEY"].strip()),
            request_timeout=float(options.get("requestTimeout", 10.0)),
            confirm_timeout=float(options.get("confirmTimeout", 3.0)),
            order_duration_secs=int(options.get("orderDurationSecs", 24 * 3600)),
            stream=bool(options.get("stream", True)),
        )
