"""``bench.bot_footprint``'s live-venue bot against a replay server: its options and the bot config it writes. No
timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bot_footprint
from bot_runtime.config import load_config


def test_replay_venues_default_explicit_and_none() -> None:
    p = bot_footprint.build_parser()
    # every live venue's bot runs against its replay by default: no venue is left to an estimate
    assert sorted(p.parse_args([]).replay_venues) == [
        "apex",
        "aster",
        "backpack",
        "edgex",
        "ethereal",
        "extended",
        "grvt",
        "hyperliquid",
        "lighter",
        "nado",
        "paradex",
    ]
    assert p.parse_args(["--replay-venues", ""]).replay_venues == []
    assert p.parse_args(["--replay-venues", "paradex,lighter"]).replay_venues == ["paradex", "lighter"]
    with pytest.raises(SystemExit):
        p.parse_args(["--replay-venues", "paradex,ftx"])
    assert bot_footprint.resolve(p.parse_args([])).replay_repeat == 3
    assert bot_footprint.resolve(p.parse_args(["--quick"])).replay_repeat == 1
    assert bot_footprint.resolve(p.parse_args(["--replay-repeat", "5"])).replay_repeat == 5


def test_replay_bot_config_is_a_valid_bot_on_the_venue_pointing_at_the_replay(tmp_path: Path) -> None:
    options = {"baseUrl": "http://127.0.0.1:9/v1", "wsUrl": "ws://127.0.0.1:9/v1/ws"}
    path = tmp_path / "bot.yaml"
    path.write_text(json.dumps(bot_footprint.replay_bot_config("paradex", options)))
    config = load_config(path, require_credentials=False)
    assert config.venue_options("paradex")["baseUrl"] == "http://127.0.0.1:9/v1"
    assert bot_footprint.REPLAY_BOTS["paradex"]().env["PARADEX_ENVIRONMENT"] == "testnet"
