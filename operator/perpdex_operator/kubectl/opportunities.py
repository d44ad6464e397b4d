"""``opportunities [--symbol S] [--min-apr X]``: the funding service's ranked opportunities, read through the API
server's service proxy (``/api/v1/namespaces/NS/services/NAME:http/proxy/...``): no port-forward, only the user's
RBAC (``get`` on ``services/proxy`` in the funding service's namespace).

The funding service is the Service labelled ``app.kubernetes.io/component=funding-service`` (the chart's), found
in ``-n`` or else in every namespace the user can list; ``--service NS/NAME[:PORT]`` names one directly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from perpdex_operator.kubectl import display as d
from perpdex_operator.kubectl.kube import Kubectl, KubectlError
from perpdex_operator.kubectl.models import items

COMPONENT_LABEL = "app.kubernetes.io/component=funding-service"
DEFAULT_PORT = "http"


class Row(BaseModel):
    """The fields of ``/api/v1/opportunities`` rows this table shows (the funding service's wire names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    symbol: str
    long_dex: str
    short_dex: str
    net_apr: Decimal | None = None
    gross_apr: Decimal | None = None
    break_even_hours: Decimal | None = None
    daily_pnl_usd: Decimal | None = None
    min_oi_usd: Decimal | None = None
    data_age_seconds: float | None = None
    stale: bool = False


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    opportunities: list[Row] = Field(default_factory=list)
    matched_count: int = 0
    filters_applied: dict[str, Any] = Field(default_factory=dict)


def find_service(kubectl: Kubectl, namespace: str | None, named: str | None) -> tuple[str, str, str]:
    """(namespace, name, port) of the funding service."""
    if named:
        ns_name, _, port = named.partition(":")
        ns, slash, name = ns_name.partition("/")
        if not slash or not ns or not name:
            raise KubectlError(f"--service {named!r}: give NAMESPACE/NAME[:PORT]")
        return ns, name, port or DEFAULT_PORT
    scope = ["-n", namespace] if namespace else ["--all-namespaces"]
    found = items(kubectl.json(["get", "services", "-l", COMPONENT_LABEL, *scope]))
    if not found:
        where = f"namespace {namespace!r}" if namespace else "any namespace"
        raise KubectlError(
            f"no funding service in {where} (a Service labelled {COMPONENT_LABEL}); install the chart with "
            "fundingService.enabled, or name one with --service NAMESPACE/NAME[:PORT]"
        )
    if len(found) > 1:
        names = ", ".join(f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in found)
        raise KubectlError(f"several funding services ({names}): choose one with -n or --service")
    meta = found[0]["metadata"]
    return meta["namespace"], meta["name"], DEFAULT_PORT


def fetch(
    kubectl: Kubectl, service: tuple[str, str, str], *, symbol: str | None, min_apr: Decimal | None, limit: int
) -> Answer:
    ns, name, port = service
    query = {"limit": str(limit), "sort_by": "net_apr", "sort_desc": "true"}
    if symbol:
        query["symbol"] = symbol.upper()
    if min_apr is not None:
        query["min_net_apr"] = str(min_apr)
    path = f"/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/api/v1/opportunities?{urlencode(query)}"
    try:
        raw = kubectl.raw(path)
    except KubectlError as exc:
        raise KubectlError(f"the funding service {ns}/{name} did not answer through the API server: {exc}") from exc
    try:
        return Answer.model_validate(json.loads(raw))
    except ValueError as exc:
        raise KubectlError(
            f"the funding service {ns}/{name} answered something else than opportunities: {exc}"
        ) from exc


def render(answer: Answer) -> str:
    if not answer.opportunities:
        return "No opportunity matches."
    table = d.table(
        ["symbol", "long", "short", "net apr", "gross apr", "break-even", "daily pnl", "min oi", "age"],
        [
            [
                r.symbol,
                r.long_dex,
                r.short_dex,
                d.percent(r.net_apr),
                d.percent(r.gross_apr),
                d.NONE if r.break_even_hours is None else f"{d.decimal(r.break_even_hours, 1)}h",
                d.decimal(r.daily_pnl_usd),
                d.NONE if r.min_oi_usd is None else f"{r.min_oi_usd.quantize(Decimal(1)):,}",
                (f"{int(r.data_age_seconds)}s" if r.data_age_seconds is not None else d.NONE)
                + (" stale" if r.stale else ""),
            ]
            for r in answer.opportunities
        ],
    )
    hold = answer.filters_applied.get("hold_hours")
    size = answer.filters_applied.get("position_size_usd")
    footer = f"{len(answer.opportunities)} of {answer.matched_count} matching pairs; net APR over a {hold} h hold, ${size} per leg"
    return f"{table}\n\n{footer}"
