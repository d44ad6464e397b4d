"""Connection settings common to every venue client, read from the bot's ``options`` (camelCase keys, as in the
TradingBot/FundingCollector spec) and from env vars (``<VENUE>_BASE_URL``...), options first."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot_runtime.exchanges._shared.backoff import Backoff
from bot_runtime.exchanges._shared.ws import Answer, MessageHandler, ReconnectingWebSocket, SessionHook, UrlSource

log = logging.getLogger(__name__)


class VenueSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str
    ws_url: str
    request_timeout: float = Field(default=10.0, gt=0)
    reconnect_initial_delay: float = Field(default=0.5, gt=0)
    reconnect_max_delay: float = Field(default=30.0, gt=0)
    ws_ping_interval: float | None = Field(default=20.0, gt=0)
    ws_idle_timeout: float | None = Field(default=None, gt=0)

    def backoff(self) -> Backoff:
        return Backoff(initial=self.reconnect_initial_delay, maximum=self.reconnect_max_delay)

    def websocket(
        self,
        name: str,
        on_message: MessageHandler,
        *,
        url: UrlSource | None = None,
        on_connect: SessionHook | None = None,
        on_reconnect: SessionHook | None = None,
        headers: Callable[[], Mapping[str, str]] | None = None,
        answer: Answer | None = None,
    ) -> ReconnectingWebSocket:
        """A :class:`ReconnectingWebSocket` to ``url`` (default: :attr:`ws_url`) with these settings' backoff,
        ping interval and idle timeout (``headers``, ``answer``: see the socket)."""
        return ReconnectingWebSocket(
            self.ws_url if url is None else url,
            name=name,
            on_message=on_message,
            on_connect=on_connect,
            on_reconnect=on_reconnect,
            headers=headers,
            answer=answer,
            backoff=self.backoff(),
            ping_interval=self.ws_ping_interval,
            idle_timeout=self.ws_idle_timeout,
        )


_COMMON_OPTIONS = {
    "requestTimeout": "request_timeout",
    "reconnectInitialDelay": "reconnect_initial_delay",
    "reconnectMaxDelay": "reconnect_max_delay",
    "wsPingInterval": "ws_ping_interval",
    "wsIdleTimeout": "ws_idle_timeout",
}


def settings_fields(
    options: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    venue: str,
    default_base_url: str,
    default_ws_url: str,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The keyword arguments for a :class:`VenueSettings` subclass: ``baseUrl``/``wsUrl`` from options, else
    ``<VENUE>_BASE_URL``/``<VENUE>_WS_URL``, else the defaults; ``extra`` maps further camelCase options to fields."""
    prefix = venue.upper()
    fields: dict[str, Any] = {
        "base_url": str(options.get("baseUrl") or env.get(f"{prefix}_BASE_URL") or default_base_url).rstrip("/"),
        "ws_url": str(options.get("wsUrl") or env.get(f"{prefix}_WS_URL") or default_ws_url).rstrip("/"),
    }
    for option, field in {**_COMMON_OPTIONS, **(extra or {})}.items():
        if option in options and options[option] is not None:
            fields[field] = options[option]
    unknown = set(options) - {"baseUrl", "wsUrl", *_COMMON_OPTIONS, *(extra or {})}
    if unknown:
        log.warning("%s: ignoring unknown option(s) %s", venue, ", ".join(sorted(unknown)))
    return fields
