"""Shop orders and links on PostgreSQL. Recording a delivery reads the order under a lock of its
own (an advisory lock on the order, held until the transaction ends), merges, and writes, so two
processes recording updates of one order take turns."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from bot.flows.model import OrderCandidate, OrderKey, ShopContext, ShopNeeds
from bot.flows.orders import Order
from bot.storage.codec import epoch, moment
from bot.storage.postgres.database import Connection, Database, Record
from bot.storage.shop_rows import (
    ORDER_COLUMNS,
    ORDER_LIST,
    order_from_row,
    order_to_row,
    refund_from_row,
    upsert_assignments,
)
from bot.storage.shop_sql import chain_revenue_sql, revenue_sql
from bot.storage.types import ChainRevenue, InboxItem, RevenueRow

__all__ = ["SHOP_WRITES", "PostgresShop"]

_LINK = (
    "INSERT INTO shop_links (kind, value, customer_id, method, linked_at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, value) DO "
)

SHOP_WRITES: dict[str, str] = {
    # See the SQLite statements (`bot/storage/sqlite/shop.py`): the same rows, in the same order.
    "referral_withdrawn": (
        "UPDATE referrals SET converted_at = NULL WHERE referee_id = $1 AND EXISTS ("
        "SELECT 1 FROM jobs WHERE customer_id = $2 AND kind = 'referral_converted' "
        "AND subject = $3 AND status = 'pending')"
    ),
    "referral_reward_cancel": (
        "UPDATE jobs SET status = 'cancelled', finished_at = $1 WHERE customer_id = $2 "
        "AND kind = 'referral_converted' AND subject = $3 AND status = 'pending'"
    ),
    "shop_applied": (
        "UPDATE shop_orders SET applied = $1, updated_at = $2 WHERE source = $3 AND order_id = $4"
    ),
    "shop_refund_applied": (
        "UPDATE shop_refunds SET applied = 1 WHERE source = $1 AND refund_id = $2"
    ),
    "shop_link": _LINK + "UPDATE SET customer_id = excluded.customer_id, method = excluded.method, "
    "linked_at = excluded.linked_at",
    "shop_link_keep": _LINK + "NOTHING",
    "shop_token": (
        "INSERT INTO shop_tokens (token_id, customer_id, used_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (token_id) DO NOTHING"
    ),
}

_UPSERT = (
    f"INSERT INTO shop_orders ({ORDER_LIST}) "
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(ORDER_COLUMNS) + 1))}) "
    "ON CONFLICT (source, order_id) DO UPDATE SET " + upsert_assignments()
)
_REFUND = (
    "INSERT INTO shop_refunds (source, refund_id, order_id, amount_micros, at) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, refund_id) DO UPDATE SET "
    "amount_micros = coalesce(excluded.amount_micros, shop_refunds.amount_micros)"
)
_REFUNDS = (
    "SELECT refund_id, amount_micros, at, applied FROM shop_refunds "
    "WHERE source = $1 AND order_id = $2 ORDER BY at, refund_id"
)
_ORDER = f"SELECT {ORDER_LIST} FROM shop_orders WHERE source = $1 AND order_id = $2"
_PREFIXED = ", ".join(f"o.{column}" for column in ORDER_COLUMNS)
_UNMATCHED_FOR = " UNION ".join(
    f"SELECT {_PREFIXED} FROM shop_orders o WHERE o.customer_id IS NULL AND o.{column} IN "
    f"(SELECT value FROM shop_links WHERE customer_id = $1 AND kind = '{kind}')"
    for kind, column in (
        ("order", "order_id"),
        ("ref", "customer_ref"),
        ("phone", "phone"),
        ("email", "email"),
    )
)
_MATCH = (
    "SELECT customer_id FROM shop_links WHERE (kind = 'order' AND value = $1) "
    "OR (kind = 'ref' AND value = $2) OR (kind = 'phone' AND value = $3) "
    "OR (kind = 'email' AND value = $4) ORDER BY CASE kind WHEN 'order' THEN 0 "
    "WHEN 'ref' THEN 1 WHEN 'phone' THEN 2 ELSE 3 END, linked_at DESC LIMIT 1"
)
_ORDER_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':shop-order'), hashtext($1))"
)


def _span(since: datetime | None, until: datetime | None) -> tuple[float, float]:
    return (
        epoch(since) if since else float("-inf"),
        epoch(until) if until else float("inf"),
    )


class PostgresShop:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def seen(self, event_key: str) -> bool:
        return (
            await self._db.fetchval("SELECT 1 FROM shop_events WHERE event_key = $1", event_key)
        ) is not None

    async def record(
        self,
        event_key: str,
        topic: str,
        key: OrderKey,
        merge: Callable[[Order | None], Order],
        at: datetime,
    ) -> tuple[Order, bool]:
        stamp = epoch(at)

        async def write(db: Connection) -> tuple[Order, bool]:
            await db.execute(_ORDER_LOCK, key.ref)
            fresh = await db.fetchval(
                "INSERT INTO shop_events (event_key, source, order_id, topic, received_at) "
                "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_key) DO NOTHING RETURNING 1",
                event_key,
                key.source,
                key.order_id,
                topic,
                stamp,
            )
            current = await _load(db, key)
            if fresh is None and current is not None:
                return current, False
            order = merge(current)
            await db.execute(_UPSERT, *order_to_row(order))
            if order.refunds:
                await db.executemany(
                    _REFUND,
                    [
                        (
                            key.source,
                            refund.refund_id,
                            key.order_id,
                            refund.amount_micros,
                            epoch(refund.at),
                        )
                        for refund in order.refunds
                    ],
                )
            stored = await _load(db, key)
            assert stored is not None
            return stored, True

        return await self._db.transaction(write)

    async def order(self, key: OrderKey) -> Order | None:
        row = await self._db.fetchrow(_ORDER, key.source, key.order_id)
        if row is None:
            return None
        refunds = await self._db.fetch(_REFUNDS, key.source, key.order_id)
        return order_from_row(tuple(row), [refund_from_row(tuple(r)) for r in refunds])

    async def match(self, order: Order) -> str | None:
        value = await self._db.fetchval(
            _MATCH, order.key.order_id, order.customer_ref, order.phone, order.email
        )
        return None if value is None else str(value)

    async def attach(
        self,
        orders: Sequence[tuple[OrderKey, InboxItem | None]],
        customer_id: str,
        at: datetime,
    ) -> list[OrderKey]:
        stamp = epoch(at)

        async def write(db: Connection) -> list[OrderKey]:
            attached: list[OrderKey] = []
            for key, item in orders:
                done = await db.fetchval(
                    "UPDATE shop_orders SET customer_id = $1, attached_at = $2, updated_at = $2 "
                    "WHERE source = $3 AND order_id = $4 AND customer_id IS NULL RETURNING 1",
                    customer_id,
                    stamp,
                    key.source,
                    key.order_id,
                )
                if done is None:
                    continue
                attached.append(key)
                if item is not None:
                    await db.execute(
                        "INSERT INTO inbox (key, grp, seq, body, received_at) "
                        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
                        item.key,
                        item.group,
                        item.seq,
                        item.body,
                        stamp,
                    )
            return attached

        return await self._db.transaction(write)

    async def unmatched_for(self, customer_id: str, limit: int) -> list[Order]:
        rows = await self._db.fetch(
            f"SELECT * FROM ({_UNMATCHED_FOR}) AS found "
            "ORDER BY received_at, source, order_id LIMIT $2",
            customer_id,
            limit,
        )
        return await self._with_refunds(rows)

    async def unmatched(self, limit: int) -> list[Order]:
        rows = await self._db.fetch(
            f"SELECT {ORDER_LIST} FROM shop_orders WHERE customer_id IS NULL "
            "ORDER BY received_at DESC, source, order_id LIMIT $1",
            limit,
        )
        return await self._with_refunds(rows)

    async def _with_refunds(self, rows: list[Record]) -> list[Order]:
        orders = []
        for row in rows:
            refunds = await self._db.fetch(_REFUNDS, row[0], row[1])
            orders.append(order_from_row(tuple(row), [refund_from_row(tuple(r)) for r in refunds]))
        return orders

    async def lookup(self, needs: ShopNeeds) -> ShopContext:
        used_by = None
        if needs.token_id is not None:
            used_by = await self._db.fetchval(
                "SELECT customer_id FROM shop_tokens WHERE token_id = $1", needs.token_id
            )
        email = phone = None
        if needs.customer_ref is not None:
            known = await self._db.fetchrow(
                "SELECT email, phone FROM shop_customers WHERE customer_ref = $1",
                needs.customer_ref,
            )
            email, phone = (known[0], known[1]) if known is not None else (None, None)
        candidates: tuple[OrderCandidate, ...] = ()
        if needs.order_number is not None:
            rows = await self._db.fetch(
                "SELECT source, order_id, coalesce(order_number, order_id), customer_id, "
                "coalesce(placed_at, received_at) FROM shop_orders WHERE number_key = $1 "
                "UNION SELECT source, order_id, coalesce(order_number, order_id), customer_id, "
                "coalesce(placed_at, received_at) FROM shop_orders WHERE confirmation_key = $1 "
                "LIMIT 10",
                needs.order_number,
            )
            candidates = tuple(
                OrderCandidate(OrderKey(r[0], r[1]), str(r[2]), r[3], moment(r[4])) for r in rows
            )
        return ShopContext(
            token_used_by=None if used_by is None else str(used_by),
            ref_email=None if email is None else str(email),
            ref_phone=None if phone is None else str(phone),
            orders=candidates,
        )

    async def remember_customer(
        self, customer_ref: str, email: str | None, phone: str | None, at: datetime
    ) -> None:
        async def write(db: Connection) -> None:
            await db.execute(
                "INSERT INTO shop_customers (customer_ref, email, phone, updated_at) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (customer_ref) DO UPDATE SET "
                "email = coalesce(excluded.email, shop_customers.email), "
                "phone = coalesce(excluded.phone, shop_customers.phone), "
                "updated_at = excluded.updated_at",
                customer_ref,
                email,
                phone,
                epoch(at),
            )

        await self._db.transaction(write)

    async def revenue(self, since: datetime | None, until: datetime | None) -> list[RevenueRow]:
        rows = await self._db.fetch(revenue_sql(lambda n: f"${n}"), *_span(since, until))
        found = [RevenueRow(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows]
        return sorted(found, key=lambda row: (row.stage or "", row.currency or ""))

    async def chain_revenue(self, limit: int, depth: int = 10) -> list[ChainRevenue]:
        rows = await self._db.fetch(chain_revenue_sql(lambda n: f"${n}"), depth, limit)
        return [ChainRevenue(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5] or 0)) for r in rows]


async def _load(db: Connection, key: OrderKey) -> Order | None:
    row = await db.fetchrow(_ORDER, key.source, key.order_id)
    if row is None:
        return None
    refunds = await db.fetch(_REFUNDS, key.source, key.order_id)
    return order_from_row(tuple(row), [refund_from_row(tuple(r)) for r in refunds])
