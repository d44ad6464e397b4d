"""ApeX Omni (zkLink perpetuals) on its documented REST API, signing orders with the official SDK ``apexomni``'s
zkLink binding (:mod:`.signing`; the SDK package itself cannot import under the project's pins, docs/exchanges/apex.md).

Built: the order-signing layer and the funding adapter (:mod:`.funding`, public endpoints over httpx, no SDK import).
Not built: the trading client (docs/exchanges/apex.md says what is missing and why), so this module exports only
:func:`create_funding_source`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_runtime.exchanges.base import FundingSource


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    import os

    from bot_runtime.exchanges.apex.config import ApexSettings
    from bot_runtime.exchanges.apex.funding import ApexFundingSource

    return ApexFundingSource(name, ApexSettings.load(options, os.environ))
