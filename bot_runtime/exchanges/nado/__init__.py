"""Nado perpetuals (the Vertex team's engine on Ink) on its documented gateway API, signing as the official SDK
(``nado-protocol``) does: its EIP-712 tables written out in :mod:`.signing` (the SDK itself cannot be imported under
the project's eth-account; docs/exchanges/nado.md).

Imported through ``registry.load_venue("nado")``; the trading client (and so eth-account) is imported only by
:func:`create_exchange`, the funding adapter needs neither (public indexer + gateway reads over httpx).

Env: ``NADO_PRIVATE_KEY`` (the wallet's key or a linked signer's); optional ``NADO_ACCOUNT_ADDRESS`` (the subaccount
owner when the key is a linked signer), ``NADO_SUBACCOUNT_NAME`` (default ``default``), ``NADO_NETWORK``
(mainnet|testnet), ``NADO_BASE_URL``, ``NADO_WS_URL``, ``NADO_INDEXER_URL``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import Exchange, FundingSource


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    from bot_runtime.exchanges.nado.client import NadoExchange
    from bot_runtime.exchanges.nado.config import NadoCredentials, NadoSettings

    credentials = NadoCredentials.from_env(env, name)
    return NadoExchange(name, NadoSettings.load(options, env), credentials)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.nado.config import NadoSettings
    from bot_runtime.exchanges.nado.funding import NadoFundingSource

    return NadoFundingSource(name, NadoSettings.load(options, os.environ))
