"""The original ``runbot.py`` command line, so an existing perp-dex-tools user's command and ``.env`` keep working::

    perpdex bot --exchange lighter --ticker BTC --quantity 0.01 --take-profit 0.02 --direction buy \\
        --max-orders 40 --wait-time 450 --grid-step -100 --stop-price -1 --pause-price -1 --boost --env-file .env

Defaults are the original's (exchange edgex, ticker ETH, quantity 0.1, take-profit 0.02 percent, direction buy,
max-orders 40, wait-time 450 s, grid-step -100 = off, stop/pause price -1 = off, env file ``.env``). The ``.env`` is
loaded into the environment without overriding variables already set (as ``python-dotenv``'s ``load_dotenv`` did).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from bot_runtime.config import BotConfig, ConfigError, parse_config

LEGACY_FLAGS = (
    "exchange",
    "ticker",
    "quantity",
    "take_profit",
    "direction",
    "max_orders",
    "wait_time",
    "grid_step",
    "stop_price",
    "pause_price",
    "boost",
    "env_file",
)
DEFAULT_ENV_FILE = ".env"

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def add_legacy_arguments(parser: argparse.ArgumentParser) -> None:
    """The original flags; every default is ``None`` so the caller can tell whether legacy mode was asked for."""
    group = parser.add_argument_group("perp-dex-tools runbot.py flags (instead of --config)")
    group.add_argument("--exchange", help="exchange to trade on (original default: edgex)")
    group.add_argument("--ticker", help="base asset, e.g. BTC (original default: ETH)")
    group.add_argument("--quantity", help="order size in base asset (original default: 0.1)")
    group.add_argument("--take-profit", dest="take_profit", help="take-profit distance in PERCENT (default: 0.02)")
    group.add_argument("--direction", choices=("buy", "sell"), help="buy (long grid) or sell (short grid)")
    group.add_argument("--max-orders", dest="max_orders", type=int, help="max resting close orders (default: 40)")
    group.add_argument("--wait-time", dest="wait_time", help="seconds between new opens (default: 450)")
    group.add_argument("--grid-step", dest="grid_step", help="min percent between close orders; -100 = off")
    group.add_argument("--stop-price", dest="stop_price", help="stop and exit beyond this price; -1 = off")
    group.add_argument("--pause-price", dest="pause_price", help="no new opens beyond this price; -1 = off")
    group.add_argument("--boost", action="store_true", default=None, help="close at market right after each fill")
    group.add_argument("--env-file", dest="env_file", help="dotenv file loaded into the environment (default: .env)")


def legacy_requested(args: argparse.Namespace) -> bool:
    return any(getattr(args, flag, None) is not None for flag in LEGACY_FLAGS)


def parse_env_file(text: str) -> dict[str, str]:
    """``KEY=value`` lines; ``export`` prefixes, comments, blank lines, single/double quotes handled."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        match = _LINE.match(raw)
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in {"'", '"'}:
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = value.replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        values[key] = value
    return values


def load_env_file(path: str | os.PathLike[str], environ: MutableMapping[str, str] | None = None) -> list[str]:
    """Load a dotenv file into ``environ`` without overriding what is set; returns the keys it set (never values)."""
    environ = os.environ if environ is None else environ
    loaded = []
    for key, value in parse_env_file(Path(path).read_text(encoding="utf-8")).items():
        if key not in environ:
            environ[key] = value
            loaded.append(key)
    return loaded


def config_from_legacy(args: argparse.Namespace, environ: MutableMapping[str, str] | None = None) -> BotConfig:
    """Build the same :class:`BotConfig` the original flags describe (loading the env file first)."""
    env_file = args.env_file if args.env_file is not None else DEFAULT_ENV_FILE
    if Path(env_file).exists():
        load_env_file(env_file, environ)
    elif args.env_file is not None:  # asked for explicitly: the original stopped here too
        raise ConfigError(f"--env-file: {env_file} does not exist")
    exchange = (args.exchange or "edgex").lower()
    ticker = (args.ticker or "ETH").upper()
    grid: dict[str, Any] = {
        "quantity": args.quantity if args.quantity is not None else "0.1",
        "takeProfit": args.take_profit if args.take_profit is not None else "0.02",
        "direction": args.direction or "buy",
        "maxOrders": args.max_orders if args.max_orders is not None else 40,
        "waitTime": args.wait_time if args.wait_time is not None else 450,
        "gridStep": args.grid_step if args.grid_step is not None else "-100",
        "stopPrice": args.stop_price if args.stop_price is not None else "-1",  # -1 = off (null)
        "pausePrice": args.pause_price if args.pause_price is not None else "-1",
        "boostMode": bool(args.boost),
    }
    spec = {
        "name": f"{exchange}-{ticker}-grid".lower(),
        "strategy": "grid",
        "exchange": exchange,
        "ticker": ticker,
        "grid": grid,
    }
    return parse_config(spec, require_credentials=False)
