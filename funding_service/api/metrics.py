"""Prometheus metrics of the service (own registry per app) and the ASGI middleware that records every request
and turns an unexpected exception into a JSON 500 without a trace."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "perpdex_fs_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "perpdex_fs_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.ingest_rows = Counter(
            "perpdex_fs_ingest_rows", "funding-rate rows accepted by ingest", registry=self.registry
        )
        self.ingest_batches = Counter(
            "perpdex_fs_ingest_batches", "ingest requests by result", ["result"], registry=self.registry
        )
        self.data_age = Gauge(
            "perpdex_fs_data_age_seconds", "age of the newest funding rate per dex", ["dex"], registry=self.registry
        )
        self.database_up = Gauge("perpdex_fs_database_up", "1 when the database answered", registry=self.registry)


_INTERNAL = json.dumps({"error": "internal_error", "message": "internal error; it was logged with id {id}"})


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.prefixes = sorted(prefixes, key=len, reverse=True)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def template(self, scope: Scope) -> str:
        """The route template (``/api/v1/dexes/{dex}``): bounded label values, never the raw path."""
        route = scope.get("route")
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return "<unmatched>"
        raw = str(scope.get("path", ""))
        for prefix in self.prefixes:  # routers are included under a prefix but keep their own relative path
            if raw.startswith(prefix + "/") and not path.startswith(prefix + "/"):
                return prefix + path
        return path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s %s", incident, scope.get("method"), scope.get("path"))
            status = 500
            if not response_started:
                body = _INTERNAL.replace("{id}", incident).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            key = (self.template(scope), str(scope.get("method", "")), status)
            children = self._children.get(key)
            if children is None:  # labels() locks and builds its key on every call: resolve each series once
                template, method, _ = key
                children = (
                    self.metrics.requests.labels(template, method, str(status)),
                    self.metrics.latency.labels(template, method),
                )
                if len(self._children) < 10_000:  # bounded: templates, methods and statuses are few anyway
                    self._children[key] = children
            children[0].inc()
            children[1].observe(time.perf_counter() - started)
