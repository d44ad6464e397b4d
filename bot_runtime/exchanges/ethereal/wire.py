"""Ethereal wire payloads (pydantic), as the venue sends them: decimals are strings (precision 9), ids UUIDs, times
epoch ms, sides ``0`` (buy) / ``1`` (sell), products named by ticker (``BTCUSD``) and id (UUID) and ``onchainId``.

REST shapes from the SDK's generated models (``ethereal.models.rest``, generated from the venue's OpenAPI spec:
``ProductDto``, ``MarketPriceDto``, ``OrderDto``, ``OrderFillDto``, ``PositionDto``, ``SubaccountDto``,
``SubaccountBalanceDto``, ``SignerDto``, ``SubmitOrderCreatedDto``, ``CancelOrderResultDto``, the ``PageOf...``
envelope ``{data, hasNext, nextCursor}``); the tests validate every fixture against those models strictly. Stream
shapes (short keys) from the native WebSocket page of the API docs (developer-guides/trading-api/websockets:
``OrderUpdate``, ``OrderFill``, ``Ticker``, ``L2Book``, each ``{e, t, data: {t, d: [...]}}`` or ``{e, t, data}``).
Unknown fields are ignored: the venue adds fields over time.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


T = TypeVar("T")


class Page(_Wire, Generic[T]):
    data: list[T]
    has_next: bool = Field(default=False, alias="hasNext")
    next_cursor: str | None = Field(default=None, alias="nextCursor")


# --- products and prices --------------------------------------------------------------------------------------------
class Product(_Wire):
    """``GET /v1/product``: ``engineType`` 0 is a perpetual (1 spot); ``fundingRate1h`` the last hourly rate;
    ``openInterest`` (both sides) and ``volume24h`` in base units."""

    id: str
    ticker: str
    display_ticker: str | None = Field(default=None, alias="displayTicker")
    base_token_name: str | None = Field(default=None, alias="baseTokenName")
    engine_type: int = Field(alias="engineType")
    onchain_id: int = Field(alias="onchainId")
    status: str
    tick_size: Decimal = Field(alias="tickSize")
    lot_size: Decimal = Field(alias="lotSize")
    min_quantity: Decimal | None = Field(default=None, alias="minQuantity")
    max_quantity: Decimal | None = Field(default=None, alias="maxQuantity")
    maker_fee: Decimal | None = Field(default=None, alias="makerFee")
    taker_fee: Decimal | None = Field(default=None, alias="takerFee")
    max_leverage: Decimal | None = Field(default=None, alias="maxLeverage")
    funding_rate_1h: Decimal = Field(alias="fundingRate1h")
    funding_updated_at: int | None = Field(default=None, alias="fundingUpdatedAt")
    open_interest: Decimal = Field(alias="openInterest")
    volume_24h: Decimal = Field(alias="volume24h")


class MarketPrice(_Wire):
    """``GET /v1/product/market-price?productIds=...`` (at most 50 ids a request)."""

    product_id: str = Field(alias="productId")
    best_bid_price: Decimal | None = Field(default=None, alias="bestBidPrice")
    best_ask_price: Decimal | None = Field(default=None, alias="bestAskPrice")
    oracle_price: Decimal | None = Field(default=None, alias="oraclePrice")
    price_24h_ago: Decimal | None = Field(default=None, alias="price24hAgo")


class MarketPrices(_Wire):
    data: list[MarketPrice]


# --- account ----------------------------------------------------------------------------------------------------------
class Subaccount(_Wire):
    id: str
    name: str  # bytes32 hex of the name, e.g. 0x7072696d617279 + zeros ("primary")
    account: str


class Signer(_Wire):
    """``GET /v1/linked-signer/address/{address}``: a linked signer and its state."""

    id: str
    signer: str
    status: str  # PENDING, ACTIVE, PENDING_REVOKE, REVOKED, REJECTED
    expires_at: int | None = Field(default=None, alias="expiresAt")


class Balance(_Wire):
    token_name: str = Field(alias="tokenName")
    amount: Decimal
    available: Decimal
    total_used: Decimal = Field(alias="totalUsed")


class Position(_Wire):
    """``size`` is unsigned, ``side`` 0 long / 1 short; ``cost`` the entry notional (USD)."""

    id: str
    product_id: str = Field(alias="productId")
    side: int
    size: Decimal
    cost: Decimal
    realized_pnl: Decimal = Field(alias="realizedPnl")
    unrealized_pnl: Decimal | None = Field(default=None, alias="unrealizedPnl")
    funding_accrued_usd: Decimal = Field(alias="fundingAccruedUsd")
    funding_usd: Decimal = Field(alias="fundingUsd")
    liquidation_price: Decimal | None = Field(default=None, alias="liquidationPrice")


# --- orders -----------------------------------------------------------------------------------------------------------
class WireOrder(_Wire):
    """``OrderDto``: ``status`` NEW, PENDING, FILLED_PARTIAL, FILLED, REJECTED, CANCELED, EXPIRED."""

    id: str
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    product_id: str = Field(alias="productId")
    type: str  # LIMIT | MARKET
    side: int
    price: Decimal
    quantity: Decimal
    available_quantity: Decimal = Field(alias="availableQuantity")
    filled: Decimal
    status: str
    reduce_only: bool = Field(alias="reduceOnly")
    post_only: bool | None = Field(default=None, alias="postOnly")
    time_in_force: str | None = Field(default=None, alias="timeInForce")
    rejected_reason: str | None = Field(default=None, alias="rejectedReason")
    created_at: int = Field(alias="createdAt")
    updated_at: int = Field(alias="updatedAt")


class WireFill(_Wire):
    """``OrderFillDto`` (``GET /v1/order/fill``): one fill of one of our orders."""

    id: str
    order_id: str = Field(alias="orderId")
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    product_id: str = Field(alias="productId")
    side: int
    price: Decimal
    filled: Decimal
    fee_usd: Decimal = Field(alias="feeUsd")
    is_maker: bool = Field(alias="isMaker")
    created_at: int = Field(alias="createdAt")


class SubmitCreated(_Wire):
    """``POST /v1/order`` 201: the order exists (``id``); ``result`` is ``Ok`` or why the engine refused it at
    once (``ImmediateMatchPostOnly``, ``InsufficientBalance``, ``OrderIncreasesPosition``, ...). With block
    execution the verdict may also come later, as the order's status (``REJECTED`` + ``rejectedReason``)."""

    id: str
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    result: str
    filled: Decimal = Decimal(0)


class CancelResult(_Wire):
    """One element of ``POST /v1/order/cancel``'s ``data``: ``Ok``, ``NotFound``, ``AlreadyCanceled``,
    ``AlreadyFilled``, ``AlreadyExpired``, ``NonceAlreadyUsed``, ``Unknown``."""

    id: str
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    result: str


class CancelResults(_Wire):
    data: list[CancelResult]


# --- stream (native WebSocket, short keys) -------------------------------------------------------------------------
class StreamOrder(_Wire):
    """One ``OrderUpdate`` entry: ``st`` the status (as ``OrderDto.status``), ``qty``/``aqty``/``fill`` the
    original, available and filled quantities, ``sd`` the side, ``s`` the ticker, ``tif``, ``ro``, ``po``."""

    id: str
    cloid: str | None = None
    otyp: str
    qty: Decimal
    aqty: Decimal
    fill: Decimal
    px: Decimal | None = None
    sd: int
    s: str
    sid: str
    st: str
    t: int
    ro: bool
    po: bool | None = None
    tif: str | None = None


class StreamFill(_Wire):
    """One ``OrderFill`` entry: ``id`` the fill, ``oid`` its order, ``m`` maker, ``fee`` in USD."""

    id: str
    oid: str
    cloid: str | None = None
    px: Decimal
    sz: Decimal
    sd: int
    s: str
    sid: str
    ro: bool
    fee: Decimal
    m: bool
    t: int


class StreamBatch(_Wire):
    t: int
    d: list[dict[str, object]]


class Ticker(_Wire):
    """``Ticker`` data: best bid/ask (``bidPx``, ``askPx``, sizes ``bidAmt``, ``askAmt``), ``markPx``, ``oi``,
    ``fr1h``, ``vol24h``."""

    s: str
    t: int
    bid_px: Decimal | None = Field(default=None, alias="bidPx")
    ask_px: Decimal | None = Field(default=None, alias="askPx")
    bid_amt: Decimal | None = Field(default=None, alias="bidAmt")
    ask_amt: Decimal | None = Field(default=None, alias="askAmt")
    mark_px: Decimal | None = Field(default=None, alias="markPx")
