"""The paper exchange when its PostgreSQL goes away and comes back (a server of its own, stopped and started): an
order sent meanwhile gets a 503 and is not booked (its outcome for the client: look it up by client id); the venue
reloads from the database by itself once it is back, with everything acknowledged before the outage intact."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot_runtime.paper_exchange.venues import VenueConfig
from perpdex_dev.postgres import PostgresCluster
from tests.integration.paper_exchange.px_helpers import D, fresh_database, in_process

pytestmark = pytest.mark.integration

VENUES = [VenueConfig(name="paper", options={"volatility": "0"})]


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def order(cid: str, price: str) -> dict[str, str]:
    return {"symbol": "BTC", "side": "buy", "size": "0.01", "price": price, "client_order_id": cid}


async def test_an_outage_answers_503_books_nothing_and_heals(own_postgres: PostgresCluster) -> None:
    dsn = await fresh_database(own_postgres, "px_outage")
    async with in_process(dsn, VENUES, {}) as px:
        await px.open("paper", "o")
        first = await px.order("paper", "o", **order("before", "59000"))
        assert first.status_code == 201
        own_postgres.stop()
        during = await px.order("paper", "o", **order("during", "58900"))
        assert (during.status_code, during.json()["kind"]) == (503, "unavailable")
        own_postgres.start()
        after = await px.order("paper", "o", **order("after", "58800"))
        assert after.status_code == 201, after.text
        acct = px.account_url("paper", "o")
        assert [o["client_order_id"] for o in await px.get(acct + "/orders")] == ["before", "after"]
        assert (await px.http.get(acct + "/orders/by-client-id/during")).status_code == 404
        balance = await px.get(acct + "/balance")
        assert D(balance["available"]) == D(10000) - (D("59000") + D("58800")) * D("0.01") / 10
