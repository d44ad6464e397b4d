"""The benchmark programs' plumbing, so they cannot rot: argument parsing of every module, the result tables (ratio,
target verdicts, text and Markdown), percentiles, /proc figures, audit-log counting, the load generator's
bookkeeping and the baseline app. No timing is asserted anywhere."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

import bench.__main__ as bench_main
from bench import (
    backtest,
    baseline_app,
    bot_footprint,
    decision_latency,
    fs_data,
    funding_service,
    ingest,
    kube_audit,
    loadgen,
    operator_scale,
    opportunities,
    paper_exchange,
)
from bench.common import (
    REPORT_PEAK,
    BenchError,
    Row,
    Table,
    Target,
    fmt_number,
    percentile,
    proc_sample,
    run_measured,
    start_server,
    stop_process,
)

MODULES = (
    opportunities,
    bot_footprint,
    decision_latency,
    ingest,
    funding_service,
    backtest,
    paper_exchange,
    operator_scale,
)


# -- argument parsing ---------------------------------------------------------------------------------------------


def test_every_module_listed_by_the_runner_parses_default_and_quick() -> None:
    assert {m.__name__.split(".")[-1] for m in MODULES} == set(bench_main.BENCHMARKS)
    for module in MODULES:
        parser = module.build_parser()
        assert parser.parse_args([]).quick is False
        assert parser.parse_args(["--quick"]).quick is True
        assert callable(module.run) and callable(module.main)


def test_operator_sizes_default_quick_and_explicit() -> None:
    p = operator_scale.build_parser()
    full = operator_scale.resolve(p.parse_args([]))
    assert full.sizes == [50, 200, 1000]
    assert full.window == 60.0
    quick = operator_scale.resolve(p.parse_args(["--quick"]))
    assert quick.sizes == [50]
    assert quick.window == 30.0
    assert operator_scale.resolve(p.parse_args(["--sizes", "10,20"])).sizes == [10, 20]


@pytest.mark.parametrize("bad", ["a,b", "0", "-5", ","])
def test_operator_sizes_reject_garbage(bad: str) -> None:
    with pytest.raises(SystemExit):
        operator_scale.build_parser().parse_args(["--sizes", bad])


def test_funding_service_defaults_depend_on_quick() -> None:
    p = funding_service.build_parser()
    full = funding_service.resolve(p.parse_args([]))
    quick = funding_service.resolve(p.parse_args(["--quick"]))
    assert full.concurrency == quick.concurrency == 50
    assert full.symbols == 400
    assert full.days == 30
    assert quick.requests < full.requests
    assert quick.rounds == full.rounds == 1
    assert full.client == "aiohttp"
    assert funding_service.resolve(p.parse_args(["--requests", "7", "--client", "httpx"])).requests == 7
    with pytest.raises(SystemExit):
        p.parse_args(["--client", "curl"])


def test_bot_footprint_defaults() -> None:
    p = bot_footprint.build_parser()
    assert bot_footprint.resolve(p.parse_args(["--quick"])).repeat == 3
    assert bot_footprint.resolve(p.parse_args([])).repeat == 5
    assert bot_footprint.resolve(p.parse_args(["--repeat", "2"])).repeat == 2


def test_runner_selects_benchmarks() -> None:
    p = bench_main.build_parser()
    assert p.parse_args([]).only == list(bench_main.BENCHMARKS)
    assert p.parse_args(["--only", "ingest,operator-scale"]).only == ["ingest", "operator_scale"]
    with pytest.raises(SystemExit):
        p.parse_args(["--only", "nonsense"])


def test_runner_reports_a_failing_benchmark_and_carries_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    class Good:
        @staticmethod
        def build_parser() -> argparse.ArgumentParser:
            return opportunities.build_parser()

        @staticmethod
        def run(args: argparse.Namespace) -> list[Table]:
            t = Table("good one", "nothing")
            t.add("x", 2.0, "s", 1.0)
            return [t]

    class Bad(Good):
        @staticmethod
        def run(args: argparse.Namespace) -> list[Table]:
            raise RuntimeError("boom")

    monkeypatch.setattr(bench_main, "load", lambda name: Bad if name == "ingest" else Good)
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code = bench_main.main(["--only", "opportunities,ingest", "--json", str(out_json), "--markdown", str(out_md)])
    assert code == 1
    captured = capsys.readouterr()
    assert "good one" in captured.out
    assert "FAILED: ingest" in captured.out
    assert "boom" in captured.err
    doc = json.loads(out_json.read_text())
    assert [t["title"] for t in doc["tables"]] == ["good one"]
    assert doc["tables"][0]["rows"][0]["ratio"] == 2.0
    assert "| x | 2.00 s | 1.00 s | 2.00x |" in out_md.read_text()


# -- tables -------------------------------------------------------------------------------------------------------


def test_ratio_and_verdicts() -> None:
    assert Row("rate", 50, "req/s", 100, Target(">=", 0.5, "ratio")).verdict == "met"
    assert Row("rate", 49, "req/s", 100, Target(">=", 0.5, "ratio")).verdict == "MISSED"
    assert Row("p99", 30, "ms", 2, Target("<", 25)).verdict == "MISSED"
    assert Row("p99", 24.9, "ms", 2, Target("<", 25)).verdict == "met"
    assert Row("writes", 0, "req/min", None, Target("==", 0)).verdict == "met"
    assert Row("writes", 1, "req/min", None, Target("==", 0)).verdict == "MISSED"
    assert Row("no baseline", 1, "x", None, Target(">=", 0.5, "ratio")).verdict == "n/a"
    assert Row("no target", 1, "x", 4).verdict == ""
    assert Row("zero baseline", 1, "x", 0).ratio is None
    assert Row("nan", math.nan, "x", 2).ratio is None
    assert Row("r", 3, "x", 4).ratio == 0.75


def test_table_text_and_markdown() -> None:
    t = Table("Title", "what the baseline is", command=".venv/bin/python -m bench.x")
    t.add("throughput", 1234.5, "req/s", 2469.0, Target(">=", 0.5, "ratio"))
    t.add("a|pipe", 0.5, "ms", note="n")
    t.notes.append("a note")
    text = t.render()
    lines = text.splitlines()
    assert lines[0] == "== Title"
    assert "baseline: what the baseline is" in lines[1]
    row = next(line for line in lines if line.strip().startswith("throughput"))
    assert "1,234 req/s" in row  # 1234.5 rounds half to even
    assert "2,469 req/s" in row
    assert "0.5x" in row
    assert "ratio >= 0.5" in row
    assert row.rstrip().endswith("met")
    assert "* a note" in text
    md = t.to_markdown()
    assert "Command: `.venv/bin/python -m bench.x`" in md
    assert "| a\\|pipe | 0.5 ms |" in md
    assert md.count("\n|") == 4  # header, rule, two rows
    data = t.to_dict()
    assert data["rows"][0]["verdict"] == "met"  # type: ignore[index]


@pytest.mark.parametrize(
    ("x", "text"),
    [(0, "0"), (12345.6, "12,346"), (123.4, "123"), (12.34, "12.3"), (1.234, "1.23"), (0.01234, "0.0123"),
     (0.00001234, "1.23e-05"), (-2.5, "-2.50"), (math.nan, "nan")],
)  # fmt: skip
def test_fmt_number(x: float, text: str) -> None:
    assert fmt_number(x) == text


def test_percentile() -> None:
    assert math.isnan(percentile([], 50))
    assert percentile([7], 99) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 3, 2, 1], 0) == 1
    assert percentile([4, 3, 2, 1], 100) == 4
    assert percentile(list(range(101)), 99) == 99


# -- processes ----------------------------------------------------------------------------------------------------


def test_proc_sample_of_this_process() -> None:
    s = proc_sample(os.getpid())
    assert 0 < s.rss_mb <= s.peak_rss_mb
    assert s.cpu_seconds > 0


def test_run_measured_reports_a_child_and_its_failure() -> None:
    code = "x = bytearray(30 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
    ok = run_measured([sys.executable, "-c", code + REPORT_PEAK])
    assert ok.returncode == 0
    assert ok.peak_rss_mb > 30
    assert ok.max_rss_mb >= ok.peak_rss_mb - 1
    assert math.isnan(run_measured([sys.executable, "-c", "pass"]).peak_rss_mb)
    with pytest.raises(BenchError, match="exited with 3"):
        run_measured([sys.executable, "-c", "import sys; sys.exit(3)"])


# -- audit log ----------------------------------------------------------------------------------------------------


def _event(verb: str, stage: str, resource: str, agent: str, user: str = "admin", sub: str | None = None) -> str:
    ref = {"resource": resource, **({"subresource": sub} if sub else {})}
    return json.dumps({"verb": verb, "stage": stage, "objectRef": ref, "user": {"username": user}, "userAgent": agent})


def test_audit_requests_are_counted_once_and_attributed(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text(_event("get", "ResponseComplete", "configmaps", "perpdex-operator") + "\n")
    log = kube_audit.AuditLog(path)
    log.mark()
    lines = [
        _event("watch", "ResponseStarted", "pods", "kopf/1.38"),
        _event("watch", "ResponseComplete", "pods", "kopf/1.38"),  # the same watch ending: not a new request
        _event("patch", "ResponseComplete", "tradingbots", "perpdex-operator", sub="status"),
        _event("patch", "ResponseComplete", "configmaps", "perpdex-operator"),
        _event("create", "ResponseComplete", "events", "perpdex-operator"),
        _event("list", "ResponseComplete", "pods", "perpdex-operator"),
        _event("create", "ResponseComplete", "configmaps", "perpdex-bench"),  # the benchmark itself
        _event("get", "ResponseComplete", "namespaces", "kube-apiserver", user="system:apiserver"),
        "not json",
    ]
    with path.open("a") as f:
        f.write("\n".join(lines) + "\n" + _event("get", "ResponseComplete", "x", "perpdex-operator")[:20])
    tally = kube_audit.Tally.of(log.since_mark(), user="admin")
    assert tally.verbs == {"watch": 1, "patch": 2, "create": 1, "list": 1}
    assert tally.total == 5
    assert tally.reads == 1
    assert tally.write_total == 3
    assert tally.writes["patch tradingbots/status"] == 1
    assert tally.describe_writes().startswith("1 x ")
    assert kube_audit.Tally().describe_writes() == "none"


# -- load generator -----------------------------------------------------------------------------------------------


async def test_load_generator_bookkeeping() -> None:
    calls: list[str] = []

    async def fetch(path: str) -> tuple[int, int]:
        calls.append(path)
        if len(calls) % 5 == 0:
            return 503, 0
        if len(calls) % 7 == 0:
            raise httpx.ConnectError("refused")
        return 200, 42

    result = await loadgen._measure(fetch, ["/a", "/b"], requests=35, concurrency=4, warmup=5)
    assert len(calls) == 40
    assert calls[:2] == ["/a", "/b"]
    assert result.requests == 35
    assert result.error_kinds == {"HTTP 503": 7, "ConnectError": 4}
    assert result.errors == 11
    assert len(result.latencies_ms) == 24
    assert result.body_bytes == 42


async def test_load_generator_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        await loadgen.run_load("http://127.0.0.1:1", ["/"], requests=0, concurrency=1)
    with pytest.raises(ValueError, match="unknown client"):
        await loadgen.run_load("http://127.0.0.1:1", ["/"], requests=1, concurrency=1, client="curl")  # type: ignore[arg-type]


# -- baseline app and data ----------------------------------------------------------------------------------------


@pytest.fixture
def body_file(tmp_path: Path) -> Path:
    body = tmp_path / "b.json"
    body.write_bytes(b'{"data": [1, 2, 3]}')
    return body


async def test_baseline_app_answers_the_given_bytes(body_file: Path) -> None:
    app = baseline_app.create_app(baseline_app.parse_bodies([f"/api/v1/x={body_file}"]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/api/v1/x")
        assert r.status_code == 200
        assert r.content == b'{"data": [1, 2, 3]}'
        assert r.headers["content-type"] == "application/json"
        assert (await client.get("/api/v1/other")).status_code == 404
    with pytest.raises(argparse.ArgumentTypeError):
        baseline_app.parse_bodies(["no-equals-sign"])


def test_generated_data_is_deterministic_and_valid() -> None:
    ms = fs_data.markets(12)
    assert len(ms) == 12 * len(fs_data.VENUES)
    assert ms == fs_data.markets(12)
    assert fs_data.symbols(12)[:3] == ["BTC", "ETH", "SOL"]
    assert fs_data.symbols(12)[-1] == "C0012"
    now = datetime.now(UTC)
    batch = fs_data.ingest_batch(ms, now, cycle=3)
    assert batch.cycle_id == "bench-000003"
    assert len(batch.rates) == len(ms)
    assert {e.name for e in batch.exchanges} == set(fs_data.VENUES)
    assert all(r.best_bid is not None and r.best_ask is not None and r.best_bid < r.best_ask for r in batch.rates)
    rows = ingest.raw_records(batch)
    assert len(rows) == len(ms)
    assert len(rows[0]) == len(ingest.RAW_COLUMNS)
    csv = b"".join(fs_data._history_csv(ms[:2], days=1, now=now, seed=1, chunk_rows=10)).decode().splitlines()
    assert len(csv) == 2 * 24
    assert len(csv[0].split(",")) == 10


def test_operator_baseline_children_match_the_operator_builders() -> None:
    children = operator_scale.baseline_children("ns", 3, operator_scale.paper_spec())
    assert len(children) == 3 * operator_scale.CHILDREN_PER_BOT
    kinds = {c["kind"] for c in children}
    assert kinds == {
        "ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Service", "StatefulSet", "Lease", "PodDisruptionBudget"
    }  # fmt: skip
    assert all(c["metadata"]["namespace"] == "ns" for c in children)
    plurals = {p for _, p in operator_scale.CHILD_KINDS}
    assert {operator_scale.child_collection(c).rsplit("/", 1)[-1] for c in children} == plurals


def test_opportunity_baseline_counts_every_pair() -> None:
    legs = opportunities.make_legs(4, 10, datetime.now(UTC))
    assert len(legs) == 40
    assert opportunities.enumerate_pairs(legs) == 10 * 6


def test_venue_import_code_loads_the_adapter_package_and_its_sdk() -> None:
    venues = bot_footprint.venue_imports()
    assert {"paper", "lighter", "grvt", "edgex", "paradex", "backpack", "aster"} <= set(venues)
    module, sdk_imports = venues["paper"]
    code = bot_footprint.venue_import_code(module, sdk_imports)
    namespace: dict[str, object] = {}
    exec(compile(code, "<venue-imports>", "exec"), namespace)
    assert "bot_runtime.exchanges.paper.exchange" in sys.modules
    module, sdk_imports = venues["paradex"]
    lines = bot_footprint.venue_import_code(module, sdk_imports).splitlines()
    assert "sdk()" in lines and "import paradex_py" not in lines  # only the signing modules its adapter loads
    module, sdk_imports = venues["lighter"]
    assert "import lighter" in bot_footprint.venue_import_code(module, sdk_imports).splitlines()


SERVE_OK = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/ok" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_start_server_retries_a_process_that_exits_before_answering(tmp_path: Path) -> None:
    attempts: list[int] = []

    def argv(port: int) -> list[str]:
        attempts.append(port)
        if len(attempts) == 1:  # as if the port had been taken: the process dies at once
            return [sys.executable, "-c", "raise SystemExit(1)"]
        return [sys.executable, "-c", SERVE_OK, str(port)]

    proc, port, _ = start_server(argv, dict(os.environ), tmp_path / "log", "/ok", timeout=30)
    try:
        assert len(attempts) == 2
        assert port == attempts[-1]
        assert proc.poll() is None
    finally:
        stop_process(proc)
    assert proc.poll() is not None


def test_start_server_gives_up(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="exited 2 times"):
        start_server(lambda port: [sys.executable, "-c", "pass"], dict(os.environ), tmp_path / "l", "/", attempts=2)
    never = [sys.executable, "-c", "import time; time.sleep(60)"]
    with pytest.raises(BenchError, match="not ready"):
        start_server(lambda port: never, dict(os.environ), tmp_path / "l", "/", timeout=0.5)
