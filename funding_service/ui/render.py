"""The dashboard's HTML: plain string templates, every value through :func:`html.escape` (no template engine).

Accessible by construction: one ``h1``, a skip link, a ``section`` per part with its heading, labelled form
controls, tables with a ``caption`` and ``th scope``, ``aria-sort`` on the sorted column, sorting by ordinary links
(keyboard and no-JavaScript friendly), the chart as ``role="img"`` with a text alternative and its data as a table.
Figures are rounded here only; the API keeps full precision (and each cell's ``data-value`` carries it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from html import escape
from urllib.parse import urlencode

from bot_runtime.funding_api.models import DexHealthRow, OpportunityRow
from funding_service.ui.data import Chart, Dashboard
from funding_service.ui.query import PageQuery

NONE = "–"


def e(value: object) -> str:
    return escape(str(value), quote=True)


def pct(fraction: Decimal | None, places: int = 2) -> str:
    return NONE if fraction is None else f"{_q(fraction * 100, places)} %"


def usd(value: Decimal | None, places: int = 0) -> str:
    return NONE if value is None else f"${_q(value, places):,}"


def num(value: Decimal | None, places: int = 1) -> str:
    return NONE if value is None else f"{_q(value, places)}"


def _q(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def age(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


# the table's columns: (header, sort field or None, cell) ---------------------------------------------------------------
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Symbol", "symbol"),
    ("Long", None),
    ("Short", None),
    ("Net APR", "net_apr"),
    ("Gross APR", "gross_apr"),
    ("Break-even", "break_even_hours"),
    ("Daily PnL", "daily_pnl_usd"),
    ("Min OI", "min_oi_usd"),
    ("Min 24h volume", "min_volume_24h"),
    ("Price spread", "price_spread_pct"),
    ("Data age", "data_age_seconds"),
)


def _cells(row: OpportunityRow, q: PageQuery) -> list[tuple[str, object]]:
    """(inner HTML, raw value) per column."""
    chart_link = f'<a href="{e(q.url(chart=row.symbol))}#chart">{e(row.symbol)}</a>'
    return [
        (chart_link, row.symbol),
        (f"{e(row.long_dex)} <small>{pct(row.long_apr)}</small>", row.long_dex),
        (f"{e(row.short_dex)} <small>{pct(row.short_apr)}</small>", row.short_dex),
        (pct(row.net_apr), row.net_apr),
        (pct(row.gross_apr), row.gross_apr),
        (NONE if row.break_even_hours is None else f"{num(row.break_even_hours)} h", row.break_even_hours),
        (usd(row.daily_pnl_usd, 2), row.daily_pnl_usd),
        (usd(row.min_oi_usd), row.min_oi_usd),
        (usd(row.min_volume_24h), row.min_volume_24h),
        (NONE if row.price_spread_pct is None else f"{num(row.price_spread_pct, 3)} %", row.price_spread_pct),
        (age(row.data_age_seconds) + (" (stale)" if row.stale else ""), row.data_age_seconds),
    ]


# columns whose first click sorts ascending (small is good); the others start descending
ASCENDING_FIRST = frozenset({"symbol", "break_even_hours", "data_age_seconds", "price_spread_pct"})


def _header(label: str, field: str | None, q: PageQuery) -> str:
    if field is None:
        return f'<th scope="col">{e(label)}</th>'
    current = q.sort_by == field
    desc = not q.sort_desc if current else field not in ASCENDING_FIRST
    sort = ""
    if current:
        sort = f' aria-sort="{"descending" if q.sort_desc else "ascending"}"'
    arrow = (" ▼" if q.sort_desc else " ▲") if current else ""
    order = "descending" if desc else "ascending"
    link = (
        f'<a href="{e(q.url(sort_by=field, sort_desc=desc))}#opportunities" title="sort {order}">{e(label)}{arrow}</a>'
    )
    return f'<th scope="col"{sort} data-sort="{e(field)}">{link}</th>'


def opportunities_section(page: Dashboard) -> str:
    q = page.query
    api = "../api/v1/opportunities?" + urlencode(q.api_params())
    head = "".join(_header(label, field, q) for label, field in COLUMNS)
    if page.table_error is not None:
        body = f'<p role="alert" class="error">{e(page.table_error)}</p>'
        return _section("opportunities", "Opportunities", body)
    table = page.table
    assert table is not None
    rows = []
    for r in table.opportunities:
        cells = "".join(f'<td data-value="{e("" if raw is None else raw)}">{inner}</td>' for inner, raw in _cells(r, q))
        rows.append(
            f'<tr data-symbol="{e(r.symbol)}" data-long="{e(r.long_dex)}" data-short="{e(r.short_dex)}">{cells}</tr>'
        )
    direction = "descending" if q.sort_desc else "ascending"
    caption = (
        f"{table.total_count} of {table.matched_count} matching pairs, sorted by {e(q.sort_by.replace('_', ' '))} "
        f"({direction}); net APR over a {e(table.filters_applied.get('hold_hours', ''))} h hold with "
        f"${e(table.filters_applied.get('position_size_usd', ''))} per leg"
        + (f"; {table.stale_excluded} stale pairs left out" if table.stale_excluded else "")
    )
    empty = (
        f'<tr><td colspan="{len(COLUMNS)}">No pair matches these filters.</td></tr>' if not table.opportunities else ""
    )
    body = (
        f'<table id="opportunities-table"><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}{empty}</tbody></table>"
        f'<p class="note">The same rows as JSON: <a href="{e(api)}">{e(api.removeprefix(".."))}</a></p>'
    )
    return _section("opportunities", "Opportunities", body)


def filters_section(page: Dashboard) -> str:
    q = page.query
    dexes = sorted({v.dex_name for v in page.venues})
    dex_options = '<option value="">any</option>' + "".join(
        f'<option value="{e(d)}"{" selected" if q.dex == d else ""}>{e(d)}</option>' for d in dexes
    )
    keep = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
        for k, v in q.params().items()
        if k in {"sort_by", "sort_desc", "chart", "days"}
    )

    def field(name: str, label: str, value: object, hint: str, kind: str = "text") -> str:
        shown = "" if value is None else value
        extra = ' inputmode="decimal"' if kind == "decimal" else ""
        return (
            f'<div class="field"><label for="f-{name}">{e(label)}</label>'
            f'<input id="f-{name}" name="{name}" type="text"{extra} value="{e(shown)}" aria-describedby="h-{name}">'
            f'<small id="h-{name}">{e(hint)}</small></div>'
        )

    body = (
        '<form method="get" action="./" class="filters">'
        + field("symbol", "Symbol", q.symbol, "canonical base, e.g. BTC")
        + f'<div class="field"><label for="f-dex">Venue</label><select id="f-dex" name="dex">{dex_options}</select>'
        "<small>on either leg</small></div>"
        + field("min_net_apr", "Min net APR", q.min_net_apr, "fraction: 0.15 = 15 %", "decimal")
        + field("hold_hours", "Hold (hours)", q.hold_hours, "fees amortised over it", "decimal")
        + field("position_size_usd", "Size per leg (USD)", q.position_size_usd, "for the USD figures", "decimal")
        + field("limit", "Rows", q.limit, "1 to 100", "decimal")
        + '<div class="field check"><input id="f-include_stale" name="include_stale" type="checkbox" value="true"'
        + (" checked" if q.include_stale else "")
        + '><label for="f-include_stale">include stale data</label></div>'
        + keep
        + '<div class="actions"><button type="submit">Apply</button> <a href="./">Reset</a></div></form>'
    )
    return _section("filters", "Filters", body)


def chart_section(page: Dashboard) -> str:
    q = page.query
    options = "".join(
        f'<option value="{e(s)}"{" selected" if page.chart and page.chart.symbol == s else ""}>{e(s)}</option>'
        for s in page.symbols
    )
    days = "".join(
        f'<option value="{d}"{" selected" if q.days == d else ""}>{d} days</option>' for d in (1, 3, 7, 14, 30)
    )
    keep = "".join(
        f'<input type="hidden" name="{e(k)}" value="{e(v)}">'
        for k, v in q.params().items()
        if k not in {"chart", "days"}
    )
    picker = (
        '<form method="get" action="./#chart" class="picker">'
        f'<label for="c-symbol">Symbol</label> <select id="c-symbol" name="chart">{options}</select> '
        f'<label for="c-days">Span</label> <select id="c-days" name="days">{days}</select> {keep}'
        '<button type="submit">Show</button></form>'
    )
    if page.chart is None:
        message = page.chart_error or "No symbol to chart yet: no opportunity and no symbol chosen."
        role = ' role="alert"' if page.chart_error else ""
        return _section("chart", "Funding history", picker + f'<p{role} class="note">{e(message)}</p>')
    chart = page.chart
    title = f"{chart.symbol}: funding APR by venue, hourly average, last {q.days} days"
    summary = _chart_summary(chart)
    body = (
        picker
        + f'<figure><div id="chart-canvas" role="img" aria-label="{e(title + ". " + summary)}"></div>'
        + f"<figcaption>{e(title)}. {e(summary)}</figcaption></figure>"
        + f'<script type="application/json" id="chart-data">{_json_for_script(_chart_json(chart))}</script>'
        + _chart_table(chart)
    )
    return _section("chart", f"Funding history: {chart.symbol}", body)


def _chart_summary(chart: Chart) -> str:
    parts = []
    for s in chart.series:
        if s.points:
            parts.append(f"{s.dex} latest {pct(s.points[-1][1])}")
        else:
            parts.append(f"{s.dex} no data")
    return "; ".join(parts) + "."


def _chart_json(chart: Chart) -> dict[str, object]:
    return {
        "symbol": chart.symbol,
        "start": chart.start.isoformat(),
        "end": chart.end.isoformat(),
        "series": [
            {"dex": s.dex, "time": [t.isoformat() for t, _ in s.points], "apr": [str(v) for _, v in s.points]}
            for s in chart.series
        ],
    }


def _json_for_script(data: object) -> str:
    """JSON that cannot end the script element early."""
    return json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _chart_table(chart: Chart) -> str:
    times = sorted({t for s in chart.series for t, _ in s.points})
    by_dex = {s.dex: dict(s.points) for s in chart.series}
    head = '<th scope="col">Hour (UTC)</th>' + "".join(f'<th scope="col">{e(s.dex)}</th>' for s in chart.series)
    rows = "".join(
        f'<tr><th scope="row">{e(t.strftime("%Y-%m-%d %H:%M"))}</th>'
        + "".join(f"<td>{pct(by_dex[s.dex].get(t))}</td>" for s in chart.series)
        + "</tr>"
        for t in reversed(times)
    )
    return (
        "<details><summary>The chart's data as a table</summary>"
        f'<table id="chart-table"><caption>{e(chart.symbol)} hourly funding APR by venue (newest first)</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></details>"
    )


def venues_section(page: Dashboard) -> str:
    if page.venues_error is not None:
        return _section("venues", "Venue health", f'<p role="alert" class="error">{e(page.venues_error)}</p>')
    rows = "".join(_venue_row(v) for v in page.venues)
    body = (
        '<table id="venues-table"><caption>Collection health of each active venue</caption><thead><tr>'
        + "".join(
            f'<th scope="col">{h}</th>'
            for h in ("Venue", "Status", "Symbols", "Last success", "Data age", "Errors in a row", "Last error")
        )
        + f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    return _section("venues", "Venue health", body)


def _venue_row(v: DexHealthRow) -> str:
    cells: Sequence[str] = (
        f'<span class="status {e(v.status)}">{e(v.status.replace("_", " "))}</span>',
        str(v.active_symbols),
        age(v.time_since_fetch_seconds) + (" ago" if v.time_since_fetch_seconds is not None else ""),
        age(v.data_age_seconds),
        str(v.consecutive_errors),
        e(v.last_error or NONE),
    )
    return (
        f'<tr data-venue="{e(v.dex_name)}"><th scope="row">{e(v.dex_name)}</th>'
        + "".join(f"<td>{c}</td>" for c in cells)
        + "</tr>"
    )


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}" aria-labelledby="{ident}-h"><h2 id="{ident}-h">{e(title)}</h2>{body}</section>'


def page(dashboard: Dashboard, version: str) -> str:
    generated = dashboard.now.strftime("%Y-%m-%d %H:%M:%S UTC")
    sections: Iterable[str] = (
        filters_section(dashboard),
        opportunities_section(dashboard),
        chart_section(dashboard),
        venues_section(dashboard),
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Funding rates · perp-dex funding service</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="static/vendor/uPlot.min.css">
<link rel="stylesheet" href="static/dashboard.css">
</head>
<body>
<a class="skip" href="#opportunities">Skip to the opportunities</a>
<header><h1>Funding rates across perp DEXes</h1>
<p>Generated {e(generated)} · funding service {e(version)} · <a href="../api/v1/docs">API docs</a></p></header>
<main>
{"".join(sections)}
</main>
<script src="static/vendor/uPlot.iife.min.js"></script>
<script src="static/dashboard.js"></script>
</body>
</html>
"""


def error_page(message: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Funding rates · bad filters</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="static/dashboard.css"></head>
<body><main><h1>Funding rates across perp DEXes</h1>
<p role="alert" class="error">{e(message)}</p><p><a href="./">Back to the dashboard without filters</a></p></main>
</body></html>
"""
