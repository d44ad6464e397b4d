"""``from-runbot [--apply] -- <runbot.py flags> --env-file .env``: an original perp-dex-tools command line and its
``.env`` become a Secret and a TradingBot, printed as YAML (or applied with the user's rights).

- The flags are the original's (``bot_runtime.legacy_flags``: the same parser ``perpdex bot`` accepts), with its
  defaults (edgex, ETH, 0.1, ...); a leading ``python runbot.py`` is skipped, ``--strategy grid`` accepted. Any other
  flag is named as unsupported and nothing is printed or applied.
- The ``.env`` is read, never exported: the Secret holds only the keys the venue uses (its required and optional
  credential variables, the original's names) and the notification keys (TELEGRAM_BOT_TOKEN + TELEGRAM_CHAT_ID,
  LARK_TOKEN or LARK_WEBHOOK_URL); every other key is named as left out. A missing or placeholder credential is an
  error naming the key. Values appear only in the Secret's ``stringData`` (never in a message).
- The TradingBot: ``strategy: grid`` on the venue and ticker with the ``grid`` parameters (``-1`` prices are "off"
  and left out), ``credentials.<venue>`` and ``notifications`` pointing at the Secret.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from bot_runtime.exchanges.base import CredentialsError
from bot_runtime.exchanges.registry import VENUES, require_credentials, venue_spec
from bot_runtime.legacy_flags import DEFAULT_ENV_FILE, add_legacy_arguments, parse_env_file
from perpdex_operator.kubectl.kube import FIELD_MANAGER, Kubectl, KubectlError

NOTIFICATION_KEYS = {"telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID"), "lark": ("LARK_TOKEN", "LARK_WEBHOOK_URL")}
_LAUNCHER = re.compile(r"^(python[0-9.]*|.*runbot\.py)$")
_DNS = re.compile(r"[^a-z0-9-]+")


class Unsupported(KubectlError):
    pass


@dataclass
class Conversion:
    secret: dict[str, Any] | None
    bot: dict[str, Any]
    left_out: list[str] = field(default_factory=list)  # .env keys not carried over (names only)

    def documents(self) -> list[dict[str, Any]]:
        return [d for d in (self.secret, self.bot) if d is not None]

    def yaml(self) -> str:
        return yaml.safe_dump_all(self.documents(), sort_keys=False)


def parse_flags(argv: Sequence[str]) -> argparse.Namespace:
    args = list(argv)
    while args and _LAUNCHER.match(args[0]):
        args.pop(0)
    parser = argparse.ArgumentParser(prog="runbot.py", add_help=False, allow_abbrev=False)
    add_legacy_arguments(parser)
    parser.add_argument("--strategy", default=None)
    known, unknown = parser.parse_known_args(args)
    if unknown:
        flags = [u for u in unknown if u.startswith("-")] or unknown
        raise Unsupported(
            f"unsupported runbot.py argument(s): {' '.join(flags)} (supported: --exchange --ticker --quantity "
            "--take-profit --direction --max-orders --wait-time --grid-step --stop-price --pause-price --boost "
            "--env-file --strategy grid)"
        )
    if known.strategy not in (None, "grid"):
        raise Unsupported(
            f"--strategy {known.strategy}: only the grid strategy of runbot.py converts (fundingArb "
            "bots have no runbot.py form; see examples/funding-arb.yaml)"
        )
    return known


def _decimal(flag: str, value: object) -> str:
    try:
        return str(Decimal(str(value)))
    except InvalidOperation:
        raise Unsupported(f"{flag} {value!r} is not a number") from None


def _duration(seconds: object) -> str:
    """runbot.py's ``--wait-time`` seconds as the CRD's duration (``450s``; ``0.5`` → ``500ms``)."""
    value = Decimal(_decimal("--wait-time", seconds))
    if value <= 0:
        raise Unsupported(f"--wait-time {seconds}: must be more than 0 seconds")
    if value == value.to_integral_value():
        return f"{int(value)}s"
    return f"{int((value * 1000).to_integral_value())}ms"


def convert(
    argv: Sequence[str], *, name: str | None = None, secret_name: str | None = None, namespace: str | None = None
) -> Conversion:
    args = parse_flags(argv)
    exchange = (args.exchange or "edgex").lower()
    ticker = (args.ticker or "ETH").upper()
    if exchange.split("-", 1)[0] not in VENUES:
        raise Unsupported(f"--exchange {exchange}: unknown venue (known: {', '.join(sorted(VENUES))})")
    bot_name = name or _DNS.sub("-", f"{exchange}-{ticker}-grid".lower()).strip("-")
    env_path = Path(args.env_file or DEFAULT_ENV_FILE)
    if not env_path.is_file():
        if args.env_file is not None or venue_spec(exchange).required_env:
            raise KubectlError(f"--env-file: {env_path} does not exist (the venue's credentials come from it)")
        env: dict[str, str] = {}
    else:
        env = parse_env_file(env_path.read_text(encoding="utf-8"))
    try:
        venue_keys = require_credentials(exchange, env) if venue_spec(exchange).required_env else {}
    except CredentialsError as exc:
        raise KubectlError(f"{env_path}: {exc}") from None

    grid: dict[str, Any] = {
        "quantity": _decimal("--quantity", args.quantity if args.quantity is not None else "0.1"),
        "takeProfit": _decimal("--take-profit", args.take_profit if args.take_profit is not None else "0.02"),
        "direction": args.direction or "buy",
        "maxOrders": args.max_orders if args.max_orders is not None else 40,
        "waitTime": _duration(args.wait_time if args.wait_time is not None else 450),
        "gridStep": _decimal("--grid-step", args.grid_step if args.grid_step is not None else "-100"),
    }
    for flag, key, value in (
        ("--stop-price", "stopPrice", args.stop_price),
        ("--pause-price", "pausePrice", args.pause_price),
    ):
        if value is not None and Decimal(_decimal(flag, value)) != -1:
            grid[key] = _decimal(flag, value)
    if args.boost:
        grid["boostMode"] = True
    spec: dict[str, Any] = {"strategy": "grid", "exchange": exchange, "ticker": ticker, "grid": grid}

    secret_data = dict(venue_keys)
    channels = []
    for channel, keys in NOTIFICATION_KEYS.items():
        present = {k: env[k] for k in keys if env.get(k, "").strip()}
        needed = len(keys) if channel == "telegram" else 1  # telegram: token and chat; lark: a token or a URL
        if len(present) >= needed:
            secret_data.update(present)
            channels.append(channel)
    secret: dict[str, Any] | None = None
    if secret_data:
        sname = secret_name or f"{bot_name}-credentials"
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(sname, namespace),
            "type": "Opaque",
            "stringData": dict(sorted(secret_data.items())),
        }
        if venue_keys:
            spec["credentials"] = {exchange: {"secretName": sname}}
        if channels:
            spec["notifications"] = {channel: {"secretName": sname} for channel in channels}
    bot = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": _meta(bot_name, namespace),
        "spec": spec,
    }
    left_out = sorted(k for k in env if k not in secret_data)
    return Conversion(secret=secret, bot=bot, left_out=left_out)


def _meta(name: str, namespace: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def apply(kubectl: Kubectl, conversion: Conversion, namespace: str) -> str:
    """Server-side apply with the user's rights (field manager ``kubectl-perpdex``); kubectl's summary lines."""
    return kubectl.run(
        ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-n", namespace, "-f", "-"],
        input=conversion.yaml(),
    )
