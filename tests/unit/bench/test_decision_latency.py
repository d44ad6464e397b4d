"""``bench.decision_latency``'s plumbing: argument parsing, the decision it times, the replay venues' tick frames and
the table. No timing is asserted."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bench import decision_latency as dl
from bot_runtime.exchanges.base import Market, Quote, Side, TimeInForce


def test_defaults_quick_and_explicit() -> None:
    p = dl.build_parser()
    args = dl.resolve(p.parse_args([]))
    assert (args.ticks, args.warmup, args.venues) == (
        200,
        20,
        ["paper", "aster", "paradex", "hyperliquid", "extended", "nado"],
    )
    quick = dl.resolve(p.parse_args(["--quick"]))
    assert (quick.ticks, quick.warmup) == (50, 5)
    explicit = dl.resolve(p.parse_args(["--ticks", "7", "--warmup", "0", "--venues", "paradex, paper"]))
    assert (explicit.ticks, explicit.warmup, explicit.venues) == (7, 0, ["paradex", "paper"])


@pytest.mark.parametrize("venues", ["binance", "paper,nope", ""])
def test_unknown_venues_are_refused(venues: str) -> None:
    with pytest.raises(SystemExit):
        dl.build_parser().parse_args(["--venues", venues])


def test_zero_ticks_are_refused() -> None:
    with pytest.raises(SystemExit):
        dl.resolve(dl.build_parser().parse_args(["--ticks", "0"]))


def test_every_replay_venue_is_known_and_has_a_tick_frame_in_its_wire_format() -> None:
    assert set(dl.REPLAY_VENUES) | {"paper"} == set(dl.VENUES)
    aster = dl.aster_venue()
    first, second = aster.tick(0), aster.tick(1)
    assert first["e"] == "bookTicker" and second["u"] == first["u"] + 1 and second["b"] == first["b"]
    paradex = dl.paradex_venue()
    frame = paradex.tick(3)
    assert frame["method"] == "subscription" and frame["params"]["channel"] == "bbo.BTC-USD-PERP"
    json.dumps(frame)  # what the replay server sends


def test_the_decision_is_a_post_only_buy_below_the_bid_at_the_minimum_size() -> None:
    market = Market(
        symbol="BTC",
        venue_symbol="BTC-USD-PERP",
        contract_id="BTC-USD-PERP",
        tick_size=Decimal("0.1"),
        size_step=Decimal("0.001"),
        min_size=Decimal("0.001"),
    )
    quote = Quote(symbol="BTC", bid=Decimal("100.0"), ask=Decimal("100.1"), timestamp=datetime.now(UTC))
    request = dl.decision_request(quote, market, 4)
    assert (request.side, request.time_in_force, request.size, request.price, request.client_order_id) == (
        Side.BUY,
        TimeInForce.POST_ONLY,
        Decimal("0.001"),
        Decimal("99.0"),
        "bench-4",
    )


def test_table_has_p50_and_p99_per_venue_against_the_baseline() -> None:
    args = argparse.Namespace(ticks=4, warmup=1, quick=True)
    results = [
        dl.Latencies("paper", [0.001, 0.002, 0.003, 0.004], [0.0005, 0.0005, 0.0005, 0.0005], "step 5 ms"),
        dl.Latencies("aster", [0.010] * 4, [0.005] * 4),
    ]
    table = dl.table(results, args)
    assert [r.label for r in table.rows] == ["paper: p50", "paper: p99", "aster: p50", "aster: p99"]
    paper_p50 = table.rows[0]
    assert paper_p50.unit == "ms" and math.isclose(paper_p50.value, 2.5) and math.isclose(paper_p50.baseline or 0, 0.5)
    assert paper_p50.note == "step 5 ms" and table.rows[1].note == ""
    assert math.isclose(table.rows[2].ratio or 0, 2.0)
    assert "--quick" in table.command and "4 ticks" in table.title
    assert "| aster: p99 |" in table.to_markdown()


def test_arrivals_record_each_order_request_and_answer_the_venue_reply() -> None:
    async def scenario() -> tuple[object, float]:
        arrivals = dl.Arrivals()
        reply = arrivals.responder({"ok": True})(object())
        return reply, await arrivals.next()

    reply, arrived = asyncio.run(scenario())
    assert reply == {"ok": True} and arrived > 0
