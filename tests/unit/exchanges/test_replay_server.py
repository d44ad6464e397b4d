"""The replay server itself: routes, sequences, handlers, recording, WebSocket scripts and drops."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.replay import RecordedRequest, ReplayServer, Reply


async def test_routes_json_sequence_handler_and_recording() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/api/v1/thing", {"a": 1})
        server.route("GET", "/api/v1/thing", {"a": 2}, query={"by": "index"})
        server.route(
            "POST", "/api/v1/tx", [Reply(429, {"code": 23000, "message": "slow down"}), Reply(json={"code": 200})]
        )

        def echo(request: RecordedRequest) -> Reply:
            return Reply(201, {"id": request.path_params["id"], "got": request.json()})

        server.route("PUT", "/orders/{id}", echo)
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/api/v1/thing")).json() == {"a": 1}
            assert (await client.get("/api/v1/thing", params={"by": "index", "x": "1"})).json() == {"a": 2}
            first = await client.post("/api/v1/tx", data={"tx_type": "14", "tx_info": "{}"})
            second = await client.post("/api/v1/tx", data={"tx_type": "15"})
            third = await client.post("/api/v1/tx", data={"tx_type": "16"})
            assert (first.status_code, second.status_code, third.status_code) == (429, 200, 200)
            put = await client.put("/orders/42", json={"size": "1.5"})
            assert put.status_code == 201 and put.json() == {"id": "42", "got": {"size": "1.5"}}
            missing = await client.get("/nope")
            assert missing.status_code == 404
        sent = server.requests_to("POST", "/api/v1/tx")
        assert [r.form()["tx_type"] for r in sent] == ["14", "15", "16"]
        assert server.requests_to("PUT", "/orders/{id}")[0].header("content-type") == "application/json"
        assert [r.path for r in server.unmatched] == ["/nope"]
        # newest route wins
        server.route("GET", "/api/v1/thing", {"a": 3})
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/api/v1/thing")).json() == {"a": 3}


async def test_wait_for_request_sees_future_requests() -> None:
    async with ReplayServer() as server:
        server.route("GET", "/ping", {"ok": True})
        waiter = asyncio.create_task(server.wait_for_request("GET", "/ping", count=2, within=3))
        async with httpx.AsyncClient(base_url=server.url) as client:
            await client.get("/ping")
            assert not waiter.done()
            await client.get("/ping", params={"n": "2"})
        assert (await waiter).query == {"n": "2"}


async def test_websocket_script_record_push_and_drop() -> None:
    async with ReplayServer() as server:
        endpoint = server.websocket(
            "/stream",
            on_connect=[{"type": "connected"}],
            on_message=lambda conn, msg: [{"type": "subscribed", "channel": msg["channel"]}],
        )
        async with websockets.connect(server.ws_url + "/stream") as ws:
            assert json.loads(await ws.recv()) == {"type": "connected"}
            await ws.send(json.dumps({"type": "subscribe", "channel": "account_all/7"}))
            assert json.loads(await ws.recv()) == {"type": "subscribed", "channel": "account_all/7"}
            conn = await endpoint.wait_for_connections(1)
            assert conn.received == [{"type": "subscribe", "channel": "account_all/7"}]
            await conn.send_json({"type": "update", "n": 1})
            assert json.loads(await ws.recv()) == {"type": "update", "n": 1}
            await conn.drop()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 3)
        # refused upgrade while the "venue" is down
        endpoint.refuse = True
        with pytest.raises(websockets.exceptions.InvalidStatus):
            async with websockets.connect(server.ws_url + "/stream"):
                pass
        endpoint.refuse = False
        async with websockets.connect(server.ws_url + "/stream") as ws:
            await ws.recv()
            second = await endpoint.wait_for_connections(2)
            assert second is endpoint.connections[-1]
