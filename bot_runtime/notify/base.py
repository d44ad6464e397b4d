"""What every notification channel shares: the events, the message, the channel contract, its errors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum


class NotifyEvent(StrEnum):
    """The events a bot notifies about (``spec.notifications.events``)."""

    START = "start"
    STOP = "stop"
    FILL = "fill"
    RISK = "risk"
    ERROR = "error"
    DAILY = "daily"


ALL_EVENTS: frozenset[NotifyEvent] = frozenset(NotifyEvent)


@dataclass(frozen=True)
class Notification:
    event: NotifyEvent
    title: str
    body: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class NotificationError(Exception):
    """A send failed. Messages never contain the token or the webhook address."""

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Channel(ABC):
    """One destination (a Telegram chat, a Lark group)."""

    name: str

    @abstractmethod
    async def send(self, notification: Notification, *, dropped: int = 0) -> None:
        """Deliver one message; ``dropped`` = how many earlier messages the rate limiter discarded (mentioned in the
        text). Raises :class:`NotificationError`."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release the HTTP client."""
