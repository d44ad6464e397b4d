"""A fault-injecting HTTP proxy between a client (the operator under test) and a REAL kube-apiserver.

The client talks plain HTTP to ``127.0.0.1:<port>`` with no credentials (:meth:`FaultProxy.write_kubeconfig`); the
proxy forwards every request over TLS to the API server with the upstream kubeconfig's bearer token, streaming watch
responses chunk by chunk. What it can do to the traffic, switched at any time from the test (:class:`Faults`):

- ``outage``: every request is answered ``503`` (and :meth:`FaultProxy.drop_watches` cuts the open streams);
- ``write_error_rate``: that share of writes (POST/PUT/PATCH/DELETE) is answered ``503`` without reaching the API
  server; ``refuse_writes_to``: every write whose path contains that string is (e.g. ``/statefulsets/``); ``lost_reply_rate``: that share is forwarded (so it takes effect) and then answered ``504``, as when a reply
  is lost in a timeout;
- ``throttle_rate``: that share of all requests is answered ``429`` with ``Retry-After: 1``;
- ``conflict_rate``: that share of creates (POST) is answered ``409 AlreadyExists`` without reaching the API server;
- ``write_delay``: writes wait that many seconds before they are forwarded (slow writes);
- :meth:`FaultProxy.expire_before`: a watch resuming from a resourceVersion older than the one given gets the API
  server's ``410 Gone`` (an ``ERROR`` event with code 410, "too old resource version"), so the client must list again.

Every request is counted (method, path, whether a watch) so a test can tell a request storm from a quiet operator.
The random faults come from a seeded ``random.Random``: a run is repeatable as far as the client's timing allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from yarl import URL

from bot_runtime.kube import KubeConfig

_HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "accept-encoding", "authorization"}
)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Faults:
    outage: bool = False
    write_error_rate: float = 0.0
    lost_reply_rate: float = 0.0
    throttle_rate: float = 0.0
    conflict_rate: float = 0.0
    write_delay: float = 0.0
    refuse_writes_to: str = ""

    def clear(self) -> None:
        self.outage = False
        self.write_error_rate = self.lost_reply_rate = self.throttle_rate = self.conflict_rate = 0.0
        self.write_delay = 0.0
        self.refuse_writes_to = ""


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    watch: bool
    status: int


@dataclass
class FaultProxy:
    upstream: KubeConfig
    seed: int = 20
    faults: Faults = field(default_factory=Faults)
    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    injected: int = 0
    _expired_before: int = 0
    _rng: random.Random = field(init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _watches: set[asyncio.BaseTransport] = field(default_factory=set, init=False)
    _stop: asyncio.Event | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # -- control (from the test's thread) -----------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(sock, ready), name="kube-fault-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("the fault proxy did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        """A kubeconfig for the client under test: the proxy's plain-HTTP address, no credentials (the proxy adds
        the upstream's)."""
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "namespace": namespace}}],
            "current-context": "proxy",
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    def drop_watches(self) -> None:
        """Cut every open watch stream (the client sees its connection end mid-stream)."""
        loop = self._loop
        if loop is not None:
            asyncio.run_coroutine_threadsafe(self._drop(), loop).result(10)

    def expire_before(self, resource_version: str | int) -> None:
        """Watches resuming from a resourceVersion below this one get 410 Gone (as after etcd's compaction)."""
        self._expired_before = int(resource_version)

    def mark(self) -> int:
        """A position in the request log (see :meth:`requests_since`)."""
        with self._lock:
            return len(self.seen)

    def requests_since(self, mark: int, *, watches: bool = False) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen[mark:] if watches or not s.watch]

    # -- the server (on the proxy's own thread and loop) --------------------------------------------------------------
    def _run(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock, ready))
        finally:
            loop.close()

    async def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        ssl_ctx = self.upstream.ssl_context()
        connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx else False, limit=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            app = web.Application(client_max_size=64 * 1024 * 1024)

            async def handle(request: web.Request) -> web.StreamResponse:
                return await self._handle(session, request)

            app.router.add_route("*", "/{tail:.*}", handle)
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            ready.set()
            try:
                await self._stop.wait()
            finally:
                await self._drop()
                await runner.cleanup()

    async def _drop(self) -> None:
        for transport in list(self._watches):
            with contextlib.suppress(Exception):
                transport.close()
        self._watches.clear()

    def _roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def _record(self, request: web.Request, watch: bool, status: int) -> None:
        with self._lock:
            self.seen.append(Seen(request.method, request.path, watch, status))

    async def _handle(self, session: aiohttp.ClientSession, request: web.Request) -> web.StreamResponse:
        watch = request.query.get("watch") in ("true", "1")
        write = request.method in _WRITES
        f = self.faults
        fault: web.Response | None = None
        if f.outage:
            fault = _status(503, "ServiceUnavailable", "injected outage")
        elif self._roll(f.throttle_rate):
            fault = _status(429, "TooManyRequests", "injected throttling", retry_after=1)
        elif write and (self._roll(f.write_error_rate) or (f.refuse_writes_to and f.refuse_writes_to in request.path)):
            fault = _status(503, "ServiceUnavailable", "injected write failure")
        elif request.method == "POST" and self._roll(f.conflict_rate):
            fault = _status(409, "AlreadyExists", "injected conflict")
        elif watch and self._too_old(request.query.get("resourceVersion")):
            self._record(request, watch, 410)
            self.injected += 1
            return _gone()
        if fault is not None:
            self._record(request, watch, fault.status)
            self.injected += 1
            return fault
        lost = write and self._roll(f.lost_reply_rate)
        if write and f.write_delay:
            await asyncio.sleep(f.write_delay)
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        token = self.upstream.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = URL(self.upstream.server + request.raw_path, encoded=True)
        timeout = aiohttp.ClientTimeout(total=None if watch else 120)
        try:
            upstream = await session.request(
                request.method, url, data=body or None, headers=headers, timeout=timeout, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._record(request, watch, 502)
            return _status(502, "BadGateway", f"upstream: {exc}")
        async with upstream:
            self._record(request, watch, upstream.status)
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            if lost:
                await upstream.read()
                self.injected += 1
                return _status(504, "Timeout", "injected lost reply")
            if not watch:
                return web.Response(status=upstream.status, body=await upstream.read(), headers=out_headers)
            rsp = web.StreamResponse(status=upstream.status, headers=out_headers)
            await rsp.prepare(request)
            transport = request.transport
            if transport is not None:
                self._watches.add(transport)
            try:
                async for chunk in upstream.content.iter_any():
                    await rsp.write(chunk)
            except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError):
                pass
            finally:
                if transport is not None:
                    self._watches.discard(transport)
            return rsp

    def _too_old(self, resource_version: str | None) -> bool:
        if not self._expired_before or not resource_version:
            return False
        try:
            return 0 < int(resource_version) < self._expired_before
        except ValueError:
            return False


def _status(code: int, reason: str, message: str, *, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        body["details"] = {"retryAfterSeconds": retry_after}
    return web.Response(status=code, text=json.dumps(body), headers=headers)


def _gone() -> web.Response:
    """What the API server streams to a watch resuming from a compacted resourceVersion."""
    event = {
        "type": "ERROR",
        "object": {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": "too old resource version",
            "reason": "Expired",
            "code": 410,
        },
    }
    return web.Response(status=200, text=json.dumps(event) + "\n", headers={"Content-Type": "application/json"})
