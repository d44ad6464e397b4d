"""End to end on the real parts: control plane, PostgreSQL, funding service, operator, local pod runner, and a paper
collector + grid bot, each pod a local process with exactly its template's command, args and env.

apply → Running with heartbeats and orders in status; the collector's rates land in the funding service;
pause → orders cancelled, Paused, pod gone; resume → Running; delete → pod gone, CR gone; a secret value never
appears in a ConfigMap, a status, an event or a log.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import OrderRequest, OrderType, Side
from bot_runtime.strategies.base import ClientIds
from perpdex_dev.control_plane import REPO_ROOT
from perpdex_dev.exit_cleanup import stop_at_exit
from perpdex_dev.postgres import PostgresCluster
from perpdex_dev.stack import LocalStack
from tests.conftest import Kube

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

BOT = "paper-btc-grid"
COLLECTOR = "paper-dexes"
SENTINEL = "SENTINELhook0123456789abcdefSECRET"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, kube: Kube, postgres: PostgresCluster) -> Iterator[LocalStack]:
    run_dir = tmp_path_factory.mktemp("stack")
    s = LocalStack(run_dir=run_dir, namespace=f"e2e-{int(time.time()) % 100000}")
    done = stop_at_exit(s.stop)  # its service processes, even if the session is killed while they start
    s.kubeconfig, s.assets = str(kube.kubeconfig), str(kube.env["PATH"].split(":")[0])
    s.database = "perpdex_e2e"
    postgres.create_database(s.database)
    s.pg_port = postgres.port  # the session's PostgreSQL, a database of its own
    s.install_crds()
    try:
        s.start_funding_service()
        s.start_paper_exchange()  # the paper bots and the paper collector trade on / read from it
        s.prepare_namespace()
        s.start_operator()
        s.start_pod_runner()
        yield s
    finally:
        s.pg_dir = ""  # owned by the session fixture
        s.control_plane_dir = ""
        s.stop()
        done()


def get(stack: LocalStack, kind: str, name: str) -> dict[str, Any] | None:
    out = stack.kubectl("get", kind, name, "-n", stack.namespace, "-o", "json", check=False)
    return json.loads(out.stdout) if out.returncode == 0 else None


def wait(what: str, predicate: Callable[[], Any], timeout: float = 180.0, every: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def logs_text(stack: LocalStack) -> str:
    return "\n".join(p.read_text(errors="replace") for p in Path(stack.run_dir).rglob("*.log"))


def test_paper_bot_and_collector_lifecycle(stack: LocalStack) -> None:
    hook_hits: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            hook_hits.append(json.loads(self.rfile.read(length)))
            body = b'{"code":0,"msg":"success"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        webhook = f"http://127.0.0.1:{port}/open-apis/bot/v2/hook/{SENTINEL}"
        stack.kubectl(
            "create",
            "secret",
            "generic",
            "lark-hook",
            "-n",
            stack.namespace,
            f"--from-literal=LARK_WEBHOOK_URL={webhook}",
        )
        bot = (REPO_ROOT / "examples" / "paper-grid.yaml").read_text()
        bot += "  notifications:\n    lark: {secretName: lark-hook}\n    events: [start, stop, fill, risk, error]\n"
        applied = time.monotonic()
        stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=bot)
        stack.kubectl("apply", "-n", stack.namespace, "-f", str(REPO_ROOT / "examples" / "paper-collector.yaml"))

        status = wait(
            "bot Running",
            lambda: (s := (get(stack, "tradingbot", BOT) or {}).get("status", {})).get("phase") == "Running" and s,
        )
        print(f"apply -> Running: {time.monotonic() - applied:.1f}s")
        first_beat = status["lastHeartbeat"]
        wait(
            "a newer heartbeat",
            lambda: (get(stack, "tradingbot", BOT) or {})["status"].get("lastHeartbeat") != first_beat,
            timeout=60,
        )
        wait(
            "orders in status",
            lambda: (get(stack, "tradingbot", BOT) or {})["status"].get("openOrders", 0) > 0,
            timeout=120,
        )
        conditions = {c["type"]: c for c in (get(stack, "tradingbot", BOT) or {})["status"].get("conditions", [])}
        assert conditions.get("Ready", {}).get("status") == "True"

        # the collector's paper rates reach the funding service (delivery runs apart from collection: wait for it)
        fc = wait(
            "collector cycle delivered",
            lambda: (
                (s := (get(stack, "fundingcollector", COLLECTOR) or {}).get("status", {}))
                .get("lastCycle", {})
                .get("ratesIngested")
                and s
            ),
        )
        assert {e["name"] for e in fc["exchanges"]} == {"paper-a", "paper-b", "paper-c"}
        with urllib.request.urlopen(f"{stack.funding_url}/api/v1/funding-rates", timeout=10) as resp:
            rates = json.load(resp)
        assert rates["count"] > 0

        # pause: orders cancelled, Paused, no pod
        stack.kubectl(
            "patch", "tradingbot", BOT, "-n", stack.namespace, "--type=merge", "-p", '{"spec":{"paused":true}}'
        )
        wait("Paused", lambda: (get(stack, "tradingbot", BOT) or {})["status"].get("phase") == "Paused")
        assert (get(stack, "tradingbot", BOT) or {})["status"].get("openOrders", 0) == 0
        wait("bot pod gone", lambda: get(stack, "pod", f"{BOT}-0") is None)
        # resume
        stack.kubectl(
            "patch", "tradingbot", BOT, "-n", stack.namespace, "--type=merge", "-p", '{"spec":{"paused":false}}'
        )
        wait("Running again", lambda: (get(stack, "tradingbot", BOT) or {})["status"].get("phase") == "Running")

        # delete: finalizer stops the pod, then the CR goes
        stack.kubectl("delete", "tradingbot", BOT, "-n", stack.namespace, "--wait=false")
        wait("CR gone", lambda: get(stack, "tradingbot", BOT) is None, timeout=180)
        assert get(stack, "pod", f"{BOT}-0") is None

        # notifications went out through the webhook, and its secret leaked nowhere
        assert hook_hits, "no Lark notification received"
        everything = [
            stack.kubectl("get", "configmaps,events", "-n", stack.namespace, "-o", "json").stdout,
            stack.kubectl("get", "tradingbots,fundingcollectors", "-n", stack.namespace, "-o", "json").stdout,
            logs_text(stack),
        ]
        for text in everything:
            assert SENTINEL not in text
    finally:
        server.shutdown()


def test_funding_arb_bot_opens_a_pair_and_shows_its_legs(stack: LocalStack) -> None:
    """A fundingArb TradingBot on paper venues trades the opportunities the paper collector's rates produce."""
    stack.kubectl("apply", "-n", stack.namespace, "-f", str(REPO_ROOT / "examples" / "paper-collector.yaml"))
    manifest = (REPO_ROOT / "examples" / "paper-funding-arb.yaml").read_text()
    # the e2e must not depend on the wall clock's distance to the next funding time
    manifest = manifest.replace("    singleLegTimeout: 10s\n", '    singleLegTimeout: 10s\n    preFundingWindow: "0"\n')
    assert 'preFundingWindow: "0"' in manifest
    stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=manifest)
    name = "paper-funding-arb"
    status = wait(
        "a pair in status.legs",
        lambda: (s := (get(stack, "tradingbot", name) or {}).get("status", {})).get("legs") and s,
        timeout=240,
    )
    leg = status["legs"][0]
    assert leg["symbol"] == "BTC"
    assert {leg["longExchange"], leg["shortExchange"]} == {"paper-a", "paper-b"}
    assert float(leg["size"]) > 0
    assert leg["openedAt"].endswith("Z")  # what a restarted bot keeps its hold timers from
    as_yaml = stack.kubectl("get", "tb", name, "-n", stack.namespace, "-o", "yaml").stdout
    print(as_yaml[as_yaml.index("legs:") :][:600])
    assert "longExchange:" in as_yaml and "entrySpreadApr:" in as_yaml
    stack.kubectl("delete", "tradingbot", name, "-n", stack.namespace, "--wait=false")
    wait("fundingArb CR gone", lambda: get(stack, "tradingbot", name) is None, timeout=180)


def _grid_manifest(name: str, **spec: Any) -> str:
    doc = yaml.safe_load((REPO_ROOT / "examples" / "paper-grid.yaml").read_text())
    doc["metadata"] = {"name": name}
    doc["spec"].update(spec)
    return json.dumps(doc)


async def _seed_five_take_profits(stack: LocalStack, bot: str) -> list[str]:
    """What a running grid leaves on the paper exchange: a 0.05 BTC long and five take-profits with the bot's ids
    (placed through the exchange's own API into the bot's account, so the test does not wait for five fills)."""
    account = f"{stack.namespace}.{bot}"
    venue = registry.create_exchange(
        "paper", {"baseUrl": stack.paper_url, "account": account, "ticker": "BTC", "startingBalanceUsd": "10000"}, {}
    )
    await venue.connect()
    try:
        await venue.submit_order(
            OrderRequest(
                symbol="BTC", side=Side.BUY, size=D("0.05"), order_type=OrderType.MARKET, client_order_id="seed"
            )
        )
        quote = await venue.best_bid_ask("BTC")
        ids = ClientIds(bot, stack.namespace)
        placed = []
        for i in range(1, 6):
            order = await venue.submit_order(
                OrderRequest(
                    symbol="BTC",
                    side=Side.SELL,
                    size=D("0.01"),
                    price=(quote.ask * (1 + D(i) / 100)).quantize(D("0.1")),
                    reduce_only=True,
                    client_order_id=ids.new(ClientIds.CLOSE),
                )
            )
            placed.append(order.order_id)
        return placed
    finally:
        await venue.close()


async def _resting_ids(stack: LocalStack, bot: str) -> set[str]:
    venue = registry.create_exchange(
        "paper", {"baseUrl": stack.paper_url, "account": f"{stack.namespace}.{bot}", "ticker": "BTC"}, {}
    )
    await venue.connect()
    try:
        return {o.order_id for o in await venue.open_orders("BTC")}
    finally:
        await venue.close()


def test_a_spec_edit_keeps_the_five_take_profits(stack: LocalStack) -> None:
    """kubectl patch a grid bot holding a position and five resting take-profits: the pod is replaced (a restart,
    not a stop), the same five take-profits rest afterwards and the phase is Running (issue 17)."""
    name = "day2-grid"
    tps = asyncio.run(_seed_five_take_profits(stack, name))
    # maxOrders 5: the grid is full, so nothing new opens and the five are all the bot's close orders
    grid = {"quantity": "0.01", "takeProfit": "1", "direction": "buy", "maxOrders": 5, "waitTime": "30s"}
    stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=_grid_manifest(name, grid=grid, onStop="leave"))
    wait("Running", lambda: (get(stack, "tradingbot", name) or {}).get("status", {}).get("phase") == "Running")
    first_uid = wait("the pod", lambda: (get(stack, "pod", f"{name}-0") or {}).get("metadata", {}).get("uid"))
    assert set(tps) <= asyncio.run(_resting_ids(stack, name))

    patch = json.dumps({"spec": {"grid": {**grid, "waitTime": "45s"}}})
    stack.kubectl("patch", "tradingbot", name, "-n", stack.namespace, "--type=merge", "-p", patch)
    wait(
        "the replacement pod",
        lambda: (uid := (get(stack, "pod", f"{name}-0") or {}).get("metadata", {}).get("uid")) and uid != first_uid,
        timeout=180,
    )
    status = wait(
        "Running after the restart",
        lambda: (
            (s := (get(stack, "tradingbot", name) or {}).get("status", {})).get("phase") == "Running"
            and s.get("observedGeneration") == (get(stack, "tradingbot", name) or {})["metadata"]["generation"]
            and s
        ),
        timeout=180,
    )
    time.sleep(5)  # a few loops of the new process
    assert set(tps) <= asyncio.run(_resting_ids(stack, name))  # the same take-profits, never cancelled
    status = (get(stack, "tradingbot", name) or {})["status"]
    assert status["phase"] == "Running" and "riskHalt" not in status
    stack.kubectl("delete", "tradingbot", name, "-n", stack.namespace, "--wait=false")
    wait("CR gone", lambda: get(stack, "tradingbot", name) is None, timeout=180)


def test_a_missing_secret_shows_the_reason_then_runs_once_created(stack: LocalStack) -> None:
    name = "no-secret-grid"
    # telegram's two keys are required secretKeyRefs: without the Secret the container cannot be created
    manifest = _grid_manifest(name, notifications={"telegram": {"secretName": "tg-missing"}, "events": ["error"]})
    stack.kubectl("apply", "-n", stack.namespace, "-f", "-", input=manifest)

    def ready() -> dict[str, Any]:
        conditions = (get(stack, "tradingbot", name) or {}).get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "Ready"), {})

    try:
        stuck = wait(
            "the kubelet's reason in Ready", lambda: ready().get("reason") == "CreateContainerConfigError" and ready()
        )
    except AssertionError:
        pod = get(stack, "pod", f"{name}-0") or {}
        raise AssertionError(f"Ready {ready()}; pod status {pod.get('status')}") from None
    assert 'secret "tg-missing" not found' in stuck["message"]
    wide = stack.kubectl("get", "tb", name, "-n", stack.namespace, "-o", "wide").stdout
    assert "CreateContainerConfigError" in wide
    described = stack.kubectl("describe", "tb", name, "-n", stack.namespace).stdout
    assert 'secret "tg-missing" not found' in described

    stack.kubectl(
        "create",
        "secret",
        "generic",
        "tg-missing",
        "-n",
        stack.namespace,
        "--from-literal=TELEGRAM_BOT_TOKEN=123:abc",
        "--from-literal=TELEGRAM_CHAT_ID=1",
    )
    wait("Running once the Secret exists", lambda: ready().get("reason") == "Running", timeout=240)
    stack.kubectl("delete", "tradingbot", name, "-n", stack.namespace, "--wait=false")
    wait("CR gone", lambda: get(stack, "tradingbot", name) is None, timeout=180)
