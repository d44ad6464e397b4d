"""Where paper bots and collectors find the paper exchange: ``PERPDEX_PAPER_EXCHANGE_URL`` in their pod, from the
resource's ``spec.paperExchange.url`` or else the operator's ``--paper-exchange-url`` (the chart's service when
``paperExchange.enabled``). Rendered only when the resource uses a paper venue and a URL is known; without one a paper
venue is simulated inside the pod (its account then dies with the pod)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot_runtime.exchanges.paper.client import URL_ENV
from bot_runtime.exchanges.symbols import venue_family


def paper_exchange_url(spec: Mapping[str, Any], default: str | None) -> str | None:
    override = (spec.get("paperExchange") or {}).get("url")
    return str(override) if override else default


def paper_exchange_env(spec: Mapping[str, Any], venues: Iterable[str], default: str | None) -> list[dict[str, Any]]:
    if not any(venue_family(v) == "paper" for v in venues):
        return []
    url = paper_exchange_url(spec, default)
    return [{"name": URL_ENV, "value": url}] if url else []


def bot_venues(spec: Mapping[str, Any]) -> list[str]:
    """The venues a TradingBot trades on (grid: ``exchange``; fundingArb: ``fundingArb.exchanges``)."""
    venues = [str(spec["exchange"])] if spec.get("exchange") else []
    venues += [str(v) for v in (spec.get("fundingArb") or {}).get("exchanges") or []]
    return venues
