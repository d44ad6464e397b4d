"""ApeX Omni (zkLink perpetuals) on its documented REST API, signing orders with the official SDK ``apexomni``'s
zkLink binding (:mod:`.signing`; the SDK package itself cannot import under the project's pins, docs/exchanges/apex.md).

Imported through ``registry.load_venue("apex")``: the trading client (:mod:`.client`, and so the SDK's zkLink binding)
only by :func:`create_exchange`; the funding adapter (:mod:`.funding`) reads public endpoints over httpx and imports
no SDK.

Env: ``APEX_API_KEY``, ``APEX_API_KEY_SECRET``, ``APEX_API_KEY_PASSPHRASE``, ``APEX_OMNI_KEY_SEED``; optional
``APEX_NETWORK`` (mainnet|testnet), ``APEX_BASE_URL``, ``APEX_WS_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.apex.client import ApexExchange
    from bot_runtime.exchanges.apex.config import ApexCredentials, ApexSettings

    credentials = ApexCredentials.from_env(env, name)
    return ApexExchange(name, ApexSettings.load(options, env), credentials)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.apex.config import ApexSettings
    from bot_runtime.exchanges.apex.funding import ApexFundingSource

    return ApexFundingSource(name, ApexSettings.load(options, os.environ))
