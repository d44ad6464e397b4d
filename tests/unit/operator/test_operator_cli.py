"""`perpdex operator` flags and env defaults, metrics exposition, peering priority, Event bodies."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest

from bot_runtime.kube import KubeClient, KubeConfig
from perpdex_operator.events import EventRecorder
from perpdex_operator.main import build_parser, main, settings_from_args
from perpdex_operator.metrics import OperatorMetrics
from perpdex_operator.peering import auto_priority
from perpdex_operator.settings import OperatorSettings

REPO = Path(__file__).resolve().parents[3]


def parse(*argv: str) -> OperatorSettings:
    return settings_from_args(build_parser().parse_args(list(argv)))


def test_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PERPDEX_OPERATOR_"):
            monkeypatch.delenv(key)
    s = parse(
        "--namespace=a",
        "-n",
        "b",
        "--image=img:1",
        "--funding-service-url=http://f:1",
        "--ingest-token-secret=tok",
        "--peering=perpdex",
        "--priority=5",
        "--liveness-port=9001",
        "--metrics-port=9002",
    )
    assert s.namespaces == ["a", "b"] and not s.clusterwide
    assert (s.image, s.funding_service_url, s.ingest_token_secret) == ("img:1", "http://f:1", "tok")
    assert (s.peering, s.priority, s.standalone, s.liveness_port, s.metrics_port) == ("perpdex", 5, False, 9001, 9002)
    s = parse("--all-namespaces", "--standalone")
    assert s.clusterwide and s.namespaces == [] and s.peering is None


def test_env_defaults_and_flags_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPDEX_OPERATOR_NAMESPACES", "x, y")
    monkeypatch.setenv("PERPDEX_OPERATOR_IMAGE", "env:img")
    monkeypatch.setenv("PERPDEX_OPERATOR_PEERING", "from-env")
    s = parse()
    assert s.namespaces == ["x", "y"] and s.image == "env:img" and s.peering == "from-env"
    s = parse("--all-namespaces", "--image=flag:img", "--standalone")
    assert s.clusterwide and s.image == "flag:img" and s.peering is None


def test_bad_scope_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PERPDEX_OPERATOR_NAMESPACES", raising=False)
    monkeypatch.delenv("PERPDEX_OPERATOR_ALL_NAMESPACES", raising=False)
    assert main([]) == 2
    assert "--namespace" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--namespace=a", "--all-namespaces"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--peering=p", "--standalone"])


def test_metrics_expose_reconciles_duration_and_phases() -> None:
    m = OperatorMetrics()
    m.reconciles.labels("TradingBot", "ok").inc()
    m.duration.labels("TradingBot").observe(0.02)
    m.set_phase("TradingBot", "ns", "a", "Running")
    m.set_phase("TradingBot", "ns", "b", "Running")
    m.set_phase("TradingBot", "ns", "c", "Paused")
    m.set_phase("FundingCollector", "ns", "c", "Running")
    text = generate_latest(m.registry).decode()
    assert 'perpdex_operator_reconciles_total{kind="TradingBot",result="ok"} 1.0' in text
    assert 'perpdex_operator_reconcile_duration_seconds_count{kind="TradingBot"} 1.0' in text
    assert 'perpdex_operator_bots{phase="Running"} 2.0' in text
    assert 'perpdex_operator_bots{phase="Paused"} 1.0' in text
    assert 'perpdex_operator_bots{phase="RiskHalted"} 0.0' in text
    assert 'perpdex_operator_collectors{phase="Running"} 1.0' in text
    m.forget("TradingBot", "ns", "a")
    assert 'perpdex_operator_bots{phase="Running"} 1.0' in generate_latest(m.registry).decode()


def test_auto_priority_ranks_earlier_starts_higher() -> None:
    rng = random.Random(1)
    early = auto_priority(now=1_800_000_000, rng=rng)
    late = auto_priority(now=1_800_000_001, rng=rng)
    assert early > late > 0
    assert auto_priority(now=1_800_000_000, rng=random.Random(2)) != auto_priority(
        now=1_800_000_000, rng=random.Random(3)
    )


def test_event_body_references_the_object() -> None:
    recorder = EventRecorder(KubeClient(KubeConfig(server="http://127.0.0.1:1")), instance="op-0")
    obj = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "b", "namespace": "t", "uid": "u"},
    }
    body = recorder.build(obj, "Warning", "HeartbeatStale", "x" * 5000)
    assert body["involvedObject"] == {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "name": "b",
        "namespace": "t",
        "uid": "u",
    }
    assert (body["type"], body["reason"], body["reportingComponent"], body["reportingInstance"]) == (
        "Warning",
        "HeartbeatStale",
        "perpdex-operator",
        "op-0",
    )
    assert body["metadata"]["namespace"] == "t" and body["metadata"]["name"].startswith("b.")
    assert len(body["message"]) == 1024


def test_peering_crds_match_the_chart() -> None:
    ours = list(yaml.safe_load_all((REPO / "operator/perpdex_operator/crds/kopf-peerings.yaml").read_text()))
    chart = list(yaml.safe_load_all((REPO / "charts/perp-dex-operator/crds/kopf-peerings.yaml").read_text()))
    assert ours == chart
    assert sorted(d["metadata"]["name"] for d in ours) == ["clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"]


async def test_the_registry_holds_every_handler() -> None:
    from perpdex_operator.handlers import build_registry
    from perpdex_operator.runtime import OperatorRuntime, kopf_settings

    settings = OperatorSettings(namespaces=["t"])
    rt = OperatorRuntime(settings, KubeConfig(server="http://127.0.0.1:1"))
    try:
        registry = build_registry(rt)
        ids = {h.id for h in registry._changing.get_all_handlers()}
        assert {"reconcile", "finalize"} <= ids
        assert {h.id for h in registry._spawning.get_all_handlers()} == {"status", "resync"}
        watching = {h.id for h in registry._watching.get_all_handlers()}
        assert {"reported", "child-statefulsets", "child-pods", "child-leases"} <= watching
        assert {h.id for h in registry._activities.get_all_handlers()} == {
            "perpdex-login",
            "objects",
            "perpdex-cleanup",
        }
        ks = kopf_settings(settings, priority=7)
        assert ks.persistence.finalizer == "perpdex.io/finalizer"
        assert (ks.peering.standalone, ks.peering.priority) == (True, 7)
    finally:
        await rt.close()
