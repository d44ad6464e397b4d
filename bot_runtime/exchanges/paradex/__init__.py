"""Paradex perpetuals: Starknet signing on ``paradex-py``/starknet-py (orders, the JWT auth and onboarding requests).

Only the SDK modules signing needs are imported, when the trading client connects (:mod:`.signing`); REST and the
order/fill stream (JSON-RPC WebSocket, auth with the JWT, ``orders.ALL`` + ``fills.ALL``) are asynchronous and written
here, so reconnects, resubscription and REST reconciliation are under our control. The system config is fetched
asynchronously (or given in options). The funding adapter uses public endpoints over httpx and never imports the SDK.

Credentials: ``PARADEX_L1_ADDRESS``, ``PARADEX_L2_PRIVATE_KEY`` (``PARADEX_L2_ADDRESS`` optional, checked against the
derived address). ``PARADEX_ENVIRONMENT``: prod (default, as the original) | testnet | nightly. Options/env:
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
