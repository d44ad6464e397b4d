"""Paper bots and collectors get the paper exchange's URL in their pod (spec.paperExchange.url, else the operator's
--paper-exchange-url); live-only resources and operators without a paper exchange render nothing."""

from __future__ import annotations

from typing import Any

import yaml

from perpdex_operator.builders import Children
from perpdex_operator.builders.fundingcollector import build_collector_children
from perpdex_operator.builders.tradingbot import build_tradingbot_children
from perpdex_operator.settings import OperatorSettings

SETTINGS = OperatorSettings(namespaces=["trading"], paper_exchange_url="http://perpdex-paper-exchange.perpdex.svc:8100")
BARE = OperatorSettings(namespaces=["trading"])
META = {"name": "b", "namespace": "trading", "uid": "u-1", "generation": 1}


def bot(**spec: Any) -> dict[str, Any]:
    body = {
        "strategy": "grid",
        "exchange": "paper",
        "ticker": "BTC",
        "grid": {"quantity": "0.01", "takeProfit": "0.02"},
    }
    body.update(spec)
    return {"apiVersion": "perpdex.io/v1alpha1", "kind": "TradingBot", "metadata": META, "spec": body}


def collector(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"exchanges": ["paper-a", "paper-b"], "interval": "60s"}
    body.update(spec)
    return {"apiVersion": "perpdex.io/v1alpha1", "kind": "FundingCollector", "metadata": META, "spec": body}


def pod_env(children: Children) -> dict[str, Any]:
    [container] = children.workload["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value") for e in container["env"]}


def config(children: Children) -> dict[str, Any]:
    cm = children.by_kind("ConfigMap")
    loaded: dict[str, Any] = yaml.safe_load(next(iter(cm["data"].values())))
    return loaded


def test_a_paper_grid_bot_gets_the_operators_paper_exchange() -> None:
    children = build_tradingbot_children(bot(), SETTINGS)
    assert pod_env(children)["PERPDEX_PAPER_EXCHANGE_URL"] == "http://perpdex-paper-exchange.perpdex.svc:8100"


def test_the_spec_field_wins_and_stays_out_of_the_bot_config() -> None:
    children = build_tradingbot_children(bot(paperExchange={"url": "http://px.other:8100"}), SETTINGS)
    assert pod_env(children)["PERPDEX_PAPER_EXCHANGE_URL"] == "http://px.other:8100"
    assert "paperExchange" not in config(children)
    assert (
        pod_env(build_tradingbot_children(bot(paperExchange={"url": "http://px.other:8100"}), BARE))[
            "PERPDEX_PAPER_EXCHANGE_URL"
        ]
        == "http://px.other:8100"
    )


def test_a_funding_arb_bot_on_paper_venues_and_a_paper_collector_get_it_too() -> None:
    farb = bot(
        strategy="fundingArb", exchange=None, ticker=None, grid=None, fundingArb={"exchanges": ["paper-a", "paper-b"]}
    )
    farb["spec"] = {k: v for k, v in farb["spec"].items() if v is not None}
    assert "PERPDEX_PAPER_EXCHANGE_URL" in pod_env(build_tradingbot_children(farb, SETTINGS))
    env = pod_env(build_collector_children(collector(), SETTINGS))
    assert env["PERPDEX_PAPER_EXCHANGE_URL"] == "http://perpdex-paper-exchange.perpdex.svc:8100"
    assert "paperExchange" not in config(
        build_collector_children(collector(paperExchange={"url": "http://x:1"}), SETTINGS)
    )


def test_nothing_is_rendered_without_a_paper_venue_or_without_a_url() -> None:
    live = bot(exchange="lighter", credentials={"lighter": {"secretName": "l"}})
    assert "PERPDEX_PAPER_EXCHANGE_URL" not in pod_env(build_tradingbot_children(live, SETTINGS))
    assert "PERPDEX_PAPER_EXCHANGE_URL" not in pod_env(build_tradingbot_children(bot(), BARE))
    assert "PERPDEX_PAPER_EXCHANGE_URL" not in pod_env(
        build_collector_children(collector(exchanges=["lighter"]), SETTINGS)
    )
