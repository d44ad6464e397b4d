"""``perpdex bot``: one trading bot process.

::

    perpdex bot --config bot.yaml [--metrics-port 8080] [--trade-log PATH]
    perpdex bot --exchange lighter --ticker BTC --quantity 0.01 ...   # the original runbot.py flags

The command line only: load the config (a TradingBot manifest, the rendered spec of the operator's ConfigMap, or the
legacy flags), set up redacted structured logging, then run :class:`~.bot.BotProcess` until it exits. Exit codes:
:mod:`.lifecycle`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from bot_runtime.config import BotConfig, ConfigError, load_config
from bot_runtime.legacy_flags import add_legacy_arguments, config_from_legacy, legacy_requested
from bot_runtime.logs import credential_env_names, setup_logging
from bot_runtime.process.bot import BotProcess, RunOptions
from bot_runtime.process.lifecycle import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from bot_runtime.process.secret_watch import SECRET_POLL_S

log = logging.getLogger("perpdex.bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perpdex bot",
        description="Run one trading bot from a TradingBot manifest / rendered spec, or from runbot.py flags.",
    )
    parser.add_argument("--config", "-c", help="TradingBot manifest or rendered spec (YAML or JSON)")
    parser.add_argument("--metrics-port", type=int, default=8080, help="port of /healthz /readyz /metrics (0 = any)")
    parser.add_argument("--metrics-host", default="0.0.0.0", help="address to listen on")  # noqa: S104
    parser.add_argument("--trade-log", help="CSV trade log path (default: $TMPDIR/perpdex-trades-<bot>.csv)")
    parser.add_argument("--status-interval", type=float, default=5.0, help="seconds between status writes")
    parser.add_argument(
        "--secret-poll-interval",
        type=float,
        default=SECRET_POLL_S,
        help="seconds between reads of the pod's Secrets' versions while preflight fails",
    )
    parser.add_argument("--log-level", default=os.environ.get("PERPDEX_LOG_LEVEL", "INFO"))
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "human"),
        default=os.environ.get("PERPDEX_LOG_FORMAT", "auto"),
        help="auto: JSON lines unless stdout is a terminal",
    )
    parser.add_argument(
        "--telegram-api-base", help="Telegram Bot API base URL (default $TELEGRAM_API_BASE or api.telegram.org)"
    )
    parser.add_argument(
        "--lark-api-base", help="Lark base URL for LARK_TOKEN (default $LARK_API_BASE or open.larksuite.com)"
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    add_legacy_arguments(parser)
    return parser


def resolve_config(args: argparse.Namespace) -> BotConfig:
    if args.config and legacy_requested(args):
        raise ConfigError("use either --config or the runbot.py flags (--exchange, --ticker, ...), not both")
    if args.config:
        # credentials are checked against the environment by the registry (the spec only names Secrets)
        return load_config(args.config, require_credentials=False)
    if legacy_requested(args):
        return config_from_legacy(args)
    raise ConfigError("--config FILE is required (or the runbot.py flags: --exchange --ticker --quantity ...)")


def main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    json_lines = {"json": True, "human": False}.get(args.log_format)
    redactor = setup_logging(level=str(args.log_level).upper(), json_lines=json_lines)
    try:
        config = resolve_config(args)
    except (ConfigError, OSError) as exc:
        log.error("invalid configuration", extra={"error": redactor.redact(str(exc))})
        return EXIT_USAGE
    # a --env-file may have brought credentials into the environment: mask them too
    redactor.add(*(os.environ[name] for name in credential_env_names() if name in os.environ))
    if args.print_config:
        sys.stdout.write(config.model_dump_json(by_alias=True, exclude_none=True) + "\n")
        return EXIT_OK
    options = RunOptions(
        metrics_port=args.metrics_port,
        metrics_host=args.metrics_host,
        trade_log=Path(args.trade_log) if args.trade_log else None,
        status_interval=args.status_interval,
        secret_poll_s=args.secret_poll_interval,
        telegram_api_base=args.telegram_api_base,
        lark_api_base=args.lark_api_base,
    )

    async def run() -> int:
        return await BotProcess(config, options, redactor=redactor).run()

    try:
        return asyncio.run(run())
    except KeyboardInterrupt:  # a second Ctrl-C before the handlers were installed
        return EXIT_FAILED
