"""``perpdex preflight --exchange X --ticker T [--quantity Q] [--env-file F]``: check a venue before trading on it.

Builds the venue's client from the same env vars a bot's Secret gives it (the environment, plus ``--env-file``, which
never overrides what is set: the bot's own rule), connects, and runs the checks of :mod:`bot_runtime.preflight.checks`
(signed reads, market, tick size, quantity, collateral). Nothing is ordered. Prints one line per check; every known
credential value is masked in the output. Exit status: 0 when no check failed (warnings allowed), 1 when one did,
2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

from bot_runtime.config import ConfigError
from bot_runtime.legacy_flags import parse_env_file
from bot_runtime.logs import SecretRedactor
from bot_runtime.preflight.checks import PreflightRequest, preflight

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_ENV_FILE = ".env"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="perpdex preflight", description=__doc__.split("\n\n", 1)[0])
    p.add_argument(
        "--exchange",
        required=True,
        help="lighter, grvt, edgex, paradex, backpack, aster, hyperliquid, extended, ethereal, nado, apex (or paper)",
    )
    p.add_argument("--ticker", required=True, help="canonical base asset, e.g. BTC, ETH, PEPE")
    p.add_argument("--quantity", help="order size in base units: checked against the minimum and the size step")
    p.add_argument("--max-orders", type=int, default=40, help="as the bot's maxOrders, for the collateral estimate")
    p.add_argument(
        "--position-size-usd",
        help="a funding-arb venue: USD per position instead of --quantity (collateral for max-orders positions)",
    )
    p.add_argument("--env-file", help="dotenv file with the venue's keys (default: .env when it exists)")
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a venue option as in spec.exchangeOptions (e.g. environment=testnet, baseUrl=http://...); repeatable",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    return p


def _environment(env_file: str | None) -> dict[str, str]:
    env = dict(os.environ)
    path = Path(env_file or DEFAULT_ENV_FILE)
    if path.exists():
        for key, value in parse_env_file(path.read_text(encoding="utf-8")).items():
            env.setdefault(key, value)
    elif env_file is not None:
        raise ConfigError(f"--env-file: {env_file} does not exist")
    return env


def _options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {pair!r}: expected KEY=VALUE")
        options[key.strip()] = value.strip()
    return options


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        env = _environment(args.env_file)
        options = _options(args.option)
        quantity = Decimal(args.quantity) if args.quantity is not None else None
        if quantity is not None and (not quantity.is_finite() or quantity <= 0):
            raise ConfigError(f"--quantity {args.quantity}: must be a positive number")
        if args.max_orders < 1:
            raise ConfigError("--max-orders must be at least 1")
        notional = Decimal(args.position_size_usd) if args.position_size_usd is not None else None
        if notional is not None and (not notional.is_finite() or notional <= 0):
            raise ConfigError(f"--position-size-usd {args.position_size_usd}: must be a positive number")
    except (ConfigError, InvalidOperation, OSError) as exc:
        print(f"perpdex preflight: {exc}", file=sys.stderr)
        return EXIT_USAGE
    request = PreflightRequest(
        exchange=args.exchange.strip().lower(),
        ticker=args.ticker.strip().upper(),
        quantity=quantity,
        max_orders=args.max_orders,
        notional=notional,
    )
    redactor = SecretRedactor.from_env(env)
    try:
        report = asyncio.run(preflight(request, options, env))
    except (ValueError, ImportError) as exc:  # an unknown exchange, a venue SDK not installed
        print(f"perpdex preflight: {redactor.redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(redactor.redact(json.dumps(report.model_dump(mode="json") | {"ok": report.ok})))
    else:
        for line in report.lines():
            print(redactor.redact(line))
    return EXIT_OK if report.ok else EXIT_FAILED
