"""The CRDs as a user and the bot meet them on a REAL API server: every example applies, `kubectl get` shows the
printer columns (also by short name and category), `kubectl explain` prints the descriptions, SPEC §3's own examples
apply, and status is written only through the status subresource."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.crds.crd_manifests import EXAMPLES, as_json, collector, grid_bot, spec_md_blocks

pytestmark = pytest.mark.integration

EXAMPLE_FILES = sorted(EXAMPLES.rglob("*.yaml"))


def _get(kube, ns: str, kind: str, name: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return json.loads(kube.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)  # type: ignore[no-any-return]


def _header(output: str) -> list[str]:
    return re.split(r"\s{2,}", output.splitlines()[0].strip())


def _row(output: str, name: str) -> list[str]:
    for line in output.splitlines()[1:]:
        cells = re.split(r"\s{2,}", line.strip())
        if cells[0].endswith(name):
            return cells
    raise AssertionError(f"no row for {name} in:\n{output}")


def test_examples_exist() -> None:
    names = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLE_FILES}
    assert {
        "paper-grid.yaml",
        "paper-funding-arb.yaml",
        "funding-arb.yaml",
        "collector.yaml",
        "paper-collector.yaml",
    } <= names
    for venue in (
        "lighter",
        "grvt",
        "edgex",
        "paradex",
        "backpack",
        "aster",
        "hyperliquid",
        "extended",
        "ethereal",
        "nado",
        "apex",
    ):
        assert f"grid-{venue}.yaml" in names and f"secrets/{venue}-secret.yaml" in names
    assert {"secrets/telegram-secret.yaml", "secrets/lark-secret.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=[p.relative_to(EXAMPLES).as_posix() for p in EXAMPLE_FILES])
def test_every_example_applies(kube, crd_ns: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Server-side validation (a real create through kubectl apply), then read back as stored."""
    out = kube.kubectl("apply", "-n", crd_ns, "-f", str(path))
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        assert f"{kind.lower()}/{name} created" in out.stdout.lower().replace(".perpdex.io", "")
        stored = _get(kube, crd_ns, kind.lower(), name)
        if kind == "Secret":
            assert set(stored["data"]) == set(doc["stringData"])
        else:
            # every field the example sets is stored as written (nothing pruned as unknown)
            _assert_subset(doc["spec"], stored["spec"], f"{path.name}: spec")


def _assert_subset(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} was dropped by the server"
            _assert_subset(value, actual[key], f"{where}.{key}")
    else:
        assert expected == actual, f"{where}: {expected!r} stored as {actual!r}"


def test_all_examples_apply_together(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    kube.kubectl("apply", "-n", crd_ns, "-R", "-f", str(EXAMPLES))
    bots = kube.kubectl("get", "tradingbots", "-n", crd_ns, "-o", "name").stdout.split()
    assert "tradingbot.perpdex.io/paper-btc-grid" in bots and len(bots) == 14
    collectors = kube.kubectl("get", "fc", "-n", crd_ns, "-o", "name").stdout.split()
    assert sorted(collectors) == ["fundingcollector.perpdex.io/all-dexes", "fundingcollector.perpdex.io/paper-dexes"]


def test_spec_md_examples_apply(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    """SPEC §3's TradingBot and FundingCollector examples (nulls and all) are accepted; their status blocks go
    through the status subresource (with real conditions in place of `[...]`)."""
    for kind in ("TradingBot", "FundingCollector"):
        doc = spec_md_blocks(kind)
        status = doc.pop("status")
        doc["metadata"].pop("namespace", None)
        kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc))
        condition = {
            "type": "Ready",
            "status": "True",
            "reason": "Running",
            "message": "bot is trading",
            "lastTransitionTime": "2026-11-25T10:00:00Z",
            "observedGeneration": 1,
        }
        status["conditions"] = [condition]
        if kind == "TradingBot":
            status["legs"] = [
                {
                    "symbol": "ETH",
                    "longExchange": "lighter",
                    "shortExchange": "grvt",
                    "size": "0.5",
                    "entrySpreadApr": "0.21",
                    "currentNetApr": "0.12",
                    "fundingPnl": "1.25",
                    "openedAt": "2026-11-24T08:30:15Z",
                }
            ]
        else:
            status["lastCycle"] = {"startedAt": "2026-11-25T10:00:00Z", "durationMs": 830, "ratesIngested": 412}
            status["exchanges"] = [
                {"name": "lighter", "lastSuccess": "2026-11-25T10:00:01Z", "markets": 92, "latencyMs": 310},
                {"name": "grvt", "lastError": "timeout after 20s", "markets": 0, "latencyMs": 20000},
            ]
        name = doc["metadata"]["name"]
        kube.kubectl(
            "patch", kind.lower(), name, "-n", crd_ns, "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": status}),
        )  # fmt: skip
        stored = _get(kube, crd_ns, kind.lower(), name)["status"]
        expected = {k: v for k, v in status.items() if v is not None}
        _assert_subset(expected, stored, f"{kind} status")


def test_printer_columns_by_plural_short_name_and_category(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    kube.kubectl("apply", "-n", crd_ns, "-f", str(EXAMPLES / "paper-grid.yaml"))
    kube.kubectl("apply", "-n", crd_ns, "-f", str(EXAMPLES / "paper-funding-arb.yaml"))
    kube.kubectl("apply", "-n", crd_ns, "-f", str(EXAMPLES / "paper-collector.yaml"))
    kube.kubectl(
        "patch", "tb", "paper-btc-grid", "-n", crd_ns, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"phase": "Running", "position": "0.0400000000000000000000000001",
                               "realizedPnl": "+12.3149999", "lastHeartbeat": "2020-01-01T00:00:00Z", "openOrders": 7,
                               "unrealizedPnl": "-1.2", "fundingPnl": "0.456518",
                               # the bot writes the rounded figures with the exact ones; kubectl get shows those
                               "display": {"position": "0.04", "realizedPnl": "12.31", "unrealizedPnl": "-1.20",
                                           "fundingPnl": "0.46"}}}),
    )  # fmt: skip
    kube.kubectl(
        "patch", "fc", "paper-dexes", "-n", crd_ns, "--subresource=status", "--type=merge", "-p",
        json.dumps({"status": {"phase": "Running",
                               "lastCycle": {"startedAt": "2020-01-01T00:00:00Z", "durationMs": 40, "ratesIngested": 57}}}),
    )  # fmt: skip
    bot_columns = ["NAME", "STRATEGY", "EXCHANGE", "TICKER", "PHASE", "POSITION", "PNL", "HEARTBEAT", "AGE"]
    for resource in ("tradingbots", "tradingbot", "tb"):
        out = kube.kubectl("get", resource, "-n", crd_ns).stdout
        assert _header(out) == bot_columns, out
        row = _row(out, "paper-btc-grid")
        assert row[1:8] == ["grid", "paper", "BTC", "Running", "0.04", "12.31", row[7]]
        assert re.fullmatch(r"\d+[smhdy]\S*", row[7]), f"heartbeat is not shown as an age: {row[7]}"
    farb = _row(kube.kubectl("get", "tb", "-n", crd_ns).stdout, "paper-funding-arb")
    assert farb[1:4] == ["fundingArb", "multi", "BTC"]

    wide = kube.kubectl("get", "tb", "-n", crd_ns, "-o", "wide").stdout
    assert _header(wide) == [*bot_columns[:-1], "EXCHANGES", "ORDERS", "UPNL", "FUNDING", "READY", "ERROR", "AGE"]
    assert '["paper-a","paper-b"]' in _row(wide, "paper-funding-arb")
    assert "7" in _row(wide, "paper-btc-grid") and "-1.20" in _row(wide, "paper-btc-grid")
    assert "0.46" in _row(wide, "paper-btc-grid")

    coll_columns = ["NAME", "EXCHANGES", "INTERVAL", "PHASE", "LAST CYCLE", "RATES", "AGE"]
    for resource in ("fundingcollectors", "fc"):
        out = kube.kubectl("get", resource, "-n", crd_ns).stdout
        assert _header(out) == coll_columns, out
        row = _row(out, "paper-dexes")
        assert row[1:4] == ['["paper-a","paper-b","paper-c"]', "10s", "Running"]
        assert re.fullmatch(r"\d+[smhdy]\S*", row[4]) and row[5] == "57"

    # the category lists both kinds, each with its own columns
    everything = kube.kubectl("get", "perpdex", "-n", crd_ns).stdout
    assert "tradingbot.perpdex.io/paper-btc-grid" in everything
    assert "fundingcollector.perpdex.io/paper-dexes" in everything
    assert "STRATEGY" in everything and "LAST CYCLE" in everything


def _explain(kube, field: str, expect: str) -> str:  # type: ignore[no-untyped-def]
    """`kubectl explain`, retried briefly: the API server publishes a CRD's OpenAPI a moment after Established."""
    deadline = time.monotonic() + 30
    while True:
        out = kube.kubectl("explain", field, check=False)
        if (out.returncode == 0 and expect in out.stdout) or time.monotonic() > deadline:
            assert out.returncode == 0, out.stderr
            return out.stdout  # type: ignore[no-any-return]
        time.sleep(0.5)


def test_kubectl_explain_prints_the_descriptions(kube, crds_installed) -> None:  # type: ignore[no-untyped-def]
    grid = _explain(kube, "tradingbot.spec.grid", "Default: 40.")
    for field in ("quantity", "takeProfit", "direction", "maxOrders", "waitTime", "gridStep", "stopPrice",
                  "pausePrice", "boostMode"):  # fmt: skip
        assert re.search(rf"^\s+{field}\s+<", grid, flags=re.M), f"{field} missing from explain:\n{grid}"
    assert "PERCENT" in grid and "post-only" in grid
    assert 'Default: "450s".' in grid and 'Default: "-100".' in grid and "-required-" in grid
    one = _explain(kube, "tb.spec.fundingArb.exitNetApr", "lower than")
    assert "lower than minNetApr" in one and 'Default: "0.03".' in one
    status = _explain(kube, "tradingbot.status.phase", "RiskHalted")
    assert "RiskHalted" in status
    coll = _explain(kube, "fundingcollector.spec.timeout", "shorter")
    assert "shorter than interval" in coll and 'Default: "20s".' in coll


def test_status_only_through_the_status_subresource(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    doc = grid_bot("statusbot")
    doc["status"] = {"phase": "Running", "position": "9"}  # ignored on create: status is a subresource
    kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc))
    created = _get(kube, crd_ns, "tb", "statusbot")
    assert "status" not in created or "phase" not in created["status"]
    generation = created["metadata"]["generation"]

    bot_status = {
        "phase": "Running",
        "position": "0.040",
        "avgEntryPrice": "61234.5",
        "realizedPnl": "12.31",
        "unrealizedPnl": "-1.20",
        "fundingPnl": "0.00",
        "openOrders": 7,
        "lastHeartbeat": "2026-11-25T10:00:00Z",
        "lastError": "order rejected: post-only would cross",
    }
    kube.kubectl(
        "patch", "tradingbot", "statusbot", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": bot_status}),
    )  # fmt: skip
    after_status = _get(kube, crd_ns, "tb", "statusbot")
    assert after_status["status"] == bot_status
    assert after_status["metadata"]["generation"] == generation  # status writes do not bump the generation

    # a spec patch does not touch status (and bumps the generation)
    kube.kubectl("patch", "tb", "statusbot", "-n", crd_ns, "--type=merge", "-p", '{"spec":{"grid":{"maxOrders":20}}}')
    after_spec = _get(kube, crd_ns, "tb", "statusbot")
    assert after_spec["spec"]["grid"]["maxOrders"] == 20
    assert after_spec["status"] == bot_status
    assert after_spec["metadata"]["generation"] == generation + 1

    # status cannot be set through the main resource: the change is dropped
    kube.kubectl("patch", "tb", "statusbot", "-n", crd_ns, "--type=merge", "-p", '{"status":{"phase":"Failed"}}')
    assert _get(kube, crd_ns, "tb", "statusbot")["status"]["phase"] == "Running"
    # ... and spec cannot be changed through the status subresource
    kube.kubectl(
        "patch", "tb", "statusbot", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", '{"spec":{"paused":true},"status":{"openOrders":3}}',
    )  # fmt: skip
    final = _get(kube, crd_ns, "tb", "statusbot")
    assert final["spec"]["paused"] is False and final["status"]["openOrders"] == 3

    # the operator's fields: conditions merge by type, and a merge patch with null clears the bot's lastError
    conditions = [
        {"type": "Ready", "status": "True", "reason": "HeartbeatFresh", "message": "", "lastTransitionTime": "2026-11-25T10:00:00Z", "observedGeneration": 2},
        {"type": "Degraded", "status": "False", "reason": "PodHealthy", "lastTransitionTime": "2026-11-25T10:00:00Z"},
    ]  # fmt: skip
    kube.kubectl(
        "patch", "tb", "statusbot", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"observedGeneration": 2, "conditions": conditions, "lastError": None}}),
    )  # fmt: skip
    final = _get(kube, crd_ns, "tb", "statusbot")["status"]
    assert final["conditions"] == conditions and final["observedGeneration"] == 2
    assert "lastError" not in final and final["position"] == "0.040"

    # the bot writes unknown leg values as null: the server drops them instead of rejecting the whole status
    leg = {
        "symbol": "BTC",
        "longExchange": "paper-a",
        "shortExchange": "paper-b",
        "size": "0.1",
        "entrySpreadApr": None,
    }
    kube.kubectl(
        "patch", "tb", "statusbot", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"legs": [leg]}}),
    )  # fmt: skip
    stored_leg = _get(kube, crd_ns, "tb", "statusbot")["status"]["legs"]
    assert stored_leg == [{"symbol": "BTC", "longExchange": "paper-a", "shortExchange": "paper-b", "size": "0.1"}]


@pytest.mark.parametrize(
    ("status", "field"),
    [
        ({"phase": "Trading"}, "status.phase"),
        ({"position": "lots"}, "status.position"),
        ({"realizedPnl": 12.31}, "status.realizedPnl"),
        ({"openOrders": -1}, "status.openOrders"),
        ({"lastHeartbeat": "yesterday"}, "status.lastHeartbeat"),
        ({"conditions": [{"type": "Ready", "status": "Yes", "reason": "X", "lastTransitionTime": "2026-11-25T10:00:00Z"}]},
         "status.conditions[0].status"),
        ({"conditions": [{"type": "Ready", "status": "True"}]}, "status.conditions[0].reason"),
        ({"legs": [{"symbol": "ETH", "longExchange": "lighter"}]}, "status.legs[0].shortExchange"),
    ],
    ids=["phase-enum", "decimal", "number-not-string", "negative-count", "date-time", "condition-status",
         "condition-reason-required", "leg-required"],
)  # fmt: skip
def test_invalid_status_is_rejected(kube, crd_ns: str, status: dict[str, Any], field: str) -> None:  # type: ignore[no-untyped-def]
    kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(grid_bot("badstatus")))
    out = kube.kubectl(
        "patch", "tb", "badstatus", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}), check=False,
    )  # fmt: skip
    assert out.returncode != 0 and field in out.stderr, out.stderr


def test_collector_status_through_the_subresource(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(collector("coll-status")))
    status = {
        "phase": "Degraded",
        "observedGeneration": 1,
        "lastCycle": {"startedAt": "2026-11-25T10:00:00Z", "durationMs": 1200, "ratesIngested": 300},
        "exchanges": [
            {"name": "lighter", "lastSuccess": "2026-11-25T10:00:01Z", "markets": 92, "latencyMs": 310},
            {"name": "grvt", "lastError": "HTTP 503", "markets": 0, "latencyMs": 20000},
        ],
    }
    kube.kubectl(
        "patch", "fc", "coll-status", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip
    assert _get(kube, crd_ns, "fc", "coll-status")["status"] == status
    dup = kube.kubectl(
        "patch", "fc", "coll-status", "-n", crd_ns, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": {"exchanges": [{"name": "grvt"}, {"name": "grvt"}]}}), check=False,
    )  # fmt: skip
    assert dup.returncode != 0 and "status.exchanges[1]" in dup.stderr, dup.stderr
