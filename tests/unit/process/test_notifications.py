"""Telegram and Lark against a local HTTP server: the exact request each API expects, rate limit, failures never
fatal, the token never in the log."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from bot_runtime.logs import setup_logging
from bot_runtime.notify import (
    LarkChannel,
    Notification,
    NotificationDispatcher,
    NotifyEvent,
    TelegramChannel,
    TokenBucket,
    build_channels,
    build_dispatcher,
    seconds_until_next_midnight_utc,
)
from bot_runtime.notify.daily import DailySummary

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # Telegram's token shape
CHAT = "-1001234567890"


async def wait_for(predicate, within_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(within_s):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_telegram_send_message_request(fake_api) -> None:  # type: ignore[no-untyped-def]
    channel = TelegramChannel(token=TOKEN, chat_id=CHAT, bot="btc-grid", api_base=fake_api.base)
    await channel.send(Notification(NotifyEvent.FILL, "fill BUY 0.01 @ 60000", "a < b & c"))
    await channel.aclose()
    [req] = fake_api.requests
    assert req.method == "POST"
    assert req.path == f"/bot{TOKEN}/sendMessage"
    assert req.content_type == "application/json"
    assert req.body == {
        "chat_id": CHAT,
        "text": "<b>[btc-grid] fill BUY 0.01 @ 60000</b>\na &lt; b &amp; c",
        "parse_mode": "HTML",
    }


async def test_lark_webhook_request_from_token_and_from_url(fake_api) -> None:  # type: ignore[no-untyped-def]
    by_token = LarkChannel(bot="btc-grid", token="t0k3n-abcdef", api_base=fake_api.base)
    await by_token.send(Notification(NotifyEvent.START, "started", "grid on paper"))
    by_url = LarkChannel(bot="btc-grid", webhook=f"{fake_api.base}/flow/trigger/xyz")
    await by_url.send(Notification(NotifyEvent.STOP, "stopped"))
    await by_token.aclose()
    await by_url.aclose()
    first, second = fake_api.requests
    assert (first.method, first.path) == ("POST", "/open-apis/bot/v2/hook/t0k3n-abcdef")
    assert first.content_type == "application/json"
    assert first.body == {"msg_type": "text", "content": {"text": "[btc-grid] started\ngrid on paper"}}
    assert second.path == "/flow/trigger/xyz"
    assert second.body == {"msg_type": "text", "content": {"text": "[btc-grid] stopped"}}


def test_channels_from_env_and_api_base_overrides() -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHAT_ID": CHAT,
        "LARK_TOKEN": "your_lark_token_here",  # a placeholder is no credential
    }
    channels = build_channels("b", env)
    assert [c.name for c in channels] == ["telegram"]
    assert TOKEN not in repr(channels)
    env["LARK_TOKEN"] = "real-token-123"
    assert [c.name for c in build_channels("b", env)] == ["telegram", "lark"]
    assert [c.name for c in build_channels("b", env, want_telegram=False)] == ["lark"]


async def test_dispatcher_sends_only_enabled_events(fake_api) -> None:  # type: ignore[no-untyped-def]
    env = {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": CHAT, "TELEGRAM_API_BASE": fake_api.base}
    results: list[tuple[str, str]] = []
    dispatcher = build_dispatcher("b", env, events=["start", "risk"], on_result=lambda c, r: results.append((c, r)))
    await dispatcher.start()
    assert dispatcher.notify("start", "started")
    assert not dispatcher.notify(NotifyEvent.FILL, "fill")  # not listed
    assert dispatcher.notify(NotifyEvent.RISK, "risk halted", "maxDailyLossUsd")
    await dispatcher.close(drain_s=5)
    texts = [r.body["text"] for r in fake_api.requests]
    assert texts == ["<b>[b] started</b>", "<b>[b] risk halted</b>\nmaxDailyLossUsd"]
    assert results == [("telegram", "sent"), ("telegram", "sent")]


async def test_rate_limit_drops_oldest_and_says_so(fake_api) -> None:  # type: ignore[no-untyped-def]
    channel = TelegramChannel(token=TOKEN, chat_id=CHAT, bot="b", api_base=fake_api.base)
    results: list[str] = []
    # a burst of 2, then one message per 10 hours: nothing beyond the burst goes out during the test
    dispatcher = NotificationDispatcher(
        [channel], rate_per_minute=1 / 600, burst=2, queue_size=2, on_result=lambda c, r: results.append(r)
    )
    await dispatcher.start()
    for i in range(6):  # queued before the worker runs: the queue keeps the newest 2
        dispatcher.notify(NotifyEvent.FILL, f"fill {i}")
    await wait_for(lambda: len(fake_api.requests) == 2)
    for i in range(6, 8):
        dispatcher.notify(NotifyEvent.FILL, f"fill {i}")
    assert dispatcher.pending() >= 1  # held back by the bucket
    await dispatcher.close(drain_s=0.2)
    texts = [r.body["text"] for r in fake_api.requests]
    assert texts[0].startswith("<b>[b] fill 4</b>")
    assert "4 earlier message(s) dropped by the rate limit" in texts[0]
    assert texts[1] == "<b>[b] fill 5</b>"
    assert len(fake_api.requests) == 2  # the bucket let no third message through
    assert results.count("sent") == 2
    assert results.count("dropped") == 6  # 4 overflowed + 2 still queued at shutdown


def test_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=0.5, capacity=2, clock=lambda: now[0])
    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()
    assert bucket.wait_time() == pytest.approx(2.0)
    now[0] = 1.0
    assert not bucket.try_acquire()
    now[0] = 2.0
    assert bucket.try_acquire()
    now[0] = 100.0
    assert bucket.tokens == 2  # never beyond capacity


async def test_failures_are_retried_then_logged_never_raised(fake_api, caplog) -> None:  # type: ignore[no-untyped-def]
    fake_api.script = [
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests", "parameters": {"retry_after": 0}}),
        (500, {"ok": False}),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}),
    ]
    channel = TelegramChannel(token=TOKEN, chat_id=CHAT, bot="b", api_base=fake_api.base)
    results: list[str] = []
    dispatcher = NotificationDispatcher(
        [channel], attempts=3, retry_delay=0.01, on_result=lambda c, r: results.append(r)
    )
    await dispatcher.start()
    with caplog.at_level(logging.INFO):
        dispatcher.notify(NotifyEvent.ERROR, "first")  # 429 → 500 → 400: not retryable, given up
        dispatcher.notify(NotifyEvent.ERROR, "second")  # 200
        await dispatcher.close(drain_s=5)
    assert len(fake_api.requests) == 4
    assert results == ["failed", "sent"]
    [given_up] = [r for r in caplog.records if r.getMessage() == "notification not delivered"]
    assert given_up.error == "telegram: HTTP 400 Bad Request: chat not found"  # type: ignore[attr-defined]


async def test_unreachable_server_is_not_fatal_and_token_never_logged(capsys) -> None:  # type: ignore[no-untyped-def]
    setup_logging(level="DEBUG", json_lines=True, stream=None)
    try:
        # nothing listens on port 9 of localhost: connection refused
        channel = TelegramChannel(token=TOKEN, chat_id=CHAT, bot="b", api_base="http://127.0.0.1:9")
        lark = LarkChannel(bot="b", token="lark-secret-token-42", api_base="http://127.0.0.1:9")
        dispatcher = NotificationDispatcher([channel, lark], attempts=2, retry_delay=0.01)
        await dispatcher.start()
        dispatcher.notify(NotifyEvent.START, "started")
        await dispatcher.close(drain_s=10)
        logging.getLogger("test").info("the url was https://api.telegram.org/bot%s/sendMessage", TOKEN)
    finally:
        logging.getLogger().handlers.clear()
    out = capsys.readouterr().out
    assert "notification not delivered" in out
    assert "ConnectError" in out
    assert TOKEN not in out and TOKEN.split(":")[1] not in out
    assert "lark-secret-token-42" not in out
    assert "/bot***/sendMessage" in out


def test_midnight_schedule() -> None:
    assert seconds_until_next_midnight_utc(datetime(2026, 11, 25, 23, 59, 30, tzinfo=UTC)) == 30
    assert seconds_until_next_midnight_utc(datetime(2026, 11, 25, 0, 0, tzinfo=UTC)) == 86400


async def test_daily_summary_sends_the_summary(fake_api) -> None:  # type: ignore[no-untyped-def]
    channel = LarkChannel(bot="b", token="tok-123456", api_base=fake_api.base)
    dispatcher = NotificationDispatcher([channel], events=["daily"])
    await dispatcher.start()
    daily = DailySummary(
        dispatcher, lambda: "fills 3, realized PnL 1.5", clock=lambda: datetime(2026, 11, 26, tzinfo=UTC)
    )
    daily.send_now()
    await dispatcher.close(drain_s=5)
    [req] = fake_api.requests
    assert req.body["content"]["text"] == "[b] daily summary 2026-11-25\nfills 3, realized PnL 1.5"
