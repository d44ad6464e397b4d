"""Venue symbol ↔ canonical base asset, with the size/price multiplier (the one implementation, shared by the
exchange clients, the collector and the funding service).

Examples: ``BTC-USD-PERP`` → (BTC, 1); ``1000PEPEUSDT`` → (PEPE, 1000); ``kPEPE_USDC_PERP`` → (PEPE, 1000);
``BTC_USDT_Perp`` → (BTC, 1).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple


class CanonicalSymbol(NamedTuple):
    base: str
    multiplier: Decimal


# longest suffix first: each venue's perpetual naming
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "lighter": ("-USD-PERP", "-USDC-PERP", "-USDT-PERP", "-PERP", "-USDC", "-USDT", "-USD", "PERP"),
    "grvt": ("_USDT_PERP", "_USDC_PERP", "_USD_PERP", "_PERP", "PERP", "_USDT", "USDT"),
    "edgex": ("USDT", "USDC", "USD"),
    "paradex": ("-USD-PERP", "-USDC-PERP", "-PERP", "-USD"),
    "backpack": ("_USDC_PERP", "_USDT_PERP", "_PERP", "_USDC", "_USD"),
    "aster": ("USDT", "USDC"),
    "hyperliquid": (),  # perps are named by the coin alone: BTC, kPEPE
    "extended": ("-USD",),  # BTC-USD, 1000PEPE-USD
    "ethereal": ("USD",),  # BTCUSD, ETHUSD
    "nado": ("-PERP",),  # BTC-PERP, kPEPE-PERP (the gateway's symbols; the indexer's base_currency)
    "apex": ("-USDT", "-USDC", "USDT", "USDC"),  # BTC-USDT, 1000PEPE-USDT (config); BTCUSDT (ticker)
}
_GENERIC = ("-USD-PERP", "_USDC_PERP", "_USDT_PERP", "-PERP", "_PERP", "PERP", "-USD", "USDT", "USDC")

_NUMERIC_PREFIX = re.compile(r"^(1000000|100000|10000|1000|100)(?=[A-Z])")
_K_PREFIX = re.compile(r"^k(?=[A-Z]{2,})")
_M_PREFIX = re.compile(r"^1M(?=[A-Z]{2,})")


def venue_family(exchange: str) -> str:
    """``paper-a`` → ``paper``; ``lighter`` → ``lighter``."""
    return exchange.split("-", 1)[0].lower()


def normalize(exchange: str, venue_symbol: str) -> CanonicalSymbol:
    """Map a venue's market name to its canonical base asset and multiplier."""
    raw = venue_symbol.strip()
    if not raw:
        raise ValueError("empty venue symbol")
    suffixes = _SUFFIXES.get(venue_family(exchange), _GENERIC)
    upper = raw.upper()
    base = raw
    for suffix in suffixes:
        if upper.endswith(suffix.upper()) and len(upper) > len(suffix):
            base = raw[: -len(suffix)]
            break
    multiplier = Decimal(1)
    if m := _K_PREFIX.match(base):
        multiplier, base = Decimal(1000), base[m.end() :]
    elif m := _M_PREFIX.match(base):
        multiplier, base = Decimal(1_000_000), base[m.end() :]
    elif m := _NUMERIC_PREFIX.match(base.upper()):
        multiplier, base = Decimal(m.group(1)), base[m.end() :]
    return CanonicalSymbol(base.upper(), multiplier)


def canonical(exchange: str, venue_symbol: str) -> str:
    return normalize(exchange, venue_symbol).base
