"""The paper exchange's PostgreSQL tables (schema ``paper_exchange``, see ``migrations/``): load a venue whole at
start, store each :class:`~bot_runtime.paper_exchange.venue.Changes` in one transaction before it is answered or
published, read the numbered order updates a reconnecting client missed.

Every order is stored in its latest state; fills, funding payments and order updates are appended; positions are
stored per (account, symbol) after every fill or funding payment; the venue row holds what the market source and
the id counters reached. That is the whole state: :func:`load_venue` rebuilds a venue exactly as it was.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import asyncpg

from bot_runtime.db.migrator import MigrationSet
from bot_runtime.exchanges.base import (
    CancelReason,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Side,
    TimeInForce,
)
from bot_runtime.paper_exchange.engine.accounting import PositionBook
from bot_runtime.paper_exchange.engine.matching import FundingPayment, Sequencer
from bot_runtime.paper_exchange.market import MarketSource
from bot_runtime.paper_exchange.venue import Changes, Venue
from bot_runtime.paper_exchange.venues import VenueConfig

MIGRATIONS = MigrationSet(
    Path(__file__).with_name("migrations"),
    lock_key=int.from_bytes(b"perpdexp", "big", signed=True),
    schema="paper_exchange",
)

#: builds a venue's market source from its config, stored epoch and cursor, and the time now
MarketFactory = Callable[[VenueConfig, float, Mapping[str, int] | None, float], MarketSource]


def _order(row: asyncpg.Record) -> Order:
    return Order(
        order_id=row["order_id"],
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        order_type=OrderType(row["order_type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        price=row["price"],
        size=row["size"],
        filled_size=row["filled_size"],
        avg_fill_price=row["avg_fill_price"],
        status=OrderStatus(row["status"]),
        reduce_only=row["reduce_only"],
        cancel_reason=CancelReason(row["cancel_reason"]) if row["cancel_reason"] else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def load_venue(conn: asyncpg.Connection, config: VenueConfig, now: float, markets: MarketFactory) -> Venue:
    """The stored venue (created when new: its price paths then start at the epoch of the venues already stored,
    so venues with the same seed move together)."""
    row = await conn.fetchrow("SELECT * FROM paper_exchange.venues WHERE name = $1", config.name)
    if row is None:
        earliest = await conn.fetchval("SELECT min(epoch) FROM paper_exchange.venues")
        epoch = float(earliest) if earliest is not None else float(math.floor(now))
        market = markets(config, epoch, None, now)
        period = market.funding.period(now)
        await conn.execute(
            "INSERT INTO paper_exchange.venues (name, epoch, funding_period, cursor) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO NOTHING",
            config.name,
            epoch,
            period,
            json.dumps(market.cursor()),
        )
        return Venue(config, market, epoch=epoch, funding_period=period, ids=Sequencer(config.name))
    epoch = float(row["epoch"])
    market = markets(config, epoch, json.loads(row["cursor"]), now)
    venue = Venue(
        config,
        market,
        epoch=epoch,
        funding_period=int(row["funding_period"]),
        ids=Sequencer(config.name, int(row["last_order"]), int(row["last_trade"])),
    )
    for acc in await conn.fetch(
        "SELECT account, starting_balance, seq FROM paper_exchange.accounts WHERE venue = $1", config.name
    ):
        venue.add_account(acc["account"], acc["starting_balance"], int(acc["seq"]))
    orders: dict[str, list[Order]] = {}
    for r in await conn.fetch(
        "SELECT * FROM paper_exchange.orders WHERE venue = $1 ORDER BY created_at, length(order_id), order_id",
        config.name,
    ):
        orders.setdefault(r["account"], []).append(_order(r))
    books: dict[str, dict[str, PositionBook]] = {}
    for r in await conn.fetch("SELECT * FROM paper_exchange.positions WHERE venue = $1", config.name):
        books.setdefault(r["account"], {})[r["symbol"]] = PositionBook(
            size=r["size"],
            avg_entry=r["avg_entry"],
            realized_pnl=r["realized_pnl"],
            funding_pnl=r["funding_pnl"],
            fees=r["fees"],
            volume=r["volume"],
        )
    for name, engine in venue.accounts.items():
        engine.restore(orders.get(name, []), books.get(name, {}))
    return venue


async def save(conn: asyncpg.Connection, venue: Venue, changes: Changes) -> None:
    """Store ``changes`` (one transaction: all of it or nothing)."""
    if not changes:
        return
    async with conn.transaction():
        for account in changes.opened:
            await conn.execute(
                "INSERT INTO paper_exchange.accounts (venue, account, starting_balance) VALUES ($1, $2, $3)",
                venue.name,
                account,
                venue.starting[account],
            )
        latest: dict[str, tuple[str, Order]] = {}
        fills: list[tuple[str, Fill]] = []
        events: list[tuple[Any, ...]] = []
        for account, seq, update in changes.updates:
            latest[update.order.order_id] = (account, update.order)
            if update.fill is not None:
                fills.append((account, update.fill))
            events.append((venue.name, account, seq, update.model_dump_json()))
        if latest:
            await conn.executemany(
                """
                INSERT INTO paper_exchange.orders (venue, order_id, account, client_order_id, symbol, side, order_type,
                    time_in_force, price, size, filled_size, avg_fill_price, status, reduce_only, cancel_reason,
                    created_at, updated_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
                ON CONFLICT (venue, order_id) DO UPDATE SET filled_size = EXCLUDED.filled_size,
                    avg_fill_price = EXCLUDED.avg_fill_price, status = EXCLUDED.status,
                    cancel_reason = EXCLUDED.cancel_reason, updated_at = EXCLUDED.updated_at
                """,
                [
                    (
                        venue.name,
                        o.order_id,
                        account,
                        o.client_order_id,
                        o.symbol,
                        o.side.value,
                        o.order_type.value,
                        o.time_in_force.value,
                        o.price,
                        o.size,
                        o.filled_size,
                        o.avg_fill_price,
                        o.status.value,
                        o.reduce_only,
                        o.cancel_reason.value if o.cancel_reason else None,
                        o.created_at,
                        o.updated_at,
                    )
                    for account, o in latest.values()
                ],
            )
        if fills:
            await conn.executemany(
                """
                INSERT INTO paper_exchange.fills (venue, trade_id, account, order_id, client_order_id, symbol, side,
                    price, size, fee, liquidity, filled_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                """,
                [
                    (
                        venue.name,
                        f.trade_id,
                        account,
                        f.order_id,
                        f.client_order_id,
                        f.symbol,
                        f.side.value,
                        f.price,
                        f.size,
                        f.fee,
                        f.liquidity.value,
                        f.timestamp,
                    )
                    for account, f in fills
                ],
            )
        if events:
            await conn.executemany(
                "INSERT INTO paper_exchange.order_events (venue, account, seq, payload) VALUES ($1, $2, $3, $4)",
                events,
            )
        if changes.payments:
            await conn.executemany(
                """
                INSERT INTO paper_exchange.funding_payments (venue, account, symbol, amount, rate, mark, size, paid_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """,
                [
                    (venue.name, account, p.symbol, p.amount, p.rate, p.mark, p.size, p.paid_at)
                    for account, p in changes.payments
                ],
            )
        if changes.books:
            rows = []
            for account, symbol in sorted(changes.books):
                b = venue.accounts[account].account.book(symbol)
                rows.append(
                    (venue.name, account, symbol, b.size, b.avg_entry, b.realized_pnl, b.funding_pnl, b.fees, b.volume)
                )
            await conn.executemany(
                """
                INSERT INTO paper_exchange.positions (venue, account, symbol, size, avg_entry, realized_pnl,
                    funding_pnl, fees, volume)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (venue, account, symbol) DO UPDATE SET size = EXCLUDED.size,
                    avg_entry = EXCLUDED.avg_entry, realized_pnl = EXCLUDED.realized_pnl,
                    funding_pnl = EXCLUDED.funding_pnl, fees = EXCLUDED.fees, volume = EXCLUDED.volume,
                    updated_at = now()
                """,
                rows,
            )
        seqs = {account for account, _, _ in changes.updates}
        if seqs:
            await conn.executemany(
                "UPDATE paper_exchange.accounts SET seq = $3 WHERE venue = $1 AND account = $2",
                [(venue.name, account, venue.seqs[account]) for account in sorted(seqs)],
            )
        if changes.state:
            await conn.execute(
                """
                UPDATE paper_exchange.venues SET funding_period = $2, cursor = $3, last_order = $4, last_trade = $5,
                    updated_at = now()
                WHERE name = $1
                """,
                venue.name,
                venue.funding_period,
                json.dumps(venue.market.cursor()),
                venue.ids.last_order,
                venue.ids.last_trade,
            )


async def events_since(
    conn: asyncpg.Connection, venue: str, account: str, since: int, limit: int = 10_000
) -> list[tuple[int, OrderUpdate]]:
    rows = await conn.fetch(
        "SELECT seq, payload FROM paper_exchange.order_events WHERE venue = $1 AND account = $2 AND seq > $3"
        " ORDER BY seq LIMIT $4",
        venue,
        account,
        since,
        limit,
    )
    return [(int(r["seq"]), OrderUpdate.model_validate_json(r["payload"])) for r in rows]


async def fills(conn: asyncpg.Connection, venue: str, account: str, limit: int) -> list[Fill]:
    rows = await conn.fetch(
        "SELECT * FROM paper_exchange.fills WHERE venue = $1 AND account = $2 ORDER BY filled_at DESC, trade_id DESC"
        " LIMIT $3",
        venue,
        account,
        limit,
    )
    return [
        Fill(
            trade_id=r["trade_id"],
            order_id=r["order_id"],
            client_order_id=r["client_order_id"],
            symbol=r["symbol"],
            side=Side(r["side"]),
            price=r["price"],
            size=r["size"],
            fee=r["fee"],
            liquidity=Liquidity(r["liquidity"]),
            timestamp=r["filled_at"],
        )
        for r in reversed(rows)
    ]


async def funding_payments(conn: asyncpg.Connection, venue: str, account: str, limit: int) -> list[FundingPayment]:
    rows = await conn.fetch(
        "SELECT * FROM paper_exchange.funding_payments WHERE venue = $1 AND account = $2 ORDER BY id DESC LIMIT $3",
        venue,
        account,
        limit,
    )
    return [
        FundingPayment(
            symbol=r["symbol"],
            amount=r["amount"],
            rate=r["rate"],
            mark=r["mark"],
            size=r["size"],
            paid_at=r["paid_at"],
        )
        for r in reversed(rows)
    ]
