"""End to end (control plane, PostgreSQL, funding service, operator, local pod runner running the bots and the paper
exchange's Deployment): a paper grid bot whose take-profits rest on the paper exchange is restarted by a spec edit;
afterwards the same take-profit orders (same ids) rest on the venue and the position is unchanged, because the venue,
not the pod, holds them. Then the stack stops in order: the bots apply their onStop on the venue before the paper
exchange's pod stops (read back from PostgreSQL afterwards).

The venue's BTC price replays a file: flat at 60000 for 90 s (the stack starts, the bot comes up), down 2 USD a second
for 60 s (each step trades through the bot's bid: entries fill, their take-profits 0.05 % above rest), then flat at
59880 forever: nothing fills any more, so "unchanged" is exact.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
import yaml

from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster
from perpdex_dev.stack import LocalStack
from tests.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BOT = "px-grid"
FLAT_END = "59880"
MANIFEST = {
    "apiVersion": "perpdex.io/v1alpha1",
    "kind": "TradingBot",
    "metadata": {"name": BOT},
    "spec": {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {
            "quantity": "0.01",
            "takeProfit": "0.05",
            "direction": "buy",
            "maxOrders": 10,
            "waitTime": "5s",
            "gridStep": "-100",
        },
        "risk": {"maxPositionUsd": "10000", "maxOpenOrders": 50},
        "onStop": "cancelEntries",
    },
}


def price_file() -> str:
    rows = [(0, 60000), (90, 60000)] + [(90 + i, 60000 - 2 * i) for i in range(1, 61)]
    return "\n".join(f"{t},{p}" for t, p in rows) + "\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kube: Kube, postgres: PostgresCluster) -> Iterator[LocalStack]:
    run_dir = tmp_path_factory.mktemp("pxstack")
    s = LocalStack(run_dir=run_dir, namespace=f"px-{int(time.time()) % 100000}")
    done = stop_at_exit(s.stop)
    s.kubeconfig, s.assets = str(kube.kubeconfig), str(kube.env["PATH"].split(":")[0])
    s.database = "perpdex_px_e2e"
    postgres.create_database(s.database)
    s.pg_port = postgres.port
    s.install_crds()
    # the venues file and the price file reach the paper exchange's pod in its ConfigMap, at /etc/perpdex
    venues = [{"name": "paper", "options": {"priceFile": "/etc/perpdex/btc.csv", "step": "1s"}}]
    try:
        s.start_funding_service()
        s.start_paper_exchange(venues, {"btc.csv": price_file()})
        s.prepare_namespace()
        s.start_operator()
        s.start_pod_runner()
        yield s
    finally:
        s.pg_dir = ""
        s.control_plane_dir = ""
        s.stop()
        done()


def wait(what: str, predicate: Callable[[], Any], timeout: float = 300.0, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def venue(stack: LocalStack, path: str) -> Any:
    url = f"{stack.paper_url}/api/v1/venues/paper{path}"
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def get(stack: LocalStack, kind: str, name: str) -> dict[str, Any] | None:
    out = stack.kubectl("get", kind, name, "-n", stack.namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def test_a_restarted_paper_grid_bot_finds_its_take_profits_and_position(stack: LocalStack) -> None:
    stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=yaml.safe_dump(MANIFEST))
    account = f"/accounts/{stack.namespace}.{BOT}"

    def take_profits() -> list[dict[str, Any]]:
        try:
            return [o for o in venue(stack, account + "/orders") if o["reduce_only"]]
        except OSError:
            return []

    def settled() -> bool:
        quote = venue(stack, "/quotes/BTC")
        mid = (float(quote["bid"]) + float(quote["ask"])) / 2
        return abs(mid - float(FLAT_END)) < 1 and len(take_profits()) >= 2

    wait("take-profits resting and the market flat", settled, timeout=420)
    before_tps = sorted(o["order_id"] for o in take_profits())
    before_position = venue(stack, account + "/positions/BTC")
    assert float(before_position["size"]) > 0
    pod_uid = (get(stack, "pod", f"{BOT}-0") or {})["metadata"]["uid"]

    stack.kubectl(
        "patch",
        "tradingbot",
        BOT,
        "-n",
        stack.namespace,
        "--type=merge",
        "-p",
        '{"spec":{"risk":{"maxOpenOrders":49}}}',
    )

    def restarted() -> dict[str, Any] | None:
        pod = get(stack, "pod", f"{BOT}-0")
        tb = get(stack, "tradingbot", BOT) or {}
        status = tb.get("status") or {}
        fresh = pod is not None and pod["metadata"]["uid"] != pod_uid
        current = status.get("observedGeneration") == tb["metadata"]["generation"]
        return status if fresh and current and status.get("phase") == "Running" else None

    status = wait("the bot Running again in a new pod", restarted, timeout=300)
    after_tps = sorted(o["order_id"] for o in take_profits())
    after_position = venue(stack, account + "/positions/BTC")
    assert after_position["size"] == before_position["size"]
    assert after_position["avg_entry_price"] == before_position["avg_entry_price"]
    assert after_tps == before_tps, (before_tps, after_tps)
    # what the bot reports is what the venue holds
    wait(
        "status openOrders = the venue's",
        lambda: (
            (get(stack, "tradingbot", BOT) or {}).get("status", {}).get("openOrders")
            == len(venue(stack, account + "/orders"))
        ),
        timeout=120,
    )
    assert status["phase"] == "Running"

    def reported_position() -> bool:
        reported = ((get(stack, "tradingbot", BOT) or {}).get("status") or {}).get("position")
        return reported is not None and Decimal(reported) == Decimal(before_position["size"])

    wait("status position = the venue's", reported_position, timeout=120)


LIVE = {"open", "partially_filled"}  # bot_runtime.exchanges.base.OrderStatus of a resting order


def venue_rows(postgres: PostgresCluster, database: str, account: str) -> dict[str, tuple[str, bool]]:
    """The account's orders as PostgreSQL holds them (the paper exchange is not running any more): id -> (status,
    reduce_only)."""
    sql = f"SELECT order_id, status, reduce_only FROM paper_exchange.orders WHERE venue = 'paper' AND account = '{account}'"
    out = subprocess.run(
        [str(postgres.bindir / "psql"), "-X", "-At", "-F", ",", "-d", postgres.dsn_for(database), "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split(",") for line in out.stdout.splitlines() if line]
    return {order_id: (status, reduce_only == "t") for order_id, status, reduce_only in rows}


def test_the_stacks_stop_applies_each_bots_on_stop_on_the_venue(stack: LocalStack, postgres: PostgresCluster) -> None:
    """LocalStack.stop (what ``make demo-down`` and every e2e teardown run) deletes the TradingBots and waits for their
    pods before the pod runner stops the paper exchange: a bot with onStop cancelOrders leaves no order open, and
    the restarted grid above (cancelEntries) keeps its take-profits but no entry."""
    stopper = {**MANIFEST, "metadata": {"name": "px-stop"}, "spec": {**MANIFEST["spec"], "onStop": "cancelOrders"}}
    stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=yaml.safe_dump(stopper))
    account = f"{stack.namespace}.px-stop"

    def resting() -> list[dict[str, Any]]:
        try:
            return list(venue(stack, f"/accounts/{account}/orders"))
        except OSError:
            return []

    before = {o["order_id"] for o in wait("px-stop's orders resting on the venue", resting, timeout=180)}
    grid_account = f"{stack.namespace}.{BOT}"
    grid_tps = {o["order_id"] for o in venue(stack, f"/accounts/{grid_account}/orders") if o["reduce_only"]}

    stack.stop()  # the fixture's own stop afterwards finds nothing left to do

    assert not stack.alive("pod-runner")
    rows = venue_rows(postgres, stack.database, account)
    assert before <= set(rows)
    assert [i for i, (status, _) in rows.items() if status in LIVE] == []
    assert {rows[i][0] for i in before} == {"canceled"}, rows
    grid = venue_rows(postgres, stack.database, grid_account)
    still_open = {i for i, (status, _) in grid.items() if status in LIVE}
    assert still_open == grid_tps  # cancelEntries: the take-profits stay, no entry is left open
    assert all(grid[i][1] for i in still_open)
