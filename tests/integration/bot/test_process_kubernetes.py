"""Two ``perpdex bot`` processes for the same TradingBot on the real API server: only the Lease holder trades and
writes the status; the other waits (phase Starting, /readyz 503, no orders) and takes over when the first exits.
Losing the lease stops the holder at once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bot.bot_harness import BotRun, fast_paper_spec, write_manifest

pytestmark = pytest.mark.integration


@pytest.fixture
def runs() -> Iterator[list[BotRun]]:
    started: list[BotRun] = []
    yield started
    for run in started:
        run.kill()


def cr_status(kube: Any, namespace: str, name: str) -> dict[str, Any]:
    out = kube.kubectl("get", "tradingbot", name, "-n", namespace, "-o", "json")
    return dict(json.loads(out.stdout).get("status") or {})


def lease_holder(kube: Any, namespace: str, name: str) -> str | None:
    out = kube.kubectl("get", "lease", name, "-n", namespace, "-o", "json", check=False)
    if out.returncode != 0:
        return None
    return json.loads(out.stdout).get("spec", {}).get("holderIdentity")


def eventually(check: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: last {last!r}")


@pytest.fixture
def bot_cr(crds_installed, namespace: str, tmp_path: Path) -> tuple[Any, str, str, Path]:  # type: ignore[no-untyped-def]
    kube = crds_installed
    spec = fast_paper_spec()
    manifest = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "grid", "namespace": namespace},
        "spec": spec,
    }
    kube.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    # the rendered config the operator would mount, as the bot reads it
    config = write_manifest(tmp_path / "grid.yaml", "grid", spec, namespace)
    return kube, namespace, "grid", config


def pod_env(kube: Any, namespace: str, name: str, pod: str) -> dict[str, str]:
    return {
        **kube.env,
        "PERPDEX_BOT_NAME": name,
        "PERPDEX_NAMESPACE": namespace,
        "POD_NAME": pod,
        "POD_UID": f"uid-{pod}",
    }


def test_one_holder_trades_the_other_waits_then_takes_over(bot_cr, tmp_path: Path, runs: list[BotRun]) -> None:  # type: ignore[no-untyped-def]
    kube, namespace, name, config = bot_cr
    a = BotRun(config, tmp_path, env=pod_env(kube, namespace, name, "grid-a"), tag="a")
    runs.append(a)
    a.wait_for(lambda x: x.get("msg") == "lease acquired", 60, "a: lease")
    b = BotRun(config, tmp_path, env=pod_env(kube, namespace, name, "grid-b"), tag="b")
    runs.append(b)
    b.wait_for(lambda x: x.get("msg") == "waiting for the lease" and x.get("holder") == "uid-grid-a", 60, "b: waiting")

    # a trades and its status lands on the real TradingBot
    a.wait_for(lambda x: x.get("msg") == "fill", 90, "a: a fill")
    status = eventually(lambda: (s := cr_status(kube, namespace, name)).get("phase") == "Running" and s, 30, "Running")
    assert "lastHeartbeat" in status and "openOrders" in status and "position" in status
    # the risk baselines the next process restores, accepted by the real API server's schema
    baselines = eventually(lambda: cr_status(kube, namespace, name).get("riskBaselines"), 30, "riskBaselines")
    assert Decimal(baselines["startingEquity"]) > 0 and baselines["day"] == datetime.now(UTC).date().isoformat()
    heartbeat = datetime.strptime(status["lastHeartbeat"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - heartbeat).total_seconds()) < 60
    assert lease_holder(kube, namespace, name) == "uid-grid-a"  # the pod UID, never the (reused) pod name
    assert a.get("/readyz").status_code == 200
    assert a.metric("perpdex_bot_lease_held") == 1

    # b never trades while waiting
    assert b.get("/readyz").status_code == 503
    assert "not holding the lease (holder: uid-grid-a)" in b.get("/readyz").json()["reasons"]
    assert b.get("/healthz").status_code == 200
    assert b.metric("perpdex_bot_phase", {"phase": "Starting"}) == 1
    assert b.metric("perpdex_bot_orders_total") == 0
    assert not b.messages("order") and not b.messages("fill")

    # a exits gracefully (SIGTERM while the bot is neither paused nor deleted: a restart, only the entry is
    # cancelled): final status, lease released; b takes over at once and trades
    assert a.terminate() == 0
    assert not a.messages("onStop applied")  # a restart applies no onStop
    assert [x["on_stop"] for x in a.messages("restart: pending entry cancelled (onStop applies to stops only)")] == [
        "cancelEntries"
    ]
    b.wait_for(lambda x: x.get("msg") == "lease acquired", 30, "b: lease")
    assert lease_holder(kube, namespace, name) == "uid-grid-b"
    b.wait_for(lambda x: x.get("msg") == "order", 60, "b: an order")
    eventually(lambda: cr_status(kube, namespace, name).get("phase") == "Running", 30, "Running (b)")
    assert b.get("/readyz").status_code == 200

    assert b.terminate() == 0
    status = cr_status(kube, namespace, name)
    assert status["phase"] == "Stopped"
    assert lease_holder(kube, namespace, name) is None  # released


def test_losing_the_lease_stops_opening_at_once(bot_cr, tmp_path: Path, runs: list[BotRun]) -> None:  # type: ignore[no-untyped-def]
    kube, namespace, name, config = bot_cr
    a = BotRun(config, tmp_path, env=pod_env(kube, namespace, name, "grid-a"), tag="a")
    runs.append(a)
    a.wait_for(lambda x: x.get("msg") == "order", 60, "a: an order")
    # someone else takes the lease (e.g. a partitioned pod came back and won it)
    lease = json.loads(kube.kubectl("get", "lease", name, "-n", namespace, "-o", "json").stdout)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lease["spec"].update(holderIdentity="intruder", renewTime=now, acquireTime=now)
    kube.kubectl("replace", "-f", "-", input=json.dumps(lease))
    assert a.wait(60) == 1
    lost_at = next(i for i, x in enumerate(a.snapshot()) if x.get("msg", "").startswith("lease lost"))
    # nothing opened after the loss (a reduce-only take-profit for an entry that filled at that very moment may
    # still go out: it only protects the position the new holder inherits)
    after = [x for x in a.snapshot()[lost_at:] if x.get("msg") == "order"]
    assert not [x for x in after if not x["reduce_only"]], after
    # the orders belong to the new holder now: left as they are, no final status written by the loser
    assert [x["on_stop"] for x in a.messages("onStop applied")] == ["leave"]
    assert cr_status(kube, namespace, name)["phase"] == "Running"  # the loser wrote no Stopping/Stopped over it
    assert lease_holder(kube, namespace, name) == "intruder"
