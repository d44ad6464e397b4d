"""``perpdex bot`` sends start, fill and stop notifications to Telegram and Lark (a local HTTP server standing in for
both), only the listed events, and the token never reaches stdout."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.bot.bot_harness import BotRun, fast_paper_spec, write_manifest

pytestmark = pytest.mark.integration

TOKEN = "555555555:AAE_process_test_token_abcdefghijkl"
LARK = "lark-process-test-token"


class Recorder(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, Any]]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append((self.path, body))  # type: ignore[attr-defined]
        payload = json.dumps({"ok": True, "code": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def api() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_notifications_from_a_running_bot(api: ThreadingHTTPServer, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{api.server_address[1]}"
    spec = fast_paper_spec(
        notifications={
            "telegram": {"secretName": "tg"},
            "lark": {"secretName": "lark"},
            "events": ["start", "stop", "fill"],
        }
    )
    config = write_manifest(tmp_path / "bot.yaml", "notify-bot", spec)
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHAT_ID": "-100123",
        "TELEGRAM_API_BASE": base,
        "LARK_TOKEN": LARK,
        "LARK_API_BASE": base,
    }
    bot = BotRun(config, tmp_path, env=env)
    try:
        bot.wait_for(lambda x: x.get("msg") == "fill", 90, "a fill")
        assert bot.terminate() == 0
    finally:
        bot.kill()
    received: list[tuple[str, dict[str, Any]]] = api.received  # type: ignore[attr-defined]
    telegram = [body for path, body in received if path == f"/bot{TOKEN}/sendMessage"]
    lark = [body for path, body in received if path == f"/open-apis/bot/v2/hook/{LARK}"]
    assert len(telegram) + len(lark) == len(received)
    assert telegram[0]["text"].startswith("<b>[notify-bot] started</b>")
    assert telegram[0]["chat_id"] == "-100123" and telegram[0]["parse_mode"] == "HTML"
    assert any(b["text"].startswith("<b>[notify-bot] fill BUY 0.01 BTC @ ") for b in telegram)
    assert telegram[-1]["text"].startswith("<b>[notify-bot] stopped: signal</b>")
    assert lark[0] == {"msg_type": "text", "content": {"text": lark[0]["content"]["text"]}}
    assert lark[0]["content"]["text"].startswith("[notify-bot] started\ngrid BTC on paper")
    assert lark[-1]["content"]["text"].startswith("[notify-bot] stopped: signal")
    out = bot.output()
    assert TOKEN not in out and TOKEN.split(":")[1] not in out and LARK not in out
