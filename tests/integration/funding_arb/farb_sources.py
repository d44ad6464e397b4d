"""An opportunity source for funding-arb tests whose venues are reached over the network (the paper exchange
service, replay venues): the funding service's own finder (the in-process source the simulation uses) on the
venues' current quotes and markets and on hourly rates the test sets."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot_runtime.clock import SystemClock
from bot_runtime.exchanges.base import Exchange
from perpdex_dev.funding_arb_simulation import PaperOpportunitySource

MAKER_FEE, TAKER_FEE = Decimal("0.0002"), Decimal("0.0005")


class QuotedOpportunities(PaperOpportunitySource):
    """``opportunities(**filters)`` like the funding service's, for ``symbols`` on ``venues`` at ``rates`` (hourly,
    paid every hour), with the venues' live quotes as marks and books, 2 bp maker / 5 bp taker fees."""

    def __init__(
        self, venues: Mapping[str, Exchange], rates: Mapping[str, Decimal], symbols: tuple[str, ...] = ("BTC",)
    ) -> None:
        super().__init__({}, SystemClock())
        self.quoted_venues = venues
        self.rates = dict(rates)
        self.symbols = symbols

    async def legs(self) -> list[Any]:
        from funding_service.core.fees import FeeSchedule
        from funding_service.core.opportunities import Leg

        now = self.clock.now()
        next_hour = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        out: list[Leg] = []
        for name, venue in self.quoted_venues.items():
            markets = await venue.markets()
            for symbol in self.symbols:
                market = markets[symbol]
                quote = await venue.best_bid_ask(symbol)
                out.append(
                    Leg(
                        dex=name,
                        symbol=symbol,
                        rate=self.rates[name],
                        interval_hours=Decimal(1),
                        fees=FeeSchedule(MAKER_FEE, TAKER_FEE),
                        collected_at=now,
                        venue_symbol=market.venue_symbol,
                        multiplier=market.multiplier,
                        mark_price=quote.mid,
                        index_price=quote.mid,
                        open_interest_usd=Decimal(10_000_000),
                        volume_24h_usd=Decimal(100_000_000),
                        best_bid=quote.bid,
                        best_ask=quote.ask,
                        next_funding_time=next_hour,
                    )
                )
        return out
