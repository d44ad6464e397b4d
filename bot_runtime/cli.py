"""``perpdex``: the one entry point of the image. Each subcommand lives in its own module and is imported only
when used, so a bot pod never imports kopf, FastAPI or another venue's SDK."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module exporting ``main(argv: list[str]) -> int``, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "operator": ("perpdex_operator.main", "run the kopf operator reconciling TradingBot and FundingCollector"),
    "bot": ("bot_runtime.runner", "run one trading bot (grid or fundingArb) from a rendered config"),
    "collect": ("funding_service.collection.cli", "run the funding-rate collector loop (FundingCollector pods)"),
    "funding-service": ("funding_service.cli", "funding service: `serve` (FastAPI) or `migrate` (database schema)"),
    "dev": ("perpdex_dev.cli", "developer helpers: local control plane, PostgreSQL, pod runner, demo (not deployed)"),
}


def _usage() -> str:
    lines = ["usage: perpdex <command> [options]", "", "commands:"]
    lines += [f"  {name:<16} {help_}" for name, (_, help_) in SUBCOMMANDS.items()]
    lines += ["", "`perpdex <command> --help` shows each command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0 if args else 2
    if args[0] == "--version":
        from importlib.metadata import version

        print(version("perp-dex-operator"))
        return 0
    name, rest = args[0], args[1:]
    if name not in SUBCOMMANDS:
        print(f"perpdex: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module_name = SUBCOMMANDS[name][0]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"perpdex {name}: not built yet (module {module_name} is missing)", file=sys.stderr)
            return 2
        raise
    entry: Callable[[list[str]], int] = module.main
    return entry(rest)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
