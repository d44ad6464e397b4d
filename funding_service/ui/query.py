"""The dashboard's query parameters: the API's own names and units (``min_net_apr=0.15`` is 15 %), so the same query
string works on ``/api/v1/opportunities``; plus ``chart`` (the charted symbol) and ``days`` (its span)."""

from __future__ import annotations

from decimal import Decimal
from typing import get_args
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field

from funding_service.core.opportunities import SortField

SORT_FIELDS: frozenset[str] = frozenset(get_args(SortField))
# the parameters passed on to /api/v1/opportunities, in the order the URLs carry them
API_PARAMS = (
    "symbol",
    "dex",
    "min_net_apr",
    "hold_hours",
    "position_size_usd",
    "include_stale",
    "limit",
    "sort_by",
    "sort_desc",
)


class PageQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str | None = Field(None, max_length=64)
    dex: str | None = Field(None, max_length=64)
    min_net_apr: Decimal | None = Field(None, ge=-1000, le=1000)
    hold_hours: Decimal | None = Field(None, gt=0, le=8760)
    position_size_usd: Decimal | None = Field(None, gt=0, le=Decimal("1e12"))
    include_stale: bool = False
    limit: int = Field(25, ge=1, le=100)
    sort_by: SortField = "net_apr"
    sort_desc: bool = True
    chart: str | None = Field(None, max_length=64)
    days: int = Field(7, ge=1, le=30)

    def params(self, **changes: object) -> dict[str, str]:
        """The non-default parameters of this view (with ``changes``), as strings for a URL."""
        values = self.model_copy(update=changes)
        out: dict[str, str] = {}
        for name, field in PageQuery.model_fields.items():
            value = getattr(values, name)
            if value is None or value == field.default:
                continue
            out[name] = str(value).lower() if isinstance(value, bool) else str(value)
        return out

    def url(self, **changes: object) -> str:
        query = urlencode(self.params(**changes))
        return f"./?{query}" if query else "./"

    def api_params(self) -> dict[str, str]:
        """The query of ``/api/v1/opportunities`` that answers this view's table (defaults spelled out)."""
        out = {k: v for k, v in self.params().items() if k in API_PARAMS}
        out.update(limit=str(self.limit), sort_by=self.sort_by, sort_desc=str(self.sort_desc).lower())
        return out
