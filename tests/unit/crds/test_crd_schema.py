"""The CRD YAML, checked without an API server: SPEC §3 coverage, a description on every field, defaults that satisfy
their own constraints, the patterns' edges, agreement with the venue registry and the runtime config model, the
examples and Secret templates, and the generated reference being up to date."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_runtime.config import parse_config
from bot_runtime.exchanges.registry import NOTIFICATION_ENV, VENUES, is_placeholder
from perpdex_dev import crd_docs

REPO = Path(__file__).resolve().parents[3]
CRDS = {"TradingBot": REPO / "crds" / "tradingbots.yaml", "FundingCollector": REPO / "crds" / "fundingcollectors.yaml"}
EXAMPLES = REPO / "examples"
SPEC_MD = REPO.parent / "shared" / "SPEC.md"
LIVE = sorted(name for name in VENUES if name != "paper")

Schema = dict[str, Any]


def crd(kind: str) -> Schema:
    doc: Schema = yaml.safe_load(CRDS[kind].read_text())
    return doc


def root(kind: str) -> Schema:
    schema: Schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def node(kind: str, path: str) -> Schema:
    """The schema at a dotted path (``spec.grid.quantity``; ``[]`` steps into array items, ``<key>`` into maps)."""
    schema = root(kind)
    for part in path.split("."):
        if part == "[]":
            schema = schema["items"]
        elif part == "<key>":
            schema = schema["additionalProperties"]
        else:
            schema = schema["properties"][part]
    return schema


def all_schemas(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from all_schemas(sub, f"{path}.{name}" if path else name)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from all_schemas(schema["additionalProperties"], f"{path}.<key>")
    if isinstance(schema.get("items"), dict):
        yield from all_schemas(schema["items"], f"{path}.[]")


def apply_defaults(obj: Any, schema: Schema) -> Any:
    """The API server's structural defaulting, for the unit tier."""
    obj = copy.deepcopy(obj)
    if isinstance(obj, dict) and schema.get("type") == "object":
        for name, sub in schema.get("properties", {}).items():
            if name not in obj and "default" in sub:
                obj[name] = copy.deepcopy(sub["default"])
            if name in obj:
                obj[name] = apply_defaults(obj[name], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key in set(obj) - set(schema.get("properties", {})):
                obj[key] = apply_defaults(obj[key], extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        obj = [apply_defaults(item, schema["items"]) for item in obj]
    return obj


# --- shape --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "short"), [("TradingBot", "tb"), ("FundingCollector", "fc")])
def test_names_version_subresource(kind: str, short: str) -> None:
    doc = crd(kind)
    assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
    spec = doc["spec"]
    assert spec["group"] == "perpdex.io" and spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind and spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["perpdex"]
    (version,) = spec["versions"]
    assert version["name"] == "v1alpha1" and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    bot = crd("TradingBot")["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = [(c["name"], c["jsonPath"], c["type"]) for c in bot if not c.get("priority")]
    assert shown == [
        ("Strategy", ".spec.strategy", "string"),
        ("Exchange", ".spec.exchange", "string"),
        ("Ticker", ".spec.ticker", "string"),
        ("Phase", ".status.phase", "string"),
        ("Position", ".status.display.position", "string"),  # rounded for display (issue 23)
        ("PnL", ".status.display.realizedPnl", "string"),
        ("Heartbeat", ".status.lastHeartbeat", "date"),
        ("Age", ".metadata.creationTimestamp", "date"),
    ]
    coll = crd("FundingCollector")["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in coll if not c.get("priority")] == [
        ("Exchanges", ".spec.exchanges"),
        ("Interval", ".spec.interval"),
        ("Phase", ".status.phase"),
        ("Last Cycle", ".status.lastCycle.startedAt"),
        ("Rates", ".status.lastCycle.ratesIngested"),
        ("Age", ".metadata.creationTimestamp"),
    ]
    assert [(c["name"], c["jsonPath"]) for c in coll if c.get("priority")] == [("Pending", ".status.outbox.pending")]


@pytest.mark.parametrize("kind", list(CRDS))
def test_every_field_has_a_description(kind: str) -> None:
    missing = [path for path, schema in all_schemas(root(kind)) if path != "metadata" and not schema.get("description")]
    assert missing == []


@pytest.mark.parametrize("kind", list(CRDS))
def test_strings_and_lists_are_bounded_for_cel(kind: str) -> None:
    """The CEL cost estimator needs bounds; keep every spec string and list bounded (enums are bounded already)."""
    unbounded = []
    for path, schema in all_schemas(root(kind)["properties"]["spec"], "spec"):
        if schema.get("type") == "string" and "enum" not in schema and "maxLength" not in schema:
            unbounded.append(path)
        if schema.get("type") == "array" and "maxItems" not in schema:
            unbounded.append(path)
    assert unbounded == []


# --- SPEC §3 coverage -----------------------------------------------------------------------------------------------


def spec_example(kind: str) -> Schema:
    assert SPEC_MD.exists(), f"{SPEC_MD} not found: the shared folder (SPEC.md) must sit beside the repository"
    for block in re.findall(r"```yaml\n(.*?)```", SPEC_MD.read_text(encoding="utf-8"), flags=re.S):
        doc: object = yaml.safe_load(block)
        if isinstance(doc, dict) and doc.get("kind") == kind:
            return doc
    raise AssertionError(f"no {kind} example in SPEC.md")


def leaf_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            yield from leaf_paths(sub, f"{path}.{key}")
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        for key, sub in value[0].items():
            yield from leaf_paths(sub, f"{path}.[].{key}")
    else:
        yield path


@pytest.mark.parametrize("kind", list(CRDS))
def test_every_spec_md_field_is_in_the_schema(kind: str) -> None:
    example = spec_example(kind)
    paths = [p.lstrip(".") for top in ("spec", "status") for p in leaf_paths(example[top], top)]
    assert len(paths) > (40 if kind == "TradingBot" else 12)
    for path in paths:
        parts = [p for p in path.split(".") if p]
        if parts[:2] == ["spec", "credentials"]:  # a map keyed by exchange
            parts[2] = "<key>"
        try:
            node(kind, ".".join(parts))
        except KeyError:
            pytest.fail(f"SPEC §3 field {path} is not in the {kind} schema")


def test_spec_md_commented_fields_are_in_the_schema() -> None:
    """Fields SPEC §3 names only in comments: the condition shape and the fundingArb legs."""
    for kind in CRDS:
        condition = node(kind, "status.conditions.[]")
        assert set(condition["properties"]) == {
            "type", "status", "reason", "message", "lastTransitionTime", "observedGeneration",
        }  # fmt: skip
    legs = node("TradingBot", "status.legs.[]")
    spec_fields = {
        "symbol", "longExchange", "shortExchange", "size", "entrySpreadApr", "currentNetApr", "fundingPnl",
    }  # fmt: skip
    # one documented addition: when the pair was opened, what a restarted bot keeps its hold timers from
    # (docs/funding-arb.md, "Restart recovery"); nothing else beyond SPEC
    assert set(legs["properties"]) == spec_fields | {"openedAt"}
    assert legs["properties"]["openedAt"] == {
        "type": "string",
        "format": "date-time",
        "description": legs["properties"]["openedAt"]["description"],
    }
    assert "openedAt" not in legs["required"]
    assert node("TradingBot", "status.phase")["enum"] == [
        "Pending", "Starting", "Running", "Paused", "Stopping", "Stopped", "RiskHalted", "Failed",
    ]  # fmt: skip


def test_spec_md_defaults_are_the_schema_defaults() -> None:
    """Where SPEC §3's example value is a default, the schema declares it."""
    expected = {
        "spec.grid.takeProfit": "0.02",
        "spec.grid.direction": "buy",
        "spec.grid.maxOrders": 40,
        "spec.grid.waitTime": "450s",
        "spec.grid.gridStep": "-100",
        "spec.grid.boostMode": False,
        "spec.fundingArb.symbols": [],
        "spec.fundingArb.positionSizeUsd": "1000",
        "spec.fundingArb.maxPositions": 3,
        "spec.fundingArb.minNetApr": "0.15",
        "spec.fundingArb.exitNetApr": "0.03",
        "spec.fundingArb.holdHours": 72,
        "spec.fundingArb.minHoldHours": 0,
        "spec.fundingArb.maxHoldHours": 168,
        "spec.fundingArb.erosionExitRatio": "0.5",
        "spec.fundingArb.maxNewPositionsPerCycle": 2,
        "spec.fundingArb.maxEntryPriceDivergencePct": "0.5",
        "spec.fundingArb.singleLegTimeout": "30s",
        "spec.fundingArb.minLiquidationDistancePct": "10",
        "spec.fundingArb.maxLegImbalancePct": "2",
        "spec.paper.startPrice": "60000",
        "spec.paper.volatility": "0.6",
        "spec.paper.seed": 42,
        "spec.paper.startingBalanceUsd": "10000",
        "spec.risk.onBreach": "pause",
        "spec.notifications.events": ["start", "stop", "fill", "risk", "error", "daily"],
        "spec.paused": False,
        "spec.onStop": "cancelEntries",
    }
    example = spec_example("TradingBot")
    for path, value in expected.items():
        assert node("TradingBot", path).get("default") == value, path
        cursor: Any = example
        for part in path.split("."):
            cursor = cursor[part]
        assert cursor == value, f"SPEC §3 shows {path}: {cursor!r}"
    assert node("FundingCollector", "spec.interval")["default"] == "60s"
    assert node("FundingCollector", "spec.timeout")["default"] == "20s"
    assert node("FundingCollector", "spec.symbols")["default"] == []


# --- defaults and patterns ------------------------------------------------------------------------------------------


def _satisfies(value: Any, schema: Schema) -> bool:
    if "enum" in schema and value not in schema["enum"]:
        return False
    if "pattern" in schema and not re.search(schema["pattern"], value):
        return False
    if "minimum" in schema and value < schema["minimum"]:
        return False
    if "maximum" in schema and value > schema["maximum"]:
        return False
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return all(_satisfies(v, schema["items"]) for v in value)
    return True


@pytest.mark.parametrize("kind", list(CRDS))
def test_defaults_satisfy_their_own_constraints(kind: str) -> None:
    defaults = [(p, s) for p, s in all_schemas(root(kind)) if "default" in s]
    assert defaults
    for path, schema in defaults:
        assert _satisfies(schema["default"], schema), f"{path}: default {schema['default']!r}"


def _rendered(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


@pytest.mark.parametrize("kind", list(CRDS))
def test_descriptions_state_the_default(kind: str) -> None:
    """`kubectl explain` prints descriptions but not defaults: each description says its default, and says it right."""
    for path, schema in all_schemas(root(kind)):
        if "default" in schema and schema["default"] != {}:
            assert f"Default: {_rendered(schema['default'])}." in schema["description"], path
        else:
            assert "Default:" not in schema.get("description", ""), path


POSITIVE = node("TradingBot", "spec.grid.quantity")["pattern"]
NON_NEGATIVE = node("TradingBot", "spec.fundingArb.minNetApr")["pattern"]
SIGNED = node("TradingBot", "spec.grid.gridStep")["pattern"]
DURATION = node("TradingBot", "spec.grid.waitTime")["pattern"]
VENUE = node("TradingBot", "spec.exchange")["pattern"]
COLLECTOR_VENUE = node("FundingCollector", "spec.exchanges.[]")["pattern"]


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (POSITIVE, ["0.01", "1", "10.50", "0.001", "60000", "0.10"], ["0", "0.0", "0.00", "-1", "1e3", ".5", "01", "1.", "+1", "abc", ""]),
        (NON_NEGATIVE, ["0", "0.0", "0.15", "3"], ["-0.1", "1e-3", "00", ".1", "1.", ""]),
        (SIGNED, ["-100", "0", "-0.5", "2.25"], ["--1", "+1", "-", "1e2", "- 1", ""]),
        (DURATION, ["450s", "1m30s", "1h", "500ms", "2h45m", "1h0m0s", "30s"], ["450", "1.5s", "s", "", "1 m", "30sec", "1d", "-1s", "1s1m"]),
    ],
    ids=["positive-decimal", "non-negative-decimal", "signed-decimal", "duration"],
)  # fmt: skip
def test_pattern_edges(pattern: str, good: list[str], bad: list[str]) -> None:
    assert [v for v in good if not re.fullmatch(pattern, v)] == []
    # the duration fields also carry minLength 2, which rules out the empty string the pattern alone allows
    assert [v for v in bad if re.fullmatch(pattern, v) and not (pattern == DURATION and v == "")] == []


@pytest.mark.parametrize("pattern", [VENUE, COLLECTOR_VENUE], ids=["bot", "collector"])
def test_venue_names_are_the_registry(pattern: str) -> None:
    for name in [*VENUES, "paper-a", "paper-b", "paper-c", "paper-2"]:
        assert re.fullmatch(pattern, name), name
    for name in ["binance", "Lighter", "paper-", "paper_a", "paper-A", "lighter-main", ""]:
        assert not re.fullmatch(pattern, name), name


def test_cel_live_venue_lists_are_the_registry() -> None:
    rules = [r["rule"] for _, s in all_schemas(root("TradingBot")) for r in s.get("x-kubernetes-validations", [])]
    lists = [m for rule in rules for m in re.findall(r"\[('[a-z]+'(?:, '[a-z]+')*)\]", rule)]
    assert len(lists) >= 3
    for found in lists:
        assert sorted(v.strip("'") for v in found.split(", ")) == LIVE


def test_credentials_description_names_the_registry_keys() -> None:
    text = " ".join(node("TradingBot", "spec.credentials")["description"].split())
    for venue in LIVE:
        keys = ", ".join(VENUES[venue].required_env)
        assert f"{venue}: {keys}" in text, venue


# --- the runtime config model agrees ------------------------------------------------------------------------------


MINIMAL = [
    {"strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.01"}},
    {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "ETH",
        "grid": {"quantity": "1"},
        "paper": {},
        "notifications": {},
    },
    {
        "strategy": "fundingArb",
        "exchange": "multi",
        "fundingArb": {"exchanges": ["lighter", "grvt"]},
        "credentials": {"lighter": {"secretName": "a"}, "grvt": {"secretName": "b"}},
        "risk": {},
    },
]


@pytest.mark.parametrize("spec", MINIMAL, ids=["grid", "grid-empty-sections", "fundingArb"])
def test_schema_defaults_match_the_runtime_defaults(spec: dict[str, Any]) -> None:
    """The bot reads what the API server stored (CRD defaults filled in) or a bare file (its own defaults): same result."""
    defaulted = apply_defaults(spec, root("TradingBot")["properties"]["spec"])
    assert defaulted != spec
    assert parse_config(defaulted) == parse_config(spec)


# --- examples -------------------------------------------------------------------------------------------------------


def example_docs() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(EXAMPLES.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def test_examples_have_no_namespace_and_load_in_the_runtime() -> None:
    bots = 0
    for path, doc in example_docs():
        assert "namespace" not in doc["metadata"], f"{path}: examples apply into the namespace the user picks"
        if doc["kind"] == "TradingBot":
            bots += 1
            config = parse_config(doc)
            assert config.name == doc["metadata"]["name"]
    assert bots == 14


def test_paper_grid_example() -> None:
    from bot_runtime.config import load_config

    config = load_config(EXAMPLES / "paper-grid.yaml")
    assert config.name == "paper-btc-grid" and config.exchange == "paper" and config.credentials == {}
    collector = yaml.safe_load((EXAMPLES / "paper-collector.yaml").read_text())
    assert collector["spec"]["exchanges"] == ["paper-a", "paper-b", "paper-c"]
    farb = yaml.safe_load((EXAMPLES / "paper-funding-arb.yaml").read_text())
    assert farb["spec"]["fundingArb"]["exchanges"] == ["paper-a", "paper-b"]
    everything = yaml.safe_load((EXAMPLES / "collector.yaml").read_text())
    assert sorted(everything["spec"]["exchanges"]) == LIVE


@pytest.mark.parametrize("venue", LIVE)
def test_secret_templates_use_the_registry_keys(venue: str) -> None:
    path = EXAMPLES / "secrets" / f"{venue}-secret.yaml"
    text = path.read_text()
    secret = yaml.safe_load(text)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == f"{venue}-credentials"
    spec = VENUES[venue]
    # a venue with alternative key sets (aster: V3 or V1) shows the first set filled in, the others commented
    filled = list(spec.credential_sets[0]) if spec.credential_sets else list(spec.required_env)
    assert list(secret["stringData"]) == filled
    assert all(is_placeholder(v) for v in secret["stringData"].values()), "templates hold placeholders only"
    commented = re.findall(r"^\s*#\s*([A-Z0-9_]+):", text, flags=re.M)
    assert commented == [key for key in spec.optional_env if key not in filled]
    bot = yaml.safe_load((EXAMPLES / f"grid-{venue}.yaml").read_text())
    assert bot["spec"]["exchange"] == venue
    assert bot["spec"]["credentials"] == {venue: {"secretName": f"{venue}-credentials"}}


def test_notification_secret_templates() -> None:
    telegram = yaml.safe_load((EXAMPLES / "secrets" / "telegram-secret.yaml").read_text())
    assert tuple(telegram["stringData"]) == NOTIFICATION_ENV["telegram"]
    lark_text = (EXAMPLES / "secrets" / "lark-secret.yaml").read_text()
    lark = yaml.safe_load(lark_text)
    assert set(lark["stringData"]) | set(re.findall(r"^\s*#\s*([A-Z_]+):", lark_text, flags=re.M)) == set(
        NOTIFICATION_ENV["lark"]
    )
    for doc in (telegram, lark):
        assert all(is_placeholder(v) for v in doc["stringData"].values())


def test_every_referenced_secret_has_a_template() -> None:
    templates = {doc["metadata"]["name"] for _, doc in example_docs() if doc["kind"] == "Secret"}
    for path, doc in example_docs():
        if doc["kind"] != "TradingBot":
            continue
        refs = [ref["secretName"] for ref in doc["spec"].get("credentials", {}).values()]
        refs += [n["secretName"] for k, n in doc["spec"].get("notifications", {}).items() if k != "events"]
        for ref in refs:
            assert ref in templates, f"{path.name} references Secret {ref} with no template in examples/secrets/"


# --- the generated reference ----------------------------------------------------------------------------------------


def test_crd_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "crd-reference.md").read_text(encoding="utf-8")
    assert committed == crd_docs.render(), (
        "docs/crd-reference.md is stale: python -m perpdex_dev.crd_docs > docs/crd-reference.md"
    )


def test_crd_reference_module_entry_point(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "perpdex_dev.crd_docs"], capture_output=True, text=True, check=True)
    assert out.stdout == crd_docs.render()
    stale = tmp_path / "ref.md"
    stale.write_text("old\n")
    check = subprocess.run(
        [sys.executable, "-m", "perpdex_dev.crd_docs", "--check", str(stale)],
        check=False,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 1 and "stale" in check.stderr
    stale.write_text(out.stdout)
    again = subprocess.run([sys.executable, "-m", "perpdex_dev.crd_docs", "--check", str(stale)], check=False)
    assert again.returncode == 0


def test_crd_reference_lists_every_field_and_rule() -> None:
    text = crd_docs.render()
    for kind in CRDS:
        for path, schema in all_schemas(root(kind)):
            if path.startswith(("spec", "status")) and path not in ("spec", "status") and not path.endswith(".[]"):
                shown = path.replace(".[]", "[]").replace("credentials.<key>", "credentials.<exchange>")
                shown = re.sub(r"(limits|requests)\.<key>", r"\1.<resource>", shown)
                assert f"`{shown}`" in text, shown
            for rule in schema.get("x-kubernetes-validations", []):
                assert " ".join(rule["message"].split()).replace("|", "\\|") in text
    assert '`"450s"`' in text and "| `spec.grid.quantity` | string | yes |" in text
