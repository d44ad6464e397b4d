"""ApeX Omni REST and private-stream payloads (pydantic, numbers as ``Decimal``), the fields the adapters read.

Shapes: the ``/api/v3/symbols`` config and ``/api/v3/ticker`` row as ccxt's ``apex`` implementation documents and
parses them (``fetch_markets`` / ``parse_market``, ``parse_ticker``; the endpoints and the ``symbol`` parameter
without its dash are the official SDK's ``HttpPublic.configs_v3`` / ``ticker_v3``). Every answer is wrapped as
``{"data": ...}``; a refusal is ``{"code": <non-zero>, "msg": ..., "key": ...}`` (ccxt ``handle_errors``).

Private payloads: the official TypeScript connector's interfaces (``ApeX-Protocol/apexomni-connector-node``
``src/omni/interface/index.ts``: ``AccountObject``, ``OpenPositionObject``, ``AccountBalanceObject``, ``IOrder`` /
``OrderObject``, ``Fill``, ``IContents`` - the ``ws_zk_accounts_v3`` push), with ccxt's ``parse_order``,
``parse_position``, ``parse_balance`` and ``fetch_my_trades`` (``data.orders`` of ``/v3/fills``) for where each list
sits in its answer.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class PerpetualContract(_Wire):
    """``data.contractConfig.perpetualContract[]``: ``symbol`` ``BTC-USDT``, ``crossSymbolName`` ``BTCUSDT`` (the
    ticker's name), sizes in base units."""

    symbol: str
    cross_symbol_name: str = Field(alias="crossSymbolName")
    base_token_id: str | None = Field(default=None, alias="baseTokenId")
    settle_asset_id: str | None = Field(default=None, alias="settleAssetId")
    tick_size: Decimal = Field(alias="tickSize")
    step_size: Decimal = Field(alias="stepSize")
    min_order_size: Decimal | None = Field(default=None, alias="minOrderSize")
    l2_pair_id: int = Field(alias="l2PairId")
    enable_trade: bool = Field(default=True, alias="enableTrade")
    enable_display: bool = Field(default=True, alias="enableDisplay")


class ContractConfig(_Wire):
    perpetual_contract: list[PerpetualContract] = Field(default_factory=list, alias="perpetualContract")
    assets: list[Asset] = Field(default_factory=list)


class Asset(_Wire):
    """``data.contractConfig.assets[]``: the settle asset's ``decimals`` scale an order's price and size for the zkLink
    signature (``create_order_v3``)."""

    token: str
    decimals: int


class SymbolsData(_Wire):
    contract_config: ContractConfig = Field(alias="contractConfig")


class Ticker(_Wire):
    """One ``/v3/ticker`` row. ``openInterest`` is in base units (ccxt: ``openInterestAmount``), ``turnover24h`` the
    24 h quote (USDT) volume, ``fundingRate`` the current rate per funding interval, ``nextFundingTime`` a UTC
    time of day (``"10:00:00"``)."""

    symbol: str
    last_price: Decimal | None = Field(default=None, alias="lastPrice")
    mark_price: Decimal | None = Field(default=None, alias="markPrice")
    index_price: Decimal | None = Field(default=None, alias="indexPrice")
    open_interest: Decimal | None = Field(default=None, alias="openInterest")
    turnover_24h: Decimal | None = Field(default=None, alias="turnover24h")
    funding_rate: Decimal = Field(alias="fundingRate")
    predicted_funding_rate: Decimal | None = Field(default=None, alias="predictedFundingRate")
    next_funding_time: str | int | None = Field(default=None, alias="nextFundingTime")


class Envelope(_Wire):
    data: Any = None


class Depth(_Wire):
    """``GET /v3/depth``: ``a`` / ``b`` as ``[price, size]`` pairs, best first (ccxt ``fetch_order_book``)."""

    a: list[tuple[Decimal, Decimal]] = Field(default_factory=list)
    b: list[tuple[Decimal, Decimal]] = Field(default_factory=list)
    s: str | None = None


class ContractAccount(_Wire):
    taker_fee_rate: Decimal = Field(alias="takerFeeRate")
    maker_fee_rate: Decimal = Field(alias="makerFeeRate")


class PositionRow(_Wire):
    """``OpenPositionObject`` / ``IPosition``: ``side`` LONG | SHORT, ``size`` unsigned in base units."""

    symbol: str
    side: str
    size: Decimal
    entry_price: Decimal | None = Field(default=None, alias="entryPrice")
    funding_fee: Decimal | None = Field(default=None, alias="fundingFee")
    realized_pnl: Decimal | None = Field(default=None, alias="realizedPnl")


class Account(_Wire):
    """``GET /v3/account``: the account ``id`` (what the zkLink signature's account id is derived from), its fee
    rates and open positions."""

    id: str
    contract_account: ContractAccount = Field(alias="contractAccount")
    positions: list[PositionRow] = Field(default_factory=list)


class AccountBalance(_Wire):
    total_equity_value: Decimal = Field(alias="totalEquityValue")
    available_balance: Decimal = Field(alias="availableBalance")
    initial_margin: Decimal | None = Field(default=None, alias="initialMargin")
    maintenance_margin: Decimal | None = Field(default=None, alias="maintenanceMargin")


class OrderRow(_Wire):
    """``IOrder`` / ``OrderObject``: ``status`` PENDING | OPEN | FILLED | CANCELED | EXPIRED | UNTRIGGERED (and
    CANCELING, ccxt), ``cumSuccessFillSize`` the filled size, times in ms."""

    id: str
    client_id: str | None = Field(default=None, alias="clientId")
    symbol: str
    side: str
    type: str = "LIMIT"
    time_in_force: str | None = Field(default=None, alias="timeInForce")
    price: Decimal | None = None
    size: Decimal
    status: str
    reduce_only: bool | None = Field(default=None, alias="reduceOnly")
    cum_success_fill_size: Decimal | None = Field(default=None, alias="cumSuccessFillSize")
    cum_success_fill_value: Decimal | None = Field(default=None, alias="cumSuccessFillValue")
    cancel_reason: str | None = Field(default=None, alias="cancelReason")
    created_at: int | None = Field(default=None, alias="createdAt")
    updated_at: int | None = Field(default=None, alias="updatedAt")
    updated_time: int | None = Field(default=None, alias="updatedTime")


class FillRow(_Wire):
    """``Fill``: one match of one of the account's orders; ``direction`` MAKER | TAKER, ``fee`` in USDT."""

    id: str
    order_id: str = Field(alias="orderId")
    client_order_id: str | None = Field(default=None, alias="clientOrderId")
    symbol: str
    side: str
    price: Decimal
    size: Decimal
    fee: Decimal = Decimal(0)
    direction: str | None = None
    status: str | None = None  # SUCCESS once settled (the connector: "SUCCESS" etc.)
    created_at: int = Field(alias="createdAt")


class FillsPage(_Wire):
    orders: list[FillRow] = Field(default_factory=list)


class AccountContents(_Wire):
    """``IContents``: what a ``ws_zk_accounts_v3`` push carries (only the lists the client reads)."""

    orders: list[OrderRow] = Field(default_factory=list)
    fills: list[FillRow] = Field(default_factory=list)
    positions: list[PositionRow] = Field(default_factory=list)


class AccountPush(_Wire):
    """``{"topic": "ws_zk_accounts_v3", "type": "snapshot" | "delta", "contents": {...}}``."""

    topic: str
    type: str = ""
    contents: AccountContents = Field(default_factory=AccountContents)
