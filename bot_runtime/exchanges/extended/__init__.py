"""Extended (x10) perpetuals on Starknet, on the official ``x10-python-trading-starknet`` SDK (its order signing and
models).

Imported through ``registry.load_venue("extended")``; the trading client (and so the SDK and fast-stark-crypto) is
imported only by :func:`create_exchange`, the funding adapter needs neither (public ``/info/markets`` over httpx).

Env: ``EXTENDED_API_KEY``, ``EXTENDED_STARK_KEY_PRIVATE``, ``EXTENDED_STARK_KEY_PUBLIC``, ``EXTENDED_VAULT``;
optional ``EXTENDED_NETWORK`` (mainnet|testnet), ``EXTENDED_BASE_URL``, ``EXTENDED_WS_URL``.
Options: ``network``, ``baseUrl``, ``wsUrl``, ``orderConfirmTimeout``, ``orderConfirmPoll``, ``orderExpiryDays``,
``marketSlippage`` and the common ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.extended.client import ExtendedExchange
    from bot_runtime.exchanges.extended.config import ExtendedCredentials, ExtendedSettings

    credentials = ExtendedCredentials.from_env(env, name)
    return ExtendedExchange(name, ExtendedSettings.load(options, env), credentials)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.extended.config import ExtendedSettings
    from bot_runtime.exchanges.extended.funding import ExtendedFundingSource

    return ExtendedFundingSource(name, ExtendedSettings.load(options, os.environ))
