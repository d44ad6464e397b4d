"""Lighter (zkLighter) on the official ``lighter-sdk``: trading client and funding adapter.

Imported only through ``registry.load_venue("lighter")``: importing this package imports the SDK.
Env (the original's names): API_KEY_PRIVATE_KEY, LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX; optional
LIGHTER_BASE_URL, LIGHTER_WS_URL, LIGHTER_CHAIN_ID. Options: baseUrl, wsUrl, chainId, requestTimeout,
confirmTimeout, marketSlippage, stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.lighter.client import LighterExchange
from bot_runtime.exchanges.lighter.config import LighterConfig, LighterPublicConfig
from bot_runtime.exchanges.lighter.funding import LighterFundingSource

__all__ = ["LighterExchange", "LighterFundingSource", "create_exchange", "create_funding_source"]


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> LighterExchange:
    return LighterExchange(LighterConfig.from_env(options, env), name=name)


def create_funding_source(name: str, options: Mapping[str, Any]) -> LighterFundingSource:
    import os

    return LighterFundingSource(LighterPublicConfig.from_options(options, os.environ), name=name)
