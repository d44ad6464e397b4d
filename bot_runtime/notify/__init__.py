"""Notifications: Telegram and Lark channels behind one rate-limited dispatcher.

Credentials come from the environment with the original perp-dex-tools names (the operator maps the Secrets of
``spec.notifications`` to these env vars): ``TELEGRAM_BOT_TOKEN`` + ``TELEGRAM_CHAT_ID``; ``LARK_WEBHOOK_URL`` or
``LARK_TOKEN``. API bases are overridable with ``TELEGRAM_API_BASE`` / ``LARK_API_BASE`` (or the arguments below),
so tests point them at a local server. See docs/notifications.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping

import httpx

from bot_runtime.exchanges.registry import is_placeholder
from bot_runtime.logs import SecretRedactor
from bot_runtime.notify.base import ALL_EVENTS, Channel, Notification, NotificationError, NotifyEvent
from bot_runtime.notify.daily import DailySummary, seconds_until_next_midnight_utc
from bot_runtime.notify.dispatcher import NotificationDispatcher, ResultHook
from bot_runtime.notify.lark import LarkChannel
from bot_runtime.notify.ratelimit import TokenBucket
from bot_runtime.notify.telegram import TelegramChannel

__all__ = [
    "ALL_EVENTS",
    "Channel",
    "DailySummary",
    "LarkChannel",
    "Notification",
    "NotificationDispatcher",
    "NotificationError",
    "NotifyEvent",
    "TelegramChannel",
    "TokenBucket",
    "build_channels",
    "build_dispatcher",
    "seconds_until_next_midnight_utc",
]

log = logging.getLogger(__name__)


def _value(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key, "")
    return None if is_placeholder(value) else value.strip()


def build_channels(
    bot: str,
    env: Mapping[str, str] | None = None,
    *,
    want_telegram: bool | None = None,
    want_lark: bool | None = None,
    telegram_api_base: str | None = None,
    lark_api_base: str | None = None,
    client: httpx.AsyncClient | None = None,
) -> list[Channel]:
    """The channels whose credentials are in ``env``.

    ``want_*`` = the config lists that channel (``True``: warn naming the missing env keys when absent; ``False``:
    never build it; ``None``: build it when its credentials are present, as the original did with a ``.env``).
    """
    env = os.environ if env is None else env
    channels: list[Channel] = []
    if want_telegram is not False:
        token, chat_id = _value(env, "TELEGRAM_BOT_TOKEN"), _value(env, "TELEGRAM_CHAT_ID")
        if token and chat_id:
            channels.append(
                TelegramChannel(
                    token=token,
                    chat_id=chat_id,
                    bot=bot,
                    api_base=telegram_api_base or env.get("TELEGRAM_API_BASE") or None,
                    client=client,
                )
            )
        elif want_telegram:
            missing = [k for k, v in (("TELEGRAM_BOT_TOKEN", token), ("TELEGRAM_CHAT_ID", chat_id)) if not v]
            log.warning("telegram notifications configured but env var(s) missing", extra={"missing": missing})
    if want_lark is not False:
        webhook, token = _value(env, "LARK_WEBHOOK_URL"), _value(env, "LARK_TOKEN")
        if webhook or token:
            channels.append(
                LarkChannel(
                    bot=bot,
                    webhook=webhook,
                    token=token,
                    api_base=lark_api_base or env.get("LARK_API_BASE") or None,
                    client=client,
                )
            )
        elif want_lark:
            log.warning(
                "lark notifications configured but env var missing", extra={"missing": ["LARK_WEBHOOK_URL|LARK_TOKEN"]}
            )
    return channels


def build_dispatcher(
    bot: str,
    env: Mapping[str, str] | None = None,
    *,
    events: Iterable[NotifyEvent | str] | None = None,
    want_telegram: bool | None = None,
    want_lark: bool | None = None,
    telegram_api_base: str | None = None,
    lark_api_base: str | None = None,
    on_result: ResultHook | None = None,
    rate_per_minute: float = 20.0,
    burst: int = 5,
    redactor: SecretRedactor | None = None,
) -> NotificationDispatcher:
    """The bot's dispatcher; ``redactor`` (default: the environment's credentials) masks titles and bodies."""
    channels = build_channels(
        bot,
        env,
        want_telegram=want_telegram,
        want_lark=want_lark,
        telegram_api_base=telegram_api_base,
        lark_api_base=lark_api_base,
    )
    return NotificationDispatcher(
        channels,
        events=ALL_EVENTS if events is None else events,
        on_result=on_result,
        rate_per_minute=rate_per_minute,
        burst=burst,
        redactor=redactor,
    )
