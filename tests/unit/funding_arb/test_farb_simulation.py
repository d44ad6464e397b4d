"""The multi-day paper simulation (the figures docs/funding-arb.md reports) on a short horizon: the strategy's own
funding and fee figures agree with the paper venues' books, and the venues' equity change is funding - fees + price
PnL exactly."""

from __future__ import annotations

from perpdex_dev.funding_arb_simulation import main, simulate


async def test_short_simulation_books_agree() -> None:
    report = await simulate(days=0.25, seed=42)
    assert report.pairs_opened >= 1
    assert report.pairs_open_at_end >= 1 and report.closed_at_end
    assert report.strategy_funding == report.funding_earned
    assert report.strategy_fees == report.fees_paid
    assert report.net == report.funding_earned - report.fees_paid + report.price_pnl
    assert report.funding_earned > 0


def test_cli_prints_a_report(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--days", "0.05", "--seed", "7", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"funding_earned"' in out and '"fees_paid"' in out and '"net"' in out
