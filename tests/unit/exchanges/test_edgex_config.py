"""EdgeX credentials (V2: signer key + API key triple; placeholders refused, never echoed) and lazy import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("edgex_sdk")

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.edgex.config import EdgexConfig
from bot_runtime.exchanges.registry import create_exchange

SIGNER = "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"
GOOD = {
    "EDGEX_ACCOUNT_ID": "543429922991899150",
    "EDGEX_STARK_PRIVATE_KEY": SIGNER,
    "EDGEX_API_KEY": "edgex-api-key-7c1d",
    "EDGEX_API_PASSPHRASE": "edgex-pass-5e2a",
    "EDGEX_API_SECRET": "edgex-api-secret-93b7f1",
}


@pytest.mark.parametrize("key", sorted(GOOD))
@pytest.mark.parametrize("value", ["", "your_secret_here", "changeme"])
def test_missing_or_placeholder_credentials_name_the_key(key: str, value: str) -> None:
    with pytest.raises(CredentialsError) as err:
        create_exchange("edgex", {}, {**GOOD, key: value})
    assert err.value.keys == [key]
    text = str(err.value)
    assert all(secret not in text for name, secret in GOOD.items() if name != "EDGEX_ACCOUNT_ID")


def test_malformed_signer_key_not_echoed() -> None:
    with pytest.raises(CredentialsError, match="EDGEX_STARK_PRIVATE_KEY") as err:
        EdgexConfig.from_env({}, {**GOOD, "EDGEX_STARK_PRIVATE_KEY": SIGNER[:-2]})
    assert SIGNER[2:-2] not in str(err.value)


def test_urls() -> None:
    default = EdgexConfig.from_env({}, GOOD)
    assert (default.base_url, default.ws_url) == (
        "https://edgex-prod-v2.edgex.exchange",
        "wss://edgex-quote-prod-v2.edgex.exchange",
    )
    local = EdgexConfig.from_env({"baseUrl": "http://127.0.0.1:7000", "wsUrl": "ws://127.0.0.1:7000/"}, GOOD)
    assert (local.base_url, local.ws_url) == ("http://127.0.0.1:7000", "ws://127.0.0.1:7000")
    # a REST host outside EdgeX's table: its WebSocket host is not guessed from it
    with pytest.raises(CredentialsError) as err:
        EdgexConfig.from_env({"baseUrl": "http://127.0.0.1:7000"}, GOOD)
    assert err.value.keys == ["EDGEX_WS_URL"]
    assert all(secret not in repr(default) for name, secret in GOOD.items() if name != "EDGEX_ACCOUNT_ID")


def test_loading_edgex_imports_only_its_sdk() -> None:
    code = (
        "import json, sys\n"
        "import bot_runtime.exchanges.registry as registry\n"
        "sdks = ('lighter', 'pysdk', 'edgex_sdk', 'paradex_py', 'bpx')\n"
        "before = [m for m in sdks if m in sys.modules]\n"
        "registry.load_venue('edgex')\n"
        "print(json.dumps([before, [m for m in sdks if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], ["edgex_sdk"]]


@pytest.mark.parametrize(
    ("env", "key", "v2"),
    [
        ({"EDGEX_BASE_URL": "https://pro.edgex.exchange"}, "EDGEX_BASE_URL", "https://edgex-prod-v2.edgex.exchange"),
        (
            {"EDGEX_BASE_URL": "https://testnet.edgex.exchange/"},
            "EDGEX_BASE_URL",
            "https://edgex-prod-v2.edgex.exchange",
        ),
        ({"EDGEX_WS_URL": "wss://quote.edgex.exchange"}, "EDGEX_WS_URL", "wss://edgex-quote-prod-v2.edgex.exchange"),
    ],
)
def test_a_v1_url_fails_at_start_naming_the_key_and_the_v2_url(env: dict[str, str], key: str, v2: str) -> None:
    """An original .env (EDGEX_BASE_URL=https://pro.edgex.exchange, EDGEX_WS_URL=wss://quote.edgex.exchange) with
    the V2 keys added but the V1 URLs left in: the bot fails at start, naming the key and the V2 URL."""
    original = {**GOOD, **env}
    with pytest.raises(CredentialsError) as err:
        create_exchange("edgex", {}, original)
    assert err.value.keys == [key]
    assert f"{key}={v2}" in str(err.value) and "V1" in str(err.value)
    assert SIGNER[2:] not in str(err.value)


def test_the_collector_refuses_a_v1_base_url_too() -> None:
    from bot_runtime.exchanges.registry import create_funding_source

    with pytest.raises(CredentialsError) as err:
        create_funding_source("edgex", {"baseUrl": "https://pro.edgex.exchange"})
    assert err.value.keys == ["EDGEX_BASE_URL"]
    assert "EDGEX_BASE_URL=https://edgex-prod-v2.edgex.exchange" in str(err.value)


def test_the_websocket_url_comes_from_the_official_table() -> None:
    explicit = EdgexConfig.from_env({"wsUrl": "wss://edgex-quote-prod-v2.edgex.exchange/"}, GOOD)
    assert explicit.ws_url == "wss://edgex-quote-prod-v2.edgex.exchange"
    env_base = EdgexConfig.from_env({}, {**GOOD, "EDGEX_BASE_URL": "https://edgex-prod-v2.edgex.exchange/"})
    assert env_base.ws_url == "wss://edgex-quote-prod-v2.edgex.exchange"  # not wss://edgex-prod-v2...
