"""Issue 22's exit rules with hand-computed numbers: a held pair values only its exit fees (entry fees are sunk), is
kept while it stays among the best of its symbol (``holdWhileBestMargin``), and takes its profit by funding PnL
(``takeProfitUsd`` / ``takeProfitPct``).

The pair: 0.0166 BTC a leg, long paper-a / short paper-b, entered at a spread of 0.00007 / h, held 10 h of a
``maxHoldHours`` of 8 where stated."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from bot_runtime.strategies.funding_arb.exits import among_best, evaluate_exit
from bot_runtime.strategies.funding_arb.models import ExitReason, PairRates
from bot_runtime.strategies.funding_arb.selection import read_held
from tests.unit.funding_arb.farb_helpers import farb_config
from tests.unit.funding_arb.test_farb_rules import held_pair, row

NOW = 100_000.0  # held_pair() opened 10 h before this


def cfg(**fa: Any) -> Any:
    config = farb_config(fa).funding_arb
    assert config is not None
    return config


def test_the_net_apr_exit_charges_only_the_exit_fees() -> None:
    # spread 0.00002 / h over holdHours 72 = 0.00144 of the notional; fees 0.0005 a fill on each venue
    r = row(divergence_hourly=D("0.00002"), net_apr=D("-0.5"))
    [rates] = [read_held([r], cfg(), held_pair(None))]
    assert rates is not None
    # exit fees 0.0005 + 0.0005 = 0.001: (0.00144 - 0.001) / 72 x 8760 = 0.05353... >= exitNetApr 0.03: kept
    assert rates.net_apr == D("0.00044") * 8760 / 72
    assert evaluate_exit(held_pair(rates), cfg(exitNetApr="0.03", erosionExitRatio="0.1"), NOW) is None
    # the round trip (0.002) would have given (0.00144 - 0.002) / 72 x 8760 = -0.068 < 0.03 and closed it
    assert (D("0.00144") - D("0.002")) / 72 * 8760 < D("0.03")
    # spread 0.000015: (0.00108 - 0.001) / 72 x 8760 = 0.00973 < 0.03: closed
    low = read_held([row(divergence_hourly=D("0.000015"))], cfg(), held_pair(None))
    assert low is not None and low.net_apr == D("0.00008") * 8760 / 72
    decision = evaluate_exit(held_pair(low), cfg(exitNetApr="0.03", erosionExitRatio="0.1"), NOW)
    assert decision is not None and decision.reason is ExitReason.NET_APR


def test_read_held_finds_the_symbols_best() -> None:
    rows = [
        row(short_dex="paper-c", net_apr=D("0.60")),  # the best a new pair could earn in BTC now
        row(net_apr=D("0.30")),  # the held pair's own row
        row(short_dex="paper-d", net_apr=D("0.90"), stale=True),  # stale: not an opportunity
        row(short_dex="paper-e", net_apr=D("0.95"), divergence_hourly=D(0)),  # no spread
    ]
    rates = read_held(rows, cfg(exchanges=["paper-a", "paper-b", "paper-c"]), held_pair(None))
    assert rates is not None
    assert rates.spread_hourly == D("0.00007")
    assert rates.best_net_apr == D("0.60")
    # requiredExchange paper-b: paper-c's pair could not be opened, the held one is the best
    only_b = read_held(
        rows, cfg(exchanges=["paper-a", "paper-b", "paper-c"], requiredExchange="paper-b"), held_pair(None)
    )
    assert only_b is not None and only_b.best_net_apr == D("0.30")
    assert read_held([row(long_dex="paper-c")], cfg(), held_pair(None)) is None  # no row of the pair


def eroded(net: str, best: str | None) -> PairRates:
    # spread 0.00003 = 0.43 x the entry's 0.00007 < erosionExitRatio 0.5
    return PairRates(
        spread_hourly=D("0.00003"), net_apr=D(net), stale=False, best_net_apr=None if best is None else D(best)
    )


def test_hold_while_among_the_best_defers_erosion_and_max_hold() -> None:
    c = cfg(exitNetApr="0.03", maxHoldHours=8)  # holdWhileBestMargin defaults to 0.05
    # net 0.26 >= best 0.30 - 0.05 = 0.25: among the best, neither erosion nor maxHoldHours (10 h >= 8) closes it
    assert among_best(held_pair(eroded("0.26", "0.30")), c)
    assert evaluate_exit(held_pair(eroded("0.26", "0.30")), c, NOW) is None
    # net 0.24 < 0.25: erosion closes it
    decision = evaluate_exit(held_pair(eroded("0.24", "0.30")), c, NOW)
    assert decision is not None and decision.reason is ExitReason.EROSION
    # no erosion (spread 0.00006 = 0.86 x entry) and not among the best: maxHoldHours closes it
    rates = PairRates(spread_hourly=D("0.00006"), net_apr=D("0.20"), stale=False, best_net_apr=D("0.30"))
    decision = evaluate_exit(held_pair(rates), c, NOW)
    assert decision is not None and decision.reason is ExitReason.MAX_HOLD
    # holdWhileBest false turns the rule off: erosion at once
    decision = evaluate_exit(held_pair(eroded("0.26", "0.30")), cfg(exitNetApr="0.03", holdWhileBest=False), NOW)
    assert decision is not None and decision.reason is ExitReason.EROSION
    # the best never defers the net-APR exit: net 0.02 < exitNetApr 0.03 though it is the symbol's best
    flat = PairRates(spread_hourly=D("0.00006"), net_apr=D("0.02"), stale=False, best_net_apr=D("0.02"))
    decision = evaluate_exit(held_pair(flat), c, NOW)
    assert decision is not None and decision.reason is ExitReason.NET_APR
    # stale rates: not known to be the best, maxHoldHours applies
    stale = PairRates(spread_hourly=D("0.00006"), net_apr=D("0.26"), stale=True, best_net_apr=D("0.26"))
    decision = evaluate_exit(held_pair(stale), c, NOW)
    assert decision is not None and decision.reason is ExitReason.MAX_HOLD


def test_profit_target_by_funding_pnl_in_usd_or_percent_of_the_notional() -> None:
    fresh = PairRates(spread_hourly=D("0.00007"), net_apr=D("0.5"), stale=False)
    pair = held_pair(fresh)
    # takeProfitUsd 0.5: 0.49 keeps it, 0.5 closes it
    assert evaluate_exit(pair, cfg(takeProfitUsd="0.5"), NOW, D("0.49")) is None
    decision = evaluate_exit(pair, cfg(takeProfitUsd="0.5"), NOW, D("0.5"))
    assert decision is not None and decision.reason is ExitReason.PROFIT_TARGET
    # takeProfitPct 0.05: the notional is 0.0166 x 60000 (the long leg's mark, no entry price known) = 996 USD;
    # 0.05 % of it = 0.498 USD
    assert pair.notional == D("996.0000")
    assert evaluate_exit(pair, cfg(takeProfitPct="0.05"), NOW, D("0.497")) is None
    decision = evaluate_exit(pair, cfg(takeProfitPct="0.05"), NOW, D("0.498"))
    assert decision is not None and decision.reason is ExitReason.PROFIT_TARGET
    # with the entry price 50000: notional 830, 0.05 % = 0.415
    pair.entry_price = D(50000)
    decision = evaluate_exit(pair, cfg(takeProfitPct="0.05"), NOW, D("0.415"))
    assert decision is not None and decision.reason is ExitReason.PROFIT_TARGET
    # default: what the venues report (both legs' positions report 0 funding here): no target reached
    assert evaluate_exit(pair, cfg(takeProfitUsd="0.5"), NOW) is None
