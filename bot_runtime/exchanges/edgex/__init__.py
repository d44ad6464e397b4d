"""EdgeX (V2 API) on the official ``edgex-python-sdk``: trading client and funding adapter.

Imported only through ``registry.load_venue("edgex")``: importing this package imports the SDK.
Env: EDGEX_ACCOUNT_ID, EDGEX_STARK_PRIVATE_KEY (holds the V2 "SDK Signer" private key), EDGEX_API_KEY,
EDGEX_API_PASSPHRASE, EDGEX_API_SECRET; optional EDGEX_BASE_URL, EDGEX_WS_URL.
Options: baseUrl, wsUrl, requestTimeout, confirmTimeout, stream.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.edgex.client import EdgexExchange
from bot_runtime.exchanges.edgex.config import EdgexConfig, EdgexPublicConfig
from bot_runtime.exchanges.edgex.funding import EdgexFundingSource

__all__ = ["EdgexExchange", "EdgexFundingSource", "create_exchange", "create_funding_source"]


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> EdgexExchange:
    return EdgexExchange(EdgexConfig.from_env(options, env), name=name)


def create_funding_source(name: str, options: Mapping[str, Any]) -> EdgexFundingSource:
    return EdgexFundingSource(EdgexPublicConfig.from_options(options, os.environ), name=name)
