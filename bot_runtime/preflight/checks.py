"""The preflight checks, run against one venue client before a bot's first order.

1. ``credentials``: the client connects and two signed reads answer (``balance`` and ``open_orders``): a key the
   venue refuses, a wrong signature or a V1 URL on a V2-only venue fails here, with the venue's error (credential
   values are never in it: the clients name keys only, and the report is scrubbed again by the caller).
2. ``market``: the ticker is one of the venue's tradable perpetual markets (the clients list only markets open for
   trading: Lighter ``active``, EdgeX ``enableTrade``, Aster ``TRADING``, ...).
3. ``tickSize``: the market's tick, size step and minimum are known (> 0).
4. ``quantity`` (when given): at least the market's minimum size, a multiple of its size step, and at least its
   minimum notional at the current price when the venue has one.
5. ``collateral`` (when a quantity is given): free collateral covers ``maxOrders × quantity × price / leverage``,
   with the market's maximum leverage when the venue publishes it, else 1x. Short of it is a **warning**: resting
   take-profits do not all need margin at once and the account's own leverage setting is not read. A funding-arb
   venue gives a USD ``notional`` per position instead of a quantity: ``maxPositions × notional / leverage`` (its
   legs may all land on one venue), checked once per venue.

A check that cannot run because an earlier one failed is ``skip``. Nothing here places, changes or cancels anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot_runtime.exchanges.base import Balance, CredentialsError, Exchange, Market, Quote
from bot_runtime.exchanges.registry import create_exchange
from bot_runtime.preflight.report import CheckResult, Outcome, PreflightReport

CHECKS = ("credentials", "market", "tickSize", "quantity", "collateral")


@dataclass(frozen=True)
class PreflightRequest:
    exchange: str
    ticker: str
    quantity: Decimal | None = None
    max_orders: int = 1
    notional: Decimal | None = None  # USD per position (funding arb), instead of a quantity


def num(value: Decimal) -> str:
    """A Decimal as plain digits (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return text


def _error(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


class _Run:
    def __init__(self, request: PreflightRequest) -> None:
        self.request = request
        self.results: dict[str, CheckResult] = {}

    def set(self, name: str, outcome: Outcome, message: str) -> None:
        self.results[name] = CheckResult(name=name, outcome=outcome, message=message)

    def report(self) -> PreflightReport:
        checks = tuple(
            self.results.get(name) or CheckResult(name=name, outcome=Outcome.SKIP, message="not run") for name in CHECKS
        )
        return PreflightReport(exchange=self.request.exchange, ticker=self.request.ticker, checks=checks)


async def run_checks(client: Exchange, request: PreflightRequest, *, connect: bool = True) -> PreflightReport:
    """Run every check on ``client`` (connecting it first unless ``connect`` is false: a bot's clients are connected
    already); the caller closes the client. An empty ticker (a funding-arb venue: its symbols are chosen while it
    runs) checks the credentials only."""
    run = _Run(request)
    balance = await _credentials(client, run, connect=connect)
    if not request.ticker:
        for name in ("market", "tickSize", "quantity"):
            run.set(name, Outcome.SKIP, "no ticker (the strategy picks its markets)")
        _notional_collateral(None, balance, run)
        return run.report()
    market = await _market(client, run)
    if market is None:
        for name in ("tickSize", "quantity", "collateral"):
            run.set(name, Outcome.SKIP, "no market")
        return run.report()
    _tick_size(market, run)
    quantity = request.quantity
    if quantity is None:
        run.set("quantity", Outcome.SKIP, "no quantity given")
        _notional_collateral(market, balance, run)
        return run.report()
    quote = await _quote(client, request.ticker, run)
    _quantity(market, quantity, quote, run)
    _collateral(market, quantity, quote, balance, run)
    return run.report()


async def _credentials(client: Exchange, run: _Run, *, connect: bool) -> Balance | None:
    try:
        if connect:
            await client.connect()
        balance = await client.balance()
        await client.open_orders()
    except Exception as exc:  # any refusal or outage is this check's verdict, never a crash
        run.set("credentials", Outcome.FAIL, f"signed read refused or failed: {_error(exc)}")
        return None
    run.set(
        "credentials",
        Outcome.PASS,
        f"signed reads answered (balance: {num(balance.available)} {balance.asset} available, open orders)",
    )
    return balance


async def _market(client: Exchange, run: _Run) -> Market | None:
    ticker = run.request.ticker
    try:
        markets = await client.markets()
    except Exception as exc:
        run.set("market", Outcome.FAIL, f"markets could not be read: {_error(exc)}")
        return None
    market = markets.get(ticker)
    if market is None:
        known = ", ".join(sorted(markets)[:12]) + (", ..." if len(markets) > 12 else "")
        run.set(
            "market",
            Outcome.FAIL,
            f"no tradable perpetual market {ticker} on {run.request.exchange} ({len(markets)} markets: {known})",
        )
        return None
    run.set("market", Outcome.PASS, f"{ticker} trades as {market.venue_symbol} (contract {market.contract_id})")
    return market


def _tick_size(market: Market, run: _Run) -> None:
    if market.tick_size > 0 and market.size_step > 0 and market.min_size >= 0:
        run.set(
            "tickSize",
            Outcome.PASS,
            f"tick {num(market.tick_size)}, size step {num(market.size_step)}, minimum {num(market.min_size)}",
        )
    else:
        run.set(
            "tickSize",
            Outcome.FAIL,
            f"the venue gives no usable tick/step (tick {market.tick_size}, step {market.size_step})",
        )


async def _quote(client: Exchange, ticker: str, run: _Run) -> Quote | None:
    try:
        return await client.best_bid_ask(ticker)
    except Exception as exc:
        run.set("collateral", Outcome.WARN, f"no price to size margin with: {_error(exc)}")
        return None


def _quantity(market: Market, quantity: Decimal, quote: Quote | None, run: _Run) -> None:
    problems: list[str] = []
    if quantity < market.min_size:
        problems.append(f"{num(quantity)} is below the minimum {num(market.min_size)}")
    if market.size_step > 0 and quantity % market.size_step != 0:
        below = market.round_size(quantity)
        problems.append(
            f"{num(quantity)} is not a multiple of the size step {num(market.size_step)} (nearest below: {num(below)})"
        )
    notional = quantity * quote.mid if quote is not None else None
    if market.min_notional and notional is not None and notional < market.min_notional:
        problems.append(
            f"{num(quantity)} × {num(quote.mid) if quote else '?'} is below the minimum notional "
            f"{num(market.min_notional)}"
        )
    if problems:
        run.set("quantity", Outcome.FAIL, "; ".join(problems))
    else:
        run.set(
            "quantity",
            Outcome.PASS,
            f"{num(quantity)} ≥ minimum {num(market.min_size)}, on the step {num(market.size_step)}",
        )


def _collateral(market: Market, quantity: Decimal, quote: Quote | None, balance: Balance | None, run: _Run) -> None:
    max_orders = run.request.max_orders
    if quote is None:
        return  # already a warning: no price
    if balance is None:
        run.set("collateral", Outcome.SKIP, "no balance (credentials failed)")
        return
    leverage = market.max_leverage if market.max_leverage and market.max_leverage > 0 else Decimal(1)
    basis = "the market's maximum" if market.max_leverage else "1x: the venue publishes no maximum"
    needed = Decimal(max_orders) * quantity * quote.mid / leverage
    detail = (
        f"{max_orders} × {num(quantity)} × {num(quote.mid.quantize(market.tick_size))} / {num(leverage)} "
        f"(leverage: {basis}) = {num(needed.quantize(Decimal('0.01')))}; available {num(balance.available)}"
    )
    if balance.available >= needed:
        run.set("collateral", Outcome.PASS, detail)
    else:
        run.set("collateral", Outcome.WARN, f"free collateral may not cover every order: {detail}")


def _notional_collateral(market: Market | None, balance: Balance | None, run: _Run) -> None:
    notional = run.request.notional
    if notional is None:
        run.set("collateral", Outcome.SKIP, "no quantity given")
        return
    if balance is None:
        run.set("collateral", Outcome.SKIP, "no balance (credentials failed)")
        return
    known = market is not None and market.max_leverage is not None and market.max_leverage > 0
    leverage = market.max_leverage if known and market is not None and market.max_leverage else Decimal(1)
    basis = "the market's maximum" if known else "1x: no market maximum known"
    needed = Decimal(run.request.max_orders) * notional / leverage
    detail = (
        f"{run.request.max_orders} × {num(notional)} USD / {num(leverage)} (leverage: {basis}) = "
        f"{num(needed.quantize(Decimal('0.01')))}; available {num(balance.available)}"
    )
    if balance.available >= needed:
        run.set("collateral", Outcome.PASS, detail)
    else:
        run.set("collateral", Outcome.WARN, f"free collateral may not cover every position: {detail}")


async def preflight(
    request: PreflightRequest, options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> PreflightReport:
    """Build the venue's client from ``options``/``env`` (as a bot would), run the checks, close it."""
    try:
        client = create_exchange(request.exchange, options or {}, env)
    except CredentialsError as exc:
        run = _Run(request)
        run.set("credentials", Outcome.FAIL, _error(exc))
        return run.report()
    try:
        return await run_checks(client, request)
    finally:
        with contextlib.suppress(Exception):  # closing a half-connected client must not hide the report
            await client.close()
