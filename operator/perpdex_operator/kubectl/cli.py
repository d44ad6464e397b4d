"""``kubectl perpdex <verb>``: day-to-day control of perp-dex TradingBots and FundingCollectors (console script
``kubectl-perpdex``; kubectl finds it on PATH as the ``perpdex`` plugin).

Every verb runs kubectl with the user's kubeconfig (``--kubeconfig``, ``--context``) and RBAC; errors say what is
missing (the CRDs, a right, the bot) and exit 1. ``kubectl perpdex <verb> --help`` documents each verb.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from perpdex_operator.kubectl import control, from_runbot, logs, opportunities, preflight, views
from perpdex_operator.kubectl.kube import Forbidden, Kubectl, KubectlError, NoCrds

PROG = "kubectl perpdex"


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The kubectl-style flags, accepted before or after the verb."""
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--kubeconfig", default=default, help="path of the kubeconfig (default: kubectl's)")
    parser.add_argument("--context", default=default, help="kubeconfig context (default: the current one)")
    parser.add_argument(
        "-n", "--namespace", default=default, help="namespace (default: the context's; `list`: every namespace)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Control perp-dex TradingBots and FundingCollectors with your own kubeconfig and RBAC.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="`kubectl perpdex <verb> --help` shows each verb's options.",
    )
    _common(parser, top=True)
    verbs = parser.add_subparsers(dest="verb", metavar="<verb>", required=True)

    def verb(name: str, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        sub = verbs.add_parser(
            name, help=help_, description=description or help_, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        _common(sub, top=False)
        return sub

    p = verb(
        "list",
        "every bot (strategy, venues, phase, position, PnL, heartbeat, halt) and every collector's venue health",
        "List TradingBots in every namespace (or -n NS): strategy, venue(s), phase, position (a funding-arb bot's\n"
        "net exposure; its legs are in `describe`), realized / unrealized / funding PnL in USD, heartbeat age,\n"
        "halt reason; then each FundingCollector's venues with their health. Figures are rounded for display;\n"
        "-o json|yaml prints the same rows at full precision.",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace (the default without -n)")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table", help="output format")

    p = verb("describe", "one bot on one screen: figures, conditions, legs, last error, pod, recent events")
    p.add_argument("bot", metavar="BOT", help="TradingBot name")

    for name, text in (
        ("pause", "set spec.paused: the bot applies its onStop, stops, and its pod goes away (phase Paused)"),
        ("resume", "clear spec.paused: the operator starts the bot's pod again"),
    ):
        p = verb(name, text)
        p.add_argument("bot", metavar="BOT", help="TradingBot name")

    p = verb(
        "flatten", "close the bot's positions, then pause it (waits until flat, or says what is left)", control.__doc__
    )
    p.add_argument("bot", metavar="BOT", help="TradingBot name")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the bot to be flat (default 300)")

    p = verb(
        "preflight",
        "the bot's preflight checks (credentials, market, size, collateral), or --run them now",
        preflight.__doc__,
    )
    p.add_argument("bot", metavar="BOT", help="TradingBot name")
    p.add_argument("--run", action="store_true", help="run them again now in the bot's pod (kubectl exec)")

    p = verb(
        "opportunities", "the funding service's ranked opportunities (through the API server)", opportunities.__doc__
    )
    p.add_argument("--symbol", help="one symbol (canonical base asset, e.g. BTC)")
    p.add_argument("--min-apr", type=Decimal, help="minimum net APR as a fraction (0.15 = 15 %%)")
    p.add_argument("--limit", type=int, default=20, help="rows (1..100, default 20)")
    p.add_argument("--service", help="the funding service as NAMESPACE/NAME[:PORT] (default: found by its label)")

    p = verb(
        "from-runbot",
        "an original runbot.py command line and .env as a Secret + TradingBot (printed, or applied)",
        from_runbot.__doc__,
    )
    p.add_argument("--apply", action="store_true", help="apply them (server-side, your rights) instead of printing")
    p.add_argument("--name", help="TradingBot name (default: <exchange>-<ticker>-grid)")
    p.add_argument("--secret-name", help="Secret name (default: <bot name>-credentials)")
    p.add_argument("runbot", nargs=argparse.REMAINDER, metavar="-- RUNBOT_FLAGS", help="the original flags after --")

    p = verb("logs", "the bot pod's log", logs.__doc__)
    p.add_argument("bot", metavar="BOT", help="TradingBot name")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("--tail", type=int, default=None, help="only the last N lines")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    kubectl = Kubectl(kubeconfig=args.kubeconfig, context=args.context)
    try:
        kubectl.check()
        return _run(kubectl, args)
    except KubectlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _namespace(kubectl: Kubectl, args: argparse.Namespace) -> str:
    return str(args.namespace) if args.namespace else kubectl.current_namespace()


def _run(kubectl: Kubectl, args: argparse.Namespace) -> int:
    if args.verb == "list":
        scope = views.Scope(None if args.all_namespaces or not args.namespace else args.namespace)
        try:
            bots = views.load_bots(kubectl, scope)
        except Forbidden:
            if scope.namespace is not None or args.all_namespaces:
                raise
            # no right to list across namespaces: the context's namespace is what this user can see
            scope = views.Scope(kubectl.current_namespace())
            print(f"warning: cannot list across namespaces; namespace {scope.namespace} only", file=sys.stderr)
            bots = views.load_bots(kubectl, scope)
        try:
            collectors = views.load_collectors(kubectl, scope)
        except (Forbidden, NoCrds) as exc:  # the bots are still worth showing
            collectors = []
            print(f"warning: FundingCollectors not listed: {exc}", file=sys.stderr)
        print(views.render_list(bots, collectors, args.output))
        return 0
    if args.verb == "opportunities":
        service = opportunities.find_service(kubectl, args.namespace, args.service)
        answer = opportunities.fetch(kubectl, service, symbol=args.symbol, min_apr=args.min_apr, limit=args.limit)
        print(opportunities.render(answer))
        return 0
    if args.verb == "from-runbot":
        return _from_runbot(kubectl, args)
    namespace = _namespace(kubectl, args)
    if args.verb == "describe":
        print(views.render_describe(kubectl, views.load_bot(kubectl, namespace, args.bot)))
        return 0
    if args.verb in {"pause", "resume"}:
        paused = args.verb == "pause"
        bot, changed = control.set_paused(kubectl, namespace, args.bot, paused)
        state = "paused" if paused else "resumed"
        if not changed:
            print(f"tradingbot {namespace}/{args.bot} was already {state}")
        elif paused:
            print(
                f"tradingbot {namespace}/{args.bot} paused (it applies onStop {bot.spec.on_stop or 'default'} and stops)"
            )
        else:
            print(f"tradingbot {namespace}/{args.bot} resumed")
        return 0
    if args.verb == "flatten":
        control.Flatten(kubectl, namespace, args.bot, args.timeout, say=lambda m: print(m, flush=True)).run()
        return 0
    if args.verb == "preflight":
        return _preflight(kubectl, namespace, args.bot, args.run)
    if args.verb == "logs":
        logs.print_lines(logs.lines(kubectl, namespace, args.bot, follow=args.follow, tail=args.tail))
        return 0
    raise KubectlError(f"unknown verb {args.verb}")  # pragma: no cover - argparse allows only the verbs above


def _from_runbot(kubectl: Kubectl, args: argparse.Namespace) -> int:
    flags = [a for a in args.runbot if a != "--"] if args.runbot[:1] == ["--"] else list(args.runbot)
    if not flags:
        raise KubectlError("give the original flags after --, e.g. from-runbot -- --exchange lighter --ticker BTC ...")
    conversion = from_runbot.convert(
        flags, name=args.name, secret_name=args.secret_name, namespace=None if args.apply else args.namespace
    )
    if conversion.left_out:
        print(f"left out of the Secret (not used by this bot): {', '.join(conversion.left_out)}", file=sys.stderr)
    if not args.apply:
        if conversion.secret is not None:
            print("# contains credentials: apply it, do not commit it", file=sys.stderr)
        print(conversion.yaml(), end="")
        return 0
    print(from_runbot.apply(kubectl, conversion, _namespace(kubectl, args)), end="")
    return 0


def _preflight(kubectl: Kubectl, namespace: str, name: str, run: bool) -> int:
    bot = views.load_bot(kubectl, namespace, name)
    if run:
        text, code = preflight.run_in_pod(kubectl, namespace, bot)
    else:
        raw = kubectl.json(["get", "tradingbots.perpdex.io", name, "-n", namespace])
        text, code = preflight.render(name, bot, preflight.recorded(raw), datetime.now(UTC))
    print(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
