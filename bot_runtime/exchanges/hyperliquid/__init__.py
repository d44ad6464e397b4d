"""Hyperliquid perpetuals on the official ``hyperliquid-python-sdk`` (its L1-action signing and wire rules).

Imported through ``registry.load_venue("hyperliquid")``; the trading client (and so the SDK and eth-account) is
imported only by :func:`create_exchange`, the funding adapter needs neither (public ``/info`` over httpx).

Env: ``HYPERLIQUID_API_PRIVATE_KEY`` (the API wallet / agent key), ``HYPERLIQUID_ACCOUNT_ADDRESS`` (the account it
trades for); optional ``HYPERLIQUID_NETWORK`` (mainnet|testnet), ``HYPERLIQUID_BASE_URL``, ``HYPERLIQUID_WS_URL``.
Options: ``network``, ``baseUrl``, ``wsUrl``, ``marketSlippage``, ``heartbeatInterval`` and the common ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.hyperliquid.client import HyperliquidExchange
    from bot_runtime.exchanges.hyperliquid.config import HyperliquidCredentials, HyperliquidSettings

    credentials = HyperliquidCredentials.from_env(env, name)
    return HyperliquidExchange(name, HyperliquidSettings.load(options, env), credentials)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.hyperliquid.config import HyperliquidSettings
    from bot_runtime.exchanges.hyperliquid.funding import HyperliquidFundingSource

    return HyperliquidFundingSource(name, HyperliquidSettings.load(options, os.environ))
