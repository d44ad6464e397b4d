"""EdgeX (V2 API) settings.

The original perp-dex-tools used EdgeX's V1 (StarkEx) API with EDGEX_ACCOUNT_ID + EDGEX_STARK_PRIVATE_KEY. The
current official SDK (``edgex-python-sdk`` >= 2) speaks only the V2 API, which needs, from the same "API Management →
Perps V2 → SDK Signer" dialog: the **signer private key** (EIP-712, an Ethereum-style key) and an **API key,
passphrase and secret** (HMAC-SHA256 on every private REST call and on the private WebSocket). The signer key keeps
the original's env name EDGEX_STARK_PRIVATE_KEY (so an existing Secret key name still fits; the *value* must be the
V2 signer key); the HMAC triple is EDGEX_API_KEY / EDGEX_API_PASSPHRASE / EDGEX_API_SECRET.

URLs (EdgeX's V2 docs, "Production Access Domains"; the SDK's README): REST ``https://edgex-prod-v2.edgex.exchange``,
WebSocket ``wss://edgex-quote-prod-v2.edgex.exchange``; no other environment is published. An original ``.env`` names
the V1 hosts (``EDGEX_BASE_URL=https://pro.edgex.exchange``, ``EDGEX_WS_URL=wss://quote.edgex.exchange``, or their
``testnet``/``quote-testnet`` twins): V2 paths sent there fail obscurely, so a V1 URL fails at start, naming the key
and the V2 URL. The WebSocket URL is the table's entry for the REST host unless set (``wsUrl`` / ``EDGEX_WS_URL``);
a REST host outside the table (a local replay server) needs it set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import is_placeholder, require_credentials

NAME = "edgex"
MAINNET_URL = "https://edgex-prod-v2.edgex.exchange"
MAINNET_WS_URL = "wss://edgex-quote-prod-v2.edgex.exchange"
HMAC_KEYS = ("EDGEX_API_KEY", "EDGEX_API_PASSPHRASE", "EDGEX_API_SECRET")
OFFICIAL_WS_URLS = {MAINNET_URL: MAINNET_WS_URL}  # REST host → its WebSocket host, as EdgeX publishes them
V1_HOSTS = {
    "pro.edgex.exchange": ("EDGEX_BASE_URL", MAINNET_URL),
    "testnet.edgex.exchange": ("EDGEX_BASE_URL", MAINNET_URL),
    "quote.edgex.exchange": ("EDGEX_WS_URL", MAINNET_WS_URL),
    "quote-testnet.edgex.exchange": ("EDGEX_WS_URL", MAINNET_WS_URL),
}


def refuse_v1(url: str) -> str:
    """``url`` (without a trailing slash), or a :class:`CredentialsError` naming the key and the V2 URL when it is
    one of the V1 hosts of the original's ``.env``."""
    host = urlsplit(url).hostname or ""
    if host in V1_HOSTS:
        key, v2 = V1_HOSTS[host]
        raise CredentialsError(
            NAME,
            [key],
            f"is {url}, EdgeX's V1 API; this client speaks V2: set {key}={v2} (or remove it) and use V2 API "
            "credentials (docs/exchanges/edgex.md, 'From V1 to V2')",
        )
    return url.rstrip("/")


def ws_url_for(base_url: str, explicit: str | None) -> str:
    if explicit:
        return refuse_v1(explicit)
    official = OFFICIAL_WS_URLS.get(base_url)
    if official is None:
        raise CredentialsError(
            NAME,
            ["EDGEX_WS_URL"],
            f"must be set: EDGEX_BASE_URL {base_url} is not in EdgeX's published URL table, so its WebSocket host "
            "is unknown",
        )
    return official


class EdgexPublicConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = MAINNET_URL
    request_timeout: float = Field(default=10.0, gt=0)
    concurrency: int = Field(default=8, ge=1)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> EdgexPublicConfig:
        return cls(
            base_url=refuse_v1(str(options.get("baseUrl") or env.get("EDGEX_BASE_URL") or MAINNET_URL)),
            request_timeout=float(options.get("requestTimeout", 10.0)),
            concurrency=int(options.get("concurrency", 8)),
        )


class EdgexConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = MAINNET_URL
    ws_url: str = MAINNET_WS_URL
    account_id: int
    signer_key: SecretStr
    api_key: SecretStr
    api_passphrase: SecretStr
    api_secret: SecretStr
    request_timeout: float = Field(default=10.0, gt=0)
    confirm_timeout: float = Field(default=3.0, ge=0)
    stream: bool = True

    @classmethod
    def from_env(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> EdgexConfig:
        base_url = refuse_v1(str(options.get("baseUrl") or env.get("EDGEX_BASE_URL") or MAINNET_URL))
        ws_url = ws_url_for(base_url, str(options.get("wsUrl") or env.get("EDGEX_WS_URL") or "") or None)
        creds = require_credentials(NAME, env)
        missing = [key for key in HMAC_KEYS if is_placeholder(env.get(key, ""))]
        if missing:
            raise CredentialsError(NAME, missing, "missing, empty or a placeholder (EdgeX V2 API key credentials)")
        account = creds["EDGEX_ACCOUNT_ID"].strip()
        if not account.isdigit():
            raise CredentialsError(NAME, ["EDGEX_ACCOUNT_ID"], "is not a numeric account id")
        key = creds["EDGEX_STARK_PRIVATE_KEY"].strip()
        try:
            if len(bytes.fromhex(key[2:] if key.lower().startswith("0x") else key)) != 32:
                raise ValueError
        except ValueError:
            raise CredentialsError(
                NAME, ["EDGEX_STARK_PRIVATE_KEY"], "is not a 32-byte hex signer key (the V2 SDK Signer private key)"
            ) from None
        return cls(
            base_url=base_url,
            ws_url=ws_url,
            account_id=int(account),
            signer_key=SecretStr(key),
            api_key=SecretStr(env["EDGEX_API_KEY"].strip()),
            api_passphrase=SecretStr(env["EDGEX_API_PASSPHRASE"].strip()),
            api_secret=SecretStr(env["EDGEX_API_SECRET"].strip()),
            request_timeout=float(options.get("requestTimeout", 10.0)),
            confirm_timeout=float(options.get("confirmTimeout", 3.0)),
            stream=bool(options.get("stream", True)),
        )
