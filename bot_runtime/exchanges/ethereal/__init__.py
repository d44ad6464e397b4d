"""Ethereal perpetuals on the official ``ethereal-sdk`` (its EIP-712 order and cancel signing, its models).

Imported through ``registry.load_venue("ethereal")``; the trading client (and so the SDK, web3 and eth-account) is
imported only by :func:`create_exchange`, the funding adapter needs neither (public ``/v1/product`` over httpx).

Env: ``ETHEREAL_PRIVATE_KEY`` (the account's key or a linked signer's), ``ETHEREAL_ACCOUNT_ADDRESS`` (the account
that owns the subaccount); optional ``ETHEREAL_SUBACCOUNT`` (default ``primary``), ``ETHEREAL_NETWORK``
(mainnet|testnet), ``ETHEREAL_BASE_URL``, ``ETHEREAL_WS_URL``.
Options: ``network``, ``subaccount``, ``baseUrl``, ``wsUrl``, ``marketSlippage``, ``settleTimeout`` and the common ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.ethereal.client import EtherealExchange
    from bot_runtime.exchanges.ethereal.config import EtherealCredentials, EtherealSettings

    credentials = EtherealCredentials.from_env(env, name)
    return EtherealExchange(name, EtherealSettings.load(options, env), credentials)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.ethereal.config import EtherealSettings
    from bot_runtime.exchanges.ethereal.funding import EtherealFundingSource

    return EtherealFundingSource(name, EtherealSettings.load(options, os.environ))
