"""One environment holds all six venue SDKs (grvt-pysdk's websockets pin overridden, paradex's Rust-built
starknet-crypto-py wheel), and the CLI lists every subcommand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def test_all_venue_sdks_import_together() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import lighter, pysdk, edgex_sdk, paradex_py, bpx, hyperliquid, x10.signing.order_object, websockets;"
            " print(websockets.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("15."), out.stdout


def test_registry_imports_no_sdk() -> None:
    code = (
        "import sys, bot_runtime.exchanges.registry, bot_runtime.cli;"
        "heavy = {'lighter','pysdk','edgex_sdk','paradex_py','bpx','hyperliquid','x10','kopf','fastapi','asyncpg'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_hyperliquid_pod_imports_only_its_sdk_and_its_collector_none() -> None:
    code = (
        "import sys; from bot_runtime.exchanges import registry;"
        "registry.create_funding_source('hyperliquid', {});"
        "print(sorted({'hyperliquid', 'eth_account', 'msgpack'} & set(sys.modules)));"
        "registry.create_exchange('hyperliquid', {}, {'HYPERLIQUID_API_PRIVATE_KEY': '0x' + '4c' * 32,"
        " 'HYPERLIQUID_ACCOUNT_ADDRESS': '0x' + '8d' * 20});"
        "print(sorted({'hyperliquid', 'lighter', 'pysdk', 'edgex_sdk', 'paradex_py', 'bpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "['hyperliquid']"]


def test_cli_lists_subcommands() -> None:
    out = subprocess.run([str(BIN / "perpdex"), "--help"], capture_output=True, text=True, check=True)
    for sub in ("operator", "bot", "collect", "funding-service", "dev"):
        assert sub in out.stdout


def test_unknown_subcommand_fails() -> None:
    out = subprocess.run([str(BIN / "perpdex"), "nope"], capture_output=True, text=True, check=False)
    assert out.returncode == 2 and "unknown command" in out.stderr
