"""Lighter credentials (the original's env names, placeholders refused, values never echoed) and lazy import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import create_exchange

pytest.importorskip("lighter")

from bot_runtime.exchanges.lighter.config import LighterConfig

SECRET = "d4f0c1e2b3a49586776859403a2b1c0d4f0c1e2b3a49586776859403a2b1c0d9e8f7a6b5c4d3e2f1"
GOOD = {"API_KEY_PRIVATE_KEY": SECRET, "LIGHTER_ACCOUNT_INDEX": "7", "LIGHTER_API_KEY_INDEX": "3"}
SDKS = ("lighter", "pysdk", "edgex_sdk", "paradex_py", "bpx")


@pytest.mark.parametrize("key", sorted(GOOD))
@pytest.mark.parametrize("value", ["", "   ", "your_api_key_here", "changeme", "<secret>"])
def test_missing_or_placeholder_credentials_name_the_key(key: str, value: str) -> None:
    env = {**GOOD, key: value}
    with pytest.raises(CredentialsError) as err:
        create_exchange("lighter", {}, env)
    assert err.value.keys == [key]
    assert SECRET not in str(err.value)


def test_malformed_values_are_refused_without_echoing_them() -> None:
    with pytest.raises(CredentialsError, match="LIGHTER_ACCOUNT_INDEX"):
        LighterConfig.from_env({}, {**GOOD, "LIGHTER_ACCOUNT_INDEX": "seven"})
    with pytest.raises(CredentialsError, match="API_KEY_PRIVATE_KEY") as err:
        LighterConfig.from_env({}, {**GOOD, "API_KEY_PRIVATE_KEY": "not-hex-" + SECRET})
    assert SECRET not in str(err.value)


def test_chain_id_and_urls() -> None:
    mainnet = LighterConfig.from_env({}, GOOD)
    assert (mainnet.base_url, mainnet.ws_url, mainnet.chain_id) == (
        "https://mainnet.zklighter.elliot.ai",
        "wss://mainnet.zklighter.elliot.ai/stream",
        304,
    )
    testnet = LighterConfig.from_env({"baseUrl": "https://testnet.zklighter.elliot.ai"}, GOOD)
    assert (testnet.chain_id, testnet.ws_url) == (300, "wss://testnet.zklighter.elliot.ai/stream")
    local = LighterConfig.from_env({}, {**GOOD, "LIGHTER_BASE_URL": "http://127.0.0.1:9", "LIGHTER_CHAIN_ID": "300"})
    assert (local.ws_url, local.chain_id) == ("ws://127.0.0.1:9/stream", 300)
    assert SECRET not in repr(mainnet) and SECRET not in str(mainnet.model_dump())


def test_importing_the_registry_imports_no_sdk_and_lighter_imports_only_its_own() -> None:
    code = (
        "import json, sys\n"
        "import bot_runtime.exchanges.registry as registry\n"
        f"sdks = {SDKS!r}\n"
        "before = [m for m in sdks if m in sys.modules]\n"
        "registry.load_venue('lighter')\n"
        "after = [m for m in sdks if m in sys.modules]\n"
        "print(json.dumps([before, after]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    before, after = json.loads(result.stdout.strip().splitlines()[-1])
    assert before == []
    assert after == ["lighter"]
