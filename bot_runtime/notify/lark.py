"""Lark (Feishu) custom bot: ``POST <webhook>`` with JSON ``{"msg_type": "text", "content": {"text": ...}}``.

The webhook is ``LARK_WEBHOOK_URL`` as given, or built from ``LARK_TOKEN``:
``{LARK_API_BASE or https://open.larksuite.com}/open-apis/bot/v2/hook/<token>``. The address is a credential (anyone
holding it can post): errors name the status and Lark's ``msg``, never the address.
"""

from __future__ import annotations

import httpx

from bot_runtime.notify.base import Channel, Notification, NotificationError

DEFAULT_API_BASE = "https://open.larksuite.com"
HOOK_PATH = "/open-apis/bot/v2/hook/"
# Lark's answer codes that mean "too frequent": worth a retry later
RATE_LIMIT_CODES = frozenset({9499, 11232})
MAX_TEXT = 4000


def webhook_url(*, webhook: str | None = None, token: str | None = None, api_base: str | None = None) -> str:
    if webhook:
        return webhook
    if token:
        return f"{(api_base or DEFAULT_API_BASE).rstrip('/')}{HOOK_PATH}{token}"
    raise ValueError("lark needs LARK_WEBHOOK_URL or LARK_TOKEN")


def render_text(notification: Notification, *, bot: str, dropped: int = 0) -> str:
    text = f"[{bot}] {notification.title}"
    if notification.body:
        text += "\n" + notification.body
    if dropped:
        text += f"\n({dropped} earlier message(s) dropped by the rate limit)"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


class LarkChannel(Channel):
    name = "lark"

    def __init__(
        self,
        *,
        bot: str,
        webhook: str | None = None,
        token: str | None = None,
        api_base: str | None = None,
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = webhook_url(webhook=webhook, token=token, api_base=api_base)
        self.bot = bot
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    def __repr__(self) -> str:  # never the webhook address
        return "LarkChannel()"

    async def send(self, notification: Notification, *, dropped: int = 0) -> None:
        payload = {"msg_type": "text", "content": {"text": render_text(notification, bot=self.bot, dropped=dropped)}}
        try:
            response = await self._client.post(self._url, json=payload)
        except httpx.HTTPError as exc:
            raise NotificationError(f"lark: {type(exc).__name__}", retryable=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise NotificationError(f"lark: HTTP {response.status_code}", retryable=True)
        if response.status_code != 200:
            raise NotificationError(f"lark: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            return  # a 200 without a JSON body (flow-trigger webhooks) is a success
        if not isinstance(data, dict):
            return
        # custom bots answer {"code": 0, "msg": "success"}; older ones {"StatusCode": 0, "StatusMessage": "success"}
        code = data.get("code", data.get("StatusCode", 0))
        if code in (0, None):
            return
        message = str(data.get("msg", data.get("StatusMessage", "")))[:200]
        raise NotificationError(f"lark: code {code} {message}".rstrip(), retryable=code in RATE_LIMIT_CODES)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
