"""A backtest's result as text: one line per pair (entry, exit, reason, funding, fees, net PnL), then the totals."""

from __future__ import annotations

from decimal import Decimal

from funding_service.backtest.models import BacktestResult


def _usd(value: Decimal) -> str:
    return f"{value:,.2f}"


def text_report(result: BacktestResult) -> str:
    header = (
        f"{'symbol':<8} {'long':<10} {'short':<10} {'opened (UTC)':<16} {'closed (UTC)':<16} {'reason':<12} "
        f"{'funding':>10} {'fees':>9} {'price':>9} {'net':>10}"
    )
    lines = [
        f"funding-arb backtest {result.start:%Y-%m-%d %H:%M} .. {result.end:%Y-%m-%d %H:%M} UTC, "
        f"every {result.step_minutes} min, venues {', '.join(result.exchanges)}",
        "",
        header,
    ]
    for p in result.pairs:
        lines.append(
            f"{p.symbol:<8} {p.long_dex:<10} {p.short_dex:<10} {p.opened_at:%Y-%m-%d %H:%M} "
            f"{p.closed_at:%Y-%m-%d %H:%M} {p.exit_reason:<12} {_usd(p.funding_usd):>10} {_usd(p.fees_usd):>9} "
            f"{_usd(p.price_pnl_usd):>9} {_usd(p.net_pnl_usd):>10}"
        )
    t = result.totals
    lines += [
        "",
        f"pairs {t.pairs}, max concurrent {t.max_concurrent_pairs}, turnover {_usd(t.turnover_usd)} USD",
        f"funding {_usd(t.funding_usd)} - fees {_usd(t.fees_usd)} + price {_usd(t.price_pnl_usd)} "
        f"= net {_usd(t.net_pnl_usd)} USD",
        f"capital {_usd(t.capital_usd)} USD over {t.hours:.1f} h: APR on capital {t.apr_on_capital * 100:.2f} %",
        f"({t.steps} cycles over {t.history_rows} stored funding periods)",
    ]
    return "\n".join(lines) + "\n"
