"""Headless Chromium (Debian's ``chromium`` package) driven over the DevTools protocol: a small client for browser
tests (tests only).

:class:`Browser` starts ``chromium --headless`` on a free DevTools port with a throwaway profile; :meth:`Browser.page`
opens a tab and returns a :class:`Page`, whose methods send DevTools commands over the tab's WebSocket
(``websockets``, a core dependency). Every console error, uncaught exception and browser log error (a failed
resource, a Content-Security-Policy violation) lands in :attr:`Page.errors`, so a test can assert there are none.

Example::

    with Browser.start(tmp_path) as browser:
        async with browser.page() as page:
            await page.goto("http://127.0.0.1:8000/ui/")
            rows = await page.evaluate("document.querySelectorAll('tbody tr').length")
            await page.screenshot(tmp_path / "page.png")
            assert page.errors == []
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError(
        "headless Chromium not found: `make system-deps` installs Debian's chromium package (apt-get install chromium)"
    )


class BrowserError(Exception):
    pass


@dataclass
class Page:
    ws: Any  # websockets ClientConnection
    errors: list[str] = field(default_factory=list)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _events: dict[str, list[asyncio.Future[dict[str, Any]]]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._reader = asyncio.create_task(self._read())
        for domain in ("Page", "Runtime", "Log"):
            await self.send(f"{domain}.enable")

    async def _read(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                future = self._pending.pop(msg["id"], None)
                if future is not None and not future.done():
                    if "error" in msg:
                        future.set_exception(BrowserError(f"{msg['error']}"))
                    else:
                        future.set_result(msg.get("result", {}))
                continue
            method, params = msg.get("method", ""), msg.get("params", {})
            self._record_error(method, params)
            for waiter in self._events.pop(method, []):
                if not waiter.done():
                    waiter.set_result(params)

    def _record_error(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            args = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            self.errors.append("console: " + " ".join(args))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(
                "exception: " + str(details.get("exception", {}).get("description") or details.get("text"))
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"log ({entry.get('source')}): {entry.get('text')} {entry.get('url', '')}".strip())

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        return await asyncio.wait_for(future, 60)

    def expect(self, event: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next ``event`` (register it before the action that fires it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._events.setdefault(event, []).append(future)
        return future

    async def goto(self, url: str) -> None:
        loaded = self.expect("Page.loadEventFired")
        result = await self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise BrowserError(f"navigation to {url} failed: {result['errorText']}")
        await asyncio.wait_for(loaded, 60)

    async def reload(self) -> None:
        loaded = self.expect("Page.loadEventFired")
        await self.send("Page.reload", ignoreCache=True)
        await asyncio.wait_for(loaded, 60)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def press(self, key: str, code: str, key_code: int, *, shift: bool = False) -> None:
        """One key stroke (down + up), e.g. ``press("Tab", "Tab", 9)`` or ``press("Enter", "Enter", 13)``."""
        modifiers = 8 if shift else 0
        common = {"key": key, "code": code, "windowsVirtualKeyCode": key_code, "modifiers": modifiers}
        text = {"text": "\r"} if key == "Enter" else {}
        await self.send("Input.dispatchKeyEvent", type="keyDown", **common, **text)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    async def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = await self.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
            params["captureBeyondViewport"] = True
        data = await self.send("Page.captureScreenshot", **params)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(data["data"]))
        return path

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        await self.ws.close()


@dataclass
class Browser:
    proc: subprocess.Popen[str]
    port: int
    profile: Path

    @classmethod
    def start(cls, workdir: Path, *, width: int = 1280, height: int = 900) -> Browser:
        profile = workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        proc = subprocess.Popen(
            [
                chromium_binary(),
                "--headless=new",
                "--no-sandbox",  # tests run as root in a container: Chromium refuses its sandbox there
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "chromium.log").open("w"),
            text=True,
        )
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited ({proc.returncode}); see {workdir / 'chromium.log'}")
            if time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("chromium did not open its DevTools port within 60 s")
            time.sleep(0.1)
        port = int(port_file.read_text().splitlines()[0])
        return cls(proc=proc, port=port, profile=profile)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @contextlib.asynccontextmanager
    async def page(self) -> AsyncIterator[Page]:
        devtools = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.put(f"{devtools}/json/new?about:blank")
            answer.raise_for_status()
            target = answer.json()
        ws = await websockets.connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        page = Page(ws=ws)
        await page.start()
        try:
            yield page
        finally:
            await page.close()
            async with httpx.AsyncClient(timeout=10) as http:
                with contextlib.suppress(httpx.HTTPError):
                    await http.get(f"{devtools}/json/close/{target['id']}")
