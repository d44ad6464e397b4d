"""Invalid TradingBot / FundingCollector manifests are rejected by the REAL API server (schema + CEL rules), each with a
message naming the offending field; and the defaults the schema declares are filled in by the server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.crds.crd_manifests import as_json, collector, deep, funding_arb_bot, grid_bot

pytestmark = pytest.mark.integration

Manifest = dict[str, Any]
_DELETE = object()


def edit(base: Callable[[], Manifest], **changes: Any) -> Callable[[], Manifest]:
    """A manifest factory: ``base()`` with dotted paths set (``spec__grid__quantity="-1"``) or deleted (``_DELETE``)."""

    def build() -> Manifest:
        doc = deep(base())
        for dotted, value in changes.items():
            *parents, leaf = dotted.split("__")
            node = doc
            for key in parents:
                node = node.setdefault(key, {})
            if value is _DELETE:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        return doc

    return build


def paper_grid() -> Manifest:
    doc = grid_bot()
    doc["spec"]["exchange"] = "paper"
    del doc["spec"]["credentials"]
    return doc


# (case id, manifest, the field path the error must name, a word of the message)
INVALID: list[tuple[str, Callable[[], Manifest], str, str]] = [
    ("wrong-strategy-enum", edit(grid_bot, spec__strategy="scalping"), "spec.strategy", "Unsupported value"),
    ("wrong-direction-enum", edit(grid_bot, spec__grid__direction="long"), "spec.grid.direction", "Unsupported value"),
    ("wrong-onStop-enum", edit(grid_bot, spec__onStop="panic"), "spec.onStop", "Unsupported value"),
    ("wrong-onBreach-enum", edit(grid_bot, spec__risk={"onBreach": "ignore"}), "spec.risk.onBreach", "Unsupported"),
    ("negative-quantity", edit(grid_bot, spec__grid__quantity="-0.01"), "spec.grid.quantity", "should match"),
    ("zero-quantity", edit(grid_bot, spec__grid__quantity="0"), "spec.grid.quantity", "should match"),
    ("float-quantity", edit(grid_bot, spec__grid__quantity=0.01), "spec.grid.quantity", "string"),
    ("missing-quantity", edit(grid_bot, spec__grid={"takeProfit": "0.02"}), "spec.grid.quantity", "Required"),
    ("missing-grid-block", edit(grid_bot, spec__grid=_DELETE), "spec.grid", "required when spec.strategy is grid"),
    ("grid-without-ticker", edit(grid_bot, spec__ticker=_DELETE), "spec.ticker", "required"),
    ("grid-without-exchange", edit(paper_grid, spec__exchange=_DELETE), "spec.exchange", "required"),
    ("lowercase-ticker", edit(grid_bot, spec__ticker="btc"), "spec.ticker", "should match"),
    ("venue-symbol-as-ticker", edit(grid_bot, spec__ticker="BTC-USD-PERP"), "spec.ticker", "should match"),
    ("unknown-exchange", edit(grid_bot, spec__exchange="binance"), "spec.exchange", "should match"),
    ("missing-credentials-live-grid", edit(grid_bot, spec__credentials=_DELETE), "spec.credentials", "lighter"),
    (
        "credentials-for-another-exchange",
        edit(grid_bot, spec__credentials={"grvt": {"secretName": "grvt-credentials"}}),
        "spec.credentials",
        "lighter",
    ),
    (
        "credentials-key-not-an-exchange",
        edit(grid_bot, spec__credentials={"lighter": {"secretName": "x"}, "paper": {"secretName": "y"}}),
        "spec.credentials",
        "live exchange names",
    ),
    (
        "credentials-without-secretName",
        edit(grid_bot, spec__credentials={"lighter": {}}),
        "spec.credentials.lighter.secretName",
        "Required",
    ),
    ("fundingArb-without-block", edit(funding_arb_bot, spec__fundingArb=_DELETE), "spec.fundingArb", "required"),
    (
        "fundingArb-one-exchange",
        edit(funding_arb_bot, spec__fundingArb={"exchanges": ["lighter"]}),
        "spec.fundingArb.exchanges",
        "at least 2",
    ),
    (
        "fundingArb-duplicate-exchanges",
        edit(funding_arb_bot, spec__fundingArb={"exchanges": ["lighter", "grvt", "lighter"]}),
        "spec.fundingArb.exchanges[2]",
        "Duplicate value",
    ),
    (
        "fundingArb-unknown-exchange",
        edit(funding_arb_bot, spec__fundingArb={"exchanges": ["lighter", "dydx"]}),
        "spec.fundingArb.exchanges[1]",
        "should match",
    ),
    (
        "exitNetApr-above-minNetApr",
        edit(funding_arb_bot, spec__fundingArb__minNetApr="0.10", spec__fundingArb__exitNetApr="0.2"),
        "spec.fundingArb.exitNetApr",
        "lower than spec.fundingArb.minNetApr",
    ),
    (
        "exitNetApr-equal-minNetApr",
        edit(funding_arb_bot, spec__fundingArb__minNetApr="0.15", spec__fundingArb__exitNetApr="0.150"),
        "spec.fundingArb.exitNetApr",
        "lower than",
    ),
    (
        "exitNetApr-above-default-minNetApr",
        edit(funding_arb_bot, spec__fundingArb__exitNetApr="0.5"),
        "spec.fundingArb.exitNetApr",
        "lower than",
    ),
    (
        "minHoldHours-above-maxHoldHours",
        edit(funding_arb_bot, spec__fundingArb__minHoldHours=200, spec__fundingArb__maxHoldHours=100),
        "spec.fundingArb.minHoldHours",
        "must not exceed",
    ),
    (
        "fundingArb-missing-credentials",
        edit(funding_arb_bot, spec__credentials={"lighter": {"secretName": "a"}, "grvt": {"secretName": "b"}}),
        "spec.credentials",
        "every live exchange",
    ),
    (
        "fundingArb-margin-sizing-without-margin",
        edit(funding_arb_bot, spec__fundingArb__sizing={"mode": "margin", "leverage": "3"}),
        "spec.fundingArb.sizing.marginUsd",
        "needs spec.fundingArb.sizing.marginUsd",
    ),
    (
        "fundingArb-loneLeg-unknown",
        edit(funding_arb_bot, spec__fundingArb__loneLeg="hope"),
        "spec.fundingArb.loneLeg",
        "Unsupported value",
    ),
    (
        "requiredExchange-not-in-exchanges",
        edit(funding_arb_bot, spec__fundingArb__requiredExchange="paradex"),
        "spec.fundingArb.requiredExchange",
        "must be one of",
    ),
    (
        "fundingArb-mixes-paper-and-live",
        edit(funding_arb_bot, spec__fundingArb={"exchanges": ["lighter", "paper-a"]}),
        "spec.fundingArb.exchanges",
        "all paper venues",
    ),
    ("bad-duration-waitTime", edit(grid_bot, spec__grid__waitTime="450"), "spec.grid.waitTime", "should match"),
    (
        "bad-duration-singleLegTimeout",
        edit(funding_arb_bot, spec__fundingArb__singleLegTimeout="30 seconds"),
        "spec.fundingArb.singleLegTimeout",
        "should match",
    ),
    ("bad-decimal-takeProfit", edit(grid_bot, spec__grid__takeProfit="0.02%"), "spec.grid.takeProfit", "should match"),
    (
        "bad-decimal-exponent",
        edit(funding_arb_bot, spec__fundingArb__positionSizeUsd="1e3"),
        "spec.fundingArb.positionSizeUsd",
        "should match",
    ),
    ("bad-decimal-gridStep", edit(grid_bot, spec__grid__gridStep="--1"), "spec.grid.gridStep", "should match"),
    ("gridStep-below-minus-100", edit(grid_bot, spec__grid__gridStep="-150"), "spec.grid.gridStep", ">= -100"),
    ("takeProfit-negative", edit(grid_bot, spec__grid__takeProfit="-0.02"), "spec.grid.takeProfit", "should match"),
    (
        "singleLegTimeout-zero",
        edit(funding_arb_bot, spec__fundingArb__singleLegTimeout="0ms"),
        "spec.fundingArb.singleLegTimeout",
        "longer than 0s",
    ),
    ("grid-exchange-multi", edit(grid_bot, spec__exchange="multi"), "spec.exchange", "must name the venue"),
    ("fundingArb-exchange-venue", edit(funding_arb_bot, spec__exchange="lighter"), "spec.exchange", "label 'multi'"),
    (
        "negative-exitNetApr",
        edit(funding_arb_bot, spec__fundingArb__exitNetApr="-0.01"),
        "spec.fundingArb.exitNetApr",
        "should match",
    ),
    (
        "zero-erosionExitRatio",
        edit(funding_arb_bot, spec__fundingArb__erosionExitRatio="0"),
        "spec.fundingArb.erosionExitRatio",
        "should match",
    ),
    ("zero-minMarginRatio", edit(grid_bot, spec__risk={"minMarginRatio": "0"}), "spec.risk.minMarginRatio", "match"),
    ("maxOrders-zero", edit(grid_bot, spec__grid__maxOrders=0), "spec.grid.maxOrders", "greater than or equal to 1"),
    ("maxOrders-too-many", edit(grid_bot, spec__grid__maxOrders=5000), "spec.grid.maxOrders", "less than or equal"),
    ("negative-stopPrice", edit(grid_bot, spec__grid__stopPrice="-1"), "spec.grid.stopPrice", "should match"),
    ("zero-pausePrice", edit(grid_bot, spec__grid__pausePrice="0"), "spec.grid.pausePrice", "should match"),
    (
        "buy-pausePrice-above-stopPrice",
        edit(grid_bot, spec__grid__stopPrice="70000", spec__grid__pausePrice="75000"),
        "spec.grid.pausePrice",
        "below spec.grid.stopPrice for a buy grid",
    ),
    (
        "sell-pausePrice-below-stopPrice",
        edit(grid_bot, spec__grid__direction="sell", spec__grid__stopPrice="50000", spec__grid__pausePrice="45000"),
        "spec.grid.pausePrice",
        "above spec.grid.stopPrice for a sell grid",
    ),
    (
        "erosionExitRatio-above-one",
        edit(funding_arb_bot, spec__fundingArb__erosionExitRatio="1.5"),
        "spec.fundingArb.erosionExitRatio",
        "should match",
    ),
    (
        "maxDrawdownPct-over-100",
        edit(grid_bot, spec__risk={"maxDrawdownPct": "150"}),
        "spec.risk.maxDrawdownPct",
        "match",
    ),
    (
        "unknown-notification-event",
        edit(grid_bot, spec__notifications={"events": ["start", "trade"]}),
        "spec.notifications.events[1]",
        "Unsupported value",
    ),
    (
        "telegram-without-secretName",
        edit(grid_bot, spec__notifications={"telegram": {}}),
        "spec.notifications.telegram.secretName",
        "Required",
    ),
    ("paused-not-boolean", edit(grid_bot, spec__paused="yes"), "spec.paused", "boolean"),
    ("negative-paper-seed", edit(paper_grid, spec__paper={"seed": -1}), "spec.paper.seed", "greater than or equal"),
    (
        "bad-resource-quantity",
        edit(grid_bot, spec__resources={"limits": {"cpu": "lots"}}),
        "spec.resources.limits.cpu",
        "should match",
    ),
    ("typo-unknown-field", edit(grid_bot, spec__gird={"quantity": "1"}), "spec.gird", "unknown field"),
    ("missing-strategy", edit(grid_bot, spec__strategy=_DELETE), "spec.strategy", "Required"),
    (
        "name-too-long-for-children",
        edit(grid_bot, metadata__name="a" * 60),
        "metadata.name",
        "at most 52 characters",
    ),
    ("collector-no-exchanges", edit(collector, spec__exchanges=[]), "spec.exchanges", "at least 1"),
    ("collector-unknown-exchange", edit(collector, spec__exchanges=["lighter", "ftx"]), "spec.exchanges[1]", "match"),
    (
        "collector-duplicate-exchanges",
        edit(collector, spec__exchanges=["grvt", "grvt"]),
        "spec.exchanges[1]",
        "Duplicate value",
    ),
    ("collector-bad-interval", edit(collector, spec__interval="1 minute"), "spec.interval", "should match"),
    ("collector-interval-too-short", edit(collector, spec__interval="500ms"), "spec.interval", "at least 1s"),
    (
        "collector-timeout-not-below-interval",
        edit(collector, spec__interval="30s", spec__timeout="1m"),
        "spec.timeout",
        "shorter than spec.interval",
    ),
    ("collector-lowercase-symbol", edit(collector, spec__symbols=["btc"]), "spec.symbols[0]", "should match"),
    ("collector-buffer-too-large", edit(collector, spec__bufferCycles=2881), "spec.bufferCycles", "less than or equal"),
    ("collector-buffer-zero", edit(collector, spec__bufferCycles=0), "spec.bufferCycles", "greater than or equal"),
    (
        "collector-fundingService-not-http",
        edit(collector, spec__fundingService={"url": "ftp://funding"}),
        "spec.fundingService.url",
        "should match",
    ),
    (
        "collector-options-of-an-unknown-exchange",
        edit(collector, spec__exchangeOptions={"ftx": {"baseUrl": "http://x"}}),
        "spec.exchangeOptions",
        "keys must be exchange names",
    ),
    (
        "collector-paradex-environment-unknown",
        edit(collector, spec__exchangeOptions={"paradex": {"environment": "mainnet"}}),
        "spec.exchangeOptions",
        "must be prod, testnet or nightly",
    ),
    (
        "collector-option-value-not-scalar",
        edit(collector, spec__exchangeOptions={"paradex": {"environment": ["prod"]}}),
        "spec.exchangeOptions.paradex.environment",
        "must be of type string",
    ),
]


@pytest.mark.parametrize(("manifest", "field", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_manifest_is_rejected_naming_the_field(
    kube,  # type: ignore[no-untyped-def]
    crd_ns: str,
    manifest: Callable[[], Manifest],
    field: str,
    words: str,
) -> None:
    doc = manifest()
    kind = doc["kind"]
    out = kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc), check=False)
    assert out.returncode != 0, f"the API server accepted an invalid {kind}:\n{out.stdout}"
    assert "AlreadyExists" not in out.stderr
    assert field in out.stderr, f"error does not name {field}:\n{out.stderr}"
    assert words in out.stderr, f"error lacks {words!r}:\n{out.stderr}"
    # nothing was stored
    listed = kube.kubectl("get", kind.lower() + "s", "-n", crd_ns, "-o", "name")
    assert listed.stdout.strip() == ""


def test_at_least_25_invalid_cases() -> None:
    assert len(INVALID) >= 25
    assert len({c[0] for c in INVALID}) == len(INVALID)


def test_the_valid_bases_are_accepted(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    """The invalid cases fail because of their one change, not because the base is broken."""
    for doc in (grid_bot(), funding_arb_bot(), collector(), paper_grid() | {"metadata": {"name": "paper"}}):
        kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc))


def test_boundary_values_are_accepted(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    """The edges of each rule: gridStep -100, exitNetApr 0, a buy grid with pausePrice < stopPrice, named
    paper twins in fundingArb (no credentials), requiredExchange in the list, minHoldHours == maxHoldHours."""
    grid = grid_bot("edges-grid")
    grid["spec"]["grid"] |= {"gridStep": "-100", "stopPrice": "70000", "pausePrice": "69000.5", "waitTime": "1m30s"}
    grid["spec"]["grid"]["maxOrders"] = 1000
    grid["spec"]["risk"] = {"maxDrawdownPct": "100", "minMarginRatio": "0.0001"}
    zero = grid_bot("edges-zero")  # the original accepts a 0 take-profit and a 0 wait time
    zero["spec"]["grid"] |= {"takeProfit": "0", "waitTime": "0s"}
    sell = grid_bot("edges-sell")
    sell["spec"]["grid"] |= {"direction": "sell", "stopPrice": "50000", "pausePrice": "50000.01"}
    farb = funding_arb_bot("edges-farb")
    farb["spec"]["fundingArb"] |= {
        "exitNetApr": "0",
        "minNetApr": "0.0001",
        "minHoldHours": 24,
        "maxHoldHours": 24,
        "requiredExchange": "grvt",
        "erosionExitRatio": "1",
        "singleLegTimeout": "500ms",
        "sizing": {"mode": "margin", "marginUsd": "250", "leverage": "3"},
        "exitMaxDeferral": "0",
        "holdWhileBestMargin": "0",
    }
    paper = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "edges-paper"},
        "spec": {
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingArb": {"exchanges": ["paper-a", "paper-b", "paper"]},
        },
    }
    coll = collector("edges-coll")
    coll["spec"] |= {
        "interval": "1s",
        "timeout": "999ms",
        "exchanges": ["paper-a", "paradex"],
        "symbols": ["1000PEPE"],
        "exchangeOptions": {"paradex": {"environment": "testnet", "requestTimeout": "5"}, "paper-a": {}},
    }
    for doc in (grid, zero, sell, farb, paper, coll):
        kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc))


def _get(kube, ns: str, kind: str, name: str) -> Manifest:  # type: ignore[no-untyped-def]
    import json

    return json.loads(kube.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)  # type: ignore[no-any-return]


def test_server_fills_in_the_defaults(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    minimal = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "minimal"},
        "spec": {"strategy": "grid", "exchange": "paper", "ticker": "ETH", "grid": {"quantity": "0.1"}},
    }
    kube.kubectl("apply", "-n", crd_ns, "-f", "-", input=as_json(minimal))
    spec = _get(kube, crd_ns, "tradingbot", "minimal")["spec"]
    assert spec["grid"] == {
        "quantity": "0.1",
        "takeProfit": "0.02",
        "direction": "buy",
        "maxOrders": 40,
        "waitTime": "450s",
        "gridStep": "-100",
        "boostMode": False,
    }
    assert spec["paused"] is False
    assert spec["onStop"] == "cancelEntries"  # the grid default: take-profits keep resting on a stop
    assert spec["risk"] == {"onBreach": "pause"}
    assert "fundingArb" not in spec and "paper" not in spec and "notifications" not in spec

    farb = {
        "apiVersion": "perpdex.io/v1alpha1",
        "kind": "TradingBot",
        "metadata": {"name": "minimal-farb"},
        "spec": {
            "strategy": "fundingArb",
            "fundingArb": {"exchanges": ["paper-a", "paper-b"]},
            "paper": {},
            "notifications": {"telegram": {"secretName": "tg"}},
        },
    }
    kube.kubectl("apply", "-n", crd_ns, "-f", "-", input=as_json(farb))
    spec = _get(kube, crd_ns, "tradingbot", "minimal-farb")["spec"]
    assert spec["fundingArb"] == {
        "exchanges": ["paper-a", "paper-b"],
        "symbols": [],
        "positionSizeUsd": "1000",
        "maxPositions": 3,
        "minNetApr": "0.15",
        "exitNetApr": "0.03",
        "holdHours": 72,
        "minHoldHours": 0,
        "maxHoldHours": 168,
        "erosionExitRatio": "0.5",
        "maxNewPositionsPerCycle": 2,
        "maxEntryPriceDivergencePct": "0.5",
        "singleLegTimeout": "30s",
        "preFundingWindow": "10m",
        "minLiquidationDistancePct": "10",
        "maxLegImbalancePct": "2",
        # issue 22: exits and the lone leg
        "holdWhileBest": True,
        "holdWhileBestMargin": "0.05",
        "exitOrders": "makerFirst",
        "exitMakerTimeout": "20s",
        "exitMaxSpreadBps": "20",
        "exitMaxDeferral": "10m",
        "loneLeg": "complete",
    }
    # fundingRateHourly has no default: unset, each named paper venue derives its own rate
    assert spec["paper"] == {
        "startPrice": "60000",
        "volatility": "0.6",
        "seed": 42,
        "startingBalanceUsd": "10000",
    }
    assert spec["notifications"]["events"] == ["start", "stop", "fill", "risk", "error", "daily"]

    coll = collector("minimal-coll")
    kube.kubectl("apply", "-n", crd_ns, "-f", "-", input=as_json(coll))
    spec = _get(kube, crd_ns, "fundingcollector", "minimal-coll")["spec"]
    assert spec == {
        "exchanges": ["lighter", "grvt"],
        "interval": "60s",
        "timeout": "20s",
        "bufferCycles": 120,
        "symbols": [],
        "fundingService": {},
        "exchangeOptions": {},
    }


def test_explicit_nulls_are_dropped_not_rejected(kube, crd_ns: str) -> None:  # type: ignore[no-untyped-def]
    """SPEC §3 writes optional fields as `null` (stopPrice: null, requiredExchange: null): the server prunes them."""
    doc = grid_bot("nulls")
    doc["spec"]["grid"] |= {"stopPrice": None, "pausePrice": None}
    doc["spec"]["image"] = None
    kube.kubectl("create", "-n", crd_ns, "-f", "-", input=as_json(doc))
    spec = _get(kube, crd_ns, "tradingbot", "nulls")["spec"]
    assert "stopPrice" not in spec["grid"] and "pausePrice" not in spec["grid"] and "image" not in spec
