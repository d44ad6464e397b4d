"""Aster (asterdex.com) perpetuals: Binance-USDⓈ-M-shaped REST + WebSocket API, V3 (EIP-712) or V1 (HMAC) signed.

Aster publishes no official Python SDK on PyPI (``aster-sdk`` 0.0.1 is an unrelated "utility library" placeholder;
``aster-trading-bot`` is a third-party bot framework), so this client is written on ``httpx`` + ``websockets``
against the venue's documented futures API (github.com/asterdex/api-docs, ``V3(Recommended)/EN`` and
``V1(Legacy)/EN``; see :mod:`.signing`).

Credentials: V3 ``ASTER_USER``, ``ASTER_SIGNER``, ``ASTER_SIGNER_PRIVATE_KEY`` (an API wallet), or V1 ``ASTER_API_KEY``,
``ASTER_SECRET_KEY`` (keys created before V1 closed); V3 when its three keys are set. Options/env: ``baseUrl``/``ASTER_BASE_URL`` (default
``https://fapi.asterdex.com``), ``wsUrl``/``ASTER_WS_URL`` (default ``wss://fstream.asterdex.com``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.aster.client import AsterExchange
    from bot_runtime.exchanges.aster.settings import AsterSettings

    return AsterExchange(name, AsterSettings.load(options, env), env)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.aster.funding import AsterFundingSource
    from bot_runtime.exchanges.aster.settings import AsterSettings

    return AsterFundingSource(name, AsterSettings.load(options, os.environ))
