"""The strategy's own books: fees of its orders and the price cash flow of orders that belong to no pair.

A fill known only from the position (an order whose reply was lost and that the venue's lookup could not find) is
booked at the price the position shows (:meth:`Ledger.book_estimate`), so a pair's price cash flow never misses a
whole side. Fees come from the venue's fills on the order-update stream when it delivered them, else from an estimate (filled
notional x the market's taker fee) recorded when the order was confirmed, so a venue that is slow to stream never
makes a fee disappear or count twice. Everything here is in-process memory: a restarted bot starts new books (the
pairs themselves are rebuilt from the venues).
"""

from __future__ import annotations

from decimal import Decimal

from bot_runtime.exchanges.base import Fill, Market, Order, Side
from bot_runtime.strategies.funding_arb.models import OrderRecord, Pair

ZERO = Decimal(0)


def cash_flow(order: Order) -> Decimal:
    """Quote-currency flow of an order's fills: a buy pays, a sell receives (prices are per contract)."""
    if order.filled_size <= 0 or order.avg_fill_price is None:
        return ZERO
    return -order.side.sign * order.filled_size * order.avg_fill_price


class Ledger:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], OrderRecord] = {}
        self.streamed_fees: dict[tuple[str, str], Decimal] = {}
        self.streamed_clients: set[tuple[str, str]] = set()  # (exchange, client order id) of every streamed fill
        self.unpaired_cash = ZERO  # failed entries, lone-leg unwinds: realized once flat
        self.closed_cash = ZERO  # price PnL of closed pairs
        self.closed_funding = ZERO  # funding of closed pairs
        self.pairs_closed = 0

    def on_fill(self, exchange: str, fill: Fill) -> None:
        key = (exchange, fill.order_id)
        self.streamed_fees[key] = self.streamed_fees.get(key, ZERO) + fill.fee
        if fill.client_order_id:
            self.streamed_clients.add((exchange, fill.client_order_id))

    def book(self, exchange: str, order: Order, market: Market, pair: Pair | None) -> None:
        """Record a confirmed order with fills: its fee estimate, and its cash flow on ``pair`` (or unpaired)."""
        if order.filled_size <= 0 or order.avg_fill_price is None:
            return
        key = (exchange, order.order_id)
        if key in self.records:
            return
        self.records[key] = OrderRecord(
            exchange=exchange,
            order_id=order.order_id,
            filled=order.filled_size,
            avg_price=order.avg_fill_price,
            fee_rate=market.taker_fee or ZERO,
        )
        flow = cash_flow(order)
        if pair is None:
            self.unpaired_cash += flow
        else:
            pair.price_cash += flow
            pair.order_ids.append(key)

    def book_estimate(
        self,
        exchange: str,
        key: str,
        *,
        side: Side,
        size: Decimal,
        price: Decimal,
        market: Market,
        pair: Pair | None,
        client_ids: tuple[str, ...] = (),
    ) -> None:
        """A fill known from the position only (its order's reply was lost and the venue's lookup could not find
        it): booked at ``price`` (the position's entry, else the mark) under ``key`` (never a venue's order id, so it
        can never meet a reported order), with the market's taker fee unless the update stream brought the fee of
        one of ``client_ids`` (the orders behind it)."""
        record_key = (exchange, key)
        if size <= 0 or record_key in self.records:
            return
        self.records[record_key] = OrderRecord(
            exchange=exchange,
            order_id=key,
            filled=size,
            avg_price=price,
            fee_rate=market.taker_fee or ZERO,
            client_ids=client_ids,
        )
        flow = -side.sign * size * price
        if pair is None:
            self.unpaired_cash += flow
        else:
            pair.price_cash += flow
            pair.order_ids.append(record_key)

    def close_pair(self, pair: Pair, funding: Decimal) -> None:
        """A pair is flat: its price cash flow is realized, ``funding`` (its last reading while open) too."""
        self.closed_cash += pair.price_cash
        self.closed_funding += funding
        self.pairs_closed += 1

    @property
    def fees(self) -> Decimal:
        total = sum(self.streamed_fees.values(), ZERO)
        for key, record in self.records.items():
            if key in self.streamed_fees or any(
                (record.exchange, c) in self.streamed_clients for c in record.client_ids
            ):
                continue
            total += record.estimated_fee
        return total

    @property
    def realized(self) -> Decimal:
        """Price PnL of closed pairs and settled unpaired trades, net of every fee paid so far."""
        return self.closed_cash + self.unpaired_cash - self.fees
