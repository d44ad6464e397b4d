from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from bot_runtime.config import (
    BotConfig,
    ConfigError,
    OnBreach,
    OnStop,
    StrategyKind,
    dump_config,
    format_duration,
    load_config,
    parse_config,
    parse_duration,
)
from bot_runtime.exchanges.base import Side

MANIFEST = """
apiVersion: perpdex.io/v1alpha1
kind: TradingBot
metadata: {name: btc-grid, namespace: trading}
spec:
  strategy: grid
  exchange: lighter
  ticker: btc
  credentials:
    lighter: {secretName: lighter-main}
  grid:
    quantity: "0.01"
    takeProfit: 0.02
    direction: sell
    maxOrders: 40
    waitTime: 7m30s
    gridStep: "-100"
    stopPrice: null
    pausePrice: "65000"
    boostMode: false
  risk:
    maxPositionUsd: "5000"
    maxOpenOrders: 50
    maxDailyLossUsd: "200"
    maxDrawdownPct: "10"
    minMarginRatio: "0.1"
    onBreach: closeAll
  notifications:
    telegram: {secretName: tg-bot}
    events: [start, stop, risk]
  paused: false
  onStop: closePositions
status:
  phase: Running
"""


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("450s", 450.0), ("1m30s", 90.0), ("30s", 30.0), ("1h", 3600.0), ("250ms", 0.25), ("2h15m", 8100.0), (45, 45.0)],
)
def test_durations_parse(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(parse_duration(text))) == seconds


@pytest.mark.parametrize("bad", ["", "abc", "10x", "1m-3s", "-5s", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_manifest_is_parsed_with_its_metadata_and_camel_case_fields(tmp_path: Path) -> None:
    path = tmp_path / "bot.yaml"
    path.write_text(MANIFEST)
    config = load_config(path)
    assert config.name == "btc-grid"
    assert config.namespace == "trading"
    assert config.strategy is StrategyKind.GRID
    assert config.ticker == "BTC"
    assert config.grid is not None
    assert config.grid.quantity == Decimal("0.01")
    assert config.grid.take_profit == Decimal("0.02")  # a YAML float kept exact
    assert config.grid.direction is Side.SELL
    assert config.grid.wait_time == 450.0
    assert config.grid.pause_price == Decimal(65000)
    assert config.grid.stop_price is None
    assert not config.grid.grid_step_enabled
    assert config.risk.on_breach is OnBreach.CLOSE_ALL
    assert config.risk.max_open_orders == 50
    assert config.on_stop is OnStop.CLOSE_POSITIONS
    assert config.notifications.telegram is not None
    assert config.notifications.telegram.secret_name == "tg-bot"


def test_bare_spec_and_json_and_snake_case_names_are_accepted(tmp_path: Path) -> None:
    spec = yaml.safe_load(MANIFEST)["spec"]
    spec["grid"]["take_profit"] = spec["grid"].pop("takeProfit")
    path = tmp_path / "bot.json"
    path.write_text(json.dumps(spec))
    config = load_config(path)
    assert config.name == "bot"
    assert config.grid is not None
    assert config.grid.take_profit == Decimal("0.02")


def test_defaults_follow_the_spec() -> None:
    config = parse_config({"strategy": "grid", "exchange": "paper", "ticker": "ETH", "grid": {"quantity": "0.1"}})
    grid = config.grid
    assert grid is not None
    assert (grid.take_profit, grid.direction, grid.max_orders, grid.wait_time) == (Decimal("0.02"), Side.BUY, 40, 450)
    assert grid.grid_step == Decimal(-100)
    assert (grid.stop_price, grid.pause_price, grid.boost_mode) == (None, None, False)
    assert config.on_stop is OnStop.CANCEL_ENTRIES
    assert config.risk.on_breach is OnBreach.PAUSE
    assert config.paper.start_price == Decimal(60000)
    assert config.paper.volatility == Decimal("0.6")
    assert config.paper.seed == 42
    assert config.paper.starting_balance_usd == Decimal(10000)
    assert config.notifications.events == ["start", "stop", "fill", "risk", "error", "daily"]


def test_original_minus_one_means_off() -> None:
    config = parse_config(
        {
            "strategy": "grid",
            "exchange": "paper",
            "ticker": "BTC",
            "grid": {"quantity": 1, "stopPrice": -1, "pausePrice": "-1"},
        }
    )
    assert config.grid is not None
    assert config.grid.stop_price is None and config.grid.pause_price is None


def test_round_trip_through_the_rendered_mapping() -> None:
    config = load_config_from_text(MANIFEST)
    rendered = dump_config(config)
    assert rendered["grid"]["waitTime"] == "450s"
    assert rendered["grid"]["quantity"] == "0.01"
    assert rendered["onStop"] == "closePositions"
    assert parse_config(json.loads(json.dumps(rendered))) == config


def load_config_from_text(text: str) -> BotConfig:
    return parse_config(yaml.safe_load(text))


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"grid": {"quantity": "0"}}, "spec.grid.quantity"),
        ({"grid": {"quantity": "-1"}}, "spec.grid.quantity"),
        ({"grid": {"quantity": "1", "takeProfit": "abc"}}, "spec.grid.takeProfit"),
        ({"grid": {"quantity": "1", "waitTime": "soon"}}, "spec.grid.waitTime"),
        ({"grid": {"quantity": "1", "maxOrders": 0}}, "spec.grid.maxOrders"),
        ({"grid": {"quantity": "1", "gridStep": "-101"}}, "spec.grid.gridStep"),
        ({"grid": {"quantity": "1", "direction": "up"}}, "spec.grid.direction"),
        ({"grid": {"quantity": "1", "bogus": 1}}, "spec.grid.bogus"),
        ({"grid": None}, "spec.grid"),
        ({"ticker": None}, "spec.ticker"),
        ({"exchange": "binance"}, "spec.exchange"),
        ({"credentials": {}}, "spec.credentials"),
        ({"onStop": "explode"}, "spec.onStop"),
        ({"risk": {"maxPositionUsd": "-5"}}, "spec.risk.maxPositionUsd"),
        ({"risk": {"onBreach": "panic"}}, "spec.risk.onBreach"),
        ({"notifications": {"events": ["fill", "party"]}}, "spec.notifications.events"),
    ],
)
def test_invalid_grid_specs_name_the_field(patch: dict[str, object], field: str) -> None:
    spec: dict[str, object] = {
        "strategy": "grid",
        "exchange": "lighter",
        "ticker": "BTC",
        "credentials": {"lighter": {"secretName": "s"}},
        "grid": {"quantity": "1"},
    }
    spec.update(patch)
    with pytest.raises(ConfigError) as err:
        parse_config(spec)
    assert field in str(err.value)


@pytest.mark.parametrize(
    ("arb", "field", "words"),
    [
        ({"exchanges": ["paper-a"]}, "spec.fundingArb.exchanges", "at least 2"),
        ({"exchanges": ["paper-a", "paper-a"]}, "spec.fundingArb.exchanges", "unique"),
        ({"exchanges": ["paper-a", "paper-b"], "exitNetApr": "0.2"}, "spec.fundingArb", "exitNetApr"),
        ({"exchanges": ["paper-a", "paper-b"], "requiredExchange": "lighter"}, "spec.fundingArb", "requiredExchange"),
        ({"exchanges": ["paper-a", "paper-b"], "minHoldHours": 200}, "spec.fundingArb", "minHoldHours"),
        ({"exchanges": ["paper-a", "paper-b"], "positionSizeUsd": "0"}, "spec.fundingArb.positionSizeUsd", "> 0"),
        ({"exchanges": ["paper-a", "lighter"]}, "spec.credentials", "lighter"),
    ],
)
def test_invalid_funding_arb_specs_name_the_field(arb: dict[str, object], field: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"strategy": "fundingArb", "fundingArb": arb})
    assert field in str(err.value)
    assert words in str(err.value)


def test_funding_arb_defaults_and_durations() -> None:
    config = parse_config(
        {"strategy": "fundingArb", "fundingArb": {"exchanges": ["paper-a", "paper-b"], "singleLegTimeout": "1m"}}
    )
    arb = config.funding_arb
    assert arb is not None
    assert arb.single_leg_timeout == 60.0
    assert (arb.min_net_apr, arb.exit_net_apr, arb.hold_hours) == (Decimal("0.15"), Decimal("0.03"), Decimal(72))
    assert arb.max_entry_price_divergence_pct == Decimal("0.5")
    assert config.exchanges_used == ["paper-a", "paper-b"]


def test_credentials_rule_can_be_skipped_for_local_runs() -> None:
    spec = {"strategy": "grid", "exchange": "lighter", "ticker": "BTC", "grid": {"quantity": "1"}}
    with pytest.raises(ConfigError):
        parse_config(spec)
    assert parse_config(spec, require_credentials=False).exchange == "lighter"


def test_venue_options_for_paper_and_named_twins() -> None:
    config = parse_config(
        {
            "strategy": "fundingArb",
            "fundingArb": {"exchanges": ["paper-a", "paper-b"]},
            "paper": {"seed": 7, "startPrice": "3000"},
            "exchangeOptions": {"paper-b": {"fundingRateHourly": "0.0001"}, "lighter": {"baseUrl": "http://x"}},
        }
    )
    a, b = config.venue_options("paper-a"), config.venue_options("paper-b")
    assert a["seed"] == b["seed"] == 7
    assert "fundingRateHourly" not in a  # derived per venue
    assert b["fundingRateHourly"] == "0.0001"
    assert config.venue_options("lighter") == {"baseUrl": "http://x"}


def test_load_config_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(empty)
    broken = tmp_path / "broken.yaml"
    broken.write_text("strategy: [grid")
    with pytest.raises(ConfigError, match="not valid"):
        load_config(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("kind: FundingCollector\nspec: {}\n")
    with pytest.raises(ConfigError, match="kind"):
        load_config(wrong)
