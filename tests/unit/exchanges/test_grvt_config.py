"""GRVT credentials (the original's names, placeholders refused, never echoed), base-URL override, lazy import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("pysdk")

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.grvt.config import GrvtConfig
from bot_runtime.exchanges.registry import create_exchange

SECRET_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
GOOD = {"GRVT_TRADING_ACCOUNT_ID": "8751933338735530", "GRVT_PRIVATE_KEY": SECRET_KEY, "GRVT_API_KEY": "k-9f8e7d6c5b4a"}


@pytest.mark.parametrize("key", sorted(GOOD))
@pytest.mark.parametrize("value", ["", "your_api_key_here", "xxx", "placeholder"])
def test_missing_or_placeholder_credentials_name_the_key(key: str, value: str) -> None:
    with pytest.raises(CredentialsError) as err:
        create_exchange("grvt", {}, {**GOOD, key: value})
    assert err.value.keys == [key]
    assert SECRET_KEY[2:] not in str(err.value)


def test_malformed_values() -> None:
    with pytest.raises(CredentialsError, match="GRVT_PRIVATE_KEY") as err:
        GrvtConfig.from_env({}, {**GOOD, "GRVT_PRIVATE_KEY": SECRET_KEY + "00"})
    assert SECRET_KEY[2:] not in str(err.value)
    with pytest.raises(CredentialsError, match="GRVT_TRADING_ACCOUNT_ID"):
        GrvtConfig.from_env({}, {**GOOD, "GRVT_TRADING_ACCOUNT_ID": "acct-1"})
    with pytest.raises(CredentialsError, match="GRVT_ENVIRONMENT"):
        GrvtConfig.from_env({}, {**GOOD, "GRVT_ENVIRONMENT": "moon"})


def test_environments_and_urls() -> None:
    prod = GrvtConfig.from_env({}, GOOD)
    assert (prod.environment, prod.base_url, prod.trade_ws_url, prod.market_ws_url) == (
        "prod",
        None,
        "wss://trades.grvt.io/ws/full",
        "wss://market-data.grvt.io/ws/full",
    )
    testnet = GrvtConfig.from_env({}, {**GOOD, "GRVT_ENVIRONMENT": "testnet"})
    assert testnet.trade_ws_url == "wss://trades.testnet.grvt.io/ws/full"
    local = GrvtConfig.from_env({}, {**GOOD, "GRVT_BASE_URL": "http://127.0.0.1:8099/"})
    assert (local.base_url, local.trade_ws_url, local.market_ws_url) == (
        "http://127.0.0.1:8099",
        "ws://127.0.0.1:8099/ws/full",
        "ws://127.0.0.1:8099/ws/full",
    )
    assert SECRET_KEY[2:] not in repr(prod) and "k-9f8e7d6c5b4a" not in repr(prod)


def test_base_url_override_replaces_only_the_host_lookup() -> None:
    from pysdk.grvt_ccxt_env import GrvtEnv, get_grvt_endpoint

    from bot_runtime.exchanges.grvt import sdk
    from bot_runtime.exchanges.grvt.sdk import use_base_url

    # overrides are process-wide: other tests in this process may have pointed an environment at a replay server
    saved = dict(sdk._OVERRIDES)
    sdk._OVERRIDES.clear()
    try:
        use_base_url("staging", "http://127.0.0.1:1")
        assert get_grvt_endpoint(GrvtEnv.STAGING, "CREATE_ORDER") == "http://127.0.0.1:1/full/v1/create_order"
        assert get_grvt_endpoint(GrvtEnv.STAGING, "AUTH") == "http://127.0.0.1:1/auth/api_key/login"
        assert get_grvt_endpoint(GrvtEnv.PROD, "GET_TICKER") == "https://market-data.grvt.io/full/v1/ticker"
        use_base_url("staging", None)
        assert get_grvt_endpoint(GrvtEnv.STAGING, "AUTH").startswith("https://edge.staging.")
    finally:
        sdk._OVERRIDES.clear()
        sdk._OVERRIDES.update(saved)


def test_loading_grvt_imports_only_its_sdk() -> None:
    code = (
        "import json, sys\n"
        "import bot_runtime.exchanges.registry as registry\n"
        "sdks = ('lighter', 'pysdk', 'edgex_sdk', 'paradex_py', 'bpx')\n"
        "before = [m for m in sdks if m in sys.modules]\n"
        "registry.load_venue('grvt')\n"
        "print(json.dumps([before, [m for m in sdks if m in sys.modules]]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[], ["pysdk"]]
