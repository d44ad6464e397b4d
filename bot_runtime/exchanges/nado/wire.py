"""Nado's wire shapes (the SDK's pydantic models, written out: the SDK's models cannot be imported here - see
:mod:`.signing`). Each model names the SDK class it mirrors; numbers are the engine's ``x18`` integer strings unless
said otherwise (``Decimal`` through :func:`~bot_runtime.exchanges._shared.http.loads`, never ``float``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

X18 = Decimal(10) ** 18


def from_x18(value: str | int | Decimal) -> Decimal:
    return Decimal(value) / X18


def to_x18(value: Decimal) -> int:
    return int((value * X18).to_integral_value())


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# gateway: POST /query and POST /execute envelopes ----------------------------------------------------------------
class Answer(_Wire):
    """engine_client/types/query.py ``QueryResponse`` / engine_client/types/execute.py ``ExecuteResponse``."""

    status: Literal["success", "failure"]
    data: Any = None
    error: str | None = None
    error_code: int | None = None
    request_type: str | None = None
    id: int | None = None


class Contracts(_Wire):
    """engine_client/types/query.py ``ContractsData``."""

    chain_id: int
    endpoint_addr: str


class SymbolData(_Wire):
    """engine_client/types/models.py ``SymbolData`` (one value of ``symbols``)."""

    type: str
    product_id: int
    symbol: str
    price_increment_x18: Decimal
    size_increment: Decimal
    min_size: Decimal
    maker_fee_rate_x18: Decimal
    taker_fee_rate_x18: Decimal
    max_open_interest_x18: Decimal | None = None


class Symbols(_Wire):
    """engine_client/types/query.py ``SymbolsData``."""

    symbols: dict[str, SymbolData]


class MarketPrice(_Wire):
    """engine_client/types/query.py ``MarketPriceData``."""

    product_id: int
    bid_x18: Decimal
    ask_x18: Decimal


class OrderData(_Wire):
    """engine_client/types/query.py ``OrderData`` (an open order); ``appendix`` as the gateway sends it."""

    product_id: int
    sender: str
    price_x18: Decimal
    amount: Decimal
    expiration: int
    nonce: int
    unfilled_amount: Decimal
    digest: str
    placed_at: int
    appendix: int | None = None


class SubaccountOrders(_Wire):
    """engine_client/types/query.py ``SubaccountOpenOrdersData``."""

    sender: str
    orders: list[OrderData]


class ProductOrders(_Wire):
    product_id: int
    orders: list[OrderData]


class MultiProductOrders(_Wire):
    """engine_client/types/query.py ``SubaccountMultiProductsOpenOrdersData``."""

    sender: str
    product_orders: list[ProductOrders]


class PerpBalance(_Wire):
    amount: Decimal
    v_quote_balance: Decimal
    last_cumulative_funding_x18: Decimal


class PerpProductBalance(_Wire):
    """engine_client/types/models.py ``PerpProductBalance``."""

    product_id: int
    balance: PerpBalance


class SpotBalance(_Wire):
    amount: Decimal


class SpotProductBalance(_Wire):
    product_id: int
    balance: SpotBalance


class Health(_Wire):
    """engine_client/types/models.py ``SubaccountHealth``: [initial, maintenance, unweighted]."""

    assets: Decimal
    liabilities: Decimal
    health: Decimal


class ProductPrice(_Wire):
    """The part of ``PerpProduct`` a position needs."""

    product_id: int
    oracle_price_x18: Decimal


class SubaccountInfo(_Wire):
    """engine_client/types/query.py ``SubaccountInfoData``."""

    subaccount: str
    exists: bool
    healths: list[Health]
    spot_balances: list[SpotProductBalance]
    perp_balances: list[PerpProductBalance]
    perp_products: list[ProductPrice]


class LinkedSigner(_Wire):
    """engine_client/types/query.py ``LinkedSignerData``."""

    linked_signer: str


class PlaceOrderData(_Wire):
    """engine_client/types/execute.py ``PlaceOrderResponse``."""

    digest: str


# indexer (archive): POST {indexer} ------------------------------------------------------------------------------
class IndexerOrder(_Wire):
    """indexer_client/types/models.py ``IndexerBaseOrder``."""

    sender: str
    priceX18: Decimal
    amount: Decimal
    expiration: int
    nonce: int


class IndexerMatch(_Wire):
    """indexer_client/types/models.py ``IndexerMatch`` (one fill of one of our orders)."""

    submission_idx: str
    timestamp: int | None = None
    digest: str
    order: IndexerOrder
    base_filled: Decimal
    quote_filled: Decimal
    fee: Decimal
    cumulative_base_filled: Decimal
    is_taker: bool | None = None


class IndexerTx(_Wire):
    """indexer_client/types/models.py ``IndexerTx``: the transaction of a match (``tx.match_orders.product_id``)."""

    submission_idx: str
    timestamp: int
    tx: dict[str, Any] = {}

    @property
    def product_id(self) -> int | None:
        match = self.tx.get("match_orders")
        value = match.get("product_id") if isinstance(match, dict) else None
        return int(value) if value is not None else None


class IndexerMatches(_Wire):
    """indexer_client/types/query.py ``IndexerMatchesData``."""

    matches: list[IndexerMatch]
    txs: list[IndexerTx] = []


class IndexerHistoricalOrder(_Wire):
    """indexer_client/types/models.py ``IndexerHistoricalOrder``."""

    digest: str
    subaccount: str
    product_id: int
    amount: Decimal
    price_x18: Decimal
    expiration: int
    nonce: int
    appendix: int
    base_filled: Decimal
    quote_filled: Decimal
    fee: Decimal
    submission_idx: str
    timestamp: int | None = None
    closed_amount: Decimal | None = None


class IndexerOrders(_Wire):
    """indexer_client/types/query.py ``IndexerHistoricalOrdersData``."""

    orders: list[IndexerHistoricalOrder]


class PerpContract(_Wire):
    """indexer_client/types/models.py ``IndexerPerpContractInfo`` (``GET {indexer v2}/contracts``, plain numbers)."""

    ticker_id: str
    base_currency: str
    quote_currency: str
    last_price: Decimal | None = None
    base_volume: Decimal | None = None
    quote_volume: Decimal | None = None
    product_type: str
    open_interest: Decimal | None = None
    open_interest_usd: Decimal | None = None
    index_price: Decimal | None = None
    mark_price: Decimal | None = None
    funding_rate: Decimal
    next_funding_rate_timestamp: int | None = None
    highest_bid: Decimal | None = None
    lowest_ask: Decimal | None = None


# subscriptions (gateway /subscribe) ----------------------------------------------------------------------------
class FillEvent(_Wire):
    """``fill`` stream (Nado's TypeScript SDK ``EngineServerSubscriptionFillEvent``); ``id`` the order's client id."""

    type: Literal["fill"]
    timestamp: int  # nanoseconds
    product_id: int
    subaccount: str
    order_digest: str
    filled_qty: Decimal
    remaining_qty: Decimal
    original_qty: Decimal
    price: Decimal
    is_taker: bool
    is_bid: bool
    fee: Decimal
    submission_idx: str
    id: int | None = None


class OrderUpdateEvent(_Wire):
    """``order_update`` stream: ``reason`` placed | filled | cancelled, ``amount`` the order's remaining amount."""

    type: Literal["order_update"]
    timestamp: int
    product_id: int
    digest: str
    amount: Decimal
    reason: str
    id: int | None = None


class BestBidOfferEvent(_Wire):
    """``best_bid_offer`` stream."""

    type: Literal["best_bid_offer"]
    timestamp: int
    product_id: int
    bid_price: Decimal
    bid_qty: Decimal
    ask_price: Decimal
    ask_qty: Decimal
