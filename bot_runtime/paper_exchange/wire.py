"""The paper exchange's network API models (pydantic only: the bot's ``paper`` client imports this module).

REST under ``/api/v1`` (OpenAPI at ``/api/v1/openapi.json``), bodies and answers in the runtime's own exchange models
(:class:`~bot_runtime.exchanges.base.Order`, ``Position``, ...), every decimal as a JSON string. One WebSocket per
client, ``/api/v1/venues/{venue}/stream?account=A&since=N&symbols=BTC,ETH``, carries :class:`StreamMessage` frames:

- ``quote``: top of book of a subscribed symbol whenever it moves;
- ``order``: one :class:`~bot_runtime.exchanges.base.OrderUpdate` of the account with its ``seq``: the account's
  update number (1, 2, ...), stored with the update. A client that reconnects with ``since`` = the last ``seq`` it
  saw first receives every stored update after it (also across a restart of the service), then the live ones: a
  dropped stream loses nothing and repeats nothing;
- ``ready``: sent once after the replay of ``since``, with the account's current ``seq``.

Errors are :class:`ErrorBody` with the HTTP status: 404 unknown venue/market/order, 409 an order the venue refuses
(``kind`` says why: ``rejected``, ``post_only_would_cross``, ``insufficient_margin``, ``reduce_only``,
``duplicate_client_order_id``), 422 a
malformed request, 503 the database unreachable (the outcome of a write is then unknown: look it up by client id).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot_runtime.exchanges.base import FundingRate, Market, Order, OrderUpdate, Quote

API_PREFIX = "/api/v1"

ErrorKind = Literal[
    "rejected",
    "post_only_would_cross",
    "insufficient_margin",
    "reduce_only",
    "duplicate_client_order_id",
    "not_found",
    "bad_request",
    "unavailable",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorBody(_Wire):
    kind: ErrorKind
    message: str


class VenueInfo(_Wire):
    name: str
    source: Literal["synthetic", "mirror"]
    mirror: str | None = Field(default=None, description="the live venue whose public market this venue mirrors")
    funding_interval_hours: Decimal
    starting_balance_usd: Decimal = Field(description="an account's balance when it is opened without one")
    leverage: Decimal
    markets: dict[str, Market]


class AccountOpen(_Wire):
    """``PUT .../accounts/{account}``: open the account if it does not exist yet (idempotent: an existing account
    keeps its balance, orders and positions)."""

    starting_balance_usd: Decimal | None = Field(default=None, gt=0, description="default: the venue's")


class AccountInfo(_Wire):
    venue: str
    account: str
    starting_balance_usd: Decimal
    leverage: Decimal
    seq: int = Field(description="number of the account's last order update")
    created: bool = Field(default=False, description="true when this request opened the account")


class CancelAllAnswer(_Wire):
    canceled: int


class FundingPaymentView(_Wire):
    symbol: str
    amount: Decimal = Field(description="received (+) or paid (-)")
    rate: Decimal
    mark: Decimal
    size: Decimal
    paid_at: str


class FundingRates(_Wire):
    venue: str
    rates: list[FundingRate]


class QuoteMessage(_Wire):
    type: Literal["quote"] = "quote"
    quote: Quote


class OrderMessage(_Wire):
    type: Literal["order"] = "order"
    seq: int
    update: OrderUpdate


class ReadyMessage(_Wire):
    type: Literal["ready"] = "ready"
    seq: int


StreamMessage = QuoteMessage | OrderMessage | ReadyMessage

__all__ = [
    "API_PREFIX",
    "AccountInfo",
    "AccountOpen",
    "CancelAllAnswer",
    "ErrorBody",
    "ErrorKind",
    "FundingPaymentView",
    "FundingRates",
    "Order",
    "OrderMessage",
    "QuoteMessage",
    "ReadyMessage",
    "StreamMessage",
    "VenueInfo",
]
