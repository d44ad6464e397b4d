"""Telegram Bot API: ``POST {base}/bot<token>/sendMessage`` with JSON ``{chat_id, text, parse_mode: "HTML"}``.

The token is part of the URL, so no URL, request or httpx error text ever leaves this module unredacted: errors are
re-raised as :class:`NotificationError` with the status and Telegram's ``description`` only.
"""

from __future__ import annotations

import html

import httpx

from bot_runtime.notify.base import Channel, Notification, NotificationError

DEFAULT_API_BASE = "https://api.telegram.org"
# Telegram rejects longer texts
MAX_TEXT = 4096


def render_html(notification: Notification, *, bot: str, dropped: int = 0) -> str:
    """``<b>[bot] title</b>`` then the escaped body (Telegram's HTML parse mode needs <, >, & escaped)."""
    text = f"<b>[{html.escape(bot)}] {html.escape(notification.title)}</b>"
    if notification.body:
        text += "\n" + html.escape(notification.body)
    if dropped:
        text += f"\n<i>({dropped} earlier message(s) dropped by the rate limit)</i>"
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return text


class TelegramChannel(Channel):
    name = "telegram"

    def __init__(
        self,
        *,
        token: str,
        chat_id: str,
        bot: str,
        api_base: str | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not token or not chat_id:
            raise ValueError("telegram needs TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID")
        self._url = f"{(api_base or DEFAULT_API_BASE).rstrip('/')}/bot{token}/sendMessage"
        self.chat_id = chat_id
        self.bot = bot
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    def __repr__(self) -> str:  # never the URL: it holds the token
        return f"TelegramChannel(chat_id={self.chat_id!r})"

    async def send(self, notification: Notification, *, dropped: int = 0) -> None:
        payload = {
            "chat_id": self.chat_id,
            "text": render_html(notification, bot=self.bot, dropped=dropped),
            "parse_mode": "HTML",
        }
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.HTTPError as exc:
            # str(exc) may contain the URL, hence the token: only the class name leaves
            raise NotificationError(f"telegram: {type(exc).__name__}", retryable=True) from None
        if response.status_code == 200:
            return
        description = ""
        retry_after: float | None = None
        try:
            data = response.json()
            description = str(data.get("description", ""))[:200]
            retry_after = float(data.get("parameters", {}).get("retry_after")) if data.get("parameters") else None
        except (ValueError, TypeError, AttributeError):
            pass
        if response.status_code == 429 and retry_after is None:
            header = response.headers.get("Retry-After")
            retry_after = float(header) if header and header.isdigit() else None
        retryable = response.status_code == 429 or response.status_code >= 500
        raise NotificationError(
            f"telegram: HTTP {response.status_code} {description}".rstrip(),
            retryable=retryable,
            retry_after=retry_after,
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
