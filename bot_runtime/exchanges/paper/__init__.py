"""The paper venue (``paper``, ``paper-a``, ``paper-b``, ...): a simulated perpetual market with the same interface,
lifecycle, fees and funding as a real venue.

Two ways to reach one, chosen by whether a paper exchange URL is configured (option ``baseUrl`` or
``PERPDEX_PAPER_EXCHANGE_URL``, which the operator renders for paper bots and collectors):

- :mod:`.client`: the paper exchange service (:mod:`bot_runtime.paper_exchange`), over the network like a live venue;
  the account, its orders and positions outlive the bot (what deployed bots and collectors use);
- :mod:`.exchange`: the in-process simulator (unit tests, ``perpdex bot`` on a laptop); its state dies with the
  process.

Both run the same matching rules (:mod:`bot_runtime.paper_exchange.engine`); :mod:`.funding` is the funding model,
:mod:`.prices` the price paths, :mod:`.markets` the market set, built from the :mod:`.options`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from bot_runtime.exchanges.base import Exchange, FundingSource
from bot_runtime.exchanges.paper.client import URL_ENV, PaperServiceExchange, PaperServiceFundingSource, service_url
from bot_runtime.exchanges.paper.exchange import PaperExchange
from bot_runtime.exchanges.paper.funding import FundingModel, PaperFundingSource
from bot_runtime.exchanges.paper.options import PaperOptions
from bot_runtime.exchanges.paper.prices import GbmPath, PricePath, ReplayPath, ScriptedPath

log = logging.getLogger(__name__)

__all__ = [
    "FundingModel",
    "GbmPath",
    "PaperExchange",
    "PaperFundingSource",
    "PaperOptions",
    "PaperServiceExchange",
    "PaperServiceFundingSource",
    "PricePath",
    "ReplayPath",
    "ScriptedPath",
    "create_exchange",
    "create_funding_source",
]


def create_exchange(name: str, options: Mapping[str, Any], env: Mapping[str, str]) -> Exchange:
    """Registry entry point: the paper exchange's client when its URL is configured, else the in-process simulator
    (a paper venue needs no credentials)."""
    if service_url(options, env) is not None:
        return PaperServiceExchange(name, options, env)
    log.warning(
        "%s: no paper exchange URL (%s): simulating in-process, the account dies with this process", name, URL_ENV
    )
    return PaperExchange(name, options)


def create_funding_source(name: str, options: Mapping[str, Any]) -> FundingSource:
    url = service_url(options, os.environ)
    if url is not None:
        return PaperServiceFundingSource(name, url)
    return PaperFundingSource(name, PaperOptions.parse(name, options))
