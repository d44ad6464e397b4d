"""Paradex perpetuals on ``paradex-py`` (Starknet signing of orders and of the JWT auth request).

paradex-py's REST client is synchronous httpx: every SDK call runs in a worker thread (``asyncio.to_thread``), never
on the event loop. The system config is fetched asynchronously (or given in options) and passed to the SDK as
``config`` so its constructor does no blocking fetch. The order/fill stream is a JSON-RPC WebSocket written here
(auth with the SDK's JWT, ``orders.ALL`` + ``fills.ALL``) so reconnects, resubscription and REST reconciliation are
under our control. The funding adapter uses public endpoints over httpx and never imports paradex-py (the heaviest
SDK: ~1.4 s and ~127 MB to import).

Credentials: ``PARADEX_L1_ADDRESS``, ``PARADEX_L2_PRIVATE_KEY`` (``PARADEX_L2_ADDRESS`` optional, checked against the
derived address). ``PARADEX_ENVIRONMENT``: prod | testnet (default, as the original) | nightly. Options/env:
``baseUrl``/``PARADEX_BASE_URL`` (default ``https://api.<env>.paradex.trade/v1``), ``wsUrl``/``PARADEX_WS_URL``
(default ``wss://ws.api.<env>.paradex.trade/v1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.paradex.client import ParadexExchange
    from bot_runtime.exchanges.paradex.settings import ParadexSettings

    return ParadexExchange(name, ParadexSettings.load(options, env), env)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.paradex.funding import ParadexFundingSource
    from bot_runtime.exchanges.paradex.settings import ParadexSettings

    return ParadexFundingSource(name, ParadexSettings.load(options, os.environ))
