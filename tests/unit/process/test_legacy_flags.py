"""The original runbot.py command line builds the same BotConfig as the equivalent TradingBot spec."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from bot_runtime.config import ConfigError, parse_config
from bot_runtime.legacy_flags import config_from_legacy, load_env_file, parse_env_file
from bot_runtime.process.cli import build_parser, resolve_config

COMMAND = [
    "--exchange",
    "lighter",
    "--ticker",
    "BTC",
    "--quantity",
    "0.01",
    "--take-profit",
    "0.02",
    "--direction",
    "buy",
    "--max-orders",
    "40",
    "--wait-time",
    "450",
    "--grid-step",
    "-100",
    "--stop-price",
    "-1",
    "--pause-price",
    "-1",
    "--boost",
]


def test_full_original_command_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("API_KEY_PRIVATE_KEY=0xabc\nLIGHTER_ACCOUNT_INDEX=3\n")
    environ: dict[str, str] = {"LIGHTER_ACCOUNT_INDEX": "9"}  # already set: not overridden
    args = build_parser().parse_args([*COMMAND, "--env-file", str(env_file)])
    config = config_from_legacy(args, environ)
    expected = parse_config(
        {
            "name": "lighter-btc-grid",
            "strategy": "grid",
            "exchange": "lighter",
            "ticker": "BTC",
            "grid": {
                "quantity": "0.01",
                "takeProfit": "0.02",
                "direction": "buy",
                "maxOrders": 40,
                "waitTime": "450s",
                "gridStep": "-100",
                "stopPrice": None,
                "pausePrice": None,
                "boostMode": True,
            },
        },
        require_credentials=False,
    )
    assert config == expected
    assert config.grid is not None
    assert config.grid.stop_price is None and config.grid.pause_price is None  # -1 = off
    assert config.grid.take_profit == Decimal("0.02") and config.grid.wait_time == 450
    assert environ == {"LIGHTER_ACCOUNT_INDEX": "9", "API_KEY_PRIVATE_KEY": "0xabc"}


def test_defaults_are_the_originals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here: the default env file is optional
    config = config_from_legacy(build_parser().parse_args(["--ticker", "eth"]), {})
    assert (config.exchange, config.ticker) == ("edgex", "ETH")
    assert config.grid is not None
    g = config.grid
    assert (g.quantity, g.take_profit, g.direction.value, g.max_orders, g.wait_time) == (
        Decimal("0.1"),
        Decimal("0.02"),
        "buy",
        40,
        450.0,
    )
    assert (g.grid_step, g.stop_price, g.pause_price, g.boost_mode) == (Decimal(-100), None, None, False)


def test_prices_and_sell_direction() -> None:
    args = build_parser().parse_args(
        [
            "--exchange",
            "paper",
            "--ticker",
            "BTC",
            "--direction",
            "sell",
            "--stop-price",
            "55000",
            "--pause-price",
            "57000",
            "--grid-step",
            "0.5",
            "--env-file",
            "/dev/null",
        ]
    )
    config = resolve_config(args)
    assert config.grid is not None
    assert (config.grid.direction.value, config.grid.stop_price, config.grid.pause_price, config.grid.grid_step) == (
        "sell",
        Decimal(55000),
        Decimal(57000),
        Decimal("0.5"),
    )


def test_errors() -> None:
    with pytest.raises(ConfigError, match="--env-file"):
        config_from_legacy(build_parser().parse_args(["--exchange", "paper", "--env-file", "/nonexistent/.env"]), {})
    with pytest.raises(ConfigError, match="either --config or"):
        resolve_config(build_parser().parse_args(["--config", "x.yaml", "--ticker", "BTC"]))
    with pytest.raises(ConfigError, match=r"spec\.grid\.quantity"):
        config_from_legacy(
            build_parser().parse_args(["--exchange", "paper", "--quantity", "-1", "--env-file", "/dev/null"]), {}
        )


def test_env_file_syntax() -> None:
    parsed = parse_env_file(
        '# comment\n\nexport A=1\nB = \'two words\'\nC="x\\"y"\nD=plain # trailing comment\nE=\nnot a line\n'
    )
    assert parsed == {"A": "1", "B": "two words", "C": 'x"y', "D": "plain", "E": ""}


def test_cli_prints_the_resolved_config(tmp_path: Path) -> None:
    env_file = tmp_path / "bot.env"
    env_file.write_text("EXTRA=1\n")
    out = subprocess.run(
        [sys.executable, "-m", "bot_runtime.cli", "bot", *COMMAND, "--env-file", str(env_file), "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    assert printed["exchange"] == "lighter" and printed["grid"]["boostMode"] is True
    assert printed["grid"]["quantity"] == "0.01" and printed["grid"]["waitTime"] == "450s"
    assert "stopPrice" not in printed["grid"]


def test_load_env_file_reports_keys_not_values(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("K1=secret-one\nK2=secret-two\n")
    environ: dict[str, str] = {}
    assert load_env_file(env_file, environ) == ["K1", "K2"]


def test_take_profit_zero_and_wait_time_zero_are_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    args = build_parser().parse_args(
        ["--exchange", "paper", "--ticker", "BTC", "--take-profit", "0", "--wait-time", "0"]
    )
    config = config_from_legacy(args, {})
    assert config.grid is not None
    assert config.grid.take_profit == 0 and config.grid.wait_time == 0  # as the original accepts them
