"""Backpack Exchange perpetuals on ``bpx-py`` (ED25519 request signing).

bpx-py builds and signs every private request (``bpx.base.base_account.BaseAccount``); this client sends them with
``httpx`` (status codes and timeouts preserved, one connection pool) and adds what bpx-py lacks: the WebSocket
streams (``account.orderUpdate``, ``bookTicker.<symbol>``, signed with the same ED25519 scheme) and mark prices.

Credentials: ``BACKPACK_PUBLIC_KEY``, ``BACKPACK_SECRET_KEY`` (base64 ED25519). Options/env: ``baseUrl`` /
``BACKPACK_BASE_URL`` (default ``https://api.backpack.exchange``), ``wsUrl`` / ``BACKPACK_WS_URL`` (default
``wss://ws.backpack.exchange``). The funding adapter uses only public endpoints and does not import bpx-py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.backpack.client import BackpackExchange
    from bot_runtime.exchanges.backpack.settings import BackpackSettings

    return BackpackExchange(name, BackpackSettings.load(options, env), env)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.backpack.funding import BackpackFundingSource
    from bot_runtime.exchanges.backpack.settings import BackpackSettings

    return BackpackFundingSource(name, BackpackSettings.load(options, os.environ))
