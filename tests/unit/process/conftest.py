"""Fixtures of the bot-process unit tests: a local HTTP server standing in for Telegram and Lark."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Recorded:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class FakeApi:
    """Records every request; answers with the next scripted (status, json) or 200 {"ok": true}."""

    base: str = ""
    requests: list[Recorded] = field(default_factory=list)
    script: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(Recorded(request.method, request.path, request.content_type, body))
        status, payload = self.script.pop(0) if self.script else (200, {"ok": True, "code": 0, "msg": "success"})
        return web.json_response(payload, status=status)


@pytest.fixture
async def fake_api() -> AsyncIterator[FakeApi]:
    api = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api.base = f"http://127.0.0.1:{port}"
    try:
        yield api
    finally:
        await runner.cleanup()
