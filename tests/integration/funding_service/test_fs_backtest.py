"""The backtest on the real PostgreSQL-backed service: the hand-made history of
``tests/unit/funding_service/test_fs_backtest_replay.py`` stored through the ingest API, replayed by ``POST
/api/v1/backtest/funding-arb`` and by ``perpdex backtest funding-arb`` (same figures as worked out by hand there)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
import yaml

from funding_service.api.routes import backtest as backtest_route
from funding_service.backtest import cli
from tests.integration.funding_service.fs_helpers import Service, batch, rate
from tests.unit.funding_service.test_fs_backtest_replay import HOUR, PERIODS, START

pytestmark = pytest.mark.integration

API = "/api/v1"
BOT: dict[str, Any] = {
    "apiVersion": "perpdex.io/v1alpha1",
    "kind": "TradingBot",
    "metadata": {"name": "eth-backtest"},
    "spec": {
        "strategy": "fundingArb",
        "exchange": "multi",
        "ticker": "ETH",
        "fundingArb": {
            "exchanges": ["lighter", "backpack"],
            "symbols": ["ETH"],
            "positionSizeUsd": "1000",
            "maxPositions": 1,
            "minNetApr": "0.15",
            "exitNetApr": "0.03",
            "holdHours": 72,
            "erosionExitRatio": "0.5",
        },
    },
}


@pytest.fixture(scope="module")
async def stored(service: Service) -> AsyncIterator[None]:
    await service.reset()
    conn_rows = await service.fetch(
        "SELECT name, maker_fee, taker_fee FROM dexes WHERE name IN ('lighter', 'backpack')"
    )
    fees = {r["name"]: (r["maker_fee"], r["taker_fee"]) for r in conn_rows}
    assert fees == {"lighter": (D(0), D(0)), "backpack": (D("0.0002"), D("0.0005"))}  # the seeded fees used by hand
    for hours, lighter_rate, lighter_mark, backpack_rate, backpack_mark in PERIODS:
        settles = START + hours * HOUR
        at = settles - timedelta(minutes=1)
        rows = [
            rate("lighter", "ETH", lighter_rate, "1", at, mark_price=lighter_mark, next_funding_time=settles),
            rate(
                "backpack",
                "ETH",
                backpack_rate,
                "1",
                at,
                venue_symbol="ETH_USDC_PERP",
                mark_price=backpack_mark,
                next_funding_time=settles,
            ),
        ]
        r = await service.ingest(batch(f"bt-{hours}", rows, at))
        assert r.status_code == 200, r.text
    yield None


def _check(body: dict[str, Any]) -> None:
    [pair] = body["pairs"]
    assert (pair["symbol"], pair["long_dex"], pair["short_dex"], pair["exit_reason"]) == (
        "ETH",
        "lighter",
        "backpack",
        "netApr",  # the held pair values only its exit fees; erosion waits while it is the symbol's best (issue 22)
    )
    assert (pair["funding_usd"], pair["fees_usd"], pair["price_pnl_usd"], pair["net_pnl_usd"]) == (
        "0.16",
        "1.003",
        "-1",
        "-1.843",
    )
    totals = body["totals"]
    assert (totals["net_pnl_usd"], totals["turnover_usd"], totals["max_concurrent_pairs"]) == ("-1.843", "4011", 1)
    assert totals["history_rows"] == 8
    assert [p["pnl_usd"] for p in body["curve"]] == ["-0.5", "-0.41", "-1.843", "-1.843"]


async def test_post_backtest(service: Service, stored: None) -> None:
    request = {"bot": BOT, "from": START.isoformat(), "to": (START + 3 * HOUR).isoformat()}
    r = await service.http.post(API + "/backtest/funding-arb", json=request)
    assert r.status_code == 200, r.text
    _check(r.json())


async def test_post_backtest_refuses_a_grid_bot_and_a_reversed_range(service: Service, stored: None) -> None:
    grid = {"strategy": "grid", "exchange": "paper", "ticker": "ETH", "grid": {"quantity": "0.1"}}
    r = await service.http.post(
        API + "/backtest/funding-arb", json={"bot": grid, "from": START.isoformat(), "to": START.isoformat()}
    )
    assert r.status_code == 422 and r.json()["parameter"] == "bot", r.text
    request = {"bot": BOT, "from": (START + HOUR).isoformat(), "to": START.isoformat()}
    r = await service.http.post(API + "/backtest/funding-arb", json=request)
    assert r.status_code == 422 and r.json()["parameter"] == "to", r.text


async def test_cli(service: Service, stored: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bot_file = tmp_path / "bot.yaml"
    bot_file.write_text(yaml.safe_dump(BOT), encoding="utf-8")
    chart, out = tmp_path / "pnl.svg", tmp_path / "result.json"
    monkeypatch.setenv("PERPDEX_FS_DATABASE_URL", service.dsn)
    # the CLI runs its own event loop: in a thread, off this one
    args = ["funding-arb", "-f", str(bot_file), "--from", "2026-03-02", "--to", "2026-03-02T03:00:00"]
    code = await asyncio.to_thread(cli.main, [*args, "--chart", str(chart), "--json", str(out)])
    assert code == 0
    _check(json.loads(out.read_text(encoding="utf-8")))
    svg = chart.read_text(encoding="utf-8")
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"') and "<polyline" in svg
    assert "ETH lighter/backpack: netApr, net -1.84 USD" in svg


async def test_one_backtest_at_a_time(service: Service, stored: None) -> None:
    request = {"bot": BOT, "from": START.isoformat(), "to": (START + 3 * HOUR).isoformat()}
    with backtest_route._RUNNING:  # a backtest running in this process
        r = await service.http.post(API + "/backtest/funding-arb", json=request)
    assert r.status_code == 429 and r.headers["Retry-After"] == "10", r.text
    assert r.json()["error"] == "busy"
    assert (await service.http.post(API + "/backtest/funding-arb", json=request)).status_code == 200
