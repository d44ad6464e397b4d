"""The cumulative PnL of a backtest as a standalone SVG (written by hand: no plotting dependency).

The curve is a polyline over time (x) and PnL in USD (y), with the zero line, the first and last dates, the lowest
and highest PnL, and each pair's exit marked by a dot on the curve.
"""

from __future__ import annotations

from decimal import Decimal
from html import escape

from funding_service.backtest.models import BacktestResult

WIDTH, HEIGHT = 800, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 20, 40, 50


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


def cumulative_pnl_svg(result: BacktestResult, title: str = "funding-arb backtest: cumulative PnL (USD)") -> str:
    points = result.curve
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [p.pnl_usd for p in points] or [Decimal(0)]
    low, high = min(*values, Decimal(0)), max(*values, Decimal(0))
    if high == low:
        high = low + 1
    t0 = points[0].time if points else result.start
    span = max((points[-1].time - t0).total_seconds(), 1.0) if points else 1.0

    def x(seconds: float) -> float:
        return LEFT + plot_w * seconds / span

    def y(value: Decimal) -> float:
        return TOP + plot_h * float((high - value) / (high - low))

    coords = " ".join(f"{x((p.time - t0).total_seconds()):.1f},{y(p.pnl_usd):.1f}" for p in points)
    by_time = {p.time: p.pnl_usd for p in points}
    exits = [
        f'<circle cx="{x((pair.closed_at - t0).total_seconds()):.1f}" cy="{y(by_time[pair.closed_at]):.1f}" r="3" '
        f'fill="#c0392b"><title>{escape(pair.symbol)} {escape(pair.long_dex)}/{escape(pair.short_dex)}: '
        f"{escape(pair.exit_reason)}, net {_fmt(pair.net_pnl_usd)} USD</title></circle>"
        for pair in result.pairs
        if pair.closed_at in by_time
    ]
    zero = y(Decimal(0))
    last = values[-1]
    lines = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="15">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999999"/>',
        f'<line x1="{LEFT}" y1="{zero:.1f}" x2="{LEFT + plot_w}" y2="{zero:.1f}" stroke="#555555" '
        'stroke-dasharray="4 3"/>',
        *(
            f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{_fmt(v)}</text>'
            for v in (high, low)
            if v != 0  # the zero line has its own label
        ),
        f'<text x="{LEFT - 6}" y="{zero + 4:.1f}" text-anchor="end">0</text>',
        f'<text x="{LEFT}" y="{HEIGHT - BOTTOM + 18}">{t0:%Y-%m-%d %H:%M}</text>',
        f'<text x="{LEFT + plot_w}" y="{HEIGHT - BOTTOM + 18}" text-anchor="end">'
        f"{(points[-1].time if points else t0):%Y-%m-%d %H:%M} UTC</text>",
        f'<text x="{LEFT}" y="{HEIGHT - 10}">{result.totals.pairs} pairs, net {_fmt(last)} USD, APR on capital '
        f"{result.totals.apr_on_capital * 100:.2f} %</text>",
        f'<polyline fill="none" stroke="#1f6fb2" stroke-width="2" points="{coords}"/>',
        *exits,
        "</svg>",
    ]
    return "\n".join(lines) + "\n"
