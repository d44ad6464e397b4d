"""Every preflight check's pass and fail path on every live venue, against its replay server (the venue's wire
format and signature checks, see tests/unit/exchanges): one healthy run, then one run per failure."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot_runtime.exchanges.base import Market
from bot_runtime.exchanges.registry import create_exchange
from bot_runtime.preflight.checks import PreflightRequest, preflight
from bot_runtime.preflight.report import Outcome, PreflightReport
from tests.unit.preflight.venues import VENUES, Rig, venue_rig

TICKER = "BTC"


async def market_of(rig: Rig) -> Market:
    client = create_exchange(rig.name, rig.options, rig.env)
    try:
        await client.connect()
        return await client.market(TICKER)
    finally:
        await client.close()


async def run(rig: Rig, quantity: Decimal | None, *, ticker: str = TICKER, max_orders: int = 1) -> PreflightReport:
    request = PreflightRequest(exchange=rig.name, ticker=ticker, quantity=quantity, max_orders=max_orders)
    return await preflight(request, rig.options, rig.env)


def outcomes(report: PreflightReport) -> dict[str, Outcome]:
    return {c.name: c.outcome for c in report.checks}


@pytest.mark.parametrize("venue", VENUES)
async def test_every_check_passes_on_a_healthy_venue(venue: str) -> None:
    async with venue_rig(venue) as rig:
        market = await market_of(rig)
        report = await run(rig, market.min_size)
    assert outcomes(report) == dict.fromkeys(
        ["credentials", "market", "tickSize", "quantity", "collateral"], Outcome.PASS
    ), report.summary()
    assert report.ok
    assert market.venue_symbol in report.check("market").message


@pytest.mark.parametrize("venue", VENUES)
async def test_refused_credentials_fail_without_showing_them(venue: str) -> None:
    async with venue_rig(venue) as rig:
        market = await market_of(rig)
        rig.refuse_credentials()
        report = await run(rig, market.min_size)
    assert report.check("credentials").outcome is Outcome.FAIL, report.summary()
    assert not report.ok
    assert report.check("collateral").outcome in (Outcome.SKIP, Outcome.FAIL)
    secrets = [v for k, v in rig.env.items() if not k.endswith(("_URL", "_ENVIRONMENT", "_INDEX", "_ID", "ADDRESS"))]
    text = report.summary()
    assert [s for s in secrets if len(s) >= 8 and s in text] == []


@pytest.mark.parametrize("venue", VENUES)
async def test_unknown_market_fails_and_skips_what_needs_it(venue: str) -> None:
    async with venue_rig(venue) as rig:
        report = await run(rig, Decimal("1"), ticker="NOSUCHCOIN")
    assert outcomes(report) == {
        "credentials": Outcome.PASS,
        "market": Outcome.FAIL,
        "tickSize": Outcome.SKIP,
        "quantity": Outcome.SKIP,
        "collateral": Outcome.SKIP,
    }, report.summary()
    assert "NOSUCHCOIN" in report.check("market").message


@pytest.mark.parametrize("venue", VENUES)
async def test_quantity_below_the_minimum_or_off_the_step_fails(venue: str) -> None:
    async with venue_rig(venue) as rig:
        market = await market_of(rig)
        below = await run(
            rig, market.min_size - market.size_step if market.min_size > market.size_step else market.size_step / 2
        )
        off_step = await run(rig, market.min_size + market.size_step / 2)
    assert below.check("quantity").outcome is Outcome.FAIL, below.summary()
    assert off_step.check("quantity").outcome is Outcome.FAIL, off_step.summary()
    assert "size step" in off_step.check("quantity").message
    assert f"nearest below: {format(market.round_size(market.min_size + market.size_step / 2).normalize(), 'f')}" in (
        off_step.check("quantity").message
    )


@pytest.mark.parametrize("venue", VENUES)
async def test_collateral_short_of_every_order_is_a_warning_not_a_failure(venue: str) -> None:
    async with venue_rig(venue) as rig:
        market = await market_of(rig)
        report = await run(rig, market.min_size, max_orders=10_000_000)
    assert report.check("collateral").outcome is Outcome.WARN, report.summary()
    assert report.ok  # a warning does not stop a bot
    assert "10000000 ×" in report.check("collateral").message


@pytest.mark.parametrize("venue", VENUES)
async def test_no_quantity_skips_quantity_and_collateral(venue: str) -> None:
    async with venue_rig(venue) as rig:
        report = await run(rig, None)
    assert outcomes(report)["quantity"] is Outcome.SKIP and outcomes(report)["collateral"] is Outcome.SKIP
    assert report.ok
