"""Bot process footprint (issue 12, item 4): memory and start-up time of ``perpdex bot`` on the paper venue, and what
each venue's code costs to import, each against a bare ``python -c pass`` interpreter measured in the same run.

* **paper bot**: ``perpdex bot --config examples/paper-grid.yaml`` (outside Kubernetes); start-up = spawn until
  ``/readyz`` answers 200; RSS (``VmRSS``) and peak RSS (``VmHWM``) after it has traded for a few seconds.
* **imports, fresh process each**: ``bot_runtime.process.cli`` (what ``perpdex bot`` imports) alone, and with one
  venue: every module of its adapter package and what connecting imports of its SDK (what a single-exchange bot loads,
  nothing of the other venues): the SDK's top-level packages, or for paradex the signing modules its adapter imports
  (:data:`CONNECT_IMPORTS`);
  wall time to exit, and the peak RSS (``VmHWM``) the process prints about itself as it ends.
* **live-venue bots against a local replay of the venue, measured** (:data:`REPLAY_BOTS`: every live venue):
  the same grid bot with ``exchange: <venue>`` and ``exchangeOptions`` (and credentials) pointing at a replay server
  (``tests/support/replay.py``, the venue's wire format and signature checks, run by this benchmark in a thread; the
  stateful venues of the client tests, via ``tests/unit/preflight/venues.py``): the real connect (logins, signed
  reads, markets, open orders, the account WebSocket), the preflight checks, then trading; same figures as the
  paper bot, which is the baseline.
* **live-venue bots, estimated** (only for a venue left out with ``--replay-venues``): the paper bot's figures plus
  the import difference between that venue and paper (network handshakes excluded).

``python -m bench.bot_footprint [--quick] [--repeat N] [--replay-repeat N] [--replay-venues lighter,paradex,...]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    PYTHON,
    REPO_ROOT,
    REPORT_PEAK,
    BenchError,
    ExitFigures,
    Table,
    Target,
    base_parser,
    clean_env,
    command_line,
    load_note,
    median,
    proc_sample,
    run_measured,
    run_module,
    start_server,
    stop_process,
)
from bot_runtime.exchanges.registry import VENUES

MODULE = "bench.bot_footprint"
PERPDEX = Path(PYTHON).parent / "perpdex"
PAPER_CONFIG = REPO_ROOT / "examples" / "paper-grid.yaml"
RSS_TARGET_MB = 120.0
#: what a venue's adapter imports of its SDK when it connects, where that is not the SDK's top-level packages
CONNECT_IMPORTS: dict[str, tuple[str, ...]] = {
    # only the signing modules of paradex-py / starknet-py (bot_runtime/exchanges/paradex/signing.py)
    "paradex": ("from bot_runtime.exchanges.paradex.signing import sdk", "sdk()"),
    # the SDK's signing and types modules (its package __init__ is empty; api/info/exchange, on requests, are unused)
    "hyperliquid": ("import hyperliquid.utils.signing", "import hyperliquid.utils.types"),
    # the SDK's order signing, its models and config (its clients, on aiohttp, are unused)
    "extended": ("import x10.signing.order_object", "import x10.models.position, x10.models.trade, x10.models.balance"),
    # the SDK's order functions and REST models without its package __init__ (its clients and web3 are unused)
    "ethereal": ("import bot_runtime.exchanges.ethereal.signing",),
    # only the SDK's zkLink binding, without its package __init__ (which cannot import under the project's pins)
    "apex": ("from bot_runtime.exchanges.apex.signing import zklink", "zklink()"),
}
READY_TARGET_S = 2.0


def build_parser() -> argparse.ArgumentParser:
    p = base_parser(f"python -m {MODULE}", "bot footprint: RSS and start-up of a paper bot; venue import costs")
    p.add_argument("--repeat", type=int, default=None, help="runs per figure, median kept (default 5, quick 3)")
    p.add_argument(
        "--run-seconds", type=float, default=None, help="how long the paper bot trades before its RSS is read"
    )
    p.add_argument("--replay-repeat", type=int, default=None, help="runs of each replay-venue bot (default 3, quick 1)")
    p.add_argument(
        "--replay-venues",
        type=_replay_venues,
        default=list(REPLAY_BOTS),
        help=f"live venues whose bot runs against a local replay ({', '.join(REPLAY_BOTS)}; '' for none)",
    )
    return p


def _replay_venues(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in REPLAY_BOTS]
    if unknown:
        raise argparse.ArgumentTypeError(f"no replay for {unknown}; known: {', '.join(REPLAY_BOTS)}")
    return names


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.replay_repeat is None:
        args.replay_repeat = 1 if args.quick else 3  # each run trades for run_seconds: keeps `make bench` short
    if args.run_seconds is None:
        args.run_seconds = 3.0 if args.quick else 5.0
    return args


@dataclass(frozen=True)
class Figures:
    seconds: float
    rss_mb: float

    @classmethod
    def median_of(cls, runs: list[ExitFigures]) -> Figures:
        return cls(median([r.wall_seconds for r in runs]), median([r.peak_rss_mb for r in runs]))


def measure_python(code: str, repeat: int) -> Figures:
    """``python -c code`` in a fresh process: wall time to exit, and the process's own peak RSS (it prints its
    VmHWM at the end: ``ru_maxrss`` would include this benchmark's RSS copied at fork)."""
    env = clean_env()
    runs = [run_measured([PYTHON, "-c", code + REPORT_PEAK], env=env) for _ in range(repeat)]
    return Figures.median_of(runs)


@dataclass(frozen=True)
class BotRun:
    ready_seconds: float
    rss_mb: float
    peak_rss_mb: float


def run_paper_bot(workdir: Path, run_seconds: float) -> BotRun:
    return run_bot(workdir, PAPER_CONFIG, run_seconds, {})


def run_bot(workdir: Path, config: Path, run_seconds: float, extra_env: dict[str, str]) -> BotRun:
    env = clean_env(TMPDIR=str(workdir), PERPDEX_LOG_FORMAT="json", **extra_env)
    log = workdir / f"bot-{config.stem}.log"

    def argv(port: int) -> list[str]:
        return [
            str(PERPDEX),
            "bot",
            f"--config={config}",
            f"--metrics-port={port}",
            "--metrics-host=127.0.0.1",
            f"--trade-log={workdir / f'trades-{port}.csv'}",
        ]

    proc, _, ready = start_server(argv, env, log, "/readyz", interval=0.005)
    try:
        time.sleep(run_seconds)
        if proc.poll() is not None:
            raise BenchError(f"the bot ({config.name}) exited early: {log.read_text()[-2000:]}")
        sample = proc_sample(proc.pid)
    finally:
        stop_process(proc, grace=60)
    return BotRun(ready, sample.rss_mb, sample.peak_rss_mb)


# live-venue bots against a replay server ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayBot:
    """A live venue a bot can run against locally: its replay routes, the bot's credentials env, its exchange
    options (given the replay server)."""

    setup: Callable[[Any], None]
    env: dict[str, str]
    options: Callable[[Any], dict[str, Any]]
    env_for: Callable[[Any], dict[str, str]] | None = None  # credentials that depend on the server (its URL)

    def credentials(self, server: Any) -> dict[str, str]:
        return self.env_for(server) if self.env_for is not None else self.env


def _paradex_replay() -> ReplayBot:
    from tests.support.replay import Reply, load_fixture

    def fx(name: str) -> Any:
        return load_fixture("paradex", name)

    def rpc(conn: Any, message: Any) -> list[Any]:
        if not isinstance(message, dict) or "id" not in message:
            return []
        return [{"jsonrpc": "2.0", "result": {}, "id": message["id"]}]

    def setup(server: Any) -> None:
        server.route("GET", "/v1/system/config", fx("system_config"))
        server.route("POST", "/v1/auth/{public_key}", fx("auth"))
        server.route("GET", "/v1/markets", fx("markets"))
        server.route("GET", "/v1/bbo/{market}", fx("bbo"))
        server.route("GET", "/v1/account", fx("account"))
        server.route("GET", "/v1/positions", {"results": []})
        server.route("GET", "/v1/orders", {"results": []})
        server.route("POST", "/v1/orders", fx("order_new"))
        server.route("GET", "/v1/orders/{order_id}", fx("order_open"))
        server.route("GET", "/v1/fills", {"results": []})
        server.route("DELETE", "/v1/orders/{order_id}", Reply(204))
        server.route("DELETE", "/v1/orders", Reply(204))
        server.websocket("/v1/ws", on_message=rpc)

    return ReplayBot(
        setup=setup,
        env={
            "PARADEX_L1_ADDRESS": "0x" + "be" * 20,
            "PARADEX_L2_PRIVATE_KEY": hex(0x5EED_0000_1234_5678_9ABC_DEF0_1357_9BDF),
            "PARADEX_ENVIRONMENT": "testnet",
        },
        options=lambda server: {"baseUrl": server.url + "/v1", "wsUrl": server.ws_url + "/v1/ws"},
    )


def _rig_replay(venue: str) -> Callable[[], ReplayBot]:
    """A venue of ``tests/unit/preflight/venues.py`` (the client tests' stateful replays), streams on."""

    def build() -> ReplayBot:
        from tests.unit.preflight.venues import BUILDERS, Rig

        rigs: dict[str, Rig] = {}

        def setup(server: Any) -> None:
            rigs["rig"] = BUILDERS[venue](server)

        def options(server: Any) -> dict[str, Any]:
            return {k: v for k, v in rigs["rig"].options.items() if k != "stream"}

        return ReplayBot(setup=setup, env={}, options=options, env_for=lambda server: dict(rigs["rig"].env))

    return build


REPLAY_BOTS: dict[str, Callable[[], ReplayBot]] = {
    "paradex": _paradex_replay,
    **{
        venue: _rig_replay(venue)
        for venue in (
            "lighter",
            "grvt",
            "edgex",
            "backpack",
            "aster",
            "hyperliquid",
            "extended",
            "ethereal",
            "nado",
            "apex",
        )
    },
}


@contextlib.contextmanager
def threaded_replay(setup: Callable[[Any], None]) -> Iterator[Any]:
    """A :class:`tests.support.replay.ReplayServer` on its own event loop in a thread, for the bot process to use."""
    from tests.support.replay import ReplayServer

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="bench-replay", daemon=True)
    thread.start()

    async def start() -> ReplayServer:
        server = ReplayServer()
        await server.start()
        setup(server)
        return server

    try:
        server = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
        try:
            yield server
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def replay_bot_config(venue: str, options: dict[str, Any]) -> dict[str, Any]:
    """The paper example's grid bot on ``venue`` (its exchange options point at the replay server)."""
    return {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": f"bench-{venue}"},
        "spec": {
            "strategy": "grid",
            "exchange": venue,
            "ticker": "BTC",
            "grid": {
                "quantity": "0.001",
                "takeProfit": "0.02",
                "direction": "buy",
                "maxOrders": 10,
                "waitTime": "30s",
                "gridStep": "-100",
                "boostMode": False,
            },
            "risk": {
                "maxPositionUsd": "5000",
                "maxOpenOrders": 50,
                "maxDailyLossUsd": "200",
                "maxDrawdownPct": "10",
                "onBreach": "pause",
            },
            "onStop": "cancelOrders",
            "exchangeOptions": {venue: options},
        },
    }


def run_replay_bot(workdir: Path, venue: str, run_seconds: float) -> BotRun:
    replay = REPLAY_BOTS[venue]()
    with threaded_replay(replay.setup) as server:
        config = workdir / f"{venue}-bot.yaml"
        config.write_text(json.dumps(replay_bot_config(venue, replay.options(server))))
        return run_bot(workdir, config, run_seconds, replay.credentials(server))


def venue_imports() -> dict[str, tuple[str, tuple[str, ...]]]:
    """venue -> (its adapter module, the statements importing what connecting loads of its SDK)."""
    return {
        name: (spec.module, CONNECT_IMPORTS.get(name, tuple(f"import {sdk}" for sdk in spec.sdk_modules)))
        for name, spec in sorted(VENUES.items())
    }


def venue_import_code(module: str, sdk_imports: tuple[str, ...]) -> str:
    """Python source importing what a bot of this venue loads: the runtime, the adapter package with every submodule,
    and what its adapter imports of the SDK when it connects."""
    lines = [
        "import importlib, pkgutil",
        "import bot_runtime.process.cli",
        f"m = importlib.import_module({module!r})",
        "for info in pkgutil.walk_packages(getattr(m, '__path__', []), m.__name__ + '.'):",
        "    importlib.import_module(info.name)",
        *sdk_imports,
    ]
    return "\n".join(lines)


def measure(args: argparse.Namespace) -> list[Table]:
    args = resolve(args)
    bare = measure_python("pass", args.repeat)
    runs: list[BotRun] = []
    replay_runs: dict[str, list[BotRun]] = {venue: [] for venue in args.replay_venues}
    with tempfile.TemporaryDirectory(prefix="perpdex-bench-bot-") as tmp:
        for n in range(args.repeat):  # interleaved, so the paper bot and the replay bots share the machine's load
            runs.append(run_paper_bot(Path(tmp), args.run_seconds))
            for venue, out in replay_runs.items():
                if n < args.replay_repeat:
                    out.append(run_replay_bot(Path(tmp), venue, args.run_seconds))
    ready = median([r.ready_seconds for r in runs])
    rss = median([r.rss_mb for r in runs])
    peak = median([r.peak_rss_mb for r in runs])
    cmd = command_line(MODULE, ["--quick"] if args.quick else [])

    bot = Table(
        f"Paper bot process (perpdex bot --config examples/paper-grid.yaml), median of {args.repeat} runs",
        "a bare `python -c pass` interpreter (same run): its wall time to exit and its peak RSS",
        command=cmd,
    )
    bot.add("start-up to /readyz 200", ready, "s", bare.seconds, Target("<", READY_TARGET_S))
    bot.add(f"RSS after {args.run_seconds:g} s trading", rss, "MB", bare.rss_mb, Target("<", RSS_TARGET_MB))
    bot.add("peak RSS (VmHWM)", peak, "MB", bare.rss_mb, Target("<", RSS_TARGET_MB))
    bot.notes.append(load_note())

    imports = Table(
        f"Import cost in a fresh process, median of {args.repeat} runs",
        "a bare `python -c pass` interpreter (same run)",
        command=cmd,
    )
    runtime = measure_python("import bot_runtime.process.cli", args.repeat)
    imports.add("bot runtime alone (bot_runtime.process.cli): time", runtime.seconds, "s", bare.seconds)
    imports.add("bot runtime alone (bot_runtime.process.cli): peak RSS", runtime.rss_mb, "MB", bare.rss_mb)
    per_venue: dict[str, Figures] = {}
    for venue, (module, sdk_imports) in venue_imports().items():
        full = measure_python(venue_import_code(module, sdk_imports), args.repeat)
        per_venue[venue] = full
        imports.add(f"runtime + {venue} (adapter + SDK): time", full.seconds, "s", bare.seconds)
        imports.add(f"runtime + {venue} (adapter + SDK): peak RSS", full.rss_mb, "MB", bare.rss_mb)
    imports.notes.append(
        "runtime + venue = bot_runtime.process.cli, every module of the venue's adapter package and what the adapter "
        "imports of its SDK when connecting (the SDK's top-level packages; for paradex only its signing modules: "
        "bot_runtime.exchanges.paradex.signing.sdk()); the venue's own cost is the difference to the runtime alone"
    )
    imports.notes.append(load_note())

    estimate = Table(
        "Single-exchange bots, ESTIMATED (no replay run): paper bot + (venue imports - paper imports)",
        "the paper bot measured above",
        command=cmd,
    )
    paper = per_venue["paper"]
    for venue, figures in per_venue.items():
        if venue == "paper" or venue in replay_runs:
            continue
        est_ready = ready + (figures.seconds - paper.seconds)
        est_rss = peak + (figures.rss_mb - paper.rss_mb)
        estimate.add(f"{venue} bot: start-up to ready (est.)", est_ready, "s", ready, Target("<", READY_TARGET_S))
        estimate.add(f"{venue} bot: peak RSS (est.)", est_rss, "MB", peak, Target("<", RSS_TARGET_MB))
    estimate.notes.append(
        "excludes the venue's own start-up traffic (markets, login, WebSocket subscribe): those need the venue"
    )
    tables = [bot, imports, *([estimate] if estimate.rows else [])]
    if replay_runs:
        measured = Table(
            f"Single-exchange bots against a local replay of the venue, MEASURED, median of {args.replay_repeat} runs",
            "the paper bot measured above (same run, interleaved)",
            command=cmd,
        )
        for venue, venue_runs in replay_runs.items():
            v_ready = median([r.ready_seconds for r in venue_runs])
            v_rss = median([r.rss_mb for r in venue_runs])
            v_peak = median([r.peak_rss_mb for r in venue_runs])
            measured.add(f"{venue} bot: start-up to /readyz 200", v_ready, "s", ready, Target("<", READY_TARGET_S))
            measured.add(f"{venue} bot: RSS after {args.run_seconds:g} s trading", v_rss, "MB", rss,
                         Target("<", RSS_TARGET_MB))  # fmt: skip
            measured.add(f"{venue} bot: peak RSS (VmHWM)", v_peak, "MB", peak, Target("<", RSS_TARGET_MB))
        measured.notes.append(
            "the grid bot of examples/paper-grid.yaml with exchange: <venue> and exchangeOptions pointing at a replay "
            "server on loopback (tests/support/replay.py, the venue's wire format and signature checks): start-up "
            "includes the real connect (logins, signed reads, markets, open orders, the account WebSocket) and the "
            "preflight checks (a failed one would leave the bot connected in phase Failed: still measured)"
        )
        measured.notes.append(load_note())
        tables.append(measured)
    return tables


def run(args: argparse.Namespace) -> list[Table]:
    return measure(args)


def main(argv: list[str] | None = None) -> int:
    return run_module(build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
