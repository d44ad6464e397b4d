"""The paper exchange's matching rules over its REST API, on a real PostgreSQL, a virtual clock and scripted prices.

Venue ``paper``: BTC starts at 60000 (tick 0.1, size step 0.0001, 2-tick spread: touch 59999.9 / 60000.1), 6000 USD
shown at the touch and traded per step (0.1 BTC at 60000), maker 2 bp, taker 5 bp, leverage 10, funding 1 bp/hour.
The scripted BTC mids, one per second: 60000, 60000, 59900, 59900, 60100 (then 60100 on).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot_runtime.paper_exchange.venues import VenueConfig
from tests.integration.paper_exchange.px_helpers import API, D, in_process

pytestmark = pytest.mark.integration

OPTIONS = {
    "volumePerStepUsd": "6000",
    "makerFee": "0.0002",
    "takerFee": "0.0005",
    "leverage": "10",
    "fundingRateHourly": "0.0001",
    "startingBalanceUsd": "10000",
}
VENUES = [VenueConfig(name="paper", options=OPTIONS)]
SCRIPTS = {"paper": {"BTC": ["60000", "60000", "59900", "59900", "60100"]}}


def order(
    side: str, size: str, cid: str, price: str | None = None, tif: str = "gtc", **kw: object
) -> dict[str, object]:
    body: dict[str, object] = {
        "symbol": "BTC",
        "side": side,
        "size": size,
        "time_in_force": tif,
        "client_order_id": cid,
    }
    if price is None:
        body["order_type"] = "market"
    else:
        body["price"] = price
    body.update(kw)
    return body


async def test_post_only_is_rejected_when_it_would_cross_and_rests_otherwise(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "alice")
        crossing = await px.order("paper", "alice", **order("buy", "0.01", "po-1", "60000.1", "post_only"))
        assert crossing.status_code == 409
        assert crossing.json()["kind"] == "post_only_would_cross"
        resting = await px.order("paper", "alice", **order("buy", "0.01", "po-2", "59999.9", "post_only"))
        assert resting.status_code == 201, resting.text
        assert resting.json()["status"] == "open"
        opened = await px.get(px.account_url("paper", "alice") + "/orders")
        assert [o["client_order_id"] for o in opened] == ["po-2"]


async def test_a_resting_order_fills_in_parts_as_the_market_trades_through_it_at_the_maker_fee(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "alice")
        placed = await px.order("paper", "alice", **order("buy", "0.25", "bid-1", "59950"))
        assert placed.status_code == 201
        oid = placed.json()["order_id"]
        await px.clock.advance(1)  # 60000 -> 60000: nothing traded below 59950
        assert (await px.get(px.account_url("paper", "alice") + f"/orders/{oid}"))["filled_size"] == "0"
        await px.clock.advance(1)  # 60000 -> 59900: 6000 USD traded through (0.1001 BTC at 59900)
        first = await px.get(px.account_url("paper", "alice") + f"/orders/{oid}")
        assert (first["status"], D(first["filled_size"])) == ("partially_filled", D("0.1001"))
        await px.clock.advance(2)  # 59900 -> 59900 -> 60100: 0.1001 more, then the rest
        done = await px.get(px.account_url("paper", "alice") + f"/orders/{oid}")
        assert (done["status"], D(done["filled_size"]), D(done["avg_fill_price"])) == ("filled", D("0.25"), D("59950"))
        fills = await px.get(px.account_url("paper", "alice") + "/fills")
        assert [D(f["size"]) for f in fills] == [D("0.1001"), D("0.1001"), D("0.0498")]
        assert {f["liquidity"] for f in fills} == {"maker"}
        assert sum(D(f["fee"]) for f in fills) == D("0.25") * D("59950") * D("0.0002")
        position = await px.get(px.account_url("paper", "alice") + "/positions/BTC")
        assert (D(position["size"]), D(position["avg_entry_price"])) == (D("0.25"), D("59950"))


async def test_takers_fill_at_the_touch_up_to_its_size_and_an_ioc_remainder_is_cancelled(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "bob")
        ioc = await px.order("paper", "bob", **order("buy", "0.15", "ioc-1", "60000.1", "ioc"))
        assert ioc.status_code == 201
        body = ioc.json()
        # 0.1 BTC shown at the ask: that much fills, the remaining 0.05 expires instead of resting
        assert (body["status"], D(body["filled_size"]), body["cancel_reason"]) == ("expired", D("0.1"), "expired")
        assert await px.get(px.account_url("paper", "bob") + "/orders") == []
        away = await px.order("paper", "bob", **order("buy", "0.01", "ioc-2", "59000", "ioc"))
        assert (away.json()["status"], D(away.json()["filled_size"])) == ("expired", D(0))
        market = await px.order("paper", "bob", **order("sell", "0.04", "mkt-1"))
        assert (market.json()["status"], D(market.json()["avg_fill_price"])) == ("filled", D("59999.9"))
        fills = await px.get(px.account_url("paper", "bob") + "/fills")
        assert [(f["liquidity"], D(f["price"]), D(f["fee"])) for f in fills] == [
            ("taker", D("60000.1"), D("0.1") * D("60000.1") * D("0.0005")),
            ("taker", D("59999.9"), D("0.04") * D("59999.9") * D("0.0005")),
        ]
        balance = await px.get(px.account_url("paper", "bob") + "/balance")
        realized = D("0.04") * (D("59999.9") - D("60000.1"))
        fees = sum(D(f["fee"]) for f in fills)
        unrealized = D("0.06") * (D("60000") - D("60000.1"))
        assert D(balance["equity"]) == D("10000") + realized - fees + unrealized


async def test_reduce_only_is_clipped_to_the_position_and_refused_when_flat(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "carol")
        assert (await px.order("paper", "carol", **order("buy", "0.02", "open-1"))).status_code == 201
        clipped = await px.order(
            "paper", "carol", **order("sell", "0.05", "close-1", "59999.9", "ioc", reduce_only=True)
        )
        body = clipped.json()
        assert (body["status"], D(body["filled_size"]), body["cancel_reason"]) == (
            "canceled",
            D("0.02"),
            "reduce_only_violation",
        )
        assert D((await px.get(px.account_url("paper", "carol") + "/positions/BTC"))["size"]) == 0
        refused = await px.order("paper", "carol", **order("sell", "0.01", "close-2", "60500", reduce_only=True))
        assert (refused.status_code, refused.json()["kind"]) == (409, "reduce_only")


async def test_an_order_beyond_the_available_margin_is_rejected(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "dave", balance="1000")  # 10x: 10000 USD of exposure at most
        too_big = await px.order("paper", "dave", **order("buy", "0.2", "big", "59000"))
        assert (too_big.status_code, too_big.json()["kind"]) == (409, "insufficient_margin")
        assert (await px.order("paper", "dave", **order("buy", "0.1", "ok-1", "59000"))).status_code == 201
        # the resting order reserves 590 of the 1000: a second one does not fit
        second = await px.order("paper", "dave", **order("buy", "0.1", "ok-2", "59000"))
        assert (second.status_code, second.json()["kind"]) == (409, "insufficient_margin")
        duplicate = await px.order("paper", "dave", **order("buy", "0.01", "ok-1", "59000"))
        assert (duplicate.status_code, duplicate.json()["kind"]) == (409, "duplicate_client_order_id")
        balance = await px.get(px.account_url("paper", "dave") + "/balance")
        assert D(balance["available"]) == D("1000") - D("0.1") * D("59000") / 10


async def test_funding_is_paid_on_the_hour_on_the_position_at_mark(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        await px.open("paper", "erin")
        await px.order("paper", "erin", **order("buy", "0.05", "long"))
        await px.clock.advance(3600)  # the boundary: mark 60100 (the script's last mid)
        payments = await px.get(px.account_url("paper", "erin") + "/funding-payments")
        assert [(p["symbol"], D(p["amount"]), D(p["rate"])) for p in payments] == [
            ("BTC", -D("0.05") * D("60100") * D("0.0001"), D("0.0001"))
        ]
        position = await px.get(px.account_url("paper", "erin") + "/positions/BTC")
        assert D(position["funding_pnl"]) == -D("0.05") * D("60100") * D("0.0001")
        rates = await px.get(f"{API}/venues/paper/funding-rates")
        btc = next(r for r in rates["rates"] if r["symbol"] == "BTC")
        assert (D(btc["rate"]), D(btc["interval_hours"])) == (D("0.0001"), D(1))


async def test_unknown_things_are_404_and_bad_requests_422(px_dsn: str) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        assert (await px.http.get(f"{API}/venues/paper-zz")).status_code == 404
        assert (await px.http.get(px.account_url("paper", "nobody") + "/balance")).status_code == 404
        await px.open("paper", "frank")
        assert (await px.http.get(px.account_url("paper", "frank") + "/orders/paper-999")).status_code == 404
        assert (await px.http.get(f"{API}/venues/paper/quotes/NOPE")).status_code == 404
        bad = await px.order("paper", "frank", symbol="BTC", side="buy", size="-1", client_order_id="x")
        assert (bad.status_code, bad.json()["kind"]) == (422, "bad_request")
        cancel = await px.http.delete(px.account_url("paper", "frank") + "/orders/paper-999", params={"symbol": "BTC"})
        assert cancel.status_code == 404
        schema = await px.get(f"{API}/openapi.json")
        assert f"{API}/venues/{{venue}}/accounts/{{account}}/orders" in schema["paths"]


async def test_a_restarted_service_has_every_order_position_and_balance_and_catches_up_on_missed_steps(
    px_dsn: str,
) -> None:
    async with in_process(px_dsn, VENUES, SCRIPTS) as px:
        clock = px.clock
        await px.open("paper", "gina")
        await px.order("paper", "gina", **order("buy", "0.03", "pos"))
        await px.order("paper", "gina", **order("sell", "0.01", "tp-1", "61000"))
        await px.order("paper", "gina", **order("sell", "0.01", "tp-2", "62000"))
        await px.order("paper", "gina", **order("buy", "0.02", "dip", "59950"))  # the script trades through it
        before = {
            "orders": await px.get(px.account_url("paper", "gina") + "/orders"),
            "position": await px.get(px.account_url("paper", "gina") + "/positions/BTC"),
            "account": await px.get(px.account_url("paper", "gina")),
        }
    async with in_process(px_dsn, VENUES, SCRIPTS, clock=clock) as px:  # same database, a new process state
        assert await px.get(px.account_url("paper", "gina") + "/orders") == before["orders"]
        assert await px.get(px.account_url("paper", "gina") + "/positions/BTC") == before["position"]
        account = await px.get(px.account_url("paper", "gina"))
        assert {**account, "starting_balance_usd": D(account["starting_balance_usd"])} == {
            **before["account"],
            "starting_balance_usd": D(before["account"]["starting_balance_usd"]),
        }
    await clock.advance(5)  # time passes while no service runs: 59900 trades through the 59950 bid
    async with in_process(px_dsn, VENUES, SCRIPTS, clock=clock) as px:
        orders = await px.get(px.account_url("paper", "gina") + "/orders")
        assert [o["client_order_id"] for o in orders] == ["tp-1", "tp-2"]
        assert [o["order_id"] for o in orders] == [o["order_id"] for o in before["orders"][:2]]
        position = await px.get(px.account_url("paper", "gina") + "/positions/BTC")
        assert D(position["size"]) == D("0.05")
        account = await px.get(px.account_url("paper", "gina"))
        assert account["seq"] > before["account"]["seq"]
        assert Decimal(account["starting_balance_usd"]) == D("10000")
