"""The one exchange contract every venue implements (SPEC §5).

Trading side: :class:`Exchange`. Collector side: :class:`FundingSource`. Both speak the typed models below,
with :class:`~decimal.Decimal` for every price, size, fee and rate. Venue clients translate their wire format
into these models and their errors into the :class:`ExchangeError` hierarchy, so strategies can react the same
way on every venue (and on ``paper``).

Symbols: the trading side addresses markets by the *canonical* base asset (``BTC``, ``PEPE``); each
:class:`Market` carries the venue's own symbol, contract id and the size/price ``multiplier`` (``1000PEPE`` → 1000).
Sizes and prices in this interface are in the venue's contract units (a size of 1 on ``1000PEPE`` is 1000 PEPE);
use :meth:`Market.to_base_size` / :meth:`Market.to_base_price` when comparing venues.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal
from enum import StrEnum
from types import TracebackType
from typing import Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

ZERO = Decimal(0)


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------------------------------
# enums


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    LIMIT = "limit"
    MARKET = "market"


class TimeInForce(StrEnum):
    GTC = "gtc"
    POST_ONLY = "post_only"
    IOC = "ioc"


class OrderStatus(StrEnum):
    PENDING = "pending"  # accepted by us, not yet acknowledged by the venue
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}


class CancelReason(StrEnum):
    """Why an order ended without filling completely (the original's reasons)."""

    USER_CANCELED = "user_canceled"
    TIMEOUT = "timeout"
    EXPIRED = "expired"
    POST_ONLY_VIOLATION = "post_only_violation"  # the only one worth retrying at a new price
    INSUFFICIENT_BALANCE = "insufficient_balance"
    REDUCE_ONLY_VIOLATION = "reduce_only_violation"
    REJECTED = "rejected"
    LIQUIDATION = "liquidation"


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"


# ---------------------------------------------------------------------------------------------------------------------
# models


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Market(_Model):
    """Static metadata of one perpetual market on one venue."""

    symbol: str = Field(description="canonical base asset, e.g. BTC, PEPE")
    venue_symbol: str = Field(description="the venue's own name, e.g. BTC-USD-PERP, 1000PEPEUSDT")
    contract_id: str = Field(description="the venue's market/contract identifier (index, id or name)")
    tick_size: Decimal
    size_step: Decimal
    min_size: Decimal
    min_notional: Decimal | None = None
    multiplier: Decimal = Decimal(1)
    quote: str = "USD"
    maker_fee: Decimal | None = None
    taker_fee: Decimal | None = None
    max_leverage: Decimal | None = None

    def round_price(self, price: Decimal, side: Side | None = None) -> Decimal:
        """Round to the tick: down for buys, up for sells (never crosses further than asked); nearest-down if no side."""
        rounding = ROUND_CEILING if side is Side.SELL else ROUND_FLOOR
        return (price / self.tick_size).to_integral_value(rounding=rounding) * self.tick_size

    def round_size(self, size: Decimal) -> Decimal:
        """Round a size down to the step (never sends more than asked)."""
        return (size / self.size_step).to_integral_value(rounding=ROUND_DOWN) * self.size_step

    def to_base_size(self, size: Decimal) -> Decimal:
        return size * self.multiplier

    def to_base_price(self, price: Decimal) -> Decimal:
        return price / self.multiplier


class Quote(_Model):
    """Top of book."""

    symbol: str
    bid: Decimal
    ask: Decimal
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    timestamp: datetime = Field(default_factory=utcnow)

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


class OrderRequest(_Model):
    symbol: str
    side: Side
    size: Decimal = Field(gt=0)
    order_type: OrderType = OrderType.LIMIT
    price: Decimal | None = Field(default=None, gt=0, description="required for limit orders")
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    client_order_id: str = Field(min_length=1, description="caller-chosen id; lets a retry find the first attempt")

    @property
    def post_only(self) -> bool:
        return self.time_in_force is TimeInForce.POST_ONLY


class Order(_Model):
    order_id: str
    client_order_id: str | None = None
    symbol: str
    side: Side
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    price: Decimal | None = None
    size: Decimal
    filled_size: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    status: OrderStatus
    reduce_only: bool = False
    cancel_reason: CancelReason | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled_size


class Fill(_Model):
    trade_id: str
    order_id: str
    client_order_id: str | None = None
    symbol: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal = Field(description="fee paid in quote currency; negative = rebate received")
    liquidity: Liquidity
    timestamp: datetime = Field(default_factory=utcnow)


class OrderUpdate(_Model):
    """One event of the order-update stream: the order's new state, and the fill that caused it, if any."""

    order: Order
    fill: Fill | None = None


class Position(_Model):
    symbol: str
    size: Decimal = Field(description="signed, in contract units: > 0 long, < 0 short")
    avg_entry_price: Decimal | None = None
    mark_price: Decimal | None = None
    unrealized_pnl: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    funding_pnl: Decimal = Field(default=ZERO, description="cumulative funding received (+) or paid (-)")
    liquidation_price: Decimal | None = None
    margin: Decimal | None = None
    leverage: Decimal | None = None

    @property
    def notional(self) -> Decimal:
        price = self.mark_price if self.mark_price is not None else self.avg_entry_price
        return abs(self.size) * (price or ZERO)


class Balance(_Model):
    asset: str = "USD"
    equity: Decimal = Field(description="collateral + unrealized PnL")
    available: Decimal = Field(description="free for new orders")
    margin_used: Decimal = ZERO
    unrealized_pnl: Decimal = ZERO

    @property
    def margin_ratio(self) -> Decimal | None:
        """equity / used margin: None when nothing is used."""
        return self.equity / self.margin_used if self.margin_used > 0 else None


class FundingRate(_Model):
    """One market's funding data at collection time (the collector side)."""

    exchange: str
    symbol: str = Field(description="canonical base asset")
    venue_symbol: str
    multiplier: Decimal = Decimal(1)
    rate: Decimal = Field(description="raw rate per funding interval, as a fraction (0.0001 = 1 bp)")
    interval_hours: Decimal = Field(gt=0)
    mark_price: Decimal | None = None
    index_price: Decimal | None = None
    open_interest_usd: Decimal | None = None
    volume_24h_usd: Decimal | None = None
    best_bid: Decimal | None = None
    best_ask: Decimal | None = None
    min_order_size: Decimal | None = Field(
        default=None,
        gt=0,
        description="the market's minimum order size in base units of `symbol` (the trading client's "
        "Market.min_size x multiplier); None when the venue's market data does not give it",
    )
    next_funding_time: datetime | None = None
    collected_at: datetime = Field(default_factory=utcnow)

    @property
    def hourly_rate(self) -> Decimal:
        return self.rate / self.interval_hours


def base_min_size(venue_min_size: Decimal | None, multiplier: Decimal) -> Decimal | None:
    """A market's minimum order size (in the venue's contract units) as :attr:`FundingRate.min_order_size` carries it:
    in base units of the canonical symbol (``1000PEPE`` minimum 1 → 1000 PEPE); None when absent or not positive
    (a venue answering 0 publishes no minimum)."""
    if venue_min_size is None or venue_min_size <= 0:
        return None
    return venue_min_size * multiplier


# ---------------------------------------------------------------------------------------------------------------------
# errors


class ExchangeError(Exception):
    """Base of everything a venue client raises. Messages never contain credentials."""

    retryable: bool = False

    def __init__(self, message: str, *, exchange: str | None = None) -> None:
        super().__init__(message)
        self.exchange = exchange


class CredentialsError(ExchangeError):
    """Missing, empty or placeholder credentials; ``keys`` names the env vars (never their values)."""

    def __init__(self, exchange: str, keys: list[str], problem: str = "missing or empty") -> None:
        super().__init__(f"{exchange}: credential env var(s) {', '.join(keys)} {problem}", exchange=exchange)
        self.keys = keys


class AuthenticationError(ExchangeError):
    """The venue refused our signature, key or token."""


class OrderRejected(ExchangeError):
    def __init__(self, message: str, *, reason: CancelReason = CancelReason.REJECTED, exchange: str | None = None):
        super().__init__(message, exchange=exchange)
        self.reason = reason


class PostOnlyWouldCross(OrderRejected):
    """A post-only order would have taken liquidity; retry at a less aggressive price."""

    def __init__(self, message: str = "post-only order would cross the book", *, exchange: str | None = None):
        super().__init__(message, reason=CancelReason.POST_ONLY_VIOLATION, exchange=exchange)


class InsufficientMargin(OrderRejected):
    def __init__(self, message: str = "insufficient margin", *, exchange: str | None = None):
        super().__init__(message, reason=CancelReason.INSUFFICIENT_BALANCE, exchange=exchange)


class DuplicateClientOrderId(OrderRejected):
    """The venue refused an order because its client id is already in use: an earlier attempt of the same request
    may have landed (a lost reply), so the caller looks it up by client id instead of reading "not placed"."""


class OrderNotFound(ExchangeError):
    pass


class RateLimited(ExchangeError):
    retryable = True

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None, exchange: str | None = None):
        super().__init__(message, exchange=exchange)
        self.retry_after = retry_after


class TransientNetworkError(ExchangeError):
    """Timeout, connection reset, 5xx: the outcome of the request is unknown."""

    retryable = True


class MalformedResponse(TransientNetworkError):
    """The venue answered something its client cannot use: an unknown order status, a missing or unreadable field, a
    top of book that is not ``0 < bid < ask``. Never read as a default (a silent OPEN, a filled size of 0, a quote of
    0): the outcome is unknown, so a read is retried and then skipped, and a placement is looked up by client id."""


class OrderOutcomeUnknown(TransientNetworkError):
    """An order was sent, no answer said whether it landed, and looking it up by its client id did not find it (the
    venue's lookup may lag, or the order may still land): the caller tracks ``client_order_id`` and resolves it by
    lookup later, never reading it as "not placed" nor sending it again under a new id meanwhile."""

    def __init__(self, message: str, *, client_order_id: str, exchange: str | None = None) -> None:
        super().__init__(message, exchange=exchange)
        self.client_order_id = client_order_id


# ---------------------------------------------------------------------------------------------------------------------
# retries

T = TypeVar("T")

# how a caller waits between attempts: ``asyncio.sleep`` by default, a strategy's ``clock.sleep`` (virtual in tests)
Sleep = Callable[[float], Awaitable[None]]


def retry_delay(exc: BaseException, default: float) -> float:
    """How long to wait before trying again after ``exc``: the venue's Retry-After when it gave one (never less)."""
    if isinstance(exc, RateLimited) and exc.retry_after:
        return max(default, exc.retry_after)
    return default


async def with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int = 4,
    base_delay: float = 0.25,
    max_delay: float = 5.0,
    what: str = "request",
    sleep: Sleep | None = None,
) -> T:
    """Retry a *safe* call (a read, a cancel) on retryable errors with exponential backoff (Retry-After honoured),
    waiting with ``sleep`` (default ``asyncio.sleep``).

    Never use this for order placement: use :meth:`Exchange.submit_order`, which checks the client id first.
    """
    pause = sleep or asyncio.sleep
    delay = base_delay
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ExchangeError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            wait = retry_delay(exc, delay)
            log.warning("%s failed (%s), retry %d/%d in %.2fs", what, exc, attempt, attempts - 1, wait)
            await pause(wait)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------------------------------
# the contract


class Exchange(ABC):
    """A trading client for one account on one venue."""

    name: str

    # lifecycle ----------------------------------------------------------------------------------------------------
    @abstractmethod
    async def connect(self) -> None:
        """Authenticate, load markets, open streams. Raises CredentialsError/AuthenticationError early."""

    @abstractmethod
    async def close(self) -> None:
        """Close streams and HTTP sessions. Never cancels orders (that is the strategy's ``onStop``)."""

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # market data --------------------------------------------------------------------------------------------------
    @abstractmethod
    async def markets(self) -> dict[str, Market]:
        """Every perpetual market, keyed by canonical symbol."""

    async def market(self, symbol: str) -> Market:
        markets = await self.markets()
        try:
            return markets[symbol]
        except KeyError:
            raise ExchangeError(f"{self.name}: no perpetual market for {symbol!r}", exchange=self.name) from None

    @abstractmethod
    async def best_bid_ask(self, symbol: str) -> Quote: ...

    @abstractmethod
    def price_stream(self, symbol: str) -> AsyncIterator[Quote]:
        """Top-of-book updates until the client closes (reconnecting under the hood)."""

    # orders -------------------------------------------------------------------------------------------------------
    @abstractmethod
    async def place_order(self, request: OrderRequest) -> Order:
        """Send one order exactly once. Post-only that would cross raises :class:`PostOnlyWouldCross`."""

    @abstractmethod
    async def cancel_order(self, symbol: str, order_id: str) -> None:
        """Cancel one order; an already-final order raises :class:`OrderNotFound`."""

    @abstractmethod
    async def cancel_all(self, symbol: str | None = None) -> int:
        """Cancel every open order (of one market, or all); returns how many were cancelled."""

    @abstractmethod
    async def open_orders(self, symbol: str | None = None) -> list[Order]: ...

    @abstractmethod
    async def get_order(self, symbol: str, order_id: str) -> Order | None: ...

    async def find_order_by_client_id(self, symbol: str, client_order_id: str) -> Order | None:
        """Look an order up by our client id (open orders first; venues with a direct lookup override this)."""
        for order in await self.open_orders(symbol):
            if order.client_order_id == client_order_id:
                return order
        return None

    @abstractmethod
    def order_updates(self) -> AsyncIterator[OrderUpdate]:
        """Every order change and fill of this account, in order, until the client closes.

        After a reconnect the implementation reconciles over REST (open orders, recent fills) so no fill is lost.
        """

    # account ------------------------------------------------------------------------------------------------------
    @abstractmethod
    async def position(self, symbol: str) -> Position:
        """The position in one market (size 0 when flat)."""

    @abstractmethod
    async def positions(self) -> list[Position]:
        """Every non-zero position."""

    @abstractmethod
    async def balance(self) -> Balance: ...

    # helpers built on the contract --------------------------------------------------------------------------------
    async def submit_order(
        self, request: OrderRequest, *, attempts: int = 3, sleep: Sleep | None = None, lookup_window: float = 0.0
    ) -> Order:
        """Place an order, retrying transient failures without ever sending it twice.

        - A 429 (:class:`RateLimited`: not processed) waits its Retry-After and sends again.
        - An unknown outcome (timeout, reset, 5xx, an unreadable answer) looks the order up by ``client_order_id``,
          again and again for ``lookup_window`` seconds (a venue's lookup may lag the order); found, it is returned;
          not found, it is sent again with the same client id while attempts remain.
        - A resend refused as a duplicate (:class:`DuplicateClientOrderId`) landed after all: looked up (found, it is
          returned), else the refusal is raised (the caller must not read it as "not placed").
        - The last attempt's unknown outcome, not found by the lookup: :class:`OrderOutcomeUnknown` (the caller
          tracks the client id and resolves it by lookup later).

        Waits use ``sleep`` (default ``asyncio.sleep``; a strategy passes its clock's).
        """
        pause = sleep or asyncio.sleep
        delay = 0.25
        unknown: ExchangeError | None = None
        for attempt in range(1, attempts + 1):
            try:
                return await self.place_order(request)
            except DuplicateClientOrderId:
                if unknown is None:
                    raise  # the first send: the id was in use before (not ours to look up)
                existing = await self.find_landed(request, pause, lookup_window)
                if existing is not None:
                    log.info("%s: order %s landed despite %s", self.name, request.client_order_id, unknown)
                    return existing
                raise
            except (TransientNetworkError, RateLimited) as exc:
                rate_limited = isinstance(exc, RateLimited)
                if not rate_limited:
                    unknown = exc
                if attempt == attempts and unknown is None:
                    raise
                await pause(retry_delay(exc, delay))
                delay *= 2
                if unknown is None:
                    continue  # rate limited before any attempt could have landed
                existing = await self.find_landed(request, pause, lookup_window)
                if existing is not None:
                    log.info("%s: order %s landed despite %s", self.name, request.client_order_id, unknown)
                    return existing
                if attempt == attempts:
                    raise OrderOutcomeUnknown(
                        f"{self.name}: order {request.client_order_id} sent {attempts} times, outcome unknown"
                        f" ({unknown}); not found by its client id",
                        client_order_id=request.client_order_id,
                        exchange=self.name,
                    ) from exc
        raise AssertionError("unreachable")

    async def find_landed(self, request: OrderRequest, sleep: Sleep, window: float) -> Order | None:
        """Look ``request`` up by its client id, and while not found again after 0.5, 1, 2, ... s until ``window``
        seconds have passed (0: once)."""
        waited, step = 0.0, 0.5
        while True:
            existing = await with_retries(
                lambda: self.find_order_by_client_id(request.symbol, request.client_order_id),
                what=f"{self.name} lookup of {request.client_order_id}",
                sleep=sleep,
            )
            if existing is not None or waited >= window:
                return existing
            wait = min(step, window - waited)
            await sleep(wait)
            waited += wait
            step *= 2


class FundingSource(ABC):
    """The collector side of a venue: public funding and market data, no credentials needed."""

    name: str

    @abstractmethod
    async def funding_rates(self, symbols: list[str] | None = None) -> list[FundingRate]:
        """Every perpetual market's funding data (only ``symbols``, canonical, when given)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release HTTP sessions."""
