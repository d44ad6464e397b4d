"""``perpdex backtest funding-arb -f bot.yaml --from DATE --to DATE``: replay the funding service's stored history
through a funding-arb bot's strategy and print each pair and the totals; write the cumulative PnL chart (SVG).

The database is the funding service's (``PERPDEX_FS_DATABASE_URL`` or ``PERPDEX_FS_DB_*``, as ``perpdex
funding-service``). A date without a time is its 00:00 UTC. Exit 0 on success, 2 on a bad argument, configuration
or an unreachable database.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from bot_runtime.config import ConfigError, FundingArbConfig, load_config
from funding_service.backtest.chart import cumulative_pnl_svg
from funding_service.backtest.models import BacktestResult
from funding_service.backtest.report import text_report
from funding_service.backtest.run import backtest, check_range, utc
from funding_service.settings import Settings


def _instant(text: str) -> datetime:
    try:
        return utc(datetime.fromisoformat(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date or ISO 8601 date-time: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="perpdex backtest", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="strategy", required=True)
    farb = sub.add_parser("funding-arb", help="backtest a fundingArb TradingBot")
    farb.add_argument("-f", "--file", required=True, help="the bot: a TradingBot manifest or its spec (YAML/JSON)")
    farb.add_argument("--from", dest="start", required=True, type=_instant, help="first cycle (date or date-time)")
    farb.add_argument("--to", dest="end", required=True, type=_instant, help="last cycle (date or date-time)")
    farb.add_argument("--step-minutes", type=int, default=60, help="minutes between two cycles (default 60)")
    farb.add_argument(
        "--chart", default="funding-arb-backtest.svg", help="cumulative PnL chart, SVG (default %(default)s)"
    )
    farb.add_argument("--json", dest="json_out", default=None, help="also write the whole result as JSON here")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        bot = load_config(args.file, require_credentials=False)
        if bot.funding_arb is None:
            raise ConfigError("spec.fundingArb: a backtest needs a fundingArb bot")
        if not 1 <= args.step_minutes <= 1440:
            raise ValueError("--step-minutes must be within 1..1440")
        check_range(args.start, args.end, timedelta(minutes=args.step_minutes))
        settings = Settings()
    except (ConfigError, ValueError, OSError) as exc:
        print(f"perpdex backtest: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(
            _run(settings, bot.funding_arb, args.start, args.end, timedelta(minutes=args.step_minutes))
        )
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"perpdex backtest: database {settings.redacted_dsn()}: {type(exc).__name__}", file=sys.stderr)
        return 2
    sys.stdout.write(text_report(result))
    Path(args.chart).write_text(cumulative_pnl_svg(result), encoding="utf-8")
    print(f"chart: {args.chart}")
    if args.json_out:
        Path(args.json_out).write_text(result.model_dump_json(indent=2), encoding="utf-8")
        print(f"result: {args.json_out}")
    return 0


async def _run(
    settings: Settings, cfg: FundingArbConfig, start: datetime, end: datetime, step: timedelta
) -> BacktestResult:
    conn = await asyncpg.connect(settings.dsn(), timeout=settings.connect_timeout_seconds)
    try:
        return await backtest(conn, cfg, start, end, step)
    finally:
        await conn.close()
