"""GRVT on the official ``grvt-pysdk``: trading client and funding adapter.

Imported only through ``registry.load_venue("grvt")``: importing this package imports the SDK.
Env (the original's names): GRVT_TRADING_ACCOUNT_ID, GRVT_PRIVATE_KEY, GRVT_API_KEY, GRVT_ENVIRONMENT
(prod|testnet); optional GRVT_BASE_URL (one server for every GRVT host, e.g. a local replay server) and GRVT_WS_URL.
Options: environment, baseUrl, wsUrl, marketWsUrl, requestTimeout, confirmTimeout, orderDurationSecs, stream.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.grvt.client import GrvtExchange
from bot_runtime.exchanges.grvt.config import GrvtConfig, GrvtPublicConfig
from bot_runtime.exchanges.grvt.funding import GrvtFundingSource

__all__ = ["GrvtExchange", "GrvtFundingSource", "create_exchange", "create_funding_source"]


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> GrvtExchange:
    return GrvtExchange(GrvtConfig.from_env(options, env), name=name)


def create_funding_source(name: str, options: Mapping[str, Any]) -> GrvtFundingSource:
    return GrvtFundingSource(GrvtPublicConfig.from_options(options, os.environ), name=name)
