"""``/healthz``, ``/readyz`` and ``/metrics`` on a minimal asyncio HTTP/1.1 server.

The bot pod imports no web framework: these three GET endpoints need only ``asyncio.start_server``. Each connection
serves one request and closes (probes and Prometheus open a connection per scrape). Requests are bounded in size and
time, so a slow or hostile client cannot hold the event loop.

- ``/healthz`` (liveness): 200 while the process is alive and its event loop is not stuck — the :class:`LoopMonitor`
  measures how late a 1 s ticker wakes up, and the runner's own heartbeat must be recent. A stuck loop cannot answer
  at all, which the kubelet also counts as a failure.
- ``/readyz`` (readiness): 200 when connected to the exchange and, in Kubernetes, holding the Lease.
- ``/metrics``: Prometheus text format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 8192
REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Check:
    """The outcome of a probe: ok, and the reasons when not."""

    ok: bool
    reasons: tuple[str, ...] = ()
    details: dict[str, object] = field(default_factory=dict)

    def body(self) -> bytes:
        payload: dict[str, object] = {"status": "ok" if self.ok else "fail", **self.details}
        if self.reasons:
            payload["reasons"] = list(self.reasons)
        return json.dumps(payload).encode() + b"\n"


class LoopMonitor:
    """Measures event-loop lag: a task sleeps ``interval`` and records how late it woke."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.last_tick = time.monotonic()
        self.max_recent_lag = 0.0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="loop-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            lag = max(0.0, now - before - self.interval)
            # decays, so one slow moment does not fail liveness forever
            self.max_recent_lag = max(lag, self.max_recent_lag * 0.5)
            self.last_tick = now

    def stalled_for(self) -> float:
        """Seconds since the ticker last ran beyond its interval (0 when healthy)."""
        return max(0.0, time.monotonic() - self.last_tick - self.interval)


Probe = Callable[[], Check]


class HealthServer:
    """Serves the three endpoints; the probes are plain callables evaluated per request."""

    def __init__(
        self,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - the pod's probes and Prometheus reach it on the pod IP
        port: int = 8080,
        liveness: Probe,
        readiness: Probe,
        metrics: Callable[[], bytes],
        metrics_content_type: str = "text/plain; version=0.0.4; charset=utf-8",
    ) -> None:
        self.host = host
        self.port = port
        self._liveness = liveness
        self._readiness = readiness
        self._metrics = metrics
        self._metrics_type = metrics_content_type
        self._server: asyncio.Server | None = None

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with ``port=0``)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port, limit=MAX_REQUEST_BYTES)
        log.info("health and metrics server listening", extra={"port": self.bound_port})

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, content_type, body, head_only = await asyncio.wait_for(self._respond(reader), REQUEST_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, ConnectionError):
            status, content_type, body, head_only = HTTPStatus.BAD_REQUEST, "text/plain", b"bad request\n", False
        try:
            headers = (
                f"HTTP/1.1 {status.value} {status.phrase}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(headers.encode("latin-1") + (b"" if head_only else body))
            await asyncio.wait_for(writer.drain(), REQUEST_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> tuple[HTTPStatus, str, bytes, bool]:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            raise ValueError("malformed request line")
        method, target = parts[0], parts[1]
        path = target.split("?", 1)[0]
        if method not in {"GET", "HEAD"}:
            return HTTPStatus.METHOD_NOT_ALLOWED, "text/plain", b"method not allowed\n", False
        head_only = method == "HEAD"
        if path == "/metrics":
            return HTTPStatus.OK, self._metrics_type, self._metrics(), head_only
        if path in {"/healthz", "/livez"}:
            check = self._liveness()
        elif path == "/readyz":
            check = self._readiness()
        else:
            return HTTPStatus.NOT_FOUND, "text/plain", b"not found\n", head_only
        status = HTTPStatus.OK if check.ok else HTTPStatus.SERVICE_UNAVAILABLE
        return status, "application/json", check.body(), head_only
