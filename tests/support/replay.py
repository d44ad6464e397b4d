"""A local HTTP + WebSocket replay server for venue wire-format fixtures (tests only).

One :class:`ReplayServer` per test (or module) binds ``127.0.0.1`` on a free port and answers:

* **HTTP routes** registered with :meth:`ReplayServer.route`: a method + path (``{name}`` segments match anything and
  are passed to handlers as ``request.path_params``), optionally narrowed by a subset of query parameters. A route
  replies with a fixed JSON body, a :class:`Reply` (status, headers, raw body, delay), a *sequence* of those (one per
  call, the last one repeats), or a handler ``(RecordedRequest) -> Reply | JSON`` (sync or async). Routes can be
  added or replaced while the server runs; the most recently added matching route wins.
* **WebSocket endpoints** registered with :meth:`ReplayServer.websocket`: on connect the endpoint sends its scripted
  ``on_connect`` messages, then every received message is recorded and handed to ``on_message`` (which may return
  replies). Tests push more messages with :meth:`WsConnection.send_json`, drop a connection with
  :meth:`WsConnection.drop` (abrupt close) or all of them with :meth:`WsEndpoint.drop_all`.
* **Recording**: every HTTP request lands in :attr:`ReplayServer.requests` (method, path, query, headers, raw body,
  ``json()``); :meth:`ReplayServer.wait_for_request` awaits one. Unmatched requests get a 404 JSON body *and* are
  recorded in :attr:`ReplayServer.unmatched` so a test can assert nothing unexpected was called.

Example::

    async with ReplayServer() as server:
        server.route("GET", "/api/v1/orderBooks", load_fixture("lighter", "order_books"))
        server.route("POST", "/api/v1/sendTx", [Reply(429, {"code": 23000}), Reply(json={"code": 200})])
        ws = server.websocket("/stream", on_message=lambda conn, msg: [{"type": "subscribed"}])
        client = make_client(base_url=server.url, ws_url=server.ws_url + "/stream")
        ...
        sent = server.requests_to("POST", "/api/v1/sendTx")[-1].form()
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs

from aiohttp import WSMsgType, web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"

JSON = Any


def load_fixture(venue: str, name: str) -> JSON:
    """``tests/fixtures/exchanges/<venue>/<name>.json`` parsed (a fresh copy each call, safe to mutate)."""
    path = FIXTURES / venue / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


@dataclass
class Reply:
    """An HTTP answer. ``json`` wins over ``body`` when both are given; ``delay`` (seconds) simulates a slow venue."""

    status: int = 200
    json: JSON = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def to_response(self) -> web.Response:
        headers = dict(self.headers)
        if self.json is not None:
            return web.Response(
                status=self.status, text=json.dumps(self.json), content_type="application/json", headers=headers
            )
        body = self.body.encode() if isinstance(self.body, str) else (self.body or b"")
        if "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        return web.Response(status=self.status, body=body, headers=headers)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    path_params: dict[str, str] = field(default_factory=dict)
    query_all: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> JSON:
        return json.loads(self.body) if self.body else None

    def form(self) -> dict[str, str]:
        """An ``application/x-www-form-urlencoded`` (or multipart-free) body as a flat dict."""
        return {key: values[-1] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None


Handler = Callable[[RecordedRequest], "Reply | JSON | Awaitable[Reply | JSON]"]
Responder = JSON | Reply | Sequence[Reply] | Handler


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    template: str
    query: dict[str, str]
    responder: Responder
    calls: int = 0

    def match(self, method: str, path: str, query: Mapping[str, str]) -> dict[str, str] | None:
        if self.method not in {"*", method}:
            return None
        m = self.pattern.fullmatch(path)
        if m is None:
            return None
        if any(query.get(key) != value for key, value in self.query.items()):
            return None
        return m.groupdict()


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile(regex)


class WsConnection:
    """One accepted WebSocket connection: what the client sent, and levers to push or drop."""

    def __init__(self, endpoint: WsEndpoint, ws: web.WebSocketResponse, request: RecordedRequest) -> None:
        self.endpoint = endpoint
        self.request = request
        self._ws = ws
        self.received: list[JSON] = []
        self._received_event = asyncio.Event()
        self.closed = asyncio.Event()

    async def send_json(self, message: JSON) -> None:
        await self._ws.send_str(json.dumps(message))

    async def send_text(self, text: str) -> None:
        await self._ws.send_str(text)

    async def close(self, code: int = 1000, message: str = "") -> None:
        """A clean close handshake."""
        await self._ws.close(code=code, message=message.encode())

    async def drop(self) -> None:
        """An abrupt drop (transport closed without a close frame), like a venue load balancer cutting us off."""
        transport = self._ws._req.transport if self._ws._req is not None else None
        if transport is not None:
            transport.abort()
        self.closed.set()

    async def wait_for_message(
        self, predicate: Callable[[JSON], bool] = lambda _m: True, *, within: float = 5.0
    ) -> JSON:
        """The first received message (already received or future) matching ``predicate``."""

        async def wait() -> JSON:
            seen = 0
            while True:
                for message in self.received[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.received)
                self._received_event.clear()
                await self._received_event.wait()

        return await asyncio.wait_for(wait(), within)

    def _record(self, message: JSON) -> None:
        self.received.append(message)
        self._received_event.set()


WsOnMessage = Callable[[WsConnection, JSON], "Iterable[JSON] | Awaitable[Iterable[JSON] | None] | None"]
WsOnConnect = Sequence[JSON] | Callable[[WsConnection], "Iterable[JSON] | Awaitable[Iterable[JSON] | None] | None"]


class WsEndpoint:
    def __init__(self, path: str, on_connect: WsOnConnect | None, on_message: WsOnMessage | None) -> None:
        self.path = path
        self.on_connect = on_connect
        self.on_message = on_message
        self.connections: list[WsConnection] = []
        self._changed = asyncio.Condition()
        self.refuse = False  # True: answer the upgrade with HTTP 503 (venue down during a reconnect)

    @property
    def active(self) -> list[WsConnection]:
        return [c for c in self.connections if not c.closed.is_set()]

    async def wait_for_connections(self, count: int, *, within: float = 5.0) -> WsConnection:
        """Wait until ``count`` connections were accepted in total; return the latest one."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: len(self.connections) >= count), within)
        return self.connections[count - 1]

    async def broadcast(self, message: JSON) -> None:
        for conn in self.active:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await conn.send_json(message)

    async def drop_all(self) -> None:
        for conn in self.active:
            await conn.drop()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _decode(data: str) -> JSON:
    try:
        return json.loads(data)
    except json.JSONDecodeError:
        return data


class ReplayServer:
    """See the module docstring. Use as ``async with ReplayServer() as server``."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port: int = 0
        self._routes: list[_Route] = []
        self._ws: dict[str, WsEndpoint] = {}
        self.requests: list[RecordedRequest] = []
        self.unmatched: list[RecordedRequest] = []
        self._request_event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._ws_tasks: set[web.WebSocketResponse] = set()

    # lifecycle -------------------------------------------------------------------------------------------------------
    async def start(self) -> Self:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        for ws in list(self._ws_tasks):
            with contextlib.suppress(Exception):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # configuration -----------------------------------------------------------------------------------------------
    def route(self, method: str, path: str, responder: Responder, *, query: Mapping[str, str] | None = None) -> None:
        """Register (or override: newest wins) an HTTP route. ``method`` ``"*"`` matches any method."""
        self._routes.append(_Route(method.upper(), _compile(path), path, dict(query or {}), responder))

    def clear_routes(self, method: str | None = None, path: str | None = None) -> None:
        self._routes = [
            r
            for r in self._routes
            if not ((method is None or r.method == method.upper()) and (path is None or r.template == path))
        ]

    def websocket(
        self, path: str, *, on_connect: WsOnConnect | None = None, on_message: WsOnMessage | None = None
    ) -> WsEndpoint:
        endpoint = WsEndpoint(path, on_connect, on_message)
        self._ws[path] = endpoint
        return endpoint

    # assertions --------------------------------------------------------------------------------------------------
    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests by method and route template (``{name}`` segments allowed) or literal path."""
        pattern = _compile(path)
        return [r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)]

    async def wait_for_request(self, method: str, path: str, *, count: int = 1, within: float = 5.0) -> RecordedRequest:
        """Wait until at least ``count`` requests matched; return the ``count``-th."""

        async def wait() -> RecordedRequest:
            while True:
                found = self.requests_to(method, path)
                if len(found) >= count:
                    return found[count - 1]
                self._request_event.clear()
                await self._request_event.wait()

        return await asyncio.wait_for(wait(), within)

    # dispatch ----------------------------------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.query.items()},
            query_all={k: request.query.getall(k) for k in request.query},
            headers=dict(request.headers),
            body=body,
        )
        endpoint = self._ws.get(request.path)
        if endpoint is not None and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._serve_ws(endpoint, request, recorded)
        self.requests.append(recorded)
        self._request_event.set()
        for route in reversed(self._routes):
            params = route.match(request.method, request.path, recorded.query)
            if params is None:
                continue
            recorded.path_params = params
            reply = await self._resolve(route, recorded)
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return reply.to_response()
        self.unmatched.append(recorded)
        return web.json_response({"error": f"replay: no route for {request.method} {request.path}"}, status=404)

    async def _resolve(self, route: _Route, request: RecordedRequest) -> Reply:
        responder = route.responder
        index = route.calls
        route.calls += 1
        if isinstance(responder, Reply):
            return responder
        if callable(responder):
            result = await _maybe_await(responder(request))
            return result if isinstance(result, Reply) else Reply(json=result)
        if isinstance(responder, (list, tuple)) and responder and all(isinstance(r, Reply) for r in responder):
            chosen: Reply = responder[min(index, len(responder) - 1)]
            return chosen
        return Reply(json=responder)

    async def _serve_ws(
        self, endpoint: WsEndpoint, request: web.Request, recorded: RecordedRequest
    ) -> web.StreamResponse:
        if endpoint.refuse:
            return web.Response(status=503, text="replay: websocket refused")
        ws = web.WebSocketResponse(autoping=True, heartbeat=None)
        await ws.prepare(request)
        conn = WsConnection(endpoint, ws, recorded)
        endpoint.connections.append(conn)
        self._ws_tasks.add(ws)
        await endpoint._notify()
        try:
            if endpoint.on_connect is not None:
                script = endpoint.on_connect
                messages = await _maybe_await(script(conn)) if callable(script) else script
                for message in messages or ():
                    await conn.send_json(message)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    decoded = _decode(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    decoded = _decode(msg.data.decode(errors="replace"))
                else:
                    break
                conn._record(decoded)
                if endpoint.on_message is not None:
                    replies = await _maybe_await(endpoint.on_message(conn, decoded))
                    for reply in replies or ():
                        await conn.send_json(reply)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            conn.closed.set()
            self._ws_tasks.discard(ws)
        return ws
