"""``kubectl perpdex from-runbot``: an original runbot.py command line and .env become a Secret and a TradingBot that
the REAL API server accepts (schema and CEL rules), printed or applied with the user's rights; unsupported flags and
missing credentials are named, never a credential's value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.operator.kubectl.plugin_helpers import Plugin

pytestmark = pytest.mark.integration

ENV = """# the original's .env
API_KEY_PRIVATE_KEY=0x5ec7e7-lighter-key
LIGHTER_ACCOUNT_INDEX=1234
LIGHTER_API_KEY_INDEX=2
TELEGRAM_BOT_TOKEN="123456:telegram-secret-token"
TELEGRAM_CHAT_ID=-100987
GRVT_API_KEY=unrelated-secret
"""
RUNBOT = [
    "python", "runbot.py", "--exchange", "lighter", "--ticker", "btc", "--quantity", "0.01", "--take-profit", "0.02",
    "--direction", "sell", "--max-orders", "25", "--wait-time", "0.5", "--grid-step", "0.3", "--stop-price", "50000",
    "--pause-price", "55000",
]  # fmt: skip


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    path = tmp_path / ".env"
    path.write_text(ENV)
    return path


def test_printed_manifests_pass_the_api_servers_validation(crds_installed: Any, namespace: str, env_file: Path) -> None:
    kube = crds_installed
    out = Plugin(kube).run("from-runbot", "--", *RUNBOT, "--env-file", str(env_file))
    secret, bot = yaml.safe_load_all(out.stdout)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == "lighter-btc-grid-credentials"
    assert secret["stringData"] == {
        "API_KEY_PRIVATE_KEY": "0x5ec7e7-lighter-key",
        "LIGHTER_ACCOUNT_INDEX": "1234",
        "LIGHTER_API_KEY_INDEX": "2",
        "TELEGRAM_BOT_TOKEN": "123456:telegram-secret-token",
        "TELEGRAM_CHAT_ID": "-100987",
    }
    assert bot["spec"] == {
        "strategy": "grid",
        "exchange": "lighter",
        "ticker": "BTC",
        "grid": {
            "quantity": "0.01",
            "takeProfit": "0.02",
            "direction": "sell",
            "maxOrders": 25,
            "waitTime": "500ms",
            "gridStep": "0.3",
            "stopPrice": "50000",
            "pausePrice": "55000",
        },
        "credentials": {"lighter": {"secretName": "lighter-btc-grid-credentials"}},
        "notifications": {"telegram": {"secretName": "lighter-btc-grid-credentials"}},
    }
    # names only on stderr: the key left out, never a value
    assert "left out of the Secret (not used by this bot): GRVT_API_KEY" in out.stderr
    assert "unrelated-secret" not in out.stdout + out.stderr and "telegram-secret-token" not in out.stderr
    # the real API server accepts both as they are (schema, CEL rules), without storing them
    kube.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=out.stdout)


def test_apply_creates_both_with_the_users_rights(crds_installed: Any, namespace: str, env_file: Path) -> None:
    kube = crds_installed
    out = Plugin(kube).run(
        "from-runbot", "--apply", "-n", namespace, "--name", "moved-grid", "--", *RUNBOT, "--env-file", str(env_file)
    )
    assert "secret/moved-grid-credentials serverside-applied" in out.stdout
    assert "tradingbot.perpdex.io/moved-grid serverside-applied" in out.stdout
    assert "0x5ec7e7" not in out.stdout + out.stderr
    bot = json.loads(kube.kubectl("get", "tradingbot", "moved-grid", "-n", namespace, "-o", "json").stdout)
    assert bot["spec"]["credentials"] == {"lighter": {"secretName": "moved-grid-credentials"}}
    assert bot["spec"]["grid"]["direction"] == "sell" and bot["spec"]["ticker"] == "BTC"
    secret = json.loads(kube.kubectl("get", "secret", "moved-grid-credentials", "-n", namespace, "-o", "json").stdout)
    assert sorted(secret["data"]) == [
        "API_KEY_PRIVATE_KEY", "LIGHTER_ACCOUNT_INDEX", "LIGHTER_API_KEY_INDEX", "TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID",
    ]  # fmt: skip


def test_unsupported_flags_and_missing_credentials_are_named(kube: Any, tmp_path: Path, env_file: Path) -> None:
    plugin = Plugin(kube)
    unknown = plugin.run(
        "from-runbot", "--", "--exchange", "lighter", "--leverage", "5", "--aster-boost", "--env-file", str(env_file),
        check=False,
    )  # fmt: skip
    assert unknown.returncode == 1 and "unsupported runbot.py argument(s): --leverage --aster-boost" in unknown.stderr
    assert unknown.stdout == ""
    other = plugin.run("from-runbot", "--", "--strategy", "funding", "--env-file", str(env_file), check=False)
    assert other.returncode == 1 and "--strategy funding: only the grid strategy" in other.stderr
    partial = tmp_path / "partial.env"
    partial.write_text("API_KEY_PRIVATE_KEY=0xsecretvalue\nLIGHTER_ACCOUNT_INDEX=your_account_index_here\n")
    missing = plugin.run("from-runbot", "--", "--exchange", "lighter", "--env-file", str(partial), check=False)
    assert missing.returncode == 1
    assert "LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX missing, empty or a placeholder" in missing.stderr
    assert "0xsecretvalue" not in missing.stderr
    nofile = plugin.run("from-runbot", "--", "--exchange", "lighter", "--env-file", str(tmp_path / "nope"), check=False)
    assert nofile.returncode == 1 and "does not exist" in nofile.stderr
    # a paper bot needs no Secret: only the TradingBot, the original's defaults for the rest
    plain = tmp_path / "paper.env"
    plain.write_text("SOME_OTHER_TOOL=1\n")
    paper = plugin.run("from-runbot", "--", "--exchange", "paper", "--env-file", str(plain))
    [bot] = yaml.safe_load_all(paper.stdout)
    assert bot["spec"]["grid"] == {
        "quantity": "0.1", "takeProfit": "0.02", "direction": "buy", "maxOrders": 40, "waitTime": "450s", "gridStep": "-100",
    }  # fmt: skip
    assert bot["metadata"]["name"] == "paper-eth-grid" and "credentials" not in bot["spec"]
