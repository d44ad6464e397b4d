"""``kubectl perpdex list|describe|pause|resume|logs|preflight`` against a REAL API server, run as kubectl runs a
plugin (``kubectl perpdex ...`` found on PATH). The bots' status is written through the status subresource as the
bot writes it; there is no operator here: these verbs read and patch the resources only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from perpdex_operator.kubectl.kube import Kubectl, NoCrds
from tests.integration.crds.crd_manifests import collector, funding_arb_bot, grid_bot
from tests.integration.operator.kubectl.plugin_helpers import Plugin, apply, restricted_kubeconfig, set_status

pytestmark = pytest.mark.integration


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def grid_status(now: datetime) -> dict[str, Any]:
    """Times relative to ``now``: the status is written when the module's fixture runs, not when it is imported."""
    return {
        "phase": "Running",
        "position": "0.0400000000000000000000000001",
        "avgEntryPrice": "61234.56789",
        "realizedPnl": "12.3149999999999999999999999",
        "unrealizedPnl": "-1.2",
        "fundingPnl": "0",
        "openOrders": 7,
        "lastHeartbeat": _iso(now - timedelta(seconds=5)),
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Running",
                "message": "the bot is trading",
                "lastTransitionTime": _iso(now - timedelta(minutes=3)),
            }
        ],
    }


def farb_status(now: datetime) -> dict[str, Any]:
    """Times relative to ``now``: the status is written when the module's fixture runs, not when it is imported."""
    return {
        "phase": "RiskHalted",
        "position": "0.001",
        "realizedPnl": "-3.5",
        "unrealizedPnl": "0.25",
        "fundingPnl": "4.123456789",
        "lastHeartbeat": _iso(now - timedelta(minutes=4)),
        "lastError": "grvt: 503 Service Unavailable",
        "legs": [
            {
                "symbol": "ETH",
                "longExchange": "lighter",
                "shortExchange": "grvt",
                "size": "1.5",
                "entrySpreadApr": "0.1534000000000000000000000001",
                "currentNetApr": "0.0871",
                "fundingPnl": "4.123456789",
                "openedAt": _iso(now - timedelta(hours=5)),
            }
        ],
        "riskHalt": {
            "limit": "maxDailyLossUsd",
            "message": "daily loss 210 > 200",
            "action": "pause",
            "at": _iso(now),
            "generation": 1,
        },
    }


def collector_status(now: datetime) -> dict[str, Any]:
    """Times relative to ``now``: the status is written when the module's fixture runs, not when it is imported."""
    return {
        "phase": "Degraded",
        "lastCycle": {"startedAt": _iso(now - timedelta(seconds=30)), "durationMs": 812, "ratesIngested": 400},
        "exchanges": [
            {"name": "lighter", "lastSuccess": _iso(now - timedelta(seconds=30)), "markets": 120, "latencyMs": 340},
            {
                "name": "grvt",
                "lastSuccess": _iso(now - timedelta(hours=1)),
                "markets": 0,
                "lastError": "timeout after 20s",
            },
        ],
    }


@pytest.fixture(scope="module")
def world(crds_installed: Any) -> dict[str, Any]:
    """Two namespaces: a grid bot and a collector in one, a funding-arb bot in the other (the list spans both)."""
    import uuid

    kube = crds_installed
    ns_a, ns_b = f"t-plug-{uuid.uuid4().hex[:6]}", f"t-plug-{uuid.uuid4().hex[:6]}"
    for ns in (ns_a, ns_b):
        kube.kubectl("create", "namespace", ns)
    apply(kube, ns_a, grid_bot("grid-btc"))
    apply(kube, ns_a, collector("dexes"))
    apply(kube, ns_b, funding_arb_bot("farb-eth"))
    now = datetime.now(UTC)
    set_status(kube, ns_a, "tradingbot", "grid-btc", grid_status(now))
    set_status(kube, ns_a, "fundingcollector", "dexes", collector_status(now))
    set_status(kube, ns_b, "tradingbot", "farb-eth", farb_status(now))
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "farb-eth.halt", "namespace": ns_b},
        "involvedObject": {
            "apiVersion": "perpdex.io/v1alpha1",
            "kind": "TradingBot",
            "name": "farb-eth",
            "namespace": ns_b,
        },
        "type": "Warning",
        "reason": "RiskHalted",
        "message": "maxDailyLossUsd breached: daily loss 210 > 200",
        "lastTimestamp": _iso(now),
        "firstTimestamp": _iso(now),
        "count": 1,
        "source": {"component": "perpdex-operator"},
    }
    apply(kube, ns_b, event)
    return {"kube": kube, "a": ns_a, "b": ns_b}


def _rows(text: str) -> dict[tuple[str, str], list[str]]:
    """Rows by (namespace, name): the control plane is shared with other tests, whose objects the list shows too."""
    lines = text.splitlines()
    return {(line.split()[0], line.split()[1]): line.split() for line in lines[1:] if line.strip()}


def test_list_every_namespace_rounded(world: dict[str, Any]) -> None:
    out = Plugin(world["kube"]).run("list").stdout
    bots_part, venues_part = out.split("\n\n")
    header = bots_part.splitlines()[0].split()
    assert header == [
        "NAMESPACE", "NAME", "STRATEGY", "VENUES", "PHASE", "POSITION",
        "REALIZED", "UNREALIZED", "FUNDING", "HEARTBEAT", "HALT",
    ]  # fmt: skip
    rows = _rows(bots_part)
    grid, farb = rows[(world["a"], "grid-btc")], rows[(world["b"], "farb-eth")]
    assert grid[:10] == [
        world["a"],
        "grid-btc",
        "grid",
        "lighter",
        "Running",
        "0.04",
        "12.31",
        "-1.20",
        "0.00",
        grid[9],
    ]
    assert grid[9].endswith("s") and int(grid[9][:-1]) < 120  # heartbeat age in seconds
    assert farb[:9] == [
        world["b"],
        "farb-eth",
        "fundingArb",
        "lighter,grvt,edgex",
        "RiskHalted",
        "0.001",
        "-3.50",
        "0.25",
        "4.12",
    ]
    assert farb[9].startswith("4m") and "maxDailyLossUsd:" in bots_part
    # the collector's venues, one row each, with their health
    venue_lines = venues_part.splitlines()
    assert venue_lines[0].split()[:5] == ["NAMESPACE", "COLLECTOR", "PHASE", "VENUE", "HEALTH"]
    ours = [line for line in venue_lines if line.startswith(world["a"] + " ")]
    lighter = next(line.split() for line in ours if " lighter " in line)
    grvt = next(line for line in ours if " grvt " in line)
    assert lighter[:6] == [world["a"], "dexes", "Degraded", "lighter", "ok", "120"] and "340ms" in lighter
    assert " failing " in grvt and "timeout after 20s" in grvt


def test_list_one_namespace_and_machine_output(world: dict[str, Any]) -> None:
    plugin = Plugin(world["kube"])
    only_b = plugin.run("list", "-n", world["b"]).stdout
    assert "farb-eth" in only_b and "grid-btc" not in only_b and "No FundingCollectors found." in only_b
    data = json.loads(plugin.run("list", "-n", world["a"], "-o", "json").stdout)
    [bot] = data["tradingBots"]
    # full precision: only the table rounds
    written = grid_status(datetime.now(UTC))
    assert bot["position"] == written["position"] and bot["realizedPnl"] == written["realizedPnl"]
    assert bot["venues"] == ["lighter"] and bot["haltReason"] is None
    assert {v["venue"]: v["health"] for v in data["fundingCollectors"]} == {"lighter": "ok", "grvt": "failing"}
    as_yaml = yaml.safe_load(plugin.run("list", "-o", "yaml", "--namespace", world["b"]).stdout)
    assert as_yaml["tradingBots"][0]["fundingPnl"] == "4.123456789"
    assert as_yaml["tradingBots"][0]["haltReason"] == "maxDailyLossUsd: daily loss 210 > 200"


def test_describe_one_screen(world: dict[str, Any]) -> None:
    out = Plugin(world["kube"]).run("describe", "farb-eth", "-n", world["b"]).stdout
    assert "Strategy:      fundingArb on lighter,grvt,edgex" in out
    assert "Phase:         RiskHalted" in out
    assert "Halt:          maxDailyLossUsd: daily loss 210 > 200" in out
    assert "Last error:    grvt: 503 Service Unavailable" in out
    assert "Pod:           none" in out
    legs = out.split("Funding-arb legs:")[1].split("Events:")[0]
    assert legs.splitlines()[1].split() == [
        "SYMBOL",
        "LONG",
        "SHORT",
        "SIZE",
        "ENTRY",
        "APR",
        "NET",
        "APR",
        "FUNDING",
        "PNL",
        "HELD",
    ]
    assert legs.splitlines()[2].split()[:7] == ["ETH", "lighter", "grvt", "1.5", "15.3%", "8.7%", "4.12"]
    events = out.split("Events:")[1]
    assert "Warning" in events and "RiskHalted" in events and "daily loss 210 > 200" in events
    grid = Plugin(world["kube"]).run("describe", "grid-btc", "-n", world["a"]).stdout
    assert "Position:      0.04 @ 61234.57" in grid and "Open orders:   7" in grid
    [ready] = [
        line.split()[:3] for line in grid.split("Conditions:")[1].splitlines() if line.strip().startswith("Ready")
    ]
    assert ready == ["Ready", "True", "Running"] and "Events:\n  none" in grid


def test_pause_and_resume_patch_the_spec(world: dict[str, Any]) -> None:
    kube, ns = world["kube"], world["a"]
    plugin = Plugin(kube)

    def paused() -> Any:
        return json.loads(kube.kubectl("get", "tradingbot", "grid-btc", "-n", ns, "-o", "json").stdout)["spec"].get(
            "paused"
        )

    assert "paused" in plugin.run("pause", "grid-btc", "-n", ns).stdout and paused() is True
    assert "already paused" in plugin.run("pause", "grid-btc", "-n", ns).stdout
    managers = json.loads(
        kube.kubectl("get", "tradingbot", "grid-btc", "-n", ns, "-o", "json", "--show-managed-fields").stdout
    )
    assert "kubectl-perpdex" in {m["manager"] for m in managers["metadata"]["managedFields"]}
    assert "resumed" in plugin.run("resume", "grid-btc", "-n", ns).stdout and paused() is False


def test_flatten_says_what_is_left(world: dict[str, Any]) -> None:
    """No operator here: the pod never restarts, so flatten times out naming the position; a paused bot holding a
    position is refused (no pod could close it)."""
    kube, ns = world["kube"], world["b"]
    plugin = Plugin(kube)
    apply(kube, ns, {**grid_bot("flat-me"), "spec": {**grid_bot("flat-me")["spec"], "onStop": "cancelOrders"}})
    set_status(kube, ns, "tradingbot", "flat-me", {"phase": "Running", "position": "0.25"})
    out = plugin.run("flatten", "flat-me", "-n", ns, "--timeout", "3", check=False)
    assert out.returncode == 1
    assert "setting onStop: closePositions (was cancelOrders)" in out.stdout
    assert (
        "error: timed out after 3s waiting for the bot to restart with onStop closePositions; left: phase Running, position 0.25"
        in out.stderr
    )
    spec = json.loads(kube.kubectl("get", "tradingbot", "flat-me", "-n", ns, "-o", "json").stdout)["spec"]
    assert spec["onStop"] == "closePositions" and not spec.get("paused")  # a retry finishes the job
    kube.kubectl("patch", "tradingbot", "flat-me", "-n", ns, "--type=merge", "-p", '{"spec": {"paused": true}}')
    refused = plugin.run("flatten", "flat-me", "-n", ns, check=False)
    assert refused.returncode == 1
    assert "flat-me is paused with phase Running, position 0.25: a paused bot has no pod to close it" in refused.stderr


def test_clear_errors(world: dict[str, Any], tmp_path: Path) -> None:
    kube, ns = world["kube"], world["a"]
    plugin = Plugin(kube)
    missing = plugin.run("describe", "nope", "-n", ns, check=False)
    assert (
        missing.returncode == 1 and missing.stderr.strip() == f"error: tradingbot 'nope' not found in namespace '{ns}'"
    )
    missing = plugin.run("pause", "nope", "-n", ns, check=False)
    assert missing.returncode == 1 and "tradingbot 'nope' not found" in missing.stderr
    # no such resource on the server: kubectl's real answer is recognised (the CRDs are installed here, so ask for a
    # group that is not)
    with pytest.raises(NoCrds, match="not installed in this cluster"):
        Kubectl(kubeconfig=str(kube.kubeconfig)).json(["get", "tradingbots.nothing.example.io", "-A"])
    # a user without rights: the plugin uses the user's RBAC, nothing more
    limited = Plugin(kube, restricted_kubeconfig(kube, ns, "no-rights", tmp_path / "kubeconfig"))
    denied = limited.run("list", "-n", ns, check=False)
    assert denied.returncode == 1
    assert denied.stderr.startswith("error: forbidden: ") and "tradingbots.perpdex.io" in denied.stderr
    assert "Traceback" not in denied.stderr


def test_read_only_user_can_list_but_not_pause(world: dict[str, Any], tmp_path: Path) -> None:
    kube, ns = world["kube"], world["a"]
    kube.kubectl(
        "create",
        "role",
        "bot-viewer",
        "-n",
        ns,
        "--verb=get,list",
        "--resource=tradingbots.perpdex.io,fundingcollectors.perpdex.io,events,pods",
    )
    kube.kubectl("create", "rolebinding", "bot-viewer", "-n", ns, "--role=bot-viewer", f"--serviceaccount={ns}:viewer")
    viewer = Plugin(kube, restricted_kubeconfig(kube, ns, "viewer", tmp_path / "kubeconfig"))
    assert "grid-btc" in viewer.run("list", "-n", ns).stdout
    # without rights on collectors the bots are still listed, with a warning
    kube.kubectl("create", "role", "bots-only", "-n", ns, "--verb=get,list", "--resource=tradingbots.perpdex.io")
    kube.kubectl("create", "rolebinding", "bots-only", "-n", ns, "--role=bots-only", f"--serviceaccount={ns}:bots-only")
    bots_only = Plugin(kube, restricted_kubeconfig(kube, ns, "bots-only", tmp_path / "bots-only"))
    partial = bots_only.run("list")
    assert "grid-btc" in partial.stdout and "No FundingCollectors found." in partial.stdout
    assert partial.stderr.splitlines()[0] == f"warning: cannot list across namespaces; namespace {ns} only"
    assert partial.stderr.splitlines()[1].startswith("warning: FundingCollectors not listed: forbidden: ")
    assert bots_only.run("list", "-A", check=False).returncode == 1  # asked for every namespace: refused, said so
    assert "grid-btc" in viewer.run("describe", "grid-btc").stdout  # the context's namespace
    denied = viewer.run("pause", "grid-btc", check=False)
    assert (
        denied.returncode == 1
        and "forbidden" in denied.stderr
        and 'cannot patch resource "tradingbots"' in denied.stderr
    )


def test_preflight_shows_the_bots_checks(world: dict[str, Any]) -> None:
    kube, ns = world["kube"], world["a"]
    plugin = Plugin(kube)
    none = plugin.run("preflight", "grid-btc", "-n", ns, check=False)
    assert none.returncode == 2 and "grid-btc: no preflight result yet" in none.stdout and "--run" in none.stdout
    failed = {
        "passed": False,
        "at": _iso(datetime.now(UTC) - timedelta(seconds=30)),
        # the bot's message, as bot_runtime.preflight words it
        "message": "lighter BTC: credentials pass: signed reads answered (balance: 1200 USD available, open orders); "
        "market pass: BTC trades as BTC (market 1); quantity fail: 0.00001 < minimum 0.0001",
    }
    set_status(kube, ns, "tradingbot", "grid-btc", {"preflight": failed})
    out = plugin.run("preflight", "grid-btc", "-n", ns, check=False)
    assert out.returncode == 1 and re.match(r"grid-btc: preflight FAILED \d+s ago\n", out.stdout)
    rows = [line.split(None, 4) for line in out.stdout.split("\n\n")[1].splitlines()[1:]]
    assert [r[:4] for r in rows] == [
        ["lighter", "BTC", "credentials", "pass"],
        ["lighter", "BTC", "market", "pass"],
        ["lighter", "BTC", "quantity", "fail"],
    ]
    assert rows[2][4] == "0.00001 < minimum 0.0001"
    set_status(
        kube,
        ns,
        "tradingbot",
        "grid-btc",
        {"preflight": {**failed, "passed": True, "message": "lighter BTC: credentials pass: ok"}},
    )
    assert plugin.run("preflight", "grid-btc", "-n", ns).stdout.startswith("grid-btc: preflight passed")
    # --run needs the pod (kubectl exec): none here
    nopod = plugin.run("preflight", "grid-btc", "-n", ns, "--run", check=False)
    assert nopod.returncode == 1 and "the bot has no pod (grid-btc-0)" in nopod.stderr


def test_logs_of_a_local_runner_pod_and_follow(world: dict[str, Any], tmp_path: Path) -> None:
    """A pod of the local pod runner has no kubelet behind it: its log file (annotation) is read; -f follows it."""
    kube, ns = world["kube"], world["a"]
    plugin = Plugin(kube)
    gone = plugin.run("logs", "grid-btc", "-n", ns, check=False)
    assert gone.returncode == 1 and "has no pod (grid-btc-0 not found" in gone.stderr
    log = tmp_path / "grid-btc-0.log"
    log.write_text("line 1\nline 2\nline 3\n")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "grid-btc-0", "annotations": {"pod-runner.perpdex.io/log": str(log)}},
        "spec": {"containers": [{"name": "bot", "image": "perpdex:test"}]},
    }
    apply(kube, ns, pod)
    assert plugin.run("logs", "grid-btc", "-n", ns).stdout == "line 1\nline 2\nline 3\n"
    assert plugin.run("logs", "grid-btc", "-n", ns, "--tail", "1").stdout == "line 3\n"
    follow = plugin.popen("logs", "grid-btc", "-n", ns, "-f", "--tail=1")
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "line 3\n"
        with log.open("a") as fh:
            fh.write("line 4\n")
        assert follow.stdout.readline() == "line 4\n"
    finally:
        follow.terminate()
        follow.wait(timeout=10)
    # without a local log: an unscheduled pod has none; a pod on a node without a kubelet gets the API server's
    # answer, named
    log.unlink()
    pending = plugin.run("logs", "grid-btc", "-n", ns, check=False)
    assert pending.returncode == 1 and "grid-btc-0 is not on a node yet (phase Pending)" in pending.stderr
    kube.kubectl("delete", "pod", "grid-btc-0", "-n", ns, "--grace-period=0", "--force")
    apply(kube, ns, {**pod, "spec": {**pod["spec"], "nodeName": "node-without-kubelet"}})
    failed = plugin.run("logs", "grid-btc", "-n", ns, check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: the API server could not read grid-btc-0's log: ")
