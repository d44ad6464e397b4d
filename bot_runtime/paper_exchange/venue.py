"""One paper venue in the service: its market source, its accounts' engines, and the order of events.

Pure state (no I/O, no clock): every operation takes the time and returns a :class:`Changes` (the order updates it
caused, numbered per account, the funding paid, the positions touched, the symbols whose quote moved), which the
service stores in one transaction and then publishes. :meth:`Venue.advance` interleaves the market's steps with
the funding boundaries in time order, exactly as the in-process simulator does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from bot_runtime.exchanges.base import FundingRate, Order, OrderRequest, OrderUpdate, Side
from bot_runtime.exchanges.paper.prices import stable_seed
from bot_runtime.paper_exchange.engine.matching import AccountEngine, FundingPayment, Sequencer, TopOfBook
from bot_runtime.paper_exchange.market import MarketSource
from bot_runtime.paper_exchange.venues import VenueConfig
from bot_runtime.paper_exchange.wire import AccountInfo, VenueInfo


@dataclass
class Changes:
    updates: list[tuple[str, int, OrderUpdate]] = field(default_factory=list)  # (account, seq, update)
    payments: list[tuple[str, FundingPayment]] = field(default_factory=list)
    books: set[tuple[str, str]] = field(default_factory=set)  # (account, symbol) whose position changed
    opened: list[str] = field(default_factory=list)  # accounts opened
    moved: set[str] = field(default_factory=set)  # symbols whose quote moved
    state: bool = False  # the venue's cursor, funding period or id counters changed

    def __bool__(self) -> bool:
        return bool(self.updates or self.payments or self.opened or self.state)

    @classmethod
    def merged(cls, parts: list[Changes]) -> Changes:
        """Consecutive changes as one (in order)."""
        out = cls()
        for part in parts:
            out.updates += part.updates
            out.payments += part.payments
            out.books |= part.books
            out.opened += part.opened
            out.moved |= part.moved
            out.state = out.state or part.state
        return out


class AccountNotFound(LookupError):
    pass


class MarketNotFound(LookupError):
    pass


class Venue:
    def __init__(self, config: VenueConfig, market: MarketSource, *, epoch: float, funding_period: int, ids: Sequencer):
        self.config = config
        self.name = config.name
        self.options = config.paper_options()
        self.market = market
        self.epoch = epoch
        self.funding_period = funding_period
        self.ids = ids
        self.accounts: dict[str, AccountEngine] = {}
        self.starting: dict[str, Decimal] = {}
        self.seqs: dict[str, int] = {}

    # accounts -------------------------------------------------------------------------------------------------------
    def add_account(self, account: str, starting_balance: Decimal, seq: int) -> AccountEngine:
        engine = AccountEngine(
            self.name,
            self.market.markets,
            starting_balance=starting_balance,
            leverage=self.options.config.leverage,
            ids=self.ids,
        )
        self.accounts[account] = engine
        self.starting[account] = starting_balance
        self.seqs[account] = seq
        return engine

    def open_account(self, account: str, starting_balance: Decimal | None, changes: Changes) -> AccountInfo:
        created = account not in self.accounts
        if created:
            self.add_account(account, starting_balance or self.options.config.starting_balance_usd, 0)
            changes.opened.append(account)
        return self.account_info(account, created=created)

    def account(self, account: str) -> AccountEngine:
        try:
            return self.accounts[account]
        except KeyError:
            raise AccountNotFound(f"{self.name}: no account {account!r} (open it with PUT first)") from None

    def account_info(self, account: str, *, created: bool = False) -> AccountInfo:
        self.account(account)
        return AccountInfo(
            venue=self.name,
            account=account,
            starting_balance_usd=self.starting[account],
            leverage=self.options.config.leverage,
            seq=self.seqs[account],
            created=created,
        )

    def _record(self, account: str, events: list[OrderUpdate], changes: Changes) -> None:
        for event in events:
            self.seqs[account] += 1
            changes.updates.append((account, self.seqs[account], event))
            if event.fill is not None:
                changes.books.add((account, event.order.symbol))
        if events:
            changes.state = True  # the id counters moved

    # market ---------------------------------------------------------------------------------------------------------
    def require_market(self, symbol: str) -> None:
        if symbol not in self.market.markets:
            raise MarketNotFound(f"{self.name}: no market {symbol!r}; known: {', '.join(sorted(self.market.markets))}")

    def marks(self) -> dict[str, Decimal]:
        return {symbol: self.market.touch(symbol).mid for symbol in self.market.markets}

    def advance(self, now: float) -> Changes:
        changes = Changes()
        funding = self.market.funding
        while (boundary := funding.boundary(self.funding_period)) <= now:
            self._steps(boundary, changes)
            when = datetime.fromtimestamp(boundary, UTC)
            for symbol in self.market.markets:
                mark = self.market.touch(symbol).mid
                rate = funding.rate(symbol, self.funding_period)
                for name, engine in self.accounts.items():
                    payment = engine.pay_funding(symbol, mark, rate, when)
                    if payment is not None:
                        changes.payments.append((name, payment))
                        changes.books.add((name, symbol))
            self.funding_period += 1
            changes.state = True
        self._steps(now, changes)
        return changes

    def _steps(self, t: float, changes: Changes) -> None:
        for step in self.market.advance(t):
            changes.moved.add(step.symbol)
            changes.state = True
            volume = {Side.BUY: step.volume, Side.SELL: step.volume}
            for name, engine in self.accounts.items():
                events = engine.trade_through(step.symbol, step.low, step.high, volume, step.when)
                self._record(name, events, changes)

    # orders ---------------------------------------------------------------------------------------------------------
    def place(self, account: str, request: OrderRequest, now: datetime) -> tuple[Order, Changes]:
        engine = self.account(account)
        self.require_market(request.symbol)
        changes = Changes()
        events = engine.place(request, self.market.touch(request.symbol), self.marks(), now)
        self._record(account, events, changes)
        return events[-1].order, changes

    def cancel(self, account: str, symbol: str, order_id: str, now: datetime) -> Changes:
        engine = self.account(account)
        changes = Changes()
        self._record(account, [engine.cancel(symbol, order_id, now)], changes)
        return changes

    def cancel_all(self, account: str, symbol: str | None, now: datetime) -> Changes:
        engine = self.account(account)
        changes = Changes()
        self._record(account, engine.cancel_all(symbol, now), changes)
        return changes

    # views ----------------------------------------------------------------------------------------------------------
    def info(self) -> VenueInfo:
        cfg = self.options.config
        return VenueInfo(
            name=self.name,
            source="mirror" if self.config.mirror else "synthetic",
            mirror=self.config.mirror.venue if self.config.mirror else None,
            funding_interval_hours=self.market.funding.interval_hours,
            starting_balance_usd=cfg.starting_balance_usd,
            leverage=cfg.leverage,
            markets=dict(self.market.markets),
        )

    def funding_rates(self, now: float) -> list[FundingRate]:
        """What a collector of this venue reports: the rate the venue pays at the end of the current period."""
        funding = self.market.funding
        period = funding.period(now)
        out: list[FundingRate] = []
        for symbol, market in sorted(self.market.markets.items()):
            try:
                touch: TopOfBook | None = self.market.touch(symbol)
            except MarketNotFound:  # a mirrored market before its first live quote
                touch = None
            size_factor = Decimal(stable_seed(f"{self.options.seed}/{self.name}", symbol) % 900 + 100)
            out.append(
                FundingRate(
                    exchange=self.name,
                    symbol=symbol,
                    venue_symbol=market.venue_symbol,
                    rate=funding.rate(symbol, period),
                    interval_hours=funding.interval_hours,
                    mark_price=touch.mid if touch else None,
                    index_price=touch.mid if touch else None,
                    open_interest_usd=size_factor * Decimal(100_000),
                    volume_24h_usd=size_factor * Decimal(1_000_000),
                    best_bid=touch.bid if touch else None,
                    best_ask=touch.ask if touch else None,
                    next_funding_time=datetime.fromtimestamp(funding.boundary(period), UTC),
                    collected_at=datetime.fromtimestamp(now, UTC),
                )
            )
        return out
