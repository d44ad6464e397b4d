"""``kubectl perpdex`` on the whole local stack (control plane, PostgreSQL, funding service, operator, local pod
runner, the paper exchange service as a Deployment, a paper collector and a paper grid bot): list, describe, logs of
the running bot pod, then flatten (onStop closePositions, the pod restarts, pause, the bot stops flat) and resume, as a
user runs them.

The position lives on the paper exchange, not in the bot's pod, so it survives flatten's restart and only the stop's
closePositions can take it to zero; the test reads it from the paper exchange's REST API (docs/operations.md: a spec
edit is a restart, which keeps the position; ``paused: true`` is a stop, which applies ``onStop``).

The venue ``paper`` replays a price file: flat at 60000 for 90 s (the stack starts, the bot comes up), down 2 USD a
second for 120 s (each step trades through the bot's bid: entries fill, their take-profits 0.02 % above rest), then
flat at 59760 forever: nothing fills any more, so the position flatten finds is the one it must close.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from perpdex_dev.control_plane import REPO_ROOT
from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster
from perpdex_dev.stack import LocalStack
from tests.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BOT = "paper-btc-grid"
FLAT_END = "59760"
# the collector example's venues are the paper exchange's defaults; `paper` (the grid's) replays price_file()
VENUES: list[dict[str, Any]] = [
    {"name": "paper", "options": {"priceFile": "/etc/perpdex/btc.csv", "step": "1s"}},
    {"name": "paper-a"},
    {"name": "paper-b"},
    {"name": "paper-c"},
]


def price_file() -> str:
    rows = [(0, 60000), (90, 60000)] + [(90 + i, 60000 - 2 * i) for i in range(1, 121)]
    return "\n".join(f"{t},{p}" for t, p in rows) + "\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kube: Kube, postgres: PostgresCluster) -> Iterator[LocalStack]:
    run_dir = tmp_path_factory.mktemp("plugin-stack")
    s = LocalStack(run_dir=run_dir, namespace=f"plugin-{int(time.time()) % 100000}")
    done = stop_at_exit(s.stop)
    s.kubeconfig, s.assets = str(kube.kubeconfig), str(kube.env["PATH"].split(":")[0])
    s.database = "perpdex_plugin_e2e"
    postgres.create_database(s.database)
    s.pg_port = postgres.port
    s.install_crds()
    try:
        s.start_funding_service()
        s.start_paper_exchange(VENUES, {"btc.csv": price_file()})
        s.prepare_namespace()
        s.start_operator()
        s.start_pod_runner()
        yield s
    finally:
        s.pg_dir = ""
        s.control_plane_dir = ""
        s.stop()
        done()


def wait(what: str, predicate: Callable[[], Any], timeout: float = 180.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def bot(stack: LocalStack) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        stack.kubectl("get", "tradingbot", BOT, "-n", stack.namespace, "-o", "json").stdout
    )
    return found


def venue(stack: LocalStack, path: str) -> Any:
    """The paper exchange's own answer (its REST API) for venue ``paper``."""
    with urllib.request.urlopen(f"{stack.paper_url}/api/v1/venues/paper{path}", timeout=10) as r:
        return json.loads(r.read())


def plugin(stack: LocalStack, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", "perpdex", *args], env=stack.env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_list_describe_logs_flatten_resume(stack: LocalStack) -> None:
    ns = stack.namespace
    for manifest in ("paper-collector.yaml", "paper-grid.yaml"):
        stack.kubectl("apply", "-n", ns, "-f", str(REPO_ROOT / "examples" / manifest))
    on_stop = bot(stack)["spec"].get("onStop")
    account = f"/accounts/{ns}.{BOT}"

    def settled() -> bool:
        try:
            quote = venue(stack, "/quotes/BTC")
            held = Decimal(venue(stack, account + "/positions/BTC")["size"])
        except OSError:
            return False
        mid = (Decimal(quote["bid"]) + Decimal(quote["ask"])) / 2
        return abs(mid - Decimal(FLAT_END)) < 1 and held > 0

    wait("a long position on the venue and the market flat", settled, timeout=420)
    held = Decimal(venue(stack, account + "/positions/BTC")["size"])

    def reports_it() -> bool:
        status = bot(stack).get("status") or {}
        return status.get("phase") == "Running" and Decimal(status.get("position") or 0) == held

    wait("the bot to report the venue's position", reports_it)
    listed = json.loads(plugin(stack, "list", "-n", ns, "-o", "json").stdout)
    [row] = listed["tradingBots"]
    assert (row["name"], row["phase"], row["venues"]) == (BOT, "Running", ["paper"])
    assert Decimal(row["position"]) != 0 and row["heartbeatAgeSeconds"] < 60

    def collector_ok() -> bool:
        venues = json.loads(plugin(stack, "list", "-n", ns, "-o", "json").stdout)["fundingCollectors"]
        return bool(venues) and all(v["health"] == "ok" for v in venues)

    wait("the collector's venues to be healthy", collector_ok)
    described = plugin(stack, "describe", BOT, "-n", ns)
    assert described.returncode == 0 and f"Pod:           {BOT}-0 Running, ready True" in described.stdout
    logs = plugin(stack, "logs", BOT, "-n", ns, "--tail", "5")
    assert logs.returncode == 0, logs.stderr
    assert len(logs.stdout.splitlines()) == 5 and all(json.loads(line)["ts"] for line in logs.stdout.splitlines())

    held = Decimal(venue(stack, account + "/positions/BTC")["size"])
    assert held > 0
    flat = plugin(stack, "flatten", BOT, "-n", ns, "--timeout", "240")
    assert flat.returncode == 0, flat.stderr + flat.stdout
    assert f"{BOT} is flat and paused" in flat.stdout
    after = bot(stack)
    assert after["spec"]["paused"] is True and after["spec"].get("onStop") == on_stop  # the user's onStop is back
    assert after["status"]["phase"] == "Paused" and Decimal(after["status"]["position"]) == 0
    assert not after["status"].get("legs")
    # the venue's own state: the position the bot held is closed and none of its orders rests
    assert Decimal(venue(stack, account + "/positions/BTC")["size"]) == 0, held
    assert venue(stack, account + "/orders") == []
    # the market only fell, so no take-profit filled: every sell is the stop's reduce-only market close
    fills = venue(stack, account + "/fills")
    sells = [f for f in fills if f["side"] == "sell"]
    assert sum(Decimal(f["size"]) for f in sells) == held and {f["liquidity"] for f in sells} == {"taker"}, fills
    log = next(Path(stack.run_dir).rglob(f"{BOT}-0.log")).read_text()
    stop = log.rindex('"signal read as a stop"')
    assert '"onStop applied","on_stop":"closePositions"' in log[stop:]

    again = plugin(stack, "flatten", BOT, "-n", ns)
    assert again.returncode == 0 and "already paused and flat" in again.stdout
    assert plugin(stack, "resume", BOT, "-n", ns).returncode == 0
    wait("the bot to run again", lambda: (bot(stack).get("status") or {}).get("phase") == "Running")
