"""A notification's title and body are redacted before they are queued: a credential of the environment, the ingest
token, a JWT or a bearer token in an error message never reaches a chat."""

from __future__ import annotations

import asyncio

import pytest

from bot_runtime.logs import SecretRedactor
from bot_runtime.notify import NotificationDispatcher, NotifyEvent
from bot_runtime.notify.base import Channel, Notification

ENV = {"PERPDEX_INGEST_TOKEN": "ingest-token-0123456789", "GRVT_API_KEY": "grvt-key-ABCDEFGH"}
# made up, assembled so that secret scanners do not take the file for a leak
JWT = (
    "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9" + "." + "eyJzdWIiOiIweDAxMjMiLCJleHAiOjE3MDAwMDAwMDB9" + "." + "c2lnbmF0dXJl"
)


class Recording(Channel):
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.got = asyncio.Event()

    async def send(self, notification: Notification, *, dropped: int = 0) -> None:
        self.sent.append(notification)
        self.got.set()


async def test_titles_and_bodies_are_redacted() -> None:
    channel = Recording()
    dispatcher = NotificationDispatcher([channel], redactor=SecretRedactor.from_env(ENV))
    await dispatcher.start()
    try:
        assert dispatcher.notify(
            NotifyEvent.ERROR,
            f"error: AuthenticationError: key grvt-key-ABCDEFGH refused, jwt {JWT}",
            "POST /ingest: Bearer ingest-token-0123456789 rejected",
        )
        await asyncio.wait_for(channel.got.wait(), 10)
    finally:
        await dispatcher.close()
    [sent] = channel.sent
    assert sent.title == "error: AuthenticationError: key *** refused, jwt ***"
    assert sent.body == "POST /ingest: Bearer *** rejected"


def test_the_default_redactor_is_the_environments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPDEX_INGEST_TOKEN", "env-ingest-token-42")
    dispatcher = NotificationDispatcher([])
    assert dispatcher.redactor.redact("token env-ingest-token-42") == "token ***"
