"""Kill the real ``perpdex paper-exchange serve`` process (SIGKILL) while a client streams its account, start it
again on the same PostgreSQL database: every order, position and balance is as before, and the client, reconnecting
with the last update number it saw, receives exactly the updates it missed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.integration.paper_exchange.px_helpers import API, D, ServiceProcess, free_port, write_venues

pytestmark = pytest.mark.integration

#: a flat market (volatility 0): nothing fills by itself, so "as before" is exact
VENUES = [{"name": "paper", "options": {"volatility": "0", "startPrice": "60000", "fundingIntervalHours": "8"}}]


async def frames(ws: websockets.ClientConnection, until: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        message = json.loads(await ws.recv())
        out.append(message)
        if message["type"] == until:
            return out


async def test_kill_and_restart_loses_nothing_and_a_client_resyncs(px_dsn: str, tmp_path: Path) -> None:
    svc = ServiceProcess(px_dsn, write_venues(tmp_path / "venues.yaml", VENUES), free_port(), tmp_path / "px.log")
    svc.start()
    account = f"{API}/venues/paper/accounts/ns.grid-bot"
    ws_url = svc.url.replace("http", "ws") + f"{API}/venues/paper/stream?account=ns.grid-bot"
    try:
        async with httpx.AsyncClient(base_url=svc.url, timeout=10) as http:
            assert (await http.put(account, json={"starting_balance_usd": "5000"})).status_code == 200
            async with websockets.connect(ws_url + "&since=0") as ws:
                assert [f["type"] for f in await frames(ws, "ready")] == ["ready"]
                entry = await http.post(
                    account + "/orders",
                    json={
                        "symbol": "BTC",
                        "side": "buy",
                        "size": "0.02",
                        "order_type": "market",
                        "client_order_id": "e1",
                    },
                )
                assert entry.status_code == 201, entry.text
                for i, price in enumerate(("60600", "61200")):
                    r = await http.post(
                        account + "/orders",
                        json={
                            "symbol": "BTC",
                            "side": "sell",
                            "size": "0.01",
                            "price": price,
                            "reduce_only": True,
                            "client_order_id": f"tp{i}",
                        },
                    )
                    assert r.status_code == 201, r.text
                seen = [json.loads(await ws.recv()) for _ in range(4)]  # entry: open + fill; two take-profits
                assert [f["seq"] for f in seen] == [1, 2, 3, 4]
            before = {
                "orders": (await http.get(account + "/orders")).json(),
                "position": (await http.get(account + "/positions/BTC")).json(),
                "balance": (await http.get(account + "/balance")).json(),
            }
        svc.kill()  # mid-stream, no goodbye
        svc.start()
        async with httpx.AsyncClient(base_url=svc.url, timeout=10) as http:
            assert (await http.get(account + "/orders")).json() == before["orders"]
            assert (await http.get(account + "/positions/BTC")).json() == before["position"]
            assert (await http.get(account + "/balance")).json() == before["balance"]
            # an update the client misses while it is away (it has seen up to seq 4)
            tp0 = before["orders"][0]
            cancel = await http.delete(account + f"/orders/{tp0['order_id']}", params={"symbol": "BTC"})
            assert cancel.status_code == 204
            async with websockets.connect(ws_url + "&since=4") as ws:
                resync = await frames(ws, "ready")
                assert [(f["type"], f.get("seq")) for f in resync] == [("order", 5), ("ready", 5)]
                assert resync[0]["update"]["order"]["status"] == "canceled"
                r = await http.post(
                    account + "/orders",
                    json={
                        "symbol": "BTC",
                        "side": "sell",
                        "size": "0.01",
                        "price": "60700",
                        "client_order_id": "tp2",
                        "reduce_only": True,
                    },
                )
                assert r.status_code == 201
                live = json.loads(await ws.recv())
                assert (live["seq"], live["update"]["order"]["client_order_id"]) == (6, "tp2")
            assert D((await http.get(account + "/positions/BTC")).json()["size"]) == D("0.02")
    finally:
        svc.kill()
