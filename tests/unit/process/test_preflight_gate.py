"""The bot's preflight gate on paper venues: what a grid and a funding-arb bot check, and when a failure stops it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bot_runtime.config import parse_config
from bot_runtime.exchanges import registry
from bot_runtime.exchanges.base import Exchange
from bot_runtime.logs import SecretRedactor
from bot_runtime.process.preflight_gate import requests_for, run_preflight


async def connected(config: Any) -> dict[str, Exchange]:
    clients = {name: registry.create_exchange(name, config.venue_options(name), {}) for name in config.exchanges_used}
    for client in clients.values():
        await client.connect()
    return clients


def funding_arb(symbols: list[str]) -> Any:
    return parse_config(
        {
            "name": "farb",
            "strategy": "fundingArb",
            "exchange": "multi",
            "fundingArb": {"exchanges": ["paper-a", "paper-b"], "symbols": symbols},
        }
    )


async def test_funding_arb_checks_every_venue_and_needs_each_symbol_on_two() -> None:
    ok = funding_arb(["BTC"])
    assert [
        (r.exchange, r.ticker, r.quantity, r.notional, r.max_orders) for r in requests_for(ok, ok.exchanges_used)
    ] == [
        ("paper-a", "BTC", None, Decimal(1000), 3),
        ("paper-b", "BTC", None, Decimal(1000), 3),
    ]
    clients = await connected(ok)
    try:
        record, reports = await run_preflight(clients, ok, SecretRedactor())
        assert record.passed, record.message
        # collateral for maxPositions x positionSizeUsd, once per venue
        assert all(r.check("collateral").message.startswith("3 × 1000 USD") for r in reports), record.message
        missing = funding_arb(["BTC", "NOSUCHCOIN"])
        record, reports = await run_preflight(clients, missing, SecretRedactor())
        assert not record.passed
        assert "paper-a NOSUCHCOIN" in record.message and "market fail" in record.message
        assert {r.ticker for r in reports} == {"BTC", "NOSUCHCOIN"}
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))


async def test_grid_checks_its_quantity() -> None:
    config = parse_config(
        {"name": "g", "strategy": "grid", "exchange": "paper", "ticker": "BTC", "grid": {"quantity": "0.00001"}}
    )
    clients = await connected(config)
    try:
        record, reports = await run_preflight(clients, config, SecretRedactor())
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
    assert not record.passed
    assert [c.name for c in reports[0].failed()] == ["quantity"]
